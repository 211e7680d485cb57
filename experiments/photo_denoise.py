"""Denoising and inpainting baselines on real test photos, side by side, gray and colour.

    make data-testimages && pip install -c constraints.txt -e ".[bench]"   # or: make bench-photos
    python -m experiments.photo_denoise                       # the full grid (~25 min, 2 cores)
    python -m experiments.photo_denoise --bm3d_images=camera,astronaut   # BM3D on a subset
    python -m experiments.photo_denoise --quick --images=DIR  # a smoke test

On the classic test images (data/testimages/, from Debian's python3-skimage: camera, moon and
coins gray; astronaut, coffee, chelsea, rocket and motorcycle_left colour), never trained on:

- Denoising at σ = 15, 25, 50 (8-bit levels): Gaussian noise added to the 8-bit image,
  clipped, stored as 8-bit PNGs once (experiments/photo_corruption.py) under --work; every
  method reads those files and writes its output as 8-bit PNGs of the same names, which are
  scored against the clean image: PSNR and SSIM (skimage.metrics, data range 255; SSIM with
  its default 7×7 window, over the colour channels for colour), and seconds per megapixel.
  BM3D / CBM3D (pip `bm3d`, `bm3d_rgb` for colour; non-commercial licence: the `bench` extra
  only, never a dependency of convae_tf), scikit-image's fast NL-means (5×5 patches, 13×13
  search, σ estimated by `estimate_sigma`, h = 0.8 σ with that σ passed in, as its docstring
  recommends for fast mode) and TV (`denoise_tv_chambolle`, weight 0.8 × the estimated σ, one
  rule for every image and σ; iterated to eps 1e-5, since its default stops some runs
  early). NL-means and TV estimate σ themselves; BM3D is given the true σ, as its authors'
  code expects.
- A large photo: the largest colour test image enlarged to 4000×3000 (12 megapixels; the work
  of a convolutional network does not depend on what the pixels show), σ = 25, through the
  shipped denoiser's whole predict command: wall and CPU seconds, peak memory, PSNR.
- Inpainting: masks of rectangles and of free-form strokes covering 5, 15 and 25 % of each
  image (holed image and mask written as files, white = missing), filled by the shipped
  inpainter (its SavedModel, and its TFLite files tile by tile), by its first guess alone (the
  pull-push fill its network corrects) and by scikit-image's `inpaint_biharmonic`; PSNR over
  the masked pixels only.

A method is one function from a folder of input files to a folder of outputs (see DENOISERS and
INPAINTERS); one that runs a command, such as `python -m convae_tf.predict` on a shipped model,
is timed as the whole command; "ours" as a user runs it, with predict's default
--precision=auto (bfloat16 convolutions on a CPU with native bfloat16), "ours_float32" in
float32. Writes experiments/results/photo_denoise.{json,md}; a full run
into experiments/results also rewrites README.md's `photo_denoise` block, if it has one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convae_tf.deploy import predict
from convae_tf.utils import bfloat16
from experiments import photo_corruption as corrupt
from experiments import report

REPO = Path(__file__).resolve().parents[1]
SIGMAS = (15, 25, 50)
COVERAGES = (5, 15, 25)


def say(message: str) -> None:
    print(f"[photo_denoise] {message}", flush=True)


# ------------------------------------------------------------------------------ methods
# A denoiser: (noisy folder, names, output folder, σ) -> seconds, either a dict of seconds per
# image or one float for the whole folder. It reads `{noisy}/{name}.png` and writes
# `{output}/{name}.png` (8-bit, the same size and mode) for every name.
Denoiser = Callable[[Path, list[str], Path, int], "dict[str, float] | float"]
# An inpainter: (holed folder, mask folder, names, output folder) -> seconds, the same way.
Inpainter = Callable[[Path, Path, list[str], Path], "dict[str, float] | float"]


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """A float result in [0, 1] as the 8-bit image a user would save."""
    return np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)


def per_image(restore: Callable[[np.ndarray, int], np.ndarray]) -> Denoiser:
    """A denoiser from a function of (noisy image in [0, 1], σ) -> image in [0, 1]; only that
    call is timed (reading and writing the files is not)."""

    def run(noisy: Path, names: list[str], output: Path, sigma: int) -> dict[str, float]:
        seconds = {}
        for name in names:
            image = corrupt.read_png(noisy / f"{name}.png") / 255.0
            start = time.perf_counter()
            restored = restore(image, sigma)
            seconds[name] = time.perf_counter() - start
            corrupt.write_png(output / f"{name}.png", to_uint8(restored))
        return seconds

    return run


def channel_axis(image: np.ndarray) -> int | None:
    return -1 if image.ndim == 3 else None


def bm3d_restore(image: np.ndarray, sigma: int) -> np.ndarray:
    import bm3d

    if image.ndim == 3:
        return bm3d.bm3d_rgb(image, sigma_psd=sigma / 255)
    return bm3d.bm3d(image, sigma_psd=sigma / 255)


def nl_means_restore(image: np.ndarray, sigma: int) -> np.ndarray:
    from skimage.restoration import denoise_nl_means, estimate_sigma

    axis = channel_axis(image)
    estimated = float(np.mean(estimate_sigma(image, channel_axis=axis)))
    return denoise_nl_means(
        image,
        h=0.8 * estimated,
        sigma=estimated,
        fast_mode=True,
        patch_size=5,
        patch_distance=6,
        channel_axis=axis,
    )


def tv_restore(image: np.ndarray, sigma: int) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle, estimate_sigma

    axis = channel_axis(image)
    estimated = float(np.mean(estimate_sigma(image, channel_axis=axis)))
    # At the default eps the energy test can stop after a few iterations, for some weights
    # far from converged (moon at σ=50: 6 dB below its neighbours' weights): a tighter one.
    return denoise_tv_chambolle(
        image, weight=0.8 * estimated, eps=1e-5, max_num_iter=1000, channel_axis=axis
    )


def per_image_fill(fill: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Inpainter:
    """An inpainter from a function of (holed image in [0, 1], mask, True = missing) -> image in
    [0, 1]; only that call is timed (reading and writing the files is not)."""

    def run(holed: Path, masks: Path, names: list[str], output: Path) -> dict[str, float]:
        seconds = {}
        for name in names:
            image = corrupt.read_png(holed / f"{name}.png") / 255.0
            mask = corrupt.read_png(masks / f"{name}.png") > 127
            start = time.perf_counter()
            filled = fill(image, mask)
            seconds[name] = time.perf_counter() - start
            corrupt.write_png(output / f"{name}.png", to_uint8(filled))
        return seconds

    return run


def biharmonic_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    return inpaint_biharmonic(image, mask, channel_axis=channel_axis(image))


def pull_push_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The shipped inpainter's first guess alone (`prefill_holes`): what its network adds."""
    from convae_tf.models import hole_fill

    batch = (image if image.ndim == 3 else image[..., None])[None].astype(np.float32)
    filled = hole_fill.pull_push(batch, mask[None, ..., None].astype(np.float32))
    return np.asarray(filled)[0].reshape(image.shape)


@contextlib.contextmanager
def folder_of(folder: Path, names: list[str], suffix: str = ".png"):
    """`folder` itself when `names` are all its images, else a temporary folder of links to
    those only: for a method that is a command taking a whole folder."""
    present = sorted(p.stem for p in folder.iterdir() if p.suffix == suffix)
    if present == sorted(names):
        yield folder
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            os.symlink((folder / f"{name}{suffix}").resolve(), Path(tmp) / f"{name}{suffix}")
        yield Path(tmp)


# The shipped models, as a user runs them: the whole `python -m convae_tf.predict` command is
# timed (start-up, loading, reading and writing the files included).
SHIPPED = REPO / "exported_models"
# Colour first: a photo goes to the model of its channel count (predict's --model=A,B).
SHIPPED_DENOISERS = (SHIPPED / "denoise-photo", SHIPPED / "denoise-photo-gray")
SHIPPED_INPAINTER = SHIPPED / "inpaint-photo"


def predict_command(models: str, task: str, inputs: Path, output: Path, *extra: str) -> float:
    """Seconds of one `python -m convae_tf.predict` run; its own error line if it fails."""
    command = [sys.executable, "-m", "convae_tf.predict", f"--model={models}", f"--task={task}"]
    command += [f"--input={inputs}", f"--output={output}", *extra]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def shipped_models(file_name: str | None = None) -> str:
    """The shipped denoisers that are here, as predict's --model: their folders, or the file
    `file_name` (a .tflite) of each one's highest version."""
    models = []
    for folder in (f for f in SHIPPED_DENOISERS if f.is_dir()):
        if file_name is None:
            models.append(str(folder))
            continue
        models.append(str(predict.saved_model_version_dir(folder) / file_name))
    return ",".join(models)


def shipped_denoiser(file_name: str | None = None, *flags: str) -> Denoiser:
    def run(noisy: Path, names: list[str], output: Path, sigma: int) -> float:
        del sigma  # blind: the model is told nothing about the noise
        with folder_of(noisy, names) as inputs:
            return predict_command(shipped_models(file_name), "reconstruct", inputs, output, *flags)

    return run


# Runs a command (its argv) and prints its CPU seconds and peak resident memory as JSON: the
# children's counters of a process that has no other child.
MEASURED = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
use = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"returncode": done.returncode, "stderr": done.stderr,
                  "cpu_seconds": use.ru_utime + use.ru_stime, "peak_kb": use.ru_maxrss}))
"""
LARGE_SIZE, LARGE_SIGMA = (3000, 4000), 25  # (H, W): a 12-megapixel photo, 4000×3000


def large_photo_run(
    images: dict[str, np.ndarray], work: Path, seed: int, size: tuple[int, int] = LARGE_SIZE
) -> dict:
    """The shipped denoisers' whole predict command on a large noisy photo of `size` (H, W):
    wall and CPU seconds, peak memory and PSNR."""
    from PIL import Image

    name = max((n for n, i in images.items() if i.ndim == 3), key=lambda n: images[n].size)
    height, width = size
    clean = np.asarray(Image.fromarray(images[name]).resize((width, height), Image.LANCZOS))
    noisy = corrupt.add_noise(clean, LARGE_SIGMA, corrupt.rng_for(seed, "large", LARGE_SIGMA))
    inputs, output = work / "large" / "noisy.png", work / "large" / "denoised"
    corrupt.write_png(inputs, noisy)
    command = [sys.executable, "-m", "convae_tf.predict", f"--model={shipped_models()}"]
    command += [f"--input={inputs}", f"--output={output}"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURED, *command], cwd=REPO, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    measured = json.loads(done.stdout)
    if measured["returncode"]:
        raise SystemExit(f"{' '.join(command)} failed: {measured['stderr'].strip()[-300:]}")
    psnr, _ = psnr_ssim(clean, corrupt.read_png(output / "noisy.png"))
    return {
        "image": f"{name}, enlarged to {width}×{height}",
        "sigma": LARGE_SIGMA,
        "megapixels": height * width / 1e6,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(measured["cpu_seconds"], 1),
        "peak_memory_gb": round(measured["peak_kb"] / 2**20, 2),
        "seconds_per_megapixel": round(seconds / (height * width / 1e6), 2),
        "psnr": psnr,
    }


def large_photo_line(r: dict) -> str:
    large = r.get("large")
    if not large:
        return ""
    return (
        f"A {large['megapixels']:g}-megapixel photo ({large['image']}, σ = {large['sigma']}), "
        f"the whole `convae-predict` command with the shipped models: {large['seconds']:.0f} s "
        f"wall ({large['cpu_seconds']:.0f} s of CPU), {large['seconds_per_megapixel']:.2f} s per "
        f"megapixel, peak memory {large['peak_memory_gb']:.1f} GB; PSNR {large['psnr']:.2f} dB.\n"
    )


def shipped_inpainter(file_name: str | None = None) -> Inpainter:
    """The shipped inpainter's SavedModel, or its TFLite file `file_name` (its own size,
    tile by tile), through the whole predict command."""
    model = SHIPPED_INPAINTER
    if file_name is not None and SHIPPED_INPAINTER.is_dir():
        model = predict.saved_model_version_dir(SHIPPED_INPAINTER) / file_name

    def run(holed: Path, masks: Path, names: list[str], output: Path) -> float:
        with folder_of(holed, names) as inputs:
            return predict_command(str(model), "inpaint", inputs, output, f"--mask={masks}")

    return run


DENOISERS: dict[str, Denoiser] = {
    "ours": shipped_denoiser(),  # predict's default --precision=auto
    "ours_float32": shipped_denoiser(None, "--precision=float32"),
    "ours_int8": shipped_denoiser("model_int8.tflite"),
    "bm3d": per_image(bm3d_restore),
    "nl_means": per_image(nl_means_restore),
    "tv": per_image(tv_restore),
}
INPAINTERS: dict[str, Inpainter] = {
    "ours": shipped_inpainter(),
    "ours_tflite": shipped_inpainter("model_float32.tflite"),
    "ours_tflite_int8": shipped_inpainter("model_int8.tflite"),
    "pull_push": per_image_fill(pull_push_fill),
    "biharmonic": per_image_fill(biharmonic_fill),
}
LABELS = {
    "ours": "ours (shipped, SavedModel)",
    "ours_float32": "ours, --precision=float32",
    "ours_int8": "ours, int8 TFLite",
    "bm3d": "BM3D / CBM3D",
    "nl_means": "NL-means (skimage, fast)",
    "tv": "TV (Chambolle)",
    "ours_tflite": "ours, float32 TFLite (128×128 tiles)",
    "ours_tflite_int8": "ours, int8 TFLite (128×128 tiles)",
    "pull_push": "pull-push harmonic fill (ours without its network)",
    "biharmonic": "biharmonic (skimage)",
}


# ------------------------------------------------------------------------------ scoring
def psnr_ssim(clean: np.ndarray, restored: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    psnr = peak_signal_noise_ratio(clean, restored, data_range=255)
    ssim = structural_similarity(clean, restored, data_range=255, channel_axis=channel_axis(clean))
    return round(float(psnr), 3), round(float(ssim), 4)


def masked_psnr(clean: np.ndarray, filled: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels under the mask only (every channel of them)."""
    error = clean[mask].astype(np.float64) - filled[mask]
    return round(float(10 * np.log10(255.0**2 / max(np.mean(error**2), 1e-12))), 3)


def summarize(rows: dict[str, dict], seconds, megapixels: dict[str, float]) -> dict:
    """Per-image rows plus the total seconds and seconds per megapixel of the run."""
    if isinstance(seconds, dict):
        for name, value in seconds.items():
            rows[name]["seconds"] = round(value, 3)
        seconds = sum(seconds.values())
    total_mp = sum(megapixels[name] for name in rows)
    return {
        "per_image": rows,
        "seconds": round(seconds, 2),
        "seconds_per_megapixel": round(seconds / total_mp, 3),
    }


def run_denoiser(name, images, sigma, work, subset) -> dict:
    names = [n for n in images if subset is None or n in subset]
    noisy = work / "noisy" / f"sigma{sigma}"
    output = work / "denoised" / name / f"sigma{sigma}"
    seconds = DENOISERS[name](noisy, names, output, sigma)
    rows = {}
    for image in names:
        psnr, ssim = psnr_ssim(images[image], corrupt.read_png(output / f"{image}.png"))
        rows[image] = {"psnr": psnr, "ssim": ssim}
    return summarize(rows, seconds, megapixels_of(images))


def run_inpainter(name, images, setting, work) -> dict:
    holed, masks = work / "holed" / setting, work / "masks" / setting
    output = work / "filled" / name / setting
    seconds = INPAINTERS[name](holed, masks, list(images), output)
    rows = {}
    for image, clean in images.items():
        mask = corrupt.read_png(masks / f"{image}.png") > 127
        filled = corrupt.read_png(output / f"{image}.png")
        rows[image] = {
            "psnr_masked": masked_psnr(clean, filled, mask),
            "coverage": round(float(mask.mean()), 4),
        }
    return summarize(rows, seconds, megapixels_of(images))


def megapixels_of(images: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: image.shape[0] * image.shape[1] / 1e6 for name, image in images.items()}


# ------------------------------------------------------------------------------ the run
def available_denoisers(wanted: list[str]) -> tuple[list[str], dict[str, str]]:
    """The wanted denoisers that can run here, and why the others cannot."""
    skipped = {}
    if not shipped_models():
        for name in {"ours", "ours_float32", "ours_int8"} & set(wanted):
            skipped[name] = f"no shipped model in {SHIPPED_DENOISERS[0]}"
    if "bm3d" in wanted:
        try:
            import bm3d  # noqa: F401
        except ImportError:
            skipped["bm3d"] = "pip `bm3d` not installed (pip install -e '.[bench]')"
    return [name for name in wanted if name not in skipped], skipped


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=str(REPO / "data" / "testimages"))
    parser.add_argument("--work", default=str(REPO / "runs" / "photo_denoise"))
    parser.add_argument("--out", default=str(report.RESULTS))
    parser.add_argument("--sigmas", default=",".join(map(str, SIGMAS)))
    parser.add_argument("--coverages", default=",".join(map(str, COVERAGES)))
    parser.add_argument("--denoisers", default=",".join(DENOISERS))
    parser.add_argument("--inpainters", default=",".join(INPAINTERS))
    parser.add_argument(
        "--bm3d_images", default="", help="run BM3D on these image names only (default: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--large", action=argparse.BooleanOptionalAction, default=True,
        help="time the shipped denoiser on a 12-megapixel photo (not with --quick)",
    )  # fmt: skip
    parser.add_argument(
        "--large_size", default=",".join(map(str, LARGE_SIZE)),
        help="the large photo's H,W (6000×4000, 24 megapixels: --large_size=4000,6000)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a smoke test: σ 25, 15 %% holes")
    args = parser.parse_args(argv)
    if args.quick:
        args.sigmas, args.coverages, args.large = "25", "15", False
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    started = time.time()
    folder, work = Path(args.images), Path(args.work)
    if not folder.is_dir():
        raise SystemExit(f"no folder {folder}: run `make data-testimages` first")
    images = corrupt.load_clean(folder)
    sigmas = [int(s) for s in args.sigmas.split(",")]
    coverages = [int(c) for c in args.coverages.split(",") if c]
    denoisers, skipped = available_denoisers([d for d in args.denoisers.split(",") if d])
    for name, why in skipped.items():
        say(f"{name} skipped: {why}")
    bm3d_subset = set(args.bm3d_images.split(",")) if args.bm3d_images else None
    corrupt.write_noisy(images, sigmas, work / "noisy", args.seed)
    settings = corrupt.write_holes(images, coverages, work, args.seed)
    result = header(args, argv, images, skipped, bm3d_subset)
    for sigma in sigmas:
        for name in denoisers:
            subset = bm3d_subset if name == "bm3d" else None
            row = run_denoiser(name, images, sigma, work, subset)
            result["denoise"].setdefault(name, {})[str(sigma)] = row
            say(f"{name} σ={sigma}: {row['seconds_per_megapixel']:.2f} s/MP")
    if args.large and "ours" in denoisers:
        size = tuple(int(side) for side in args.large_size.split(","))
        result["large"] = large_photo_run(images, work, args.seed, size)
        say(large_photo_line(result).strip())
    inpainters = [i for i in args.inpainters.split(",") if i]
    if not SHIPPED_INPAINTER.is_dir():
        for name in {"ours", "ours_tflite", "ours_tflite_int8"} & set(inpainters):
            inpainters.remove(name)
            say(f"{name} (inpainting) skipped: no shipped model in {SHIPPED_INPAINTER}")
    for name in inpainters:
        for setting in settings:
            row = run_inpainter(name, images, setting, work)
            result["inpaint"].setdefault(name, {})[setting] = row
            say(f"{name} {setting}: {row['seconds_per_megapixel']:.2f} s/MP")
    result["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    report.write_results(out, "photo_denoise", result, markdown(result))
    parts = (summaries(result), large_photo_line(result), inpaint_summary(result))
    readme_block = "\n".join(part for part in parts if part)
    if report.quotes_in_readme(out, args.quick) and report.replace_readme_block(
        "photo_denoise", readme_block
    ):
        say("wrote the README photo_denoise block")
    say(f"done in {result['seconds']} s: {out / 'photo_denoise.md'}")
    return result


def header(args, argv, images, skipped, bm3d_subset) -> dict:
    import skimage

    versions = {"scikit-image": skimage.__version__}
    with contextlib.suppress(ImportError):
        from importlib.metadata import version

        versions["bm3d"] = version("bm3d")
    return {
        "command": report.command("photo_denoise", argv),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": report.cpu_name(),
            # predict's --precision=auto computes in bfloat16 on such CPUs (the "ours" column).
            "native_bfloat16": bfloat16.native_bfloat16(),
            **versions,
        },
        "seed": args.seed,
        "images": {
            name: {"kind": "colour" if image.ndim == 3 else "gray", "shape": list(image.shape)}
            for name, image in images.items()
        },
        "bm3d_images": sorted(bm3d_subset) if bm3d_subset else "all",
        "skipped": skipped,
        "denoise": {},
        "inpaint": {},
    }


# ------------------------------------------------------------------------------ tables
def mean_over(rows: dict, names: list[str], key: str) -> float | None:
    values = [rows[n][key] for n in names if n in rows]
    return float(np.mean(values)) if len(values) == len(names) and values else None


def summary_markdown(r: dict, only: list[str] | None = None) -> str:
    """Mean PSNR / SSIM per kind (gray, colour) and σ, and seconds per megapixel, by method;
    over the images `only` when given (a method run on fewer images shows "—" otherwise)."""
    kinds = {
        kind: [n for n, v in r["images"].items() if v["kind"] == kind and n in (only or [n])]
        for kind in ("gray", "colour")
    }
    methods = list(r["denoise"])
    lines = [
        "| images | σ | " + " | ".join(LABELS.get(m, m) for m in methods) + " |",
        "| --- | ---: |" + " ---: |" * len(methods),
    ]
    for kind, names in kinds.items():
        if not names:
            continue
        for sigma in next(iter(r["denoise"].values()), {}):
            cells = []
            for m in methods:
                rows = r["denoise"][m].get(sigma, {}).get("per_image", {})
                psnr, ssim = mean_over(rows, names, "psnr"), mean_over(rows, names, "ssim")
                cells.append(f"{psnr:.2f} / {ssim:.3f}" if psnr is not None else "—")
            label = f"{kind} ({', '.join(names)})"
            lines.append(f"| {label} | {sigma} | " + " | ".join(cells) + " |")
    speeds = []
    for m in methods:
        per_sigma = [v["seconds_per_megapixel"] for v in r["denoise"][m].values()]
        speeds.append(f"{np.median(per_sigma):.2f}")
    lines.append("| seconds per megapixel (median over σ) | | " + " | ".join(speeds) + " |")
    return "\n".join(lines) + "\n"


def summaries(r: dict) -> str:
    """The means over every image, then (when BM3D ran on a subset) over that subset alone,
    where every method is compared on the same images."""
    text = summary_markdown(r)
    if r["bm3d_images"] != "all" and "bm3d" in r["denoise"]:
        subset = r["bm3d_images"]
        text += f"\nOn the images BM3D ran on ({', '.join(subset)}):\n\n"
        text += summary_markdown(r, subset)
    return text


def markdown(r: dict) -> str:
    m = r["machine"]
    machine = ("native bfloat16, " if m.get("native_bfloat16") else "") + ", ".join(
        f"{k} {v}" for k, v in m.items() if k not in ("cpus", "processor", "native_bfloat16")
    )
    lines = [
        "# Denoising and inpainting baselines on the test photos",
        "",
        f"`{r['command']}` — {m['cpus']} CPUs ({m['processor']}), {machine}; seed {r['seed']}, "
        f"{r['seconds']:.0f} s. PSNR (dB) / SSIM against the clean image, outputs stored as 8-bit "
        f"PNG. BM3D on: {r['bm3d_images']}.",
        "",
    ]
    for name, why in r["skipped"].items():
        lines += [f"Skipped: {name} ({why}).", ""]
    lines += [
        "## Denoising: means per kind",
        "",
        summaries(r),
        large_photo_line(r),
        "## Denoising: per image",
        "",
    ]
    lines += per_image_table(r)
    lines += ["", "## Inpainting: PSNR over the masked pixels (dB)", ""]
    lines += inpaint_table(r)
    return "\n".join(lines) + "\n"


def per_image_table(r: dict) -> list[str]:
    methods = list(r["denoise"])
    lines = [
        "| image | kind | σ | " + " | ".join(LABELS.get(m, m) for m in methods) + " |",
        "| --- | --- | ---: |" + " ---: |" * len(methods),
    ]
    sigmas = list(next(iter(r["denoise"].values()), {}))
    for name, info in r["images"].items():
        for sigma in sigmas:
            cells = []
            for m in methods:
                row = r["denoise"][m].get(sigma, {}).get("per_image", {}).get(name)
                seconds = f", {row['seconds']:.2f} s" if row and "seconds" in row else ""
                cells.append(f"{row['psnr']:.2f} / {row['ssim']:.3f}{seconds}" if row else "—")
            lines.append(f"| {name} | {info['kind']} | {sigma} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Seconds per megapixel, by σ: "
        + "; ".join(
            f"{LABELS.get(m, m)} "
            + ", ".join(
                f"{s}: {v['seconds_per_megapixel']:.2f}" for s, v in r["denoise"][m].items()
            )
            for m in methods
        )
    )
    return lines


def inpaint_summary(r: dict) -> str:
    """Inpainting: the mean PSNR over the holes of every image, per method and setting."""
    if not r["inpaint"]:
        return ""
    settings = list(next(iter(r["inpaint"].values())))
    lines = [
        "Inpainting, PSNR over the holes (dB), mean over the images:",
        "",
        "| method | " + " | ".join(settings) + " |",
        "| --- |" + " ---: |" * len(settings),
    ]
    for method, rows in r["inpaint"].items():
        means = [
            np.mean([row["psnr_masked"] for row in rows[setting]["per_image"].values()])
            for setting in settings
        ]
        lines.append(
            f"| {LABELS.get(method, method)} | " + " | ".join(f"{m:.2f}" for m in means) + " |"
        )
    return "\n".join(lines) + "\n"


def inpaint_table(r: dict) -> list[str]:
    lines = []
    for method, settings in r["inpaint"].items():
        lines += [
            f"{LABELS.get(method, method)}:",
            "",
            "| image | " + " | ".join(settings) + " |",
            "| --- |" + " ---: |" * len(settings),
        ]
        for name in r["images"]:
            cells = [
                f"{v['per_image'][name]['psnr_masked']:.2f} "
                f"({100 * v['per_image'][name]['coverage']:.0f} %)"
                for v in settings.values()
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        means = [
            f"{np.mean([row['psnr_masked'] for row in v['per_image'].values()]):.2f}"
            for v in settings.values()
        ]
        speed = [f"{v['seconds_per_megapixel']:.2f}" for v in settings.values()]
        lines += ["| mean | " + " | ".join(means) + " |", "| s/MP | " + " | ".join(speed) + " |"]
        lines.append("")
    return lines


if __name__ == "__main__":
    main()
