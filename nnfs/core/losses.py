"""Losses fused with the output link, with PyTorch's reductions.

The network outputs raw logits ``z`` of shape ``(batch, n_out)``.  The link turns them into
predictions by task: regression → identity, binary → sigmoid (``n_out == 1``), multiclass →
softmax (``n_out == k``).

- ``mse``: mean over *all elements* of ``(link(z) − y)²`` (``torch.nn.MSELoss``), with one-hot
  targets for multiclass, so MSE on a classifier is "sigmoid/softmax, then squared error".
- ``cross_entropy``: mean over samples, fused with its link so that logits of ±1000 stay finite:
  binary is BCE-with-logits, multiclass is the negative log-softmax of the true class.

Each ``(task, loss)`` pair has one function ``(z, t, scale, out) -> (loss, dz)`` returning the
unscaled loss as a Python float and ``dz = d(scale · loss)/dz`` written into ``out``; ``t`` are
targets made by :func:`targets`.  Everything is computed in ``z``'s dtype; only the final
reductions of float16 arrays accumulate in float32 (a float16 sum overflows at 65504).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

TASKS = ("regression", "binary", "multiclass")
LOSSES = ("mse", "cross_entropy")


def check(task: str, loss: str) -> None:
    """Raise ValueError unless ``task`` and ``loss`` are known and go together."""
    if task not in TASKS:
        raise ValueError(f"task={task!r} is not known; valid: {', '.join(TASKS)}")
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not known; valid: {', '.join(LOSSES)}")
    if task == "regression" and loss == "cross_entropy":
        raise ValueError("loss='cross_entropy' needs task binary or multiclass; "
                         "regression takes loss mse")


def _total(x: np.ndarray) -> float:
    # float16 sums overflow at 65504: accumulate them in float32.  np.add.reduce is what
    # ndarray.sum calls, without its Python wrapper (~1 µs per step saved)
    return float(np.add.reduce(x, axis=None, dtype=np.float32 if x.dtype == np.float16 else None))


# ------------------------------------------------------------------ links
def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (batch, k) logits; shifted by the row maximum so exp never overflows."""
    e = z - z.max(axis=1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (batch, k) logits: s − log Σ exp(s), s = z − max(z)."""
    s = z - z.max(axis=1, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=1, keepdims=True))
    return s


def link(z: np.ndarray, task: str) -> np.ndarray:
    """Predictions from logits (batch, n_out): identity, sigmoid or softmax by task (a copy)."""
    if task == "regression":
        return z.copy()
    if task == "binary":
        return expit(z, out=np.empty_like(z))
    return softmax(z)


# ------------------------------------------------------------------ targets
def targets(y, task: str, n_out: int, dtype, loss: str) -> np.ndarray:
    """Targets in the form the loss functions use.

    regression: floats (batch,) or (batch, n_out) → (batch, n_out) of ``dtype``;
    binary: labels in {0, 1} (batch,) → (batch, 1) of ``dtype``;
    multiclass: integer labels in [0, k) (batch,) → int labels (cross_entropy) or a one-hot
    (batch, k) of ``dtype`` (mse).

    Idempotent: targets already in that form pass through (as views, never copied or written),
    so a fit loop can prepare them once and hand slices to ``loss_and_grads``.  A (batch, k)
    array for multiclass mse is taken as one-hot (or probability) rows as is.
    """
    y = np.asarray(y)
    if task == "multiclass" and loss == "mse" and y.ndim == 2 and y.shape[1] == n_out:
        return y.astype(dtype, copy=False)
    if task == "regression":
        if y.ndim == 1 and n_out == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_out:
            raise ValueError(f"y has shape {y.shape}; regression with n_out={n_out} needs "
                             f"(batch,) or (batch, {n_out})")
        return y.astype(dtype, copy=False)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y has shape {y.shape}; {task} needs class labels of shape (batch,)")
    if y.size and (np.minimum.reduce(y) < 0
                   or np.maximum.reduce(y) > (1 if task == "binary" else n_out - 1)):
        allowed = "{0, 1}" if task == "binary" else f"integers in [0, {n_out})"
        raise ValueError(f"y has labels outside {allowed} (min {y.min()}, max {y.max()})")
    if task == "binary":
        return y.astype(dtype, copy=False).reshape(-1, 1)
    if not np.issubdtype(y.dtype, np.integer):
        if not np.array_equal(y, np.round(y)):
            raise ValueError(f"y has dtype {y.dtype} with non-integer values; multiclass needs "
                             "integer labels")
        y = y.astype(np.int64)
    if loss == "mse":
        onehot = np.zeros((y.shape[0], n_out), dtype=dtype)
        onehot[np.arange(y.shape[0]), y] = 1
        return onehot
    return y


# ------------------------------------------------------------------ (task, loss) pairs
def mse_regression(z, t, scale, out):
    # ℓ = mean((z − y)²);  dℓ/dz = 2 (z − y) / (batch · n_out)
    r = np.subtract(z, t, out=out)
    loss = _total(np.square(r)) / r.size
    r *= 2 * scale / r.size
    return loss, r


def mse_binary(z, t, scale, out):
    # p = σ(z), ℓ = mean((p − y)²);  dℓ/dz = 2 (p − y) p (1 − p) / batch
    p = expit(z, out=np.empty_like(z))
    r = np.subtract(p, t, out=out)
    loss = _total(np.square(r)) / r.size
    r *= 2 * scale / r.size
    r *= p
    np.subtract(1, p, out=p)
    r *= p
    return loss, r


def mse_multiclass(z, t, scale, out):
    # p = softmax(z), ℓ = mean over batch·k of (p − Y)²;  dℓ/dp = 2 (p − Y) / (batch · k),
    # dℓ/dz = p ⊙ (dℓ/dp − Σ_j p_j dℓ/dp_j)   (softmax Jacobian diag(p) − p pᵀ)
    p = softmax(z)
    dp = p - t
    loss = _total(np.square(dp)) / dp.size
    dp *= 2 * scale / dp.size
    dz = np.subtract(dp, (dp * p).sum(axis=1, keepdims=True), out=out)
    dz *= p
    return loss, dz


def cross_entropy_binary(z, t, scale, out):
    # ℓ = mean(softplus(z) − y z) = mean(softplus((1 − 2y) z));  dℓ/dz = (σ(z) − y) / batch
    u = 1 - 2 * t
    u *= z
    loss = _total(np.logaddexp(0, u, out=u)) / z.shape[0]
    dz = expit(z, out=out)
    dz -= t
    dz *= scale / z.shape[0]
    return loss, dz


def cross_entropy_multiclass(z, t, scale, out):
    # ℓ = mean(log Σ_j e^{z_j} − z_y);  dℓ/dz = (softmax(z) − onehot(y)) / batch
    n = z.shape[0]
    rows = np.arange(n)
    s = np.subtract(z, z.max(axis=1, keepdims=True), out=out)  # shift: exp never overflows
    s_true = s[rows, t]
    np.exp(s, out=s)
    total = s.sum(axis=1, keepdims=True)
    loss = _total(np.log(total[:, 0]) - s_true) / n
    s /= total  # softmax
    s[rows, t] -= 1
    s *= scale / n
    return loss, s


LOSS_FUNCTIONS = {
    ("regression", "mse"): mse_regression,
    ("binary", "mse"): mse_binary,
    ("multiclass", "mse"): mse_multiclass,
    ("binary", "cross_entropy"): cross_entropy_binary,
    ("multiclass", "cross_entropy"): cross_entropy_multiclass,
}


def loss_and_dz(z, y, task: str, loss: str, *, scale: float = 1.0):
    """Loss (float) and ``d(scale · loss)/dz`` (batch, n_out) for raw targets ``y``."""
    check(task, loss)
    t = targets(y, task, z.shape[1], z.dtype, loss)
    return LOSS_FUNCTIONS[task, loss](z, t, scale, np.empty_like(z))
