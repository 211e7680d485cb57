"""experiments/photo_pyramid.py (the training photos at several scales) and photo_demo.py (the
end of `make demo`): on tiny photos, fast, no model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from experiments import photo_corruption, photo_demo, photo_pyramid


def test_pyramid_halves_each_photo_down_to_the_smallest_side(tmp_path):
    assert photo_pyramid.scales((1000, 800), 200) == [1, 2, 4]
    assert photo_pyramid.scales((300, 300), 384) == [1]  # a small photo is kept as it is
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(tmp_path / "in/a.jpg")
    assert photo_pyramid.write_pyramid(tmp_path / "in", tmp_path / "out", 40, "L") == 2
    sizes = {p.name: Image.open(p).size for p in (tmp_path / "out").iterdir()}
    assert sizes == {"a@1.png": (120, 90), "a@2.png": (60, 45)}
    assert Image.open(tmp_path / "out" / "a@2.png").mode == "L"
    # Idempotent: files already there are kept, none rewritten.
    assert photo_pyramid.write_pyramid(tmp_path / "in", tmp_path / "out", 40, "L") == 0


def test_demo_corrupts_a_photo_and_draws_it_restored(tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    yy, xx = np.mgrid[0:60, 0:80]
    pixels = np.stack([2 * xx, 3 * yy, xx + yy], -1).astype(np.uint8)
    Image.fromarray(pixels).save(photo, quality=95)
    out = tmp_path / "demo"
    photo_demo.write_corrupted(photo, out)
    clean = photo_corruption.read_png(out / "clean.png")
    noisy = photo_corruption.read_png(out / "noisy.png")
    holes = photo_corruption.read_png(out / "mask.png") > 127
    holed = photo_corruption.read_png(out / "holed.png")
    assert noisy.shape == clean.shape == (60, 80, 3) and not np.array_equal(noisy, clean)
    assert 0.15 <= holes.mean() < 0.4 and (holed[holes] == 0).all()
    # What predict writes: here the clean photo itself, so the restored PSNRs are at the cap
    # (an error of 1e-12) and the noisy one is about 20 dB at σ = 25.
    for folder, name in (("denoised", "noisy.png"), ("filled", "holed.png")):
        (out / folder).mkdir()
        shutil.copy(out / "clean.png", out / folder / name)
    assert photo_demo.draw(out).is_file()
    printed = capsys.readouterr().out
    capped = f"{10 * np.log10(255.0**2 / 1e-12):.2f} dB"
    assert (
        f"denoise-photo: {capped}" in printed and f"inpaint-photo: {capped} in the holes" in printed
    )
    assert photo_demo.psnr(clean, noisy) == pytest.approx(20.2, abs=1.0)
