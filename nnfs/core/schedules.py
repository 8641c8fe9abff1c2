"""Learning-rate schedules: pure functions ``lr(step) -> float`` of the optimizer step (0-based).

``get(name)(base_lr=..., **kw)`` returns a small callable object (picklable, with a readable
repr); calling it never changes it.  The optimizer never owns a schedule: the fit loop asks
``lr(step)`` and passes the value to ``opt.step``.

- constant:      lr = base_lr
- step:          lr = base_lr · gamma^⌊step / step_size⌋
- inverse_time:  lr = base_lr / (step + 1)^power_t — scikit-learn's ``invscaling``
                 (``learning_rate_init / (t + 1) ** power_t``).  scikit-learn counts t in
                 *samples seen* and updates only at the end of an epoch; here the caller chooses
                 what ``step`` counts (optimizer steps in nnfs.train).  lr(0) = base_lr in both.
- warmup_cosine: linear warmup from 0 at step 0 to base_lr at ``warmup_steps``, then a half
                 cosine from base_lr down to ``min_lr`` at ``total_steps``; min_lr afterwards.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


def _num(name: str, value, low: float = 0.0) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    v = float(value) if ok else math.nan
    if not (math.isfinite(v) and v >= low):
        raise ValueError(f"{name}={value!r} must be a finite number >= {low}")
    return v


def _int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def _step(step) -> int:
    return _int("step", step, 0)


@dataclass(frozen=True)
class Constant:
    base_lr: float

    def __post_init__(self):
        _num("base_lr", self.base_lr)

    def __call__(self, step: int) -> float:
        _step(step)
        return float(self.base_lr)


@dataclass(frozen=True)
class Step:
    base_lr: float
    step_size: int = 1000
    gamma: float = 0.1

    def __post_init__(self):
        _num("base_lr", self.base_lr)
        _int("step_size", self.step_size, 1)
        _num("gamma", self.gamma)

    def __call__(self, step: int) -> float:
        # lr = base_lr · γ^⌊step / step_size⌋
        return float(self.base_lr * self.gamma ** (_step(step) // self.step_size))


@dataclass(frozen=True)
class InverseTime:
    base_lr: float
    power_t: float = 0.5

    def __post_init__(self):
        _num("base_lr", self.base_lr)
        _num("power_t", self.power_t)

    def __call__(self, step: int) -> float:
        # lr = base_lr / (step + 1)^power_t
        return float(self.base_lr / (_step(step) + 1) ** self.power_t)


@dataclass(frozen=True)
class WarmupCosine:
    base_lr: float
    warmup_steps: int = 0
    total_steps: int = 1000
    min_lr: float = 0.0

    def __post_init__(self):
        _num("base_lr", self.base_lr)
        _int("warmup_steps", self.warmup_steps, 0)
        _int("total_steps", self.total_steps, 1)
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps={self.warmup_steps} must be <= "
                             f"total_steps={self.total_steps}")
        _num("min_lr", self.min_lr)
        if self.min_lr > self.base_lr:
            raise ValueError(f"min_lr={self.min_lr} must be <= base_lr={self.base_lr}")

    def __call__(self, step: int) -> float:
        step = _step(step)
        w, T = self.warmup_steps, self.total_steps
        if step < w:
            return float(self.base_lr * step / w)  # linear from 0 at step 0
        if step >= T:
            return float(self.min_lr)
        # cosine: base_lr at progress 0, min_lr at progress 1
        progress = (step - w) / (T - w)
        return float(self.min_lr + 0.5 * (self.base_lr - self.min_lr)
                     * (1.0 + math.cos(math.pi * progress)))


SCHEDULES = {"constant": Constant, "step": Step, "inverse_time": InverseTime,
             "warmup_cosine": WarmupCosine}
NAMES = tuple(SCHEDULES)


def get(name: str):
    """The schedule class registered under ``name``; call it with ``base_lr=...`` and its
    settings to get ``lr(step)``."""
    try:
        return SCHEDULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"schedule={name!r} is not known; valid: {', '.join(NAMES)}") from None
