"""Gradient checking by central differences (float64).

``numerical_grads(f, params)`` estimates ∂f/∂θ for a scalar function ``f`` of a params dict by
central differences, one element at a time, on float64 copies of ``params`` (the arrays passed
in are never written).  ``order=2`` is the classic (f(θ + h) − f(θ − h)) / 2h; the default
``order=4`` is the five-point central stencil (8(f(θ+h) − f(θ−h)) − (f(θ+2h) − f(θ−2h))) / 12h,
whose truncation error O(h⁴) lets h be larger (1e-3) and so shrinks the rounding error
ε·|f|/h to ~1e-13 for |f| of order 1.  ``gradcheck(f, params, grads)`` compares analytic
gradients with that estimate and returns the maximum relative error per key, cs231n's measure
|a − n| / max(|a| + |n|, floor) taken elementwise.  The floor (1e-6) is there because a
difference quotient cannot resolve entries smaller than its rounding error: for entries below
1e-6 the measure becomes the absolute error / 1e-6, so an error above 1e-12 there still fails a
1e-6 tolerance (and 0/0 counts as agreement where both vanish).

Kinks (relu at 0) make the difference quotient meaningless when a perturbation crosses one: the
caller keeps pre-activations farther than h·(input scale) from kinks (see nnfs.gradcheck_cli).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_H = 1e-3
DEFAULT_ORDER = 4
DEFAULT_FLOOR = 1e-6


def numerical_grads(f: Callable[[dict], float], params: dict, h: float = DEFAULT_H,
                    order: int = DEFAULT_ORDER) -> dict:
    """Central-difference estimate of ∂f/∂θ for every key of ``params`` (float64 arrays)."""
    if order not in (2, 4):
        raise ValueError(f"order={order!r} is not supported; valid: 2, 4")
    work = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}

    def at(flat_w, i, value):
        flat_w[i] = value
        return f(work)

    grads = {}
    for key, w in work.items():
        g = np.empty_like(w)
        flat_w, flat_g = w.reshape(-1), g.reshape(-1)  # views: writing flat_w perturbs w
        for i in range(flat_w.size):
            old = flat_w[i]
            d1 = at(flat_w, i, old + h) - at(flat_w, i, old - h)
            if order == 2:
                flat_g[i] = d1 / (2 * h)  # (f(θ+h) − f(θ−h)) / 2h
            else:
                d2 = at(flat_w, i, old + 2 * h) - at(flat_w, i, old - 2 * h)
                flat_g[i] = (8 * d1 - d2) / (12 * h)  # five-point stencil, error O(h⁴)
            flat_w[i] = old
        grads[key] = g
    return grads


def relative_error(analytic: np.ndarray, numeric: np.ndarray,
                   floor: float = DEFAULT_FLOOR) -> float:
    """max_i |a_i − n_i| / max(|a_i| + |n_i|, floor); 0.0 for empty arrays."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic shape {a.shape} differs from numeric shape {n.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)))


def gradcheck(f: Callable[[dict], float], params: dict, grads: dict, h: float = DEFAULT_H,
              floor: float = DEFAULT_FLOOR, order: int = DEFAULT_ORDER) -> dict[str, float]:
    """Maximum relative error per key between ``grads`` and central differences of ``f``."""
    if grads.keys() != params.keys():
        raise ValueError(f"grads keys {list(grads)} differ from params keys {list(params)}")
    numeric = numerical_grads(f, params, h, order)
    return {k: relative_error(grads[k], numeric[k], floor) for k in params}


def check_model(net, X, y, grads: dict | None = None, h: float = DEFAULT_H,
                floor: float = DEFAULT_FLOOR, order: int = DEFAULT_ORDER) -> dict[str, float]:
    """Per-key max relative error of ``grads`` (default: ``net.loss_and_grads(X, y)``) against
    central differences of ``net.loss(X, y)``, evaluated on a float64 copy of ``net``."""
    probe = net.astype(np.float64)  # a copy: the caller's model is never perturbed

    def f(p: dict) -> float:
        probe.set_params(p)
        return probe.loss(X, y)

    if grads is None:
        _, grads = probe.loss_and_grads(X, y)
        grads = {k: v.copy() for k, v in grads.items()}
    return gradcheck(f, probe.params, grads, h, floor, order)
