"""Every figure convae_tf draws, as PNG files (matplotlib, headless Agg backend): image grids
(training's per-epoch reconstructions, evaluation's restorations and samples), the code
scatter, anomaly plots and training curves. Each function takes numpy arrays and a path,
writes one file atomically and returns its path.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from convae_tf.utils.files import atomic_path  # noqa: E402


def _show(ax, image: np.ndarray) -> None:
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(np.clip(image, 0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def image_rows(rows: dict[str, np.ndarray], path: Path, title: str | None = None) -> Path:
    """A grid with one labelled row per entry (e.g. inputs above reconstructions)."""
    columns = max(len(images) for images in rows.values())
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(1.2 * columns, 1.3 * len(rows)), squeeze=False
    )
    for r, (label, images) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r, c]
            if c < len(images):
                _show(ax, images[c])
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def titled_panels(rows: list[list[tuple[str, np.ndarray]]], path: Path, width: float = 5.0):
    """Rows of (title, image) panels, each `width` inches wide at the images' aspect ratio:
    photos large enough to judge by eye (an `image_rows` cell is about 120 pixels)."""
    columns = max(len(row) for row in rows)
    height, width_px = rows[0][0][1].shape[:2]
    panel_height = width * height / width_px
    fig, axes = plt.subplots(
        len(rows),
        columns,
        figsize=(width * columns, (panel_height + 0.4) * len(rows)),
        squeeze=False,
    )
    for r, row in enumerate(rows):
        for c in range(columns):
            if c < len(row):
                title, image = row[c]
                _show(axes[r, c], image if image.ndim == 3 else image[..., None])
                axes[r, c].set_title(title, fontsize=11)
            else:
                axes[r, c].axis("off")
    fig.tight_layout()
    return save(fig, path)


def save(fig, path: Path) -> Path:
    """Save atomically, so that a reader never sees half a PNG."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return Path(path)


def reconstructions(images: np.ndarray, outputs: np.ndarray, path: Path) -> Path:
    return image_rows(
        {"input": images, "output": outputs}, path, title="reconstructions (inputs above)"
    )


def restoration(clean, corrupted, restored, path: Path, title: str, holes=None) -> Path:
    """Clean, corrupted and restored rows. `holes` (N, H, W, 1), true where a pixel was
    missing: the corrupted row shows them in `HOLE_COLOUR`, which a hole set to 0 on a black
    background would otherwise hide."""
    label = "corrupted"
    if holes is not None:
        corrupted, label = show_holes(corrupted, holes), "holes (magenta)"
    return image_rows({"clean": clean, label: corrupted, "restored": restored}, path, title=title)


HOLE_COLOUR = (1.0, 0.0, 1.0)  # magenta: far from grey, and from most colours of photographs


def show_holes(images: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """`images` as RGB (grey repeated) with the pixels where `holes` is true in HOLE_COLOUR."""
    rgb = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if rgb.shape[-1] == 1:
        rgb = np.repeat(rgb, 3, axis=-1)
    return np.where(np.asarray(holes, bool), np.asarray(HOLE_COLOUR, np.float32), rgb)


def image_grid(images: np.ndarray, path: Path, columns: int = 8, title: str | None = None):
    # image_rows labels each row by its key: distinct blank keys keep every row unlabelled.
    starts = range(0, len(images), columns)
    rows = {" " * i: images[start : start + columns] for i, start in enumerate(starts)}
    return image_rows(rows, path, title=title)


def code_scatter(codes: np.ndarray, labels: np.ndarray | None, path: Path) -> Path:
    """The codes in 2-D (their principal plane when they have more than two dimensions),
    coloured by label."""
    points, explained = principal_plane(codes)
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
    return save(fig, path)


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
    return save(fig, path)


def roc(false_positive_rate, true_positive_rate, area: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(false_positive_rate, true_positive_rate, label=f"AUROC {area:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


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
    return save(fig, path)


def principal_plane(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes projected on their two principal axes (scikit-learn's PCA), and the share of
    variance each explains. Codes of one or two dimensions are returned as they are (padded
    with zeros to two), with NaN shares."""
    codes = np.asarray(codes, np.float64)
    if codes.shape[1] <= 2:
        return np.pad(codes, ((0, 0), (0, 2 - codes.shape[1]))), np.full(2, np.nan)
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full")
    return pca.fit_transform(codes), pca.explained_variance_ratio_
