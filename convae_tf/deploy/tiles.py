"""Run an image-to-image function on an image of any size, tile by tile, seams blended.

Standard library and numpy only: `deploy/predict.py` loads this file beside it (as it loads
utils/quiet.py), so it works as a stand-alone script; the Python API (`convae_tf.deploy.restore`)
imports it.

Tiles overlap; each tile's output is weighted by a window that falls from 1 at its centre to
`WINDOW_FLOOR` at its edges (a Hann window per axis, their outer product), and every pixel is
the weighted mean of the tiles that cover it, so that a tile's borders, where a convolutional
model sees the least context, count least and no seam shows. The floor keeps the weights of the
image's own borders, which one tile edge alone covers, above zero.

Memory: tiles are made, run and blended `batch` at a time, row of tiles by row of tiles, into
a float32 strip one tile high and as wide as the image; rows that no later tile touches are
handed out (`emit`) and dropped. So the working memory is a few tiles and one strip, whatever
the image's height. The weights sum to a product of one sum per axis (the tiles form a grid):
no image-sized weight array either.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

WINDOW_FLOOR = 0.05


def window(size: int, floor: float = WINDOW_FLOOR) -> np.ndarray:
    """1-D blending weights of a tile side: a Hann window over its `size` pixels (sampled at
    pixel centres, so that even the edge pixels are above 0), raised to at least `floor`."""
    centres = (np.arange(size) + 0.5) / size
    return np.maximum(0.5 - 0.5 * np.cos(2.0 * np.pi * centres), floor).astype(np.float32)


def starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of the tiles along one side of `size` pixels: `tile` pixels each, at
    least `overlap` shared by neighbours, every start a multiple of `align` (a fully
    convolutional model's padding step, so that each tile sees the grid the whole image
    does). With align > 1 the last tile may run past the image (it is cut there); with
    align = 1 the last one ends at the image's edge, so every tile has its full size."""
    if tile >= size:
        return [0]
    step = max(align, (tile - overlap) // align * align)
    offsets = list(range(0, size - tile, step))
    last = size - tile if align == 1 else -(-(size - tile) // align) * align
    if last > offsets[-1]:
        offsets.append(last)
    return offsets


def run_tiled(
    fn: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    tile: tuple[int, int],
    overlap: tuple[int, int],
    emit: Callable[[int, np.ndarray], None],
    align: int = 1,
    batch: int = 1,
    to_float: Callable[[np.ndarray], np.ndarray] | None = None,
    mask: np.ndarray | None = None,
) -> None:
    """Runs `fn` (float32 (n, h, w, C) → (n, h, w, C')) on tiles of `image` (H, W, C, any
    dtype: `to_float` turns each tile into float32, by default a cast) and calls
    `emit(top, rows)` with the blended float32 rows (r, W, C') from row `top` on, top to
    bottom, each row once. At most `batch` tiles are in flight; tiles cut at the image's
    edge (align > 1) are run on their own. With a `mask` (H, W, 1; inpainting's holes), its
    tile at the same place goes with each image tile, as float32: `fn(tiles, mask_tiles)`."""
    height, width = image.shape[:2]
    to_float = to_float or (lambda pixels: pixels.astype(np.float32))
    rows = starts(height, tile[0], overlap[0], align)
    columns = starts(width, tile[1], overlap[1], align)
    window_y, window_x = window(tile[0]), window(tile[1])
    total_y, total_x = _weight_sum(height, rows, window_y), _weight_sum(width, columns, window_x)
    strip = None
    for k, top in enumerate(rows):
        bottom = min(top + tile[0], height)
        if strip is not None:
            strip = _shifted(strip, top - rows[k - 1])
        for group in _groups(columns, tile[1], width, batch):
            tiles = np.stack([image[top:bottom, x : x + tile[1]] for x in group])
            inputs = [to_float(tiles)]
            if mask is not None:
                cut = [mask[top:bottom, x : x + tile[1]] for x in group]
                inputs.append(np.stack(cut).astype(np.float32))
            outputs = np.asarray(fn(*inputs), np.float32)
            if strip is None:  # its channels are the outputs'
                strip = np.zeros((tile[0], width, outputs.shape[-1]), np.float32)
            for x, output in zip(group, outputs, strict=True):
                h, w = output.shape[:2]
                weights = window_y[:h, None, None] * window_x[None, :w, None]
                strip[:h, x : x + w] += output * weights
        end = rows[k + 1] if k + 1 < len(rows) else height
        norm = total_y[top:end, None, None] * total_x[None, :, None]
        emit(top, strip[: end - top] / norm)


def _weight_sum(size: int, offsets: list[int], weights: np.ndarray) -> np.ndarray:
    total = np.zeros(size, np.float32)
    for offset in offsets:
        part = weights[: size - offset]
        total[offset : offset + len(part)] += part
    return total


def _shifted(strip: np.ndarray, rows: int) -> np.ndarray:
    """The strip moved `rows` rows up (those were emitted), zeros below."""
    strip[:-rows] = strip[rows:].copy()
    strip[-rows:] = 0.0
    return strip


def _groups(columns: list[int], tile: int, width: int, batch: int):
    """The tile columns of a row in groups of at most `batch` that share a width."""
    group = []
    for x in columns:
        if group and (len(group) == batch or min(tile, width - x) != min(tile, width - group[0])):
            yield group
            group = []
        group.append(x)
    if group:
        yield group
