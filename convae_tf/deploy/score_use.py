"""Each export's anomaly score checked for its use: does it rank held-out images as the Keras
model's does, and, for a one-class run (--normal_classes), does it still separate anomalies?

Parity bounds how far each score may move; a quantized file's score moves by far more, and
what matters then is the ranking, which the threshold and the AUROC read. On the first IMAGES
test images (held out from training, anomalies included in a one-class run), per export:

- "spearman": the Spearman rank correlation of its scores with Keras's;
- "auroc": with --normal_classes and labels of both kinds, the AUROC of its score (anomalies
  the positive class), next to Keras's.

An export whose AUROC falls more than AUROC_DROP below the float32 file's (Keras's without one)
is fit for reconstruction only: the card's "fit_for" says so, and `convae-predict
--task=score` warns on it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn import metrics

from convae_tf.deploy import signatures

IMAGES = 1000
AUROC_DROP = 0.01
USES = ("reconstruction", "score")
METHOD = (
    f"scores of the first test images (at most {IMAGES}): Spearman rank correlation with the "
    "Keras model's scores; with normal_classes, AUROC (anomalies = classes not in "
    f"normal_classes, positive); an export whose AUROC is more than {AUROC_DROP} below the "
    "float32 file's (Keras's without one) is fit for reconstruction only (files: fit_for)"
)


def measure(model, runners: dict, images: np.ndarray, anomalous: np.ndarray | None) -> dict:
    """The card's "score_use" entry for the exports of `runners` ({name: predict runner}) on
    `images`; `anomalous` (bool per image) or None: no AUROC."""
    keras = np.concatenate(
        [np.asarray(model.score(images[i : i + 256])) for i in range(0, len(images), 256)]
    )
    entry = {"images": int(len(images)), "split": "test", "method": METHOD, "keras": {}}
    if anomalous is not None:
        entry["keras"]["auroc"] = auroc(anomalous, keras)
    entry["exports"] = {}
    for name, runner in runners.items():
        scores = runner(signatures.SCORE, images)["score"]
        checked = {"spearman": rank_correlation(scores, keras)}
        if anomalous is not None:
            checked["auroc"] = auroc(anomalous, scores)
        entry["exports"][name] = checked
    return entry


def rank_correlation(scores: np.ndarray, keras: np.ndarray) -> float | None:
    """Spearman's correlation, or None where it is undefined: scores all equal (a score
    quantized to one value ranks nothing)."""
    if np.ptp(scores) == 0 or np.ptp(keras) == 0:
        return None
    return float(stats.spearmanr(scores, keras).statistic)


def anomalous_labels(labels: np.ndarray | None, normal_classes) -> np.ndarray | None:
    """Which test images are anomalies, or None when the AUROC does not apply (no one-class
    run, no labels, or test images of one kind only)."""
    if normal_classes is None or labels is None:
        return None
    anomalous = ~np.isin(labels, np.asarray(normal_classes))
    return anomalous if 0 < anomalous.sum() < len(anomalous) else None


def auroc(anomalous: np.ndarray, scores: np.ndarray) -> float:
    scores = np.asarray(scores, np.float64)
    if not np.isfinite(scores).all():  # sklearn refuses NaN; a broken score ranks nothing
        return float("nan")
    return float(metrics.roc_auc_score(anomalous, scores))


def reference_auroc(entry: dict) -> float | None:
    """The AUROC that the others are held to: the float32 file's, else Keras's."""
    exported = entry["exports"].get("float32", {})
    return exported.get("auroc", entry["keras"].get("auroc"))


def fit_for(entry: dict) -> dict[str, list[str]]:
    """name → the uses of each export: its score only if its AUROC is within AUROC_DROP of
    `reference_auroc` (NaN fails); every use where no AUROC was measured."""
    reference = reference_auroc(entry)
    uses = {}
    for name, checked in entry["exports"].items():
        keeps_score = reference is None or checked["auroc"] >= reference - AUROC_DROP
        uses[name] = list(USES if keeps_score else USES[:1])
    return uses
