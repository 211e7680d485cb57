"""Pull-push hole filling (models/hole_fill.py) on images whose right fill is known."""

import numpy as np
import pytest

from convae_tf.models import hole_fill


def _ramp(height, width):
    """A smooth colour image: horizontal, vertical and diagonal ramps."""
    y, x = np.mgrid[:height, :width] / np.array([height, width])[:, None, None]
    return np.stack([x, y, (x + y) / 2], -1)[None].astype(np.float32)


@pytest.mark.parametrize("height, width", [(37, 53), (64, 64), (5, 300)])
def test_known_pixels_are_kept_and_a_ramp_is_filled_with_the_ramp(height, width):
    image = _ramp(height, width)
    missing = np.zeros((1, height, width, 1), np.float32)
    missing[:, height // 4 : height // 2 + 1, width // 4 : width // 2 + 1] = 1
    filled = np.asarray(hole_fill.pull_push(image * (1 - missing), missing))
    hole = np.broadcast_to(missing > 0, image.shape)
    np.testing.assert_array_equal(filled[~hole], image[~hole])
    # A convex blend of known pixels: inside their range in every channel.
    for c in range(3):
        known = image[..., c][~hole[..., c]]
        inside = filled[..., c][hole[..., c]]
        assert known.min() - 1e-6 <= inside.min() and inside.max() <= known.max() + 1e-6
    # A linear ramp is harmonic, so the fill recovers it: up to what a finite number of
    # relaxation steps leaves (under 1 % of the error of the zeros it replaces on these
    # holes; without relaxation, block means of the coarse levels leave 2-30 %).
    error = np.abs(filled - image)[hole].mean()
    assert error < 0.02 * np.abs(image)[hole].mean()


def test_a_constant_image_is_filled_with_its_constant_and_nothing_known_gives_zeros():
    image = np.full((2, 20, 30, 1), 0.7, np.float32)
    missing = np.zeros_like(image)
    missing[0, 2:18, 3:25] = 1  # most of the first image
    missing[1] = 1  # all of the second
    filled = np.asarray(hole_fill.pull_push(image * (1 - missing), missing))
    np.testing.assert_allclose(filled[0], 0.7, atol=1e-6)
    np.testing.assert_array_equal(filled[1], 0.0)


def test_a_hole_wider_than_a_thousand_pixels_is_filled_from_its_edges():
    image = np.full((1, 3, 1500, 1), 0.4, np.float32)
    missing = np.ones_like(image)
    missing[:, :, :5] = 0  # the first 5 columns are known
    filled = np.asarray(hole_fill.pull_push(image * (1 - missing), missing))
    np.testing.assert_allclose(filled, 0.4, atol=1e-6)
