"""experiments/photo_denoise.py and photo_corruption.py: the corrupted files every method reads
(seeded per image, 8-bit, masks at their coverage), a method plugged in as a folder command,
and a smoke run of the baselines on tiny images (BM3D only where pip bm3d is installed)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from experiments import photo_corruption as corrupt
from experiments import photo_denoise


def tiny_images(folder: Path) -> dict[str, np.ndarray]:
    """A gray and a colour 40×48 image with edges and smooth parts, written as PNGs."""
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:40, 0:48]
    gray = (60 + 2 * xx + 100 * ((yy // 10 + xx // 12) % 2)).clip(0, 255).astype(np.uint8)
    colour = np.stack([gray, 255 - gray, (3 * yy).astype(np.uint8)], axis=-1)
    Image.fromarray(gray).save(folder / "gray.png")
    Image.fromarray(colour).save(folder / "colour.png")
    return {"gray": gray, "colour": colour}


def test_noise_is_8bit_clipped_and_seeded_per_image(tmp_path):
    images = tiny_images(tmp_path / "images")
    corrupt.write_noisy(images, [25], tmp_path / "a", seed=0)
    corrupt.write_noisy({"gray": images["gray"]}, [25], tmp_path / "b", seed=0)
    corrupt.write_noisy({"gray": images["gray"]}, [25], tmp_path / "c", seed=1)
    a = corrupt.read_png(tmp_path / "a/sigma25/gray.png")
    colour = corrupt.read_png(tmp_path / "a/sigma25/colour.png")
    assert a.dtype == np.uint8 and a.shape == (40, 48) and colour.shape == (40, 48, 3)
    # The same noise whatever else is in the folder; another seed, other noise.
    assert np.array_equal(a, corrupt.read_png(tmp_path / "b/sigma25/gray.png"))
    assert not np.array_equal(a, corrupt.read_png(tmp_path / "c/sigma25/gray.png"))
    residual = a.astype(float) - images["gray"]
    assert 20 < residual.std() < 27  # σ = 25 less what clipping takes off


@pytest.mark.parametrize("kind", list(corrupt.MASKS))
@pytest.mark.parametrize("coverage", [0.05, 0.25])
def test_masks_reach_their_coverage_without_filling_the_image(kind, coverage):
    mask = corrupt.MASKS[kind]((120, 160), coverage, np.random.default_rng(3))
    assert coverage <= mask.mean() < coverage + 0.12


def test_holed_files_are_zero_under_their_mask_and_intact_elsewhere(tmp_path):
    images = tiny_images(tmp_path / "images")
    settings = corrupt.write_holes(images, [15], tmp_path, seed=0)
    assert settings == ["rectangles-15", "strokes-15"]
    for setting in settings:
        mask = corrupt.read_png(tmp_path / "masks" / setting / "colour.png") > 127
        holed = corrupt.read_png(tmp_path / "holed" / setting / "colour.png")
        assert mask.any() and (holed[mask] == 0).all()
        assert np.array_equal(holed[~mask], images["colour"][~mask])


def test_a_folder_command_plugs_in_as_one_function(tmp_path, monkeypatch):
    """How the shipped model's whole predict command joins the table: a function of folders,
    timed as a whole. Here the command copies its input; run on a subset of the images."""
    images = tiny_images(tmp_path / "images")
    work = tmp_path / "work"
    corrupt.write_noisy(images, [25], work / "noisy", seed=0)
    seen = []

    def copy_command(noisy, names, output, sigma):
        with photo_denoise.folder_of(noisy, names) as folder:
            seen.append(sorted(p.name for p in folder.iterdir()))
            shutil.copytree(folder, output)
        return 0.5

    monkeypatch.setitem(photo_denoise.DENOISERS, "copy", copy_command)
    row = photo_denoise.run_denoiser("copy", images, 25, work, subset={"gray"})
    assert seen == [["gray.png"]]  # a folder of the subset only
    noisy = corrupt.read_png(work / "noisy/sigma25/gray.png")
    assert row["per_image"]["gray"]["psnr"] == photo_denoise.psnr_ssim(images["gray"], noisy)[0]
    assert row["seconds_per_megapixel"] == pytest.approx(0.5 / (40 * 48 / 1e6), rel=1e-3)


def photo_like_images(folder: Path) -> dict[str, np.ndarray]:
    """A gray and a colour 80×96 image that look more like a photo than tiny_images' squares:
    smooth shading, soft discs and unsaturated colours; at least a tile of the shipped TFLite
    files (64×64), which take one size."""
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:80, 0:96] / 16.0
    shading = 110 + 40 * np.sin(xx) * np.cos(0.7 * yy)
    discs = 60 * ((xx - 2) ** 2 + (yy - 2) ** 2 < 2) - 50 * ((xx - 4) ** 2 + (yy - 3.5) ** 2 < 1)
    gray = (shading + discs).clip(0, 255).astype(np.uint8)
    colour = np.stack([gray, (0.6 * gray + 60), (200 - 0.5 * gray)], -1).astype(np.uint8)
    Image.fromarray(gray).save(folder / "gray.png")
    Image.fromarray(colour).save(folder / "colour.png")
    return {"gray": gray, "colour": colour}


def run_quick(tmp_path: Path, denoisers: str, inpainters: str = "biharmonic", images=tiny_images):
    images(tmp_path / "images")
    photo_denoise.main(
        [
            "--quick",
            f"--images={tmp_path / 'images'}",
            f"--work={tmp_path / 'work'}",
            f"--out={tmp_path / 'results'}",
            f"--denoisers={denoisers}",
            f"--inpainters={inpainters}",
        ]
    )
    return json.loads((tmp_path / "results" / "photo_denoise.json").read_text())


def noisy_psnr(tmp_path: Path, name: str) -> float:
    clean = corrupt.read_png(tmp_path / "images" / f"{name}.png")
    noisy = corrupt.read_png(tmp_path / "work" / "noisy" / "sigma25" / f"{name}.png")
    return photo_denoise.psnr_ssim(clean, noisy)[0]


@pytest.mark.slow
def test_quick_run_of_nl_means_tv_biharmonic_and_pull_push(tmp_path):
    result = run_quick(tmp_path, "nl_means,tv", "biharmonic,pull_push")
    assert set(result["denoise"]) == {"nl_means", "tv"}
    for method in ("nl_means", "tv"):
        row = result["denoise"][method]["25"]
        assert row["seconds_per_megapixel"] > 0
        for name in ("gray", "colour"):  # each denoises: better than its noisy input
            assert row["per_image"][name]["psnr"] > noisy_psnr(tmp_path, name) + 1
    filled = result["inpaint"]["biharmonic"]
    assert set(filled) == {"rectangles-15", "strokes-15"}
    for setting in filled.values():
        for row in setting["per_image"].values():
            assert row["psnr_masked"] > 10 and 0.15 <= row["coverage"] < 0.3
    # On smooth images the harmonic fill is about as good as the biharmonic one.
    for setting, rows in result["inpaint"]["pull_push"].items():
        for name, row in rows["per_image"].items():
            assert row["psnr_masked"] > filled[setting]["per_image"][name]["psnr_masked"] - 3
    table = (tmp_path / "results" / "photo_denoise.md").read_text()
    assert "| gray (gray) | 25 |" in table and "strokes-15" in table


@pytest.mark.slow
def test_quick_run_of_bm3d(tmp_path):
    pytest.importorskip("bm3d", reason="pip bm3d not installed (the bench extra)")
    row = run_quick(tmp_path, "bm3d")["denoise"]["bm3d"]["25"]
    for name in ("gray", "colour"):
        assert row["per_image"][name]["psnr"] > noisy_psnr(tmp_path, name) + 1


@pytest.mark.slow
def test_quick_run_of_the_shipped_models_through_predict(tmp_path):
    """The shipped denoiser and inpainter (SavedModel and int8 TFLite), each as the whole
    `python -m convae_tf.predict` command a user runs, on a fresh clone with no training."""
    result = run_quick(
        tmp_path, "ours,ours_float32,ours_int8", "ours,ours_tflite_int8", images=photo_like_images
    )
    for method in ("ours", "ours_float32", "ours_int8"):
        row = result["denoise"][method]["25"]
        assert row["seconds"] > 0
        for name in ("gray", "colour"):
            assert row["per_image"][name]["psnr"] > noisy_psnr(tmp_path, name) + 1
    # --precision=auto (bfloat16 convolutions on CPUs that have them) moves the 8-bit output
    # by a level here and there: a few hundredths of a dB, far below the noise's effect.
    for name in ("gray", "colour"):
        psnr = [
            result["denoise"][m]["25"]["per_image"][name]["psnr"] for m in ("ours", "ours_float32")
        ]
        assert abs(psnr[0] - psnr[1]) < 0.2
    for method in ("ours", "ours_tflite_int8"):  # the SavedModel, and the TFLite file's tiles
        for setting in result["inpaint"][method].values():
            for row in setting["per_image"].values():
                assert row["psnr_masked"] > 10


@pytest.mark.slow
def test_the_large_photo_run_measures_the_whole_command(tmp_path):
    """The large-photo row: the shipped denoiser's predict command on an enlarged colour test
    image (smaller here), its seconds, CPU seconds and peak memory measured from outside."""
    images = photo_like_images(tmp_path / "images")
    large = photo_denoise.large_photo_run(images, tmp_path / "work", seed=0, size=(160, 200))
    assert large["image"] == "colour, enlarged to 200×160"
    noisy = corrupt.read_png(tmp_path / "work" / "large" / "noisy.png")
    assert noisy.shape == (160, 200, 3)
    clean = np.asarray(Image.fromarray(images["colour"]).resize((200, 160), Image.LANCZOS))
    assert large["psnr"] > photo_denoise.psnr_ssim(clean, noisy)[0] + 1
    # TensorFlow alone holds a few hundred MB; the CPU time is the child's, not this process's.
    assert 0.2 < large["peak_memory_gb"] < 8 and large["cpu_seconds"] > 0.5
    assert "0.032-megapixel photo" in photo_denoise.large_photo_line({"large": large})
