"""The fit loop: batches, accumulation, clipping, schedules, precision, divergence, callbacks.

``fit(net, data, optimizer=..., epochs=...)`` trains a *copy* of ``net`` (the input is never
mutated) and returns a :class:`History` whose ``.net`` is the trained model in master precision.

Semantics, precisely:

- **Batches.** ``batch_size=None`` is full-batch gradient descent (one step per epoch, no
  shuffling: the full-batch gradient does not depend on the order), ``1`` is SGD, ``k`` is
  mini-batch (clamped to the number of training samples). Each epoch draws one permutation from
  ``rng`` and copies the training set in that order once; batches are slices of that copy. The
  last batch of an epoch holds the remainder (it may be smaller), as in scikit-learn.
- **Accumulation.** ``accumulation=k`` makes one optimizer step out of ``k`` consecutive
  micro-batches of ``batch_size`` samples (``batch_size=None`` splits the full batch into ``k``
  micro-batches of ``ceil(n / k)``). Micro-batch ``i`` of ``n_i`` samples is weighted by
  ``n_i / N`` (``N`` = samples of the step), so the step's gradient is exactly the gradient of
  the mean loss over the union of its micro-batches: a ragged last micro-batch, or a last step of
  the epoch with fewer than ``k`` micro-batches, gives the exact gradient of the samples it
  holds. With equal sizes this is the plain mean of the ``k`` micro-batch gradients.
- **Schedule.** ``schedule(step)`` is evaluated before every optimizer step, ``step`` counting
  optimizer steps from 0 across epochs; a step skipped by mixed precision does not count.
- **Clipping.** On the master gradient of the step, first by value (``clip_value``: each
  element into ``[-v, v]``), then by global norm over all parameters (``clip_norm``: scaled by
  ``clip_norm / ||g||`` when ``||g|| > clip_norm``), so the applied gradient has norm
  ``<= clip_norm``.
- **Precision.** ``float64`` / ``float32`` train in that dtype. ``mixed`` keeps float32 master
  weights and runs forward/backward on a float16 copy with the loss multiplied by the loss
  scale; gradients are cast to float32 and unscaled. A non-finite loss or gradient skips the step
  and halves the scale; ``growth_interval`` good steps double it (:class:`LossScaler`). If the
  scale falls below ``2**-24`` (float16's smallest subnormal), no scale can help: diverged.
- **Divergence.** In float64/float32 a non-finite loss stops the fit at once (status
  ``"diverged"``, ``reason``, ``diverged_epoch``, ``diverged_step`` (1-based optimizer step
  whose loss was non-finite)); non-finite parameters at the end of an epoch do the same.
  ``fit`` never raises for a diverging run.
- **Early stopping.** ``validation_fraction`` of the training part is held out (rng split);
  after every epoch the validation loss is measured; ``patience`` epochs without a strictly
  lower value stop the fit (status ``"early_stopped"``) and the best parameters are restored.
- **Metrics** (at evaluated epochs: every ``eval_every``-th, the last, and the one where the fit
  stops): ``train/loss`` is the size-weighted mean of the epoch's batch losses (as
  scikit-learn's ``loss_curve_``, no extra pass). ``train/acc`` (``train/rmse`` for regression)
  is likewise a *running* figure over the epoch's batches: each batch is scored with the logits
  of its own training forward pass, i.e. with the parameters *before* that batch's update, and
  the counts are summed over the epoch (batches whose loss was not finite are left out of both
  figures, as from the loss). It is the accuracy "as seen during training", which trails a pass
  over the training set with the end-of-epoch parameters (the difference is largest in early
  epochs and vanishes as training settles); it costs no extra forward pass. Test metrics take
  one forward pass on the test set, ``grad_norm/layer_<i>`` is the norm of layer i's master
  gradient at the epoch's last optimizer step (before clipping), ``update_ratio/layer_<i>`` is
  ``||Δθ_i|| / ||θ_i||`` of that same step, ``lr`` the learning rate of that step,
  ``time/epoch_s`` the wall time of the epoch including its evaluation. Mixed precision adds
  ``precision/loss_scale`` and ``precision/skipped_steps`` (cumulative); early stopping adds
  ``val/loss``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import ThreadpoolController

from nnfs.core import losses as _losses
from nnfs.core import optimizers as _optimizers
from nnfs.core.precision import LossScaler

PRECISIONS = ("float64", "float32", "mixed")
_MASTER_DTYPE = {"float64": np.float64, "float32": np.float32, "mixed": np.float32}
_CONTROLLER: list[ThreadpoolController] = []  # made once: its library scan costs ~300 µs per fit


def _blas_limit(threads: int):
    """A context limiting BLAS to ``threads`` threads (one controller for the process: a limit
    through it costs ~11 µs, which matters for many short fits: estimator checks, grid search)."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=threads, user_api="blas")


MIN_LOSS_SCALE = 2.0**-24  # float16's smallest subnormal: below it no scale avoids overflow


@dataclass
class History:
    """What a fit produced.

    ``metrics``: key -> one float per evaluated epoch (``epochs`` holds their numbers, 1-based);
    ``status``: "finished" | "diverged" | "early_stopped"; ``final``: the returned model's
    figures (``final/test_acc`` or ``final/test_rmse`` and ``final/test_r2``,
    ``final/train_loss``, ``final/test_loss``, ``time/fit_s``, ``time/ms_per_epoch``);
    ``net``: the trained model in master precision.
    """

    metrics: dict[str, list[float]] = field(default_factory=dict)
    epochs: list[int] = field(default_factory=list)
    status: str = "finished"
    reason: str = ""
    diverged_epoch: int | None = None
    diverged_step: int | None = None
    fit_seconds: float = 0.0
    final: dict[str, float] = field(default_factory=dict)
    net: object = None
    n_epochs: int = 0  # epochs run
    n_steps: int = 0  # optimizer steps taken
    best_epoch: int | None = None  # early stopping: the epoch whose parameters were restored

    def record(self, epoch: int, metrics: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append(value)


# ------------------------------------------------------------------ argument checks
def _fail(name: str, value, allowed: str):
    raise ValueError(f"{name}={value!r} is not valid; allowed: {allowed}")


def _int_at_least(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        _fail(name, value, f"an integer >= {low}")
    return int(value)


def _positive_or_none(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer) \
            or not math.isfinite(value) or value <= 0:
        _fail(name, value, "None or a finite number > 0")
    return float(value)


def _as_rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    _fail("rng", rng, "None, a non-negative int seed or a numpy.random.Generator")


def _as_optimizer(optimizer):
    if isinstance(optimizer, str):
        return _optimizers.get(optimizer)()
    if not callable(getattr(optimizer, "step", None)):
        _fail("optimizer", optimizer, "a name or an object with .step(params, grads, lr)")
    return optimizer


def _split_data(data):
    """(X_train, y_train, X_test, y_test) from a Dataset, a 4-tuple or a 2-tuple (no test set)."""
    if hasattr(data, "X_train"):
        return data.X_train, data.y_train, data.X_test, data.y_test
    if isinstance(data, tuple | list) and len(data) in (2, 4):
        return (*data, None, None) if len(data) == 2 else tuple(data)
    raise ValueError(f"data={type(data).__name__} is not valid; allowed: a nnfs.data.Dataset, "
                     "a tuple (X_train, y_train, X_test, y_test) or (X_train, y_train)")


def _check_xy(name: str, X, y, n_in: int):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != n_in or X.shape[0] < 1:
        raise ValueError(f"{name}: X has shape {X.shape}; the network needs (n, {n_in}), n >= 1")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: y has {y.shape[0]} rows but X has {X.shape[0]}")
    return X, y


# ------------------------------------------------------------------ pieces of the loop
def _layer_ranges(net) -> list[list[tuple[int, int]]]:
    """Per layer, the (start, stop) ranges of its parameters in ``net.flat``."""
    base = net.flat.__array_interface__["data"][0]
    size = net.flat.itemsize
    ranges: list[list[tuple[int, int]]] = [[] for _ in range(net.n_layers)]
    for key, p in net.params.items():
        start = (p.__array_interface__["data"][0] - base) // size
        ranges[net.layer_index(key)].append((start, start + p.size))
    return ranges


def _check_layout(net, gdict, gflat) -> None:
    # the optimizer's fast path updates net.flat with gflat elementwise: same layout required
    base, size = gflat.__array_interface__["data"][0], gflat.itemsize
    pbase = net.flat.__array_interface__["data"][0]
    for key, p in net.params.items():
        g = gdict[key]
        if (g.__array_interface__["data"][0] - base) // size != \
                (p.__array_interface__["data"][0] - pbase) // net.flat.itemsize:
            raise RuntimeError(f"gradient buffer layout differs from net.flat at {key!r}")


def step_groups(n: int, batch_size: int | None, accumulation: int) -> list[list[tuple]]:
    """The optimizer steps of one epoch over ``n`` samples: per step, its micro-batches as
    ``(start, stop, weight)`` with ``weight = n_i / N`` (N = samples of the step).

    >>> step_groups(10, 4, 2)
    [[(0, 4, 0.5), (4, 8, 0.5)], [(8, 10, 1.0)]]
    """
    if batch_size is None:  # full batch, split into `accumulation` micro-batches
        micro = n if accumulation == 1 else -(-n // accumulation)
    else:
        micro = min(batch_size, n)
    bounds = [(a, min(a + micro, n)) for a in range(0, n, micro)]
    groups = []
    for g in range(0, len(bounds), accumulation):
        chunk = bounds[g:g + accumulation]
        total = sum(b - a for a, b in chunk)
        groups.append([(a, b, (b - a) / total) for a, b in chunk])
    return groups


def _norms(x: np.ndarray, ranges) -> list[float]:
    out = []
    for layer in ranges:
        s = 0.0
        for a, b in layer:
            v = x[a:b]
            s += float(np.dot(v, v))
        out.append(math.sqrt(s))
    return out


class _Evaluator:
    """Loss and accuracy/RMSE/R² of a fixed split with ONE forward pass (targets prepared once)."""

    def __init__(self, net, X, y, dtype):
        cfg = net.config()
        self.task, self.loss_name, self.l2 = cfg["task"], cfg["loss"], float(cfg["l2"])
        self.X = np.ascontiguousarray(X, dtype=dtype)
        y = np.asarray(y)
        self.labels = y.reshape(len(y), -1)[:, 0] if self.task != "regression" else None
        self.t = _losses.targets(y, self.task, cfg["n_out"], dtype, self.loss_name)
        self.loss_fn = _losses.LOSS_FUNCTIONS[self.task, self.loss_name]
        self.z = self.scratch = None  # logits and scratch buffers, made at the first call
        # binary cross-entropy needs no dz here: its value alone from 1 − 2y, prepared once
        self.sign = 1 - 2 * self.t if (self.task, self.loss_name) == ("binary",
                                                                      "cross_entropy") else None
        self.weight_keys = [k for k in net.params if ".W" in k]
        if self.task == "regression":
            yt = self.t.astype(np.float64)
            self.ss_tot = ((yt - yt.mean(axis=0)) ** 2).sum(axis=0)

    def l2_term(self, net) -> float:
        if self.l2 == 0.0:
            return 0.0
        return 0.5 * self.l2 * sum(float(np.vdot(net.params[k], net.params[k]))
                                   for k in self.weight_keys)

    def logits(self, net) -> np.ndarray:
        # through the net's workspace in chunks, into a buffer of this evaluator: the split is
        # evaluated every epoch, so nothing is allocated or re-validated per epoch
        if self.z is None or self.z.dtype != net.dtype:
            self.z = np.empty((self.X.shape[0], net.n_out), dtype=net.dtype)  # (n, n_out)
            self.scratch = np.empty_like(self.z)
        return net.forward(self.X, out=self.z)

    def _loss_value(self, z) -> float:
        if self.sign is not None:  # binary cross-entropy: mean softplus((1 − 2y) z), as the loss
            u = np.multiply(self.sign, z, out=self.scratch)
            return float(np.logaddexp(0, u, out=u).sum()) / z.shape[0]
        value, _ = self.loss_fn(z, self.t, 1.0, self.scratch)  # dz into scratch, unused
        return value

    def loss(self, net) -> float:
        return self._loss_value(self.logits(net)) + self.l2_term(net)

    def __call__(self, net, prefix: str) -> dict[str, float]:
        z = self.logits(net)  # (n, n_out)
        out = {f"{prefix}/loss": self._loss_value(z) + self.l2_term(net)}
        if self.task == "regression":
            r = z.astype(np.float64) - self.t  # (n, n_out)
            ss_res = (r * r).sum(axis=0)
            out[f"{prefix}/rmse"] = math.sqrt(float(ss_res.sum()) / r.size)
            with np.errstate(divide="ignore", invalid="ignore"):
                r2 = np.where(self.ss_tot > 0, 1.0 - ss_res / self.ss_tot,
                              np.where(ss_res == 0, 1.0, 0.0))  # sklearn's convention
            out[f"{prefix}/r2"] = float(r2.mean())
        else:
            pred = (z[:, 0] > 0) if self.task == "binary" else z.argmax(axis=1)
            out[f"{prefix}/acc"] = float(np.mean(pred == self.labels))
        return out


# ------------------------------------------------------------------ fit
def fit(net, data, *, optimizer, epochs: int, lr: float = 1e-2,
        schedule: Callable[[int], float] | None = None, batch_size: int | None = None,
        accumulation: int = 1, clip_norm: float | None = None, clip_value: float | None = None,
        precision: str = "float64", early_stopping: bool = False,
        validation_fraction: float = 0.1, patience: int = 10, rng=None,
        callbacks: Iterable[Callable[[int, dict], None]] = (), eval_every: int = 1,
        threads: int | None = 1, loss_scaler: LossScaler | None = None,
        train_metrics: bool = True) -> History:
    """Train a copy of ``net`` on ``data``; see the module docstring for the exact semantics.

    data: a ``nnfs.data.Dataset`` or ``(X_train (n, d), y_train (n,) | (n, k), X_test, y_test)``.
    optimizer: an object with ``.step(params, grads, lr)`` (its state is used as is) or a name
    for ``nnfs.core.optimizers.get`` with default hyper-parameters.
    rng: ``numpy.random.Generator`` (None -> ``default_rng(0)``; an int is a seed).
    threads: BLAS threads during the fit (threadpoolctl); None leaves BLAS alone.
    loss_scaler: mixed precision only; None -> ``LossScaler()``.
    train_metrics: report ``train/acc`` (``train/rmse``), the running figure over the epoch's
    batches (see the module docstring); False leaves it out (``train/loss`` is always reported,
    from the batches).
    """
    epochs = _int_at_least("epochs", epochs, 1)
    if schedule is None:
        if isinstance(lr, bool) or not isinstance(lr, int | float | np.floating | np.integer) \
                or not math.isfinite(lr) or lr <= 0:
            _fail("lr", lr, "a finite number > 0")
        lr = float(lr)
    elif not callable(schedule):
        _fail("schedule", schedule, "None or a callable lr(step) -> float")
    if batch_size is not None:
        batch_size = _int_at_least("batch_size", batch_size, 1)
    accumulation = _int_at_least("accumulation", accumulation, 1)
    clip_norm = _positive_or_none("clip_norm", clip_norm)
    clip_value = _positive_or_none("clip_value", clip_value)
    if precision not in PRECISIONS:
        _fail("precision", precision, ", ".join(PRECISIONS))
    if not isinstance(validation_fraction, float | int) or not 0 < validation_fraction < 1:
        _fail("validation_fraction", validation_fraction, "a number in (0, 1)")
    patience = _int_at_least("patience", patience, 1)
    eval_every = _int_at_least("eval_every", eval_every, 1)
    if threads is not None:
        threads = _int_at_least("threads", threads, 1)
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            _fail("callbacks", cb, "callables cb(epoch, metrics)")
    rng = _as_rng(rng)
    optimizer = _as_optimizer(optimizer)
    if loss_scaler is not None and precision != "mixed":
        _fail("loss_scaler", loss_scaler, "None unless precision='mixed'")

    cfg = net.config()
    X_train, y_train, X_test, y_test = _split_data(data)
    X_train, y_train = _check_xy("data (train)", X_train, y_train, cfg["n_in"])
    if X_test is not None:
        X_test, y_test = _check_xy("data (test)", X_test, y_test, cfg["n_in"])
    X_val = y_val = None
    if early_stopping:
        n_val = int(round(validation_fraction * X_train.shape[0]))
        if n_val < 1 or n_val >= X_train.shape[0]:
            raise ValueError(f"validation_fraction={validation_fraction!r} leaves {n_val} of "
                             f"{X_train.shape[0]} training samples for validation; allowed: a "
                             "fraction that holds out at least 1 and keeps at least 1")
        order = rng.permutation(X_train.shape[0])
        X_val, y_val = X_train[order[:n_val]], y_train[order[:n_val]]
        X_train, y_train = X_train[order[n_val:]], y_train[order[n_val:]]

    ctx = _blas_limit(threads) if threads is not None else contextlib.nullcontext()
    # overflow is an outcome here, not a bug: mixed precision skips such steps and a
    # diverging run is reported through History.status, so numpy's warnings are only noise
    with ctx, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _fit(net, cfg, X_train, y_train, X_test, y_test, X_val, y_val,
                    optimizer=optimizer, epochs=epochs, lr=lr, schedule=schedule,
                    batch_size=batch_size, accumulation=accumulation, clip_norm=clip_norm,
                    clip_value=clip_value, precision=precision, patience=patience, rng=rng,
                    callbacks=callbacks, eval_every=eval_every, train_metrics=bool(train_metrics),
                    scaler=(loss_scaler or LossScaler()) if precision == "mixed" else None)


def _fit(net, cfg, X_train, y_train, X_test, y_test, X_val, y_val, *, optimizer, epochs, lr,
         schedule, batch_size, accumulation, clip_norm, clip_value, precision, patience, rng,
         callbacks, eval_every, train_metrics, scaler) -> History:
    t_start = time.perf_counter()
    mixed = precision == "mixed"
    master_dtype = _MASTER_DTYPE[precision]
    compute_dtype = np.float16 if mixed else master_dtype
    task, n_out = cfg["task"], cfg["n_out"]

    master = net.astype(master_dtype)  # a copy: the caller's net is never mutated
    work = master.astype(np.float16) if mixed else master  # the net that runs forward/backward
    n = X_train.shape[0]
    X = np.ascontiguousarray(X_train, dtype=compute_dtype)
    y = _losses.targets(y_train, task, n_out, compute_dtype, cfg["loss"])
    test = _Evaluator(master, X_test, y_test, master_dtype) if X_test is not None else None
    val = _Evaluator(master, X_val, y_val, master_dtype) if X_val is not None else None

    groups = step_groups(n, batch_size, accumulation)
    n_groups = len(groups)
    shuffle = batch_size is not None
    Xe, ye = (np.empty_like(X), np.empty_like(y)) if shuffle else (X, y)
    # the logits of the epoch's training forward passes, in the order of Xe: train/acc from them
    Z = np.empty((n, n_out), dtype=compute_dtype) if train_metrics else None

    # buffers: the work net's gradient, a micro-batch buffer for accumulation, float32 master
    gflat, gdict = work.new_grads()
    _check_layout(work, gdict, gflat)
    if accumulation > 1:
        mflat, mdict = work.new_grads()
    gmaster = np.empty_like(master.flat) if mixed else gflat
    m32 = np.empty_like(gmaster) if mixed and accumulation > 1 else None
    params_fast, grads_fast = {"flat": master.flat}, {"flat": gmaster}
    ranges = _layer_ranges(master)
    theta_prev = np.empty_like(master.flat)
    lag = work.loss_and_grads_prepared  # X and y were converted and checked once, above
    step_fn = optimizer.step

    hist = History()
    step = 0
    lr_t = lr if schedule is None else float(schedule(0))
    train_losses: list[float] = []
    best_val, best_epoch, since_best, best_flat = math.inf, 0, 0, None
    epoch = 0
    for epoch in range(1, epochs + 1):
        t_epoch = time.perf_counter()
        if shuffle:
            perm = rng.permutation(n)
            np.take(X, perm, axis=0, out=Xe)
            np.take(y, perm, axis=0, out=ye)
        loss_sum, loss_count = 0.0, 0
        left_out: list[tuple[int, int]] = []  # rows of batches whose loss was not finite
        grad_norms = update_ratios = None
        for gi, group in enumerate(groups):
            last = gi == n_groups - 1
            if schedule is not None:
                lr_t = float(schedule(step))
            scale = scaler.scale if mixed else 1.0
            # ---- gradient of the step (accumulated over its micro-batches)
            if len(group) == 1:
                a, b, _ = group[0]
                loss, _ = lag(Xe[a:b], ye[a:b], gdict, scale=scale,
                              logits_out=None if Z is None else Z[a:b])
                finite = math.isfinite(loss)
                if finite:
                    loss_sum += loss * (b - a)
                    loss_count += b - a
                else:
                    left_out.append((a, b))
                if mixed:  # cast to float32 and unscale
                    np.multiply(gflat, 1.0 / scale, out=gmaster, dtype=np.float32)
            else:
                finite = True
                for j, (a, b, w) in enumerate(group):
                    micro_loss, _ = lag(Xe[a:b], ye[a:b], gdict if j == 0 or mixed else mdict,
                                        scale=scale * w,
                                        logits_out=None if Z is None else Z[a:b])
                    if mixed:  # accumulate in float32: float16 sums lose bits and overflow
                        np.multiply(gflat, 1.0 / scale, out=gmaster if j == 0 else m32,
                                    dtype=np.float32)
                        if j:
                            gmaster += m32
                    elif j:
                        gflat += mflat
                    if math.isfinite(micro_loss):
                        loss_sum += micro_loss * (b - a)
                        loss_count += b - a
                    else:
                        left_out.append((a, b))
                        if finite:
                            finite, loss = False, micro_loss
            if mixed:
                found_inf = not finite or not math.isfinite(float(np.dot(gmaster, gmaster)))
                scaler.update(found_inf)
                if found_inf:
                    if scaler.scale < MIN_LOSS_SCALE:
                        _diverged(hist, epoch, step + 1, "float16 overflow at every loss scale "
                                  f"down to {scaler.scale:g}")
                        break
                    continue
            elif not finite:
                _diverged(hist, epoch, step + 1, f"non-finite training loss ({loss})")
                break
            # ---- clipping, then the update
            if last:
                grad_norms = _norms(gmaster, ranges)
                np.copyto(theta_prev, master.flat)
            if clip_value is not None:
                np.clip(gmaster, -clip_value, clip_value, out=gmaster)
            if clip_norm is not None:
                norm = math.sqrt(float(np.dot(gmaster, gmaster)))
                if norm > clip_norm:
                    gmaster *= clip_norm / norm
            step_fn(params_fast, grads_fast, lr_t)
            step += 1
            if mixed:
                np.copyto(work.flat, master.flat, casting="same_kind")
            if last:
                theta_prev -= master.flat
                update_ratios = [moved / size if size > 0 else 0.0 for moved, size in
                                 zip(_norms(theta_prev, ranges), _norms(master.flat, ranges),
                                     strict=True)]
        if hist.status == "finished" and not np.isfinite(master.flat).all():
            _diverged(hist, epoch, step, "non-finite parameters after the epoch")
        if hist.status == "diverged":
            break
        train_loss = loss_sum / loss_count if loss_count else math.nan
        train_losses.append(train_loss)

        stop = epoch == epochs
        if val is not None:
            v = val.loss(master)
            if v < best_val:
                best_val, best_epoch, since_best = v, epoch, 0
                best_flat = master.flat.copy()
            else:
                since_best += 1
                if since_best >= patience:
                    stop = True
                    hist.status = "early_stopped"
                    hist.reason = (f"no lower val/loss for {patience} epochs "
                                   f"(best {best_val:.6g} at epoch {best_epoch})")
        if stop or epoch % eval_every == 0:
            metrics = {"train/loss": train_loss}
            if Z is not None:
                metrics.update(_running_figures(Z, ye, task, cfg["loss"], left_out))
            if test is not None:
                metrics.update(test(master, "test"))
            metrics["lr"] = lr_t
            for i, value in enumerate(grad_norms or [math.nan] * len(ranges)):
                metrics[f"grad_norm/layer_{i}"] = value
            for i, value in enumerate(update_ratios or [math.nan] * len(ranges)):
                metrics[f"update_ratio/layer_{i}"] = value
            if val is not None:
                metrics["val/loss"] = v
            if mixed:
                metrics["precision/loss_scale"] = float(scaler.scale)
                metrics["precision/skipped_steps"] = float(scaler.n_skipped)
            metrics["time/epoch_s"] = time.perf_counter() - t_epoch
            hist.record(epoch, metrics)
            for cb in callbacks:
                cb(epoch, dict(metrics))
        if stop:
            break

    hist.n_epochs, hist.n_steps = epoch, step
    if hist.status == "early_stopped" and best_flat is not None:
        np.copyto(master.flat, best_flat)
        hist.best_epoch = best_epoch
    hist.fit_seconds = time.perf_counter() - t_start
    hist.final = _final(hist, master, test, train_losses)
    hist.net = master
    return hist


def _running_figures(Z: np.ndarray, t: np.ndarray, task: str, loss: str,
                     left_out: list[tuple[int, int]]) -> dict[str, float]:
    """train/acc (or train/rmse) of an epoch from its batches' logits Z (n, n_out) and the
    targets t in the same order (as made by ``losses.targets``), without the rows ``left_out``."""
    if left_out:
        keep = np.ones(Z.shape[0], dtype=bool)
        for a, b in left_out:
            keep[a:b] = False
        if not keep.any():
            return {"train/rmse" if task == "regression" else "train/acc": math.nan}
        Z, t = Z[keep], t[keep]
    if task == "regression":
        r = Z.astype(np.float64) - t  # (n, n_out)
        return {"train/rmse": math.sqrt(float(np.vdot(r, r)) / r.size)}
    if task == "binary":  # σ(z) > 1/2 ⇔ z > 0; t (n, 1) holds 0/1
        hits = np.count_nonzero((Z[:, 0] > 0) == (t[:, 0] != 0))
    else:  # t: int labels (cross_entropy) or one-hot rows (mse)
        labels = t if t.ndim == 1 else t.argmax(axis=1)
        hits = np.count_nonzero(Z.argmax(axis=1) == labels)
    return {"train/acc": hits / Z.shape[0]}


def _diverged(hist: History, epoch: int, step: int, reason: str) -> None:
    hist.status = "diverged"
    hist.diverged_epoch, hist.diverged_step = epoch, step
    hist.reason = f"diverged at epoch {epoch}, step {step}: {reason}"


def _final(hist: History, master, test: _Evaluator | None, train_losses: list[float]) -> dict:
    """Figures of the returned model (re-measured when the last evaluation is not its state)."""
    figures = {}
    if hist.status == "diverged":
        if test is not None:
            keys = ("test/loss", "test/rmse", "test/r2") if test.task == "regression" else \
                ("test/loss", "test/acc")
            figures = dict.fromkeys(keys, math.nan)
        train_loss = math.nan
    elif hist.status == "early_stopped" and hist.best_epoch is not None:
        figures = test(master, "test") if test is not None else {}
        train_loss = train_losses[hist.best_epoch - 1]
    else:
        figures = {k: hist.metrics[k][-1] for k in hist.metrics if k.startswith("test/")}
        train_loss = train_losses[-1]
    final = {f"final/{k.replace('/', '_')}": v for k, v in figures.items()}
    final["final/train_loss"] = train_loss
    final["time/fit_s"] = hist.fit_seconds
    final["time/ms_per_epoch"] = 1000.0 * hist.fit_seconds / max(hist.n_epochs, 1)
    return final
