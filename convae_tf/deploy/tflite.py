"""SavedModel → TFLite files, with LiteRT builtin ops only, in four quantizations.

Why batch 1: converted with a dynamic batch, Keras 3.15's UpSampling2D (a tile + reshape whose
shape is computed at run time) loses the static height, and the converter then leaves one
`tf.Conv2D` as a Flex op, which no LiteRT runtime here can run. At a fixed batch of 1 every
shape is static and the whole graph maps to builtins. On a device one frame per call is the
usual pattern anyway; `convae_tf.predict` loops over a batch.

Why `from_saved_model(dir, signature_keys=...)`: `from_concrete_functions(..., trackable_obj=)`
gave NaN outputs on this stack (docs/ARCHITECTURE.md: pitfalls).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import tensorflow as tf

from convae_tf.errors import ConfigError
from convae_tf.utils.quiet import native_info_held_back

SCORE_SIGNATURE = "score"  # deploy/signatures.py's name (it imports Keras; this module need not)
QUANTIZATIONS = ("float32", "dynamic", "float16", "int8")
DESCRIPTIONS = {
    "float32": "float32 weights and activations; the exact reference (held to the parity gate)",
    "dynamic": "int8 weights, float32 activations (dynamic-range quantization)",
    "float16": "float16 weights, float32 compute on CPU (GPU delegates run float16)",
    "int8": (
        "int8 weights and activations (calibrated on training images), but the anomaly "
        "score's own arithmetic after the code and the reconstruction (its distance, log MSE "
        "and standardisation) in float32; float32 inputs and outputs, quantized inside the model"
    ),
}


class ConversionError(ConfigError):
    """A model that LiteRT builtins cannot express; one line, exit 2 from the CLI."""


def parse_quantizations(text: str) -> tuple[str, ...]:
    """'all' or a comma list of QUANTIZATIONS (order kept, duplicates dropped); '' or 'none'
    exports the SavedModel only."""
    text = text.strip().lower()
    if text == "all":
        return QUANTIZATIONS
    if text in ("", "none"):
        return ()
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in QUANTIZATIONS]
    if unknown:
        raise ConfigError(
            f"--quantize: unknown {', '.join(unknown)}; use 'all', 'none' or a comma list of "
            f"{', '.join(QUANTIZATIONS)}"
        )
    return tuple(dict.fromkeys(names))


def convert(
    saved_model_dir: Path,
    signature_keys: Iterable[str],
    quantization: str,
    representative_data: Callable[[], Iterable] | None = None,
) -> bytes:
    """The TFLite flatbuffer of the given signatures. `representative_data` (int8 only) yields
    `(signature_key, {input name: batch-1 array})` for the calibrator."""
    keys = list(signature_keys)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir), signature_keys=keys)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative_data is None:
            raise ValueError("int8 quantization needs representative data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_data
        # Integer kernels only for everything that is quantized. Inputs and outputs stay
        # float32 (the converter's default): callers feed images in [0, 1] as for the others.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Calibrated here, quantized in `quantize_but_the_score_head`.
        converter._experimental_calibrate_only = True
    elif quantization != "float32":
        raise ValueError(f"unknown quantization {quantization!r}")
    try:
        # The converter prints debug lines from C++ ("fully_quantize: 0, ..."): held back.
        with warnings.catch_warnings(), native_info_held_back():
            # The int8 calibrator runs TF's own deprecated tf.lite.Interpreter: not ours to fix.
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            flatbuffer = converter.convert()
            if quantization == "int8":
                flatbuffer = quantize_but_the_score_head(flatbuffer)
            return flatbuffer
    except Exception as error:  # the converter raises ConverterError and plain exceptions
        raise ConversionError(_one_line(error, quantization)) from error


def quantize_but_the_score_head(calibrated: bytes) -> bytes:
    """The int8 model from a calibrated one, the score's head left in float32.

    The fitted score reads the code through a precision matrix whose eigenvalues can reach
    thousands (models/anomaly.py): computed on int8 activations, the distance's rounding
    swamps the ranking of the images. The head is only a few element-wise ops and one small
    matmul, so float32 costs nothing in size; the encoder and decoder stay int8."""
    from tensorflow.lite.python import convert as lite_convert

    return lite_convert.mlir_quantize(
        calibrated,
        denylisted_nodes=score_head_nodes(calibrated) + output_layer_nodes(calibrated),
        # Per-tensor scales for Dense layers: per-channel ones cost a float32 scale and an
        # int64 zero point per output unit, per signature. The decoder's first Dense has
        # thousands of units (e.g. 8·8·64 = 4096), so they made the int8 file 67% of the
        # float32 one on the default model; convolutions keep their per-channel scales.
        disable_per_channel_for_dense_layers=True,
    )


def output_layer_nodes(flatbuffer: bytes) -> list[str]:
    """Output names of the decoder's last layer (the logits) and of what follows it to each
    signature's output (the sigmoid), in every signature.

    The logits quantized to int8 over their range (about ±10) step by about 0.08, which the
    sigmoid turns into about 5 of the image's 255 levels at mid-grey: more than a denoiser
    gains. One convolution to C channels in float32 costs little in size or time."""
    names = set()
    for outputs in _op_outputs(flatbuffer).values():
        logits = [i for i, name in enumerate(outputs) if "/logits" in name]
        if logits:
            names.update(outputs[logits[0] :])
    return sorted(names)


def score_head_nodes(flatbuffer: bytes) -> list[str]:
    """Output names of the score signature's own ops: those traced in the score function
    itself, at the top of its name scope, not inside the encoder's or decoder's layers (whose
    names are scoped, "encoder_1/code_1/MatMul"). Names are per flatbuffer, and a name that
    another signature shares only leaves one more weightless op in float32. Empty without a
    score signature (a file converted from other signatures only)."""
    outputs = _op_outputs(flatbuffer).get(SCORE_SIGNATURE, [])
    return sorted({name for name in outputs if "/" not in name})


def _op_outputs(flatbuffer: bytes) -> dict[str, list[str]]:
    """{signature: the output tensor names of its subgraph's ops, in the ops' order}."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    outputs = {}
    for signature in model.signatureDefs:
        subgraph = model.subgraphs[signature.subgraphIndex]
        outputs[signature.signatureKey.decode()] = [
            subgraph.tensors[i].name.decode() for op in subgraph.operators for i in op.outputs
        ]
    return outputs


def _one_line(error: Exception, quantization: str) -> str:
    text = str(error)
    select = [line for line in text.splitlines() if "TF Select ops:" in line]
    if select or "ERROR_NEEDS_FLEX_OPS" in text:
        ops = select[0].split(":", 1)[1].strip() if select else "some TensorFlow ops"
        return (
            f"TFLite {quantization} conversion needs Flex ops ({ops}) that LiteRT builtins lack "
            "and no runtime here can run; the SavedModel alone exports with --quantize=none"
        )
    first = next((line.strip() for line in text.splitlines() if line.strip()), repr(error))
    return f"TFLite {quantization} conversion failed: {first[:300]}"
