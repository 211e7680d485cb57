"""Restore an image of any size with a model of any kind: `restore_image`.

    from convae_tf.deploy.restore import restore_image
    model = keras.saving.load_model("runs/dae-photos/model.keras")
    clean = restore_image(model, noisy)   # (H, W, C) floats in [0, 1], any H×W

The tiler is `convae-predict`'s (deploy/tiles.py, the one copy that the stand-alone script
loads), with its tile size, overlap and whole-image bound.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from convae_tf.deploy import predict


def restore_image(
    model,
    image: np.ndarray,
    tile: tuple[int, int] | None = None,
    overlap: tuple[int, int] | None = None,
    align: int = 1,
    batch: int = predict.TILES_PER_CALL,
) -> np.ndarray:
    """`model`'s reconstruction of `image` (H, W, C floats in [0, 1], any H×W), same shape.

    `model`: a built convae_tf model, or a callable from float32 batches (n, h, w, C) to the
    same, run on tiles of `tile` (needed then) aligned to multiples of `align`. A fully
    convolutional model runs the image whole up to predict's WHOLE_IMAGE_PIXELS, else in
    tiles of predict's TILE; a model of one size runs tiles of its size (the image must be
    at least that large). Tiles overlap by `overlap` (default: a quarter of a model-sized
    tile, predict's TILE_OVERLAP for the others) and are blended (deploy/tiles.py)."""
    image = np.asarray(image, np.float32)
    fn, tile, overlap, align = _tiling(model, image, tile, overlap, align)
    if fn is None:  # a fully convolutional model, the image small enough to run whole
        return np.asarray(model(image[None], training=False))[0]
    height, width = image.shape[:2]
    if align == 1 and (height < tile[0] or width < tile[1]):  # tiles of a fixed size
        raise ValueError(
            f"the image is {height}×{width}, smaller than the model's {tile[0]}×{tile[1]}"
        )
    restored = None

    def emit(top, rows):
        nonlocal restored
        if restored is None:
            restored = np.empty((height, width, rows.shape[-1]), np.float32)
        restored[top : top + len(rows)] = rows

    predict.tiles.run_tiled(fn, image, tile, overlap, emit, align=align, batch=batch)
    return restored


def _tiling(model, image, tile, overlap, align) -> tuple[Callable | None, tuple, tuple, int]:
    """(the function to run on tiles, or None to run `image` whole; tile; overlap; align)."""
    if not hasattr(model, "fully_convolutional"):  # a plain callable
        if tile is None:
            raise ValueError("restore_image of a callable needs tile=(height, width)")
        return model, tuple(tile), tuple(overlap or (tile[0] // 4, tile[1] // 4)), align

    def fn(batch):
        return np.asarray(model(batch, training=False))

    if not model.built:
        raise ValueError("restore_image needs a built model (call it on a batch first)")
    if model.fully_convolutional:
        if tile is None and image.shape[0] * image.shape[1] <= predict.WHOLE_IMAGE_PIXELS:
            return None, (), (), 1
        step = 2**model.depth
        plan = predict.tiling(True, (step, step))
    else:
        plan = predict.tiling(False, tuple(model.image_shape[:2]))
        tile = None  # a model of one size runs tiles of its size
    return fn, tuple(tile or plan["tile"]), tuple(overlap or plan["overlap"]), plan["align"]
