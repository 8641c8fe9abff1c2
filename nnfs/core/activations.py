"""Activation functions, each with its derivative written beside it.

Every function is elementwise on a pre-activation ``z`` of any shape and any float dtype
(float16, float32, float64); results keep ``z``'s dtype.  An :class:`Activation` bundles

- ``f(z, out=None)``  the value ``a = f(z)``,
- ``df(z)``           the derivative ``f'(z)``,
- ``backprop(da, z, a, out)``  the hot-path product ``dz = da * f'(z)`` written into ``out``,
  allowed to use the forward value ``a`` when that is cheaper (σ' = a(1 − a), tanh' = 1 − a²).
  ``out`` must not alias ``da``; ``da``, ``z`` and ``a`` are only read.  When ``from_output``
  is set, backprop reads ``a`` only, so the model may compute ``a`` in place of ``z`` and pass
  it as both (one buffer less per layer, which keeps the working set in cache).

``get("swiglu")`` returns :data:`SWIGLU`, a marker :class:`Activation` whose ``f``/``df`` are the
elementwise SiLU: SwiGLU is a gated *layer* (``silu(h @ W_gate + b_gate) * (h @ W_up + b_up)``,
see :mod:`nnfs.core.layers`), and :class:`nnfs.core.model.MLP` recognises it by ``gated=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, ndtr

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_C_TANH = math.sqrt(2.0 / math.pi)  # constants of the tanh approximation of GELU
_K_TANH = 0.044715


def _empty_like(z: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    # scipy's ufuncs (expit, ndtr) have no float16 loop and would return float64; writing into
    # an array of z's dtype keeps the dtype (the computation runs in float32/64, then rounds).
    return np.empty_like(z) if out is None else out


# ---------------------------------------------------------------- identity
def identity(z, out=None):
    """a = z, (any shape)."""
    out = _empty_like(z, out)
    np.copyto(out, z)
    return out


def d_identity(z):
    # f'(z) = 1
    return np.ones_like(z)


def _backprop_identity(da, z, a, out):
    np.copyto(out, da)
    return out


# ---------------------------------------------------------------- sigmoid
def sigmoid(z, out=None):
    """σ(z) = 1 / (1 + e^(−z)), evaluated without overflow for any |z| (scipy's expit)."""
    return expit(z, out=_empty_like(z, out))


def d_sigmoid(z):
    # σ'(z) = σ(z)(1 − σ(z))
    s = sigmoid(z)
    return s * (1 - s)


def _backprop_sigmoid(da, z, a, out):
    np.subtract(1, a, out=out)  # 1 − σ
    out *= a  # σ(1 − σ)
    out *= da
    return out


# ---------------------------------------------------------------- tanh
def tanh(z, out=None):
    """tanh(z)."""
    return np.tanh(z, out=_empty_like(z, out))


def d_tanh(z):
    # tanh'(z) = 1 − tanh(z)²
    t = np.tanh(z)
    return 1 - t * t


def _backprop_tanh(da, z, a, out):
    np.multiply(a, a, out=out)
    np.subtract(1, out, out=out)  # 1 − a²
    out *= da
    return out


# ---------------------------------------------------------------- relu
def relu(z, out=None):
    """max(z, 0)."""
    return np.maximum(z, 0, out=_empty_like(z, out))


def d_relu(z):
    # relu'(z) = 1 if z > 0 else 0  (0 at the kink, as PyTorch)
    return (z > 0).astype(z.dtype)


def _backprop_relu(da, z, a, out):
    np.multiply(da, a > 0, out=out)  # a > 0 ⇔ z > 0
    return out


# ---------------------------------------------------------------- gelu (exact)
def _Phi(z):
    # Φ(z), the standard normal CDF; scipy's ndtr keeps full relative precision in the left tail,
    # where (1 + erf(z/√2))/2 would cancel to zero
    return ndtr(z, out=np.empty_like(z))


def gelu(z, out=None):
    """GELU(z) = z Φ(z), Φ the standard normal CDF (exact)."""
    return np.multiply(z, _Phi(z), out=_empty_like(z, out))


def d_gelu(z):
    # GELU'(z) = Φ(z) + z φ(z),  φ(z) = e^(−z²/2) / √(2π)
    phi = np.exp(-0.5 * np.square(z))
    phi *= _INV_SQRT_2PI
    phi *= z
    phi += _Phi(z)
    return phi


def _backprop_gelu(da, z, a, out):
    np.multiply(da, d_gelu(z), out=out)
    return out


# ---------------------------------------------------------------- gelu (tanh approximation)
def _u(z):
    # u = c (z + k z³),  c = √(2/π), k = 0.044715
    u = np.square(z)
    u *= _K_TANH
    u += 1
    u *= z
    u *= _C_TANH
    return u


def gelu_tanh(z, out=None):
    """GELU_tanh(z) = z (1 + tanh(u)) / 2 = z σ(2u),  u = √(2/π)(z + 0.044715 z³).

    The σ(2u) form (1 + tanh(u) = 2σ(2u)) avoids the cancellation of 1 + tanh(u) for z ≪ 0.
    """
    s = _u(z)
    s *= 2
    return np.multiply(z, sigmoid(s, out=s), out=_empty_like(z, out))


def d_gelu_tanh(z):
    # f'(z) = (1 + t)/2 + z (1 − t²) u'/2 = s + 2 z s (1 − s) u',  t = tanh(u), s = σ(2u),
    # u' = c (1 + 3k z²)
    s = _u(z)
    s *= 2
    sigmoid(s, out=s)
    du = np.square(z)
    du *= 3 * _K_TANH
    du += 1
    du *= 2 * _C_TANH  # 2u'
    du *= z
    du *= s
    du *= 1 - s
    du += s
    return du


def _backprop_gelu_tanh(da, z, a, out):
    np.multiply(da, d_gelu_tanh(z), out=out)
    return out


# ---------------------------------------------------------------- silu (swish)
def silu(z, out=None):
    """SiLU(z) = z σ(z)."""
    return np.multiply(z, sigmoid(z), out=_empty_like(z, out))


def d_silu(z):
    # SiLU'(z) = σ(z)(1 + z(1 − σ(z)))
    s = sigmoid(z)
    d = 1 - s
    d *= z
    d += 1
    d *= s
    return d


def _backprop_silu(da, z, a, out):
    np.multiply(da, d_silu(z), out=out)
    return out


# ---------------------------------------------------------------- registry
@dataclass(frozen=True)
class Activation:
    """An elementwise activation: value ``f``, derivative ``df``, and hot-path ``backprop``.

    ``from_output``: ``backprop`` needs only ``a`` (see the module docstring).
    ``he_init`` selects He initialisation under ``init="auto"`` (the relu-like activations,
    which zero or nearly zero half of their inputs); ``gated`` marks SwiGLU, whose hidden layer
    the model builds as a gated layer (``f``/``df`` are then SiLU's).
    """

    name: str
    f: Callable[..., np.ndarray]
    df: Callable[[np.ndarray], np.ndarray]
    backprop: Callable[..., np.ndarray]
    he_init: bool = False
    gated: bool = False
    from_output: bool = False


IDENTITY = Activation("identity", identity, d_identity, _backprop_identity)
SIGMOID = Activation("sigmoid", sigmoid, d_sigmoid, _backprop_sigmoid, from_output=True)
TANH = Activation("tanh", tanh, d_tanh, _backprop_tanh, from_output=True)
RELU = Activation("relu", relu, d_relu, _backprop_relu, he_init=True, from_output=True)
GELU = Activation("gelu", gelu, d_gelu, _backprop_gelu, he_init=True)
GELU_TANH = Activation("gelu_tanh", gelu_tanh, d_gelu_tanh, _backprop_gelu_tanh, he_init=True)
SILU = Activation("silu", silu, d_silu, _backprop_silu, he_init=True)
# SwiGLU takes Glorot under "auto": its output silu(x W_g) ⊙ (x W_u) is quadratic in x, so He's
# gain of 2 compounds from layer to layer (activation std 2, 20, 4e3, 5e8 at depths 1-4, width 64;
# a depth-4 moons fit diverged), while Glorot keeps it trainable (97 % test accuracy at depth 4)
SWIGLU = Activation("swiglu", silu, d_silu, _backprop_silu, gated=True)

ACTIVATIONS: dict[str, Activation] = {
    a.name: a for a in (IDENTITY, SIGMOID, TANH, RELU, GELU, GELU_TANH, SILU, SWIGLU)
}
NAMES = tuple(ACTIVATIONS)


def get(name: str) -> Activation:
    """The activation registered under ``name``."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"activation={name!r} is not known; valid: {', '.join(NAMES)}"
        ) from None
