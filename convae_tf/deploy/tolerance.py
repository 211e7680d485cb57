"""How far each exported output may lie from the Keras model's: bounds that follow from how the
output is computed, so that the float32 parity gate fails real mismatches and nothing else.

A float32 export computes what Keras computes, in another order of summation (XNNPACK, oneDNN
on AVX-512 or AMX): each output differs by rounding, and by what its inputs' rounding becomes
on the way to it. Per output, on each held-out image:

- images (reconstruction, decode, inpaint), in [0, 1]: BASE absolutely.
- codes (encode outputs), unbounded: BASE · max(1, max |Keras output|), the encoder's
  rounding relative to the code's scale.
- the fitted score z(log MSE) + z(Mahalanobis²(code)) (models/anomaly.py): the first-order
  change that the code's and the reconstruction's own tolerances cause in it, plus the rounding
  of the distance's quadratic form, plus BASE · max(1, |score|). Through the precision matrix
  P, a code error δ moves the distance by about 2·|P (z − μ)|·δ: when the held-out codes
  barely vary along some direction, P has eigenvalues in the thousands and the score follows
  the code's rounding a thousandfold. The bound grows with exactly that, per image, and no
  more, so an export whose score is wrong by far less than the normal images' spread fails.
- the model's own score before fitting (a reconstruction error, the VAE's −ELBO in nats):
  BASE · max(1, max |Keras score|).
"""

from __future__ import annotations

import numpy as np

from convae_tf.deploy import signatures
from convae_tf.models import anomaly

BASE = 1e-5
UNIT_ROUNDOFF = 2.0**-24  # float32
IMAGE_OUTPUTS = ("reconstruction", "images", signatures.INPAINTED)  # outputs in [0, 1]
SCORE_OUTPUT = f"{signatures.SCORE}/score"

RULES = {
    "image": f"|export - Keras| <= {BASE:g} per pixel (images in [0, 1])",
    "code": f"|export - Keras| <= {BASE:g} * max(1, max |Keras output|) per value",
    "fitted_score": (
        "|export - Keras| <= per image: (2 |P (z - mu)| . dz + dz' |P| dz "
        "+ (k + 2) u |z - mu|' |P| |z - mu|) / std(distance) + dlog(MSE) / std(log MSE) + "
        f"{BASE:g} * max(1, |score|); dz = the code's tolerance plus u (|z| + |mu|), dlog(MSE) "
        f"from the reconstruction's tolerance {BASE:g} and the MSE's n-pixel sum; P, mu: the "
        "fitted precision and location, k the code size, u = 2^-24 (float32)"
    ),
    "own_score": f"|export - Keras| <= {BASE:g} * max(1, max |Keras score|) (unfitted score)",
}


def score_statistics(model) -> dict | None:
    """The fitted score's statistics as float64 arrays, or None before fitting."""
    if float(np.asarray(model.anomaly_score.fitted)) <= 0.5:
        return None
    return {
        "location": np.asarray(model.anomaly_score.location, np.float64),
        "precision": np.asarray(model.anomaly_score.precision, np.float64),
        "scales": np.asarray(model.anomaly_score.scales, np.float64),
    }


def code_tolerance(values: np.ndarray) -> float:
    return BASE * max(1.0, float(np.max(np.abs(values))))


def fitted_score_tolerance(statistics: dict, images, reconstructions, codes, scores) -> np.ndarray:
    """Per image, the bound on |export score − Keras score| of the fitted score (RULES), from
    Keras's reconstructions, codes and scores of `images`."""
    images = np.asarray(images, np.float64).reshape(len(images), -1)
    reconstructions = np.asarray(reconstructions, np.float64).reshape(len(images), -1)
    codes = np.asarray(codes, np.float64)
    location, precision = statistics["location"], statistics["precision"]
    _, log_std, _, distance_std = statistics["scales"]
    log_error = log_mse_error(images, reconstructions)
    distance_error = distance_error_bound(codes, location, precision)
    floor = BASE * np.maximum(1.0, np.abs(np.asarray(scores, np.float64)))
    return log_error / log_std + distance_error / distance_std + floor


def distance_error_bound(codes, location, precision) -> np.ndarray:
    """Bound on the change of (z − μ)ᵀ P (z − μ) per code: the code's tolerance and the
    rounding of z − μ carried through P (first and second order), plus the float32 rounding
    of the quadratic form's k + 2 accumulations."""
    centred = codes - location
    code_error = code_tolerance(codes) + UNIT_ROUNDOFF * (np.abs(codes) + np.abs(location))
    magnitude = np.abs(precision)
    first_order = 2.0 * np.sum(np.abs(centred @ precision) * code_error, axis=-1)
    second_order = np.einsum("bi,ij,bj->b", code_error, magnitude, code_error)
    quadratic_form = np.einsum("bi,ij,bj->b", np.abs(centred), magnitude, np.abs(centred))
    rounding = (codes.shape[-1] + 2) * UNIT_ROUNDOFF * quadratic_form
    return first_order + second_order + rounding


def log_mse_error(images, reconstructions) -> np.ndarray:
    """Bound on the change of log(MSE + ε) per image (flattened float64 arrays): each pixel
    of the reconstruction may move by BASE, which moves its square by 2|r − x|·BASE + BASE²,
    and a sum of n positive terms rounds by at most n·u of itself."""
    residual = np.abs(reconstructions - images)
    mse = np.mean(np.square(residual), axis=-1)
    mse_error = np.mean(2.0 * residual * BASE + BASE**2, axis=-1)
    mse_error += images.shape[-1] * UNIT_ROUNDOFF * mse
    # log(m + ε) moves by at most −log(1 − δ/(m + ε)): the downward side is the larger one.
    relative = np.minimum(mse_error / (mse + anomaly.EPSILON), 1.0 - 1e-12)
    return -np.log1p(-relative)


def output_tolerances(model, reference: dict, images, codes) -> dict[str, np.ndarray]:
    """ "signature/output" → the tolerance of that output on each image, (batch,), for the
    Keras outputs `reference` (model_card.keras_reference) of `images` and their `codes`."""
    statistics = score_statistics(model)
    reconstructions = reference[signatures.RECONSTRUCT]["reconstruction"]
    tolerances = {}
    for signature, outputs in reference.items():
        for key, expected in outputs.items():
            name = f"{signature}/{key}"
            if key in IMAGE_OUTPUTS:
                tolerance = BASE
            elif name == SCORE_OUTPUT and statistics is not None:
                tolerance = fitted_score_tolerance(
                    statistics, images, reconstructions, codes, expected
                )
            else:
                tolerance = code_tolerance(expected)
            tolerances[name] = np.broadcast_to(np.asarray(tolerance, np.float64), len(expected))
    return tolerances


def output_rules(model, reference: dict) -> dict[str, str]:
    """ "signature/output" → the short text of its tolerance's rule (RULES)."""
    fitted = score_statistics(model) is not None
    rules = {}
    for signature, outputs in reference.items():
        for key in outputs:
            name = f"{signature}/{key}"
            if key in IMAGE_OUTPUTS:
                rules[name] = RULES["image"]
            elif name == SCORE_OUTPUT:
                rules[name] = RULES["fitted_score" if fitted else "own_score"]
            else:
                rules[name] = RULES["code"]
    return rules
