"""Weight initialisation.  Weights are drawn in float64 from the Generator passed in (then cast by
the model), biases start at zero.

- ``glorot``: Glorot/Xavier uniform, U(−r, r) with r = √(6 / (fan_in + fan_out)) — keeps the
  variance of activations and of gradients ≈ constant through tanh/sigmoid-like layers.
- ``he``: He/Kaiming **normal**, N(0, 2 / fan_in) — the factor 2 compensates for ReLU zeroing half
  of its inputs (torch's ``kaiming_normal_`` with its default fan_in mode).
- ``auto``: He for the relu-like activations (relu, gelu, gelu_tanh, silu), Glorot otherwise —
  including swiglu, whose gated output is quadratic in its input so that He's gain compounds
  across layers (measured in nnfs.core.activations); the output layer (whose link is
  identity/sigmoid/softmax) always takes Glorot under ``auto``.
"""

from __future__ import annotations

import math

import numpy as np

SCHEMES = ("auto", "glorot", "he")


def check(name: str) -> None:
    """Raise ValueError unless ``name`` is a known initialisation scheme."""
    if name not in SCHEMES:
        raise ValueError(f"init={name!r} is not known; valid: {', '.join(SCHEMES)}")


def glorot_uniform(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """W (fan_in, fan_out) ~ U(−r, r), r = √(6 / (fan_in + fan_out))."""
    r = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-r, r, size=(fan_in, fan_out))


def he_normal(fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """W (fan_in, fan_out) ~ N(0, 2 / fan_in)."""
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def scheme_for(init: str, he_init: bool, output_layer: bool) -> str:
    """The concrete scheme ("glorot" or "he") that ``init`` means for one layer."""
    check(init)
    if init != "auto":
        return init
    return "he" if he_init and not output_layer else "glorot"


def weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """A float64 weight matrix (fan_in, fan_out) drawn by ``scheme`` ("glorot" or "he")."""
    if scheme == "glorot":
        return glorot_uniform(fan_in, fan_out, rng)
    if scheme == "he":
        return he_normal(fan_in, fan_out, rng)
    raise ValueError(f"init scheme={scheme!r} is not known; valid: glorot, he")
