"""The evaluation figures (PNG, via `plots`): image grids, code scatter, anomaly plots and
training curves. Each function takes numpy arrays and a path, writes one file atomically and
returns its path.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from convae_tf import metrics, plots
from convae_tf.plots import plt


def reconstructions(images: np.ndarray, outputs: np.ndarray, path: Path) -> Path:
    return plots.image_rows(
        {"input": images, "output": outputs}, path, title="reconstructions (inputs above)"
    )


def restoration(clean, corrupted, restored, path: Path, title: str) -> Path:
    return plots.image_rows(
        {"clean": clean, "corrupted": corrupted, "restored": restored}, path, title=title
    )


def image_grid(images: np.ndarray, path: Path, columns: int = 8, title: str | None = None):
    # image_rows labels each row by its key: distinct blank keys keep every row unlabelled.
    starts = range(0, len(images), columns)
    rows = {" " * i: images[start : start + columns] for i, start in enumerate(starts)}
    return plots.image_rows(rows, path, title=title)


def code_scatter(codes: np.ndarray, labels: np.ndarray | None, path: Path) -> Path:
    """The codes in 2-D (their principal plane when they have more than two dimensions),
    coloured by label."""
    points, explained = metrics.pca_2d(codes)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.6)
    else:
        classes = np.unique(labels)
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, label in enumerate(classes):
            chosen = labels == label
            ax.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=4,
                alpha=0.6,
                color=cmap(i % cmap.N),
                label=str(label),
            )
        ax.legend(markerscale=3, fontsize=7, title="label", loc="best")
    if codes.shape[1] > 2:
        ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
        ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
        ax.set_title(f"codes ({codes.shape[1]}-D) on their first two principal axes")
    else:
        ax.set_xlabel("z 1")
        ax.set_ylabel("z 2" if codes.shape[1] == 2 else "(1-D code)")
        ax.set_title("codes")
    fig.tight_layout()
    return plots.save(fig, path)


def score_histogram(normal, anomalous, threshold: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(np.concatenate([normal, anomalous]), bins=50)
    ax.hist(normal, bins=bins, alpha=0.6, density=True, label=f"normal ({len(normal)})")
    ax.hist(anomalous, bins=bins, alpha=0.6, density=True, label=f"anomalous ({len(anomalous)})")
    ax.axvline(threshold, color="k", linestyle="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel("anomaly score")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return plots.save(fig, path)


def roc(false_positive_rate, true_positive_rate, area: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(false_positive_rate, true_positive_rate, label=f"AUROC {area:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return plots.save(fig, path)


def training_curves(history_csv: Path, path: Path) -> Path | None:
    """One panel per logged quantity, train and validation; None without any logged epoch."""
    history_csv = Path(history_csv)
    if not history_csv.is_file():
        return None
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None
    epochs = [int(row["epoch"]) + 1 for row in rows]
    names = [name for name in rows[0] if name != "epoch" and not name.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for key, style in ((name, "-o"), (f"val_{name}", "--o")):
            if key in rows[0]:
                values = [float(row[key]) if row[key] else np.nan for row in rows]
                ax.plot(epochs, values, style, markersize=3, label=key)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return plots.save(fig, path)
