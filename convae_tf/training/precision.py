"""Training precision: what `--precision` means, and how each value is put into effect.

Two ways to train in bfloat16 on a CPU, both keeping float32 weights:

- `mixed_bfloat16`, the Keras dtype policy: layers compute in bfloat16 and cast around
  themselves. Every elementwise op (bias, activation, their gradients) then also runs in
  bfloat16, which TF's CPU kernels emulate slowly.
- `onednn_bfloat16`: the model stays float32 and TF's graph optimizer rewrites the compiled
  training step (grappler's `auto_mixed_precision_onednn_bfloat16` pass): convolutions and
  matmuls run in bfloat16 on oneDNN, the elementwise ops between them follow, and ops on its
  deny list (exp, log1p, ...) and what they feed stay float32, with casts only at the borders.
  In our models the logits and the code come out in bfloat16 while the loss sums and the KL
  stay float32 (`TF_CPP_VMODULE=auto_mixed_precision=2` lists every converted node). On a CPU
  with native bfloat16 it trains faster than the policy (experiments/layer_speed.py measures
  both), at a test −ELBO within the policy's seed-to-seed spread
  (experiments/precision_quality.py).

The rewrite is a process-wide TF option read when a compiled function is called, so it is
switched on only around training (`graph_rewrite`; convae_tf/utils/bfloat16.py); export and
evaluate compute in float32, predict as its --precision says.
"""

from __future__ import annotations

from convae_tf.utils import bfloat16

PRECISIONS = ("auto", "float32", "onednn_bfloat16", "mixed_bfloat16", "mixed_float16")


def resolve(precision: str) -> str:
    """The precision that `precision` means on this machine. "auto": onednn_bfloat16 on a
    CPU-only machine whose CPU has native bfloat16 (AVX512_BF16 or AMX), where it trains
    faster than float32 (experiments/benchmark.py); float32 elsewhere (emulated bfloat16 is
    slow, and so is float16 on a CPU: docs/ARCHITECTURE.md, known pitfalls)."""
    if precision != "auto":
        return precision
    return "onednn_bfloat16" if bfloat16.auto() else "float32"


def keras_policy(precision: str) -> str:
    """The Keras dtype policy to build the model under: the graph rewrite needs a float32
    model."""
    precision = resolve(precision)
    return "float32" if precision == "onednn_bfloat16" else precision


def graph_rewrite(precision: str):
    """Compiled functions called inside run with the bfloat16 rewrite on if `precision`
    resolves to onednn_bfloat16, and off otherwise; the previous setting comes back after."""
    return bfloat16.rewrite(resolve(precision) == "onednn_bfloat16")
