"""What the experiment scripts write: results files, the benchmark's tables, README blocks.

Figures that README.md quotes sit between an HTML-comment pair of markers
(`<!-- name:begin -->` … `<!-- name:end -->`) and are rewritten by the script that measured
them, so that they are never typed by hand. Only a full run into `experiments/results/` is
quoted there: a `--quick` smoke run or a run written elsewhere leaves the README alone.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from convae_tf.utils import files

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "experiments" / "results"
README = REPO / "README.md"


def cpu_fields() -> dict[str, str]:
    """The fields of /proc/cpuinfo ("model name", "flags", ...); empty where there is none."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def cpu_name() -> str:
    """The CPU's model name, "with AMX" when it has Intel's matrix units: timings of bfloat16
    convolutions differ several-fold between CPUs with and without them."""
    fields = cpu_fields()
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    return name + (" with AMX" if "amx_bf16" in fields.get("flags", "").split() else "")


def command(module: str, argv: list[str] | None) -> str:
    """The command that produced a report, as written into it."""
    return " ".join([f"python -m experiments.{module}", *(sys.argv[1:] if argv is None else argv)])


def write_results(out: Path, stem: str, report: dict, markdown: str) -> None:
    """`out/stem.json` (keys in the report's order, which the tables follow) and `out/stem.md`."""
    files.write_text(out / f"{stem}.json", json.dumps(report, indent=2) + "\n")
    files.write_text(out / f"{stem}.md", markdown)


def quotes_in_readme(out: Path, quick: bool) -> bool:
    """Whether a run writing to `out` is the one README.md quotes (see the module docstring)."""
    return not quick and Path(out).resolve() == RESULTS.resolve()


def replace_readme_block(name: str, content: str, readme: Path = README) -> bool:
    """Put `content` between `<!-- name:begin -->` and `<!-- name:end -->`; False when the
    README has no such block (it is then left alone)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    files.write_text(readme, f"{head}{begin}\n{content}{end}{tail}")
    return True


# ------------------------------------------------------------------------- the benchmark
def benchmark_markdown(r: dict) -> str:
    """`benchmark.md`: every table of a `benchmark.json` report."""
    m = r["machine"]
    lines = [
        "# Benchmark: convae_tf vs the keras.io reference autoencoders",
        "",
        f"`{r['command']}` — {m['cpus']} CPUs ({m['processor']}), TensorFlow {m['tensorflow']}, "
        f"Keras {m['keras']}; measured peak {m['peak_gflops_float32_matmul']} GFLOP/s (float32 "
        f"matmul; bfloat16 {m['peak_gflops_bfloat16_matmul']}: the share of peak is of the "
        f"float32 one, so bfloat16 runs can exceed 100%). Our recipe: {r['recipe']}. "
        f"npz: {r['npz']['what']}. Ratios are ours / the "
        "reference, medians over alternating rounds measured side by side.",
        "",
        "## Training throughput (steady state)",
        "",
        "| data | model | images/s | ratio to reference | train GFLOP/image | GFLOP/s | share of "
        "peak | parameters |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, block in r["training"].items():
        for name, row in block["models"].items():
            ratio = (
                f"{row['ratio_to_reference']:.2f}× {row['reference']}"
                if "reference" in row
                else "(reference)"
            )
            lines.append(
                f"| {key} {tuple(block['image_shape'])} | {name} | {row['images_per_second']:.0f} "
                f"| {ratio} | {row['train_flops_per_image'] / 1e9:.4f} | "
                f"{row['gflops_per_second']:.1f} | {100 * row['share_of_peak']:.1f}% | "
                f"{row['parameters']:,} |"
            )
    if r["inference"]:
        lines += _inference_tables(r)
    if r.get("time_to_quality"):
        lines += _time_to_quality_table(r["time_to_quality"])
    return "\n".join(lines) + "\n"


def _inference_tables(r: dict) -> list[str]:
    lines = [
        "",
        f"## Inference ({r.get('inference_dataset')}; reconstruct; latency ms per call / images/s)",
        "",
        "| model | engine | batch 1 ms | batch 1 img/s | batch 64 ms | batch 64 img/s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, per in r["inference"].items():
        for engine in dict.fromkeys(key.split("@")[0] for key in per if "@" in key):
            a, b = per[f"{engine}@1"], per[f"{engine}@64"]
            lines.append(
                f"| {name} | {engine} | {a['latency_ms']:.3f} | "
                f"{a['images_per_second']:.0f} | {b['latency_ms']:.2f} | "
                f"{b['images_per_second']:.0f} |"
            )
    lines.append("")
    lines.append(
        "int8 TFLite / SavedModel latency at batch 1: "
        + ", ".join(
            f"{n} {p['int8_over_saved_model_batch1']:.2f}" for n, p in r["inference"].items()
        )
    )
    return lines


def _time_to_quality_table(t: dict) -> list[str]:
    ref = t["reference"]
    lines = [
        "",
        "## Time to quality (test negative ELBO, nats per image, at the posterior mean)",
        "",
        "| run | epochs | train seconds | final test −ELBO | seconds to the reference's "
        "final −ELBO | time ratio | images/s ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| keras.io VAE (reference) | {ref['epochs']} | {ref['seconds']:.1f} | "
        f"{ref['test_negative_elbo']:.2f} | {ref['seconds']:.1f} | 1.00 | 1.00 |",
    ]
    for name in ("vae", "vae@reference"):
        row = t[name]
        reached = row["seconds_to_reference_elbo"]
        ratio = row["time_ratio_to_reference"]
        lines.append(
            f"| {name} | {row['epochs_run']} | {row['seconds']:.1f} | "
            f"{row['test_negative_elbo']:.2f} | "
            f"{reached if reached is not None else 'not reached'} | "
            f"{ratio if ratio is not None else '—'} | "
            f"{row.get('images_per_second_ratio', '—')} |"
        )
    return lines


def benchmark_summary(r: dict) -> str:
    """README.md's benchmark block: the headline ratios of issue #6's targets."""
    npz = r["training"]["npz"]["models"]
    sprites = r["training"].get("sprites", {}).get("models", {})
    ttq = r.get("time_to_quality", {})
    int8 = {name: v["int8_over_saved_model_batch1"] for name, v in r["inference"].items()}
    rows = [
        (
            "our `vae` at the keras.io VAE's architecture, training images/s",
            "≥ 1.5×",
            f"{npz['vae@reference']['ratio_to_reference']:.2f}× (npz), "
            f"{sprites.get('vae@reference', {}).get('ratio_to_reference', float('nan')):.2f}× "
            "(sprites)",
        ),
        (
            "…the same, over whole 30-epoch training runs (npz; one run each, not steady state)",
            "—",
            f"{ttq['vae@reference']['images_per_second_ratio']:.2f}×"
            if "vae@reference" in ttq
            else "—",
        ),
        (
            "…its test −ELBO after 30 epochs (nats; reference in brackets)",
            "≤ reference",
            f"{ttq['vae@reference']['test_negative_elbo']:.1f} "
            f"({ttq['reference']['test_negative_elbo']:.1f})"
            if "vae@reference" in ttq
            else "—",
        ),
        (
            "our default `vae`: wall time to the reference's 30-epoch test −ELBO",
            "≤ 0.5×",
            f"{ttq['vae']['time_ratio_to_reference']:.2f}×" if "vae" in ttq else "—",
        ),
        (
            "int8 TFLite / SavedModel latency at batch 1",
            "≤ 0.5×",
            f"{min(int8.values()):.2f}–{max(int8.values()):.2f}× over every model",
        ),
    ]
    m = r["machine"]
    lines = [
        f"Generated by `{r['command']}` ({r['seconds']:.0f} s) on {m['cpus']} CPUs "
        f"({m['processor']}), TensorFlow {m['tensorflow']}, Keras {m['keras']}. Training data for "
        f"the npz rows: {r['npz']['what']}. Ratios are ours / the reference, medians of "
        "alternating rounds measured side by side in one run. Recipe: "
        f"{', '.join(f'{k}={v}' for k, v in r['recipe'].items())}.",
        "",
        "| target | goal | measured |",
        "| --- | --- | --- |",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        "| model (npz 28×28×1) | training images/s | ratio | GFLOP/s (share of float32 peak "
        f"{m['peak_gflops_float32_matmul']:.0f}) |",
        "| --- | ---: | --- | --- |",
    ]
    for name, v in npz.items():
        ratio = (
            f"{v['ratio_to_reference']:.2f}× {v['reference']}" if "reference" in v else "reference"
        )
        lines.append(
            f"| {name} | {v['images_per_second']:.0f} | {ratio} | "
            f"{v['gflops_per_second']:.0f} ({v['share_of_peak']:.0%}) |"
        )
    return "\n".join(lines) + "\n"
