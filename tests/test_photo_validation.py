"""experiments/photo_validation.py: the validation photos as the comparison reads them, and a
run of the shipped colour denoiser through it (slow)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments import photo_corruption as corrupt
from experiments import photo_denoise, photo_validation

SHIPPED_COLOUR = photo_denoise.SHIPPED_DENOISERS[0]


def write_photos(folder: Path) -> None:
    """Two smooth colour photos, 120×90 and 64×80, and a file that is not a photo."""
    folder.mkdir(parents=True)
    for name, (height, width) in {"wide": (90, 120), "tall": (80, 64)}.items():
        yy, xx = np.mgrid[0:height, 0:width] / 12.0
        gray = 120 + 50 * np.sin(xx) * np.cos(0.8 * yy)
        colour = np.stack([gray, 0.7 * gray + 40, 190 - 0.4 * gray], -1).astype(np.uint8)
        Image.fromarray(colour).save(folder / f"{name}.png")
    (folder / "notes.txt").write_text("not a photo")


def test_validation_photos_are_reduced_to_max_side_and_gray_on_request(tmp_path):
    write_photos(tmp_path / "photos")
    colour = photo_validation.validation_images(tmp_path / "photos", 60, gray=False)
    assert {name: image.shape for name, image in colour.items()} == {
        "tall": (60, 48, 3),
        "wide": (45, 60, 3),
    }
    gray = photo_validation.validation_images(tmp_path / "photos", 100, gray=True)
    assert gray["wide"].shape == (75, 100) and gray["tall"].shape == (80, 64)  # not enlarged
    assert all(image.dtype == np.uint8 for image in gray.values())


@pytest.mark.slow
def test_the_shipped_denoiser_compared_on_validation_photos(tmp_path):
    write_photos(tmp_path / "photos")
    result = photo_validation.main(
        [
            f"--models={SHIPPED_COLOUR}",
            f"--photos={tmp_path / 'photos'}",
            "--sigmas=15,50",
            f"--out={tmp_path / 'results'}",
        ]
    )
    psnr = result["psnr"][str(SHIPPED_COLOUR)]
    images = photo_validation.validation_images(tmp_path / "photos", 1024, gray=False)
    for sigma in (15, 50):
        noisy = [
            photo_denoise.psnr_ssim(
                clean, corrupt.add_noise(clean, sigma, corrupt.rng_for(0, n, sigma))
            )[0]
            for n, clean in images.items()
        ]
        assert psnr[sigma] > np.mean(noisy) + 1  # it denoises
    assert psnr[15] > psnr[50]  # less noise, a better result
    table = (tmp_path / "results" / "photo_validation.md").read_text()
    assert f"| {SHIPPED_COLOUR} | {psnr[15]:.2f} | {psnr[50]:.2f} |" in table
