"""Mixed precision helpers: dynamic loss scaling (as torch.cuda.amp.GradScaler) and a fast
finiteness check.

In float16 small gradients underflow to zero.  The loss is multiplied by ``scale`` before the
backward pass (``net.loss_and_grads(X, y, scale=scaler.scale)``) so that gradients stay
representable; the fit loop divides them by ``scale`` in float32, and calls
``scaler.update(found_inf)``: an overflow (inf/NaN) skips the step and halves the scale; after
``growth_interval`` good steps in a row the scale doubles.
"""

from __future__ import annotations

import math

import numpy as np


def all_finite(x: np.ndarray) -> bool:
    """True when no element of ``x`` is inf or NaN (one reduction; float16 summed in float32)."""
    # inf/NaN propagate through a sum; summing float16 in float32 cannot overflow on finite values
    with np.errstate(over="ignore"):  # a finite sum that overflows is settled below
        total = x.sum(dtype=np.float32 if x.dtype == np.float16 else None)
    return bool(np.isfinite(total)) or bool(np.isfinite(x).all())


class LossScaler:
    """Dynamic loss scale: ``.scale``, ``.update(found_inf)``, ``.n_skipped``."""

    def __init__(self, init_scale: float = 2.0**15, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 200):
        if not (math.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"init_scale={init_scale!r} must be a finite number > 0")
        if not growth_factor > 1:
            raise ValueError(f"growth_factor={growth_factor!r} must be > 1")
        if not 0 < backoff_factor < 1:
            raise ValueError(f"backoff_factor={backoff_factor!r} must be in (0, 1)")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) \
                or growth_interval < 1:
            raise ValueError(f"growth_interval={growth_interval!r} must be an integer >= 1")
        self.scale = float(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = growth_interval
        self.n_skipped = 0  # steps skipped because the scaled gradients overflowed
        self._good_steps = 0

    def update(self, found_inf: bool) -> None:
        """After a step: back off on overflow (that step is skipped), grow after a good streak."""
        if found_inf:
            self.scale *= self.backoff_factor
            self.n_skipped += 1
            self._good_steps = 0
            return
        self._good_steps += 1
        if self._good_steps >= self.growth_interval:
            self.scale *= self.growth_factor
            self._good_steps = 0

    def __repr__(self) -> str:
        return f"LossScaler(scale={self.scale}, n_skipped={self.n_skipped})"
