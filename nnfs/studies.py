"""The studies: each classic claim about neural networks with a measurable criterion, and the
verdict computed from the runs of its sweep (``experiments/experiment/<name>.yaml``).

Three pure layers, so that every verdict can be recomputed and tested without MLflow:

- ``extra_metrics(study, net, data, history)``: the few numbers a plain run does not log
  (distance to the least-squares solution, gradients on confidently wrong predictions, the
  parameter count); the app logs them as ``final/*`` metrics of the run.
- ``derive(study, frame, histories)``: columns read off the per-epoch curves (epochs to a target,
  the loss at the first and last epoch, the gradient-norm ratio at epoch 1), added to the tidy run
  table of ``nnfs.report.load.runs_frame``.
- ``verdicts(study, frame)``: one verdict per claim, ``{claim, verdict, measured, runs}`` with
  ``verdict`` in ``VERDICTS``; the numbers are means ± standard deviations over seeds.

Spread rule used by every criterion: "clearly above t" means mean − std >= t, "clearly below t"
means mean + std <= t, "A clearly beats B" means their one-std bands do not overlap. A group with
fewer than ``MIN_SEEDS`` runs, or a metric that was not logged, gives "inconclusive".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

HOLDS, FAILS, UNSURE = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, FAILS, UNSURE)
MIN_SEEDS = 2  # a spread needs two runs; the presets use 3 or more
SOLVED, UNSOLVED = 0.9, 0.7  # test accuracy: "solves" when clearly above, "fails" when below

Verdict = dict  # {"claim": str, "verdict": str, "measured": str, "runs": list[str]}
Judge = Callable[[pd.DataFrame], tuple[str, str, list[str]]]


@dataclass(frozen=True)
class Claim:
    """A claim of the theory, its criterion (said in words), and the function that judges it."""

    text: str
    criterion: str
    judge: Judge


@dataclass(frozen=True)
class Study:
    """``axes``: params read as columns of the run table; ``curves``: metric histories that
    ``derive`` needs (keys, or prefixes ending in '/')."""

    name: str
    title: str
    axes: tuple[str, ...]
    claims: tuple[Claim, ...]
    curves: tuple[str, ...] = ()
    derive: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None


class Missing(Exception):
    """A judge cannot decide: runs or a metric are missing (the verdict is inconclusive)."""


# --------------------------------------------------------------------------- extra metrics
def extra_metrics(study: str | None, net, data, history) -> dict[str, float]:
    """The study's extra ``final/*`` metrics of one run (empty for other studies).

    net: the model as initialised (before ``fit``); history.net: the trained model.
    data: the run's ``nnfs.data.Dataset``. Pure: nothing is mutated.
    """
    if study == "least_squares":
        trained = getattr(history, "net", None)
        if getattr(history, "status", "") == "diverged" or trained is None:
            return {}
        return least_squares_metrics(trained, data)
    if study == "loss_choice":
        return wrong_prediction_grads(net, data)
    if study == "modern_activations":
        return {"final/n_params": float(net.n_params)}
    return {}


def least_squares_metrics(net, data) -> dict[str, float]:
    """A linear model (no hidden layer) against the least-squares solution on the same split.

    With A = [X_train, 1] (n, d+1): θ* = argmin ||A θ − y||² (numpy.linalg.lstsq);
    ``final/lstsq_max_abs_diff`` = max |θ_gd − θ*| over W and b; ``final/lstsq_train_loss`` =
    mean (A θ* − y)², the lowest MSE any linear model reaches; ``final/gd_max_stable_lr`` =
    2 / λ_max(H) with H = (2/n) AᵀA the Hessian of the MSE: GD diverges above it.
    """
    if net.hidden or data.task != "regression":
        raise ValueError(f"net.hidden={list(net.hidden)}, task={data.task!r}: least-squares "
                         "metrics need a linear regression (hidden=[], task 'regression')")
    X, y = np.asarray(data.X_train, dtype=np.float64), np.asarray(data.y_train, np.float64)
    n = X.shape[0]
    A = np.hstack([X, np.ones((n, 1))])  # (n, d+1)
    Y = y.reshape(n, -1)  # (n, k)
    theta, *_ = np.linalg.lstsq(A, Y, rcond=None)  # (d+1, k)
    W, b = np.asarray(net.params["0.W"], np.float64), np.asarray(net.params["0.b"], np.float64)
    diff = max(np.abs(W - theta[:-1]).max(), np.abs(b - theta[-1]).max())
    lam_max = np.linalg.eigvalsh(2.0 / n * (A.T @ A))[-1]
    return {"final/lstsq_max_abs_diff": float(diff),
            "final/lstsq_train_loss": float(np.mean((A @ theta - Y) ** 2)),
            "final/gd_max_stable_lr": float(2.0 / lam_max)}


def wrong_prediction_grads(net, data, *, margin: float = 6.0,
                           n: int = 512) -> dict[str, float]:
    """Gradient norms of MSE and cross-entropy on confidently wrong predictions.

    The initial net's output layer is scaled so that the median logit margin is ``margin``
    (binary: |z|; multiclass: max z − min z), and each sample is labelled with the class the net
    finds least likely: every prediction is wrong and confident. Then ||∇θ L|| for both losses
    with the same parameters. ∂L_CE/∂z = p − y stays near 1 while ∂L_MSE/∂z carries the link's
    derivative (σ'(z) → 0), hence ``final/wrong_grad_ratio`` = CE / MSE ≫ 1.
    """
    if data.task == "regression":
        raise ValueError("data.task='regression': confidently wrong predictions need a "
                         "classifier; allowed: 'binary' or 'multiclass'")
    from nnfs.core.model import MLP

    X = np.asarray(data.X_train[:n], dtype=np.float64)
    z = net.forward(X)  # (batch, n_out)
    if z.shape[1] == 1:
        spread, y_wrong = np.abs(z[:, 0]), (z[:, 0] < 0).astype(np.int64)
    else:
        spread, y_wrong = z.max(axis=1) - z.min(axis=1), z.argmin(axis=1).astype(np.int64)
    c = margin / max(float(np.median(spread)), 1e-12)
    out = str(net.n_layers - 1)
    params = {k: (v * c if k.split(".", 1)[0] == out else v) for k, v in net.params.items()}
    norms = {}
    for loss in ("mse", "cross_entropy"):
        probe = MLP.from_config({**net.config(), "loss": loss, "l2": 0.0}, params)
        _, grads = probe.loss_and_grads(X, y_wrong)
        norms[loss] = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    return {"final/wrong_grad_norm_mse": norms["mse"],
            "final/wrong_grad_norm_ce": norms["cross_entropy"],
            "final/wrong_grad_ratio": norms["cross_entropy"] / max(norms["mse"], 1e-300)}


# ------------------------------------------------------------------------- curve-derived
def _curve(histories: pd.DataFrame, run_id: str, key: str) -> pd.Series:
    """Values of one metric of one run, indexed by step (epoch), in order."""
    h = histories[(histories["run_id"] == run_id) & (histories["key"] == key)]
    return h.sort_values("step").set_index("step")["value"]


def first_epoch(curve: pd.Series, target: float, *, below: bool) -> float:
    """First epoch at which the curve reaches ``target`` (<= when ``below``, else >=); when it
    never does, last epoch + 1 (a lower bound, so "slower" stays measurable); NaN if empty."""
    if curve.empty:
        return math.nan
    hit = curve <= target if below else curve >= target
    return float(curve.index[hit.to_numpy()][0]) if hit.any() else float(curve.index[-1] + 1)


def _with(frame: pd.DataFrame, columns: dict[str, list]) -> pd.DataFrame:
    out = frame.copy()
    for name, values in columns.items():
        out[name] = pd.Series(values, index=frame.index, dtype=float)
    return out


def _derive_epochs(key: str, target: Callable[[pd.Series], float] | float, below: bool,
                   name: str, seconds: bool = False):
    """A ``derive`` adding ``name`` = first epoch the curve ``key`` reaches its target (and
    ``name``_s, the seconds until then, from ``time/epoch_s``)."""

    def derive(frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
        epochs, secs = [], []
        for _, row in frame.iterrows():
            t = target(row) if callable(target) else target
            curve = _curve(histories, row["run_id"], key)
            e = first_epoch(curve, t, below=below)
            epochs.append(e)
            if seconds:
                times = _curve(histories, row["run_id"], "time/epoch_s")
                secs.append(float(times[times.index <= e].sum()) if len(times) else math.nan)
        cols = {name: epochs}
        if seconds:
            cols[name + "_s"] = secs
        return _with(frame, cols)

    return derive


def _derive_start_end(frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """``derived/start_loss``, ``derived/end_loss``: train/loss at the first and last epoch
    (inf when the loss became non-finite)."""
    start, end = [], []
    for rid in frame["run_id"]:
        c = _curve(histories, rid, "train/loss")
        start.append(float(c.iloc[0]) if len(c) else math.nan)
        last = float(c.iloc[-1]) if len(c) else math.nan
        end.append(last if math.isfinite(last) or not len(c) else math.inf)
    return _with(frame, {"derived/start_loss": start, "derived/end_loss": end})


def _chain(*fns):
    def derive(frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
        for fn in fns:
            frame = fn(frame, histories)
        return frame

    return derive


def derive(study: str, frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus the study's curve-derived columns (a new frame; inputs untouched).
    histories: rows (run_id, key, step, value) as ``nnfs.report.load.load_histories`` gives."""
    spec = get(study)
    return spec.derive(frame, histories) if spec.derive is not None else frame.copy()


# ------------------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int
    runs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{_num(self.mean)} ± {_num(self.std)} (n={self.n})"


def _num(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:.2e}"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def stat(values: Iterable[float], runs: Iterable[str] = ()) -> Stat:
    """Mean and sample standard deviation (ddof=1; 0 for one value)."""
    a = np.asarray(list(values), dtype=float)
    if a.size == 0:
        return Stat(math.nan, math.nan, 0, tuple(runs))
    std = float(np.std(a, ddof=1)) if a.size > 1 else 0.0
    return Stat(float(np.mean(a)), 0.0 if math.isnan(std) else std, int(a.size), tuple(runs))


def clearly_above(s: Stat, t: float) -> bool:
    return s.mean - s.std >= t


def clearly_below(s: Stat, t: float) -> bool:
    return s.mean + s.std <= t


def clearly_greater(a: Stat, b: Stat, margin: float = 0.0) -> bool:
    """a's one-std band lies above b's (by ``margin``)."""
    return a.mean - a.std > b.mean + b.std + margin


def nnfs_runs(frame: pd.DataFrame, *, finished: bool = True, **where) -> pd.DataFrame:
    """nnfs runs (impl == nnfs) whose columns equal ``where`` (keys with '.' as '__')."""
    rows = frame[frame["impl"].fillna("nnfs") == "nnfs"]
    if finished:
        rows = rows[rows["outcome"] == "finished"]
    for key, value in where.items():
        col = key.replace("__", ".")
        if col not in rows:
            raise Missing(f"column {col!r} is not in the run table")
        rows = rows[rows[col].map(lambda v, value=value: _same(v, value))]
    return rows


def _same(a, b) -> bool:
    if isinstance(a, int | float | np.number) and isinstance(b, int | float | np.number):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return str(a) == str(b)


def group(rows: pd.DataFrame, metric: str, label: str = "") -> Stat:
    """Stat of ``metric`` over ``rows`` (one per seed); Missing when too few or not logged."""
    if metric not in rows or (len(rows) and rows[metric].isna().all()):
        raise Missing(f"metric {metric!r} was not logged"
                      + (" (nnfs.studies.extra_metrics not called by nnfs-train?)"
                         if metric.startswith("final/") else ""))
    vals = rows[metric].dropna()
    if len(vals) < MIN_SEEDS:
        raise Missing(f"{label or metric}: {len(vals)} run(s), need >= {MIN_SEEDS} seeds")
    return stat(vals.astype(float), rows.loc[vals.index, "run_id"])


def _values(frame: pd.DataFrame, col: str) -> list:
    rows = nnfs_runs(frame, finished=False)
    if col not in rows:
        raise Missing(f"column {col!r} is not in the run table")
    return sorted(rows[col].dropna().unique().tolist(), key=lambda v: (isinstance(v, str), v))


def _ids(*stats: Stat) -> list[str]:
    return list(dict.fromkeys(r for s in stats for r in s.runs))


def _verdict(ok: bool) -> str:
    return HOLDS if ok else FAILS


ACC = "final/test_acc"


# ---------------------------------------------------------------------------- the judges
# Each judge returns (verdict, measured text, run ids); raising Missing makes it inconclusive.
def _solves(frame: pd.DataFrame, datasets: Iterable[str], solved: bool, **where):
    parts, stats, ok = [], [], True
    for ds in datasets:
        s = group(nnfs_runs(frame, dataset=ds, **where), ACC, ds)
        ok &= clearly_above(s, SOLVED) if solved else clearly_below(s, UNSOLVED)
        parts.append(f"{ds} {s}")
        stats.append(s)
    return _verdict(ok), "test acc " + "; ".join(parts), _ids(*stats)


def _sklearn_logreg(frame: pd.DataFrame) -> tuple[str, str, list[str]]:
    sk = frame[(frame["impl"] == "sklearn") & (frame["baseline"] == "logreg")
               & (frame["outcome"] == "finished")]
    if sk.empty:
        raise Missing("no scikit-learn LogisticRegression runs in this sweep (baseline=logreg)")
    parts, stats, ok = [], [], True
    for ds, solved in (("linear", True), ("breast_cancer", True), ("xor", False),
                       ("circles", False), ("spiral", False)):
        rows = sk[sk["dataset"] == ds] if "dataset" in sk else sk.iloc[:0]
        if rows.empty:
            continue
        s = group(rows.drop_duplicates("run_id"), ACC, f"sklearn logreg {ds}")
        ok &= clearly_above(s, SOLVED) if solved else clearly_below(s, UNSOLVED)
        parts.append(f"{ds} {s}")
        stats.append(s)
    if not stats:
        raise Missing("no scikit-learn LogisticRegression run on the study's datasets")
    return _verdict(ok), "sklearn LogisticRegression test acc " + "; ".join(parts), _ids(*stats)


# least_squares ---------------------------------------------------------------------------
LS_GOOD_LR = 0.3
LS_TOL = 1e-4  # max |W_gd − W_lstsq|
LS_LOSS_RTOL = 1e-3  # "converged" for the step count: train loss within 0.1 % of the optimum


def _ls_converges(frame):
    s = group(nnfs_runs(frame, optimizer__lr=LS_GOOD_LR), "final/lstsq_max_abs_diff",
              f"lr={LS_GOOD_LR}")
    return (_verdict(s.mean + s.std < LS_TOL),
            f"lr={LS_GOOD_LR}: max |W_gd − W_lstsq| = {s}", _ids(s))


def _ls_bound(frame) -> float:
    rows = nnfs_runs(frame)
    if "final/gd_max_stable_lr" not in rows or rows["final/gd_max_stable_lr"].isna().all():
        raise Missing("metric 'final/gd_max_stable_lr' was not logged (nnfs.studies."
                      "extra_metrics not called by nnfs-train?)")
    return float(rows["final/gd_max_stable_lr"].median())


def _diverged(row) -> bool:
    if row["outcome"] in ("diverged", "failed"):
        return True
    start, end = row.get("derived/start_loss", math.nan), row.get("derived/end_loss", math.nan)
    if math.isnan(start) or math.isnan(end):
        raise Missing("curve 'train/loss' missing for run " + str(row["run_id"]))
    return not end < start


def _ls_diverges(frame):
    bound = _ls_bound(frame)
    rows = nnfs_runs(frame, finished=False)
    if len(rows) == 0:
        raise Missing("no runs")
    above, below = rows[rows["optimizer.lr"] > bound], rows[rows["optimizer.lr"] < bound]
    if above.empty or below.empty:
        raise Missing(f"need learning rates on both sides of 2/λ_max = {bound:.3f}")
    div_above = [_diverged(r) for _, r in above.iterrows()]
    div_below = [_diverged(r) for _, r in below.iterrows()]
    measured = (f"2/λ_max(H) = {bound:.3f}; lr above it ({_lrs(above)}): "
                f"{sum(div_above)}/{len(div_above)} diverged; lr below ({_lrs(below)}): "
                f"{sum(div_below)}/{len(div_below)} diverged")
    return (_verdict(all(div_above) and not any(div_below)), measured,
            list(above["run_id"]) + list(below["run_id"]))


def _lrs(rows) -> str:
    return ", ".join(_num(v) for v in sorted(rows["optimizer.lr"].unique()))


def _ls_slow(frame):
    bound = _ls_bound(frame)
    lrs = [lr for lr in _values(frame, "optimizer.lr") if lr < bound]
    if len(lrs) < 2:
        raise Missing("need two or more stable learning rates")
    stats = [group(nnfs_runs(frame, optimizer__lr=lr), "derived/epochs_to_tol", f"lr={lr}")
             for lr in lrs]
    means = [s.mean for s in stats]
    falling = all(a > b for a, b in zip(means, means[1:], strict=False))
    ok = falling and means[0] >= 10 * min(means)
    parts = "; ".join(f"lr={_num(lr)}: {s}" for lr, s in zip(lrs, stats, strict=True))
    return _verdict(ok), f"steps to a train loss within 0.1 % of least squares: {parts}", \
        _ids(*stats)


def _ls_tol_target(frame: pd.DataFrame) -> pd.Series:
    """The loss to reach: the least-squares optimum (logged) or the lowest loss of the seed."""
    if "final/lstsq_train_loss" in frame and frame["final/lstsq_train_loss"].notna().any():
        best = frame.groupby("seed")["final/lstsq_train_loss"].transform("min")
    else:
        best = frame.groupby("seed")["final/train_loss"].transform("min")
    return best * (1 + LS_LOSS_RTOL)


def _ls_derive(frame, histories):
    frame = _derive_start_end(frame, histories)
    target = _ls_tol_target(frame)
    return _derive_epochs("train/loss", lambda row: target[row.name], True,
                          "derived/epochs_to_tol")(frame, histories)


# separability ----------------------------------------------------------------------------
SEPARABLE, INSEPARABLE = ("linear", "breast_cancer"), ("xor", "circles", "spiral")

# feature_cross ---------------------------------------------------------------------------
def _fc_cross(dataset: str, feature: str):
    def judge(frame):
        raw = group(nnfs_runs(frame, dataset=dataset, features="raw", model__depth=0), ACC,
                    f"{dataset} raw")
        crossed = group(nnfs_runs(frame, dataset=dataset, features=feature, model__depth=0),
                        ACC, f"{dataset} {feature}")
        ok = clearly_above(crossed, SOLVED) and clearly_below(raw, UNSOLVED)
        return (_verdict(ok), f"{dataset}, logistic regression: raw {raw}; + {feature} {crossed}",
                _ids(raw, crossed))
    return judge


def _fc_learned(frame):
    parts, stats, ok = [], [], True
    for ds, feature in (("xor", "cross"), ("circles", "squares")):
        hand = group(nnfs_runs(frame, dataset=ds, features=feature, model__depth=0), ACC)
        depths = [d for d in _values(frame, "model.depth") if d > 0]
        if not depths:
            raise Missing("no MLP (depth > 0) runs")
        mlp = group(nnfs_runs(frame, dataset=ds, features="raw", model__depth=max(depths)), ACC)
        ok &= mlp.mean >= hand.mean - 0.03 and clearly_above(mlp, SOLVED)
        parts.append(f"{ds}: MLP on raw inputs {mlp} vs logistic + {feature} {hand}")
        stats += [mlp, hand]
    return _verdict(ok), "; ".join(parts), _ids(*stats)


# nonlinearity ----------------------------------------------------------------------------
def _linear_baseline(frame, ds) -> Stat:
    rows = nnfs_runs(frame, dataset=ds, model__depth=0).drop_duplicates("seed")
    return group(rows, ACC, f"{ds} depth 0")


def _nl_identity(frame):
    parts, stats, ok = [], [], True
    for ds in _values(frame, "dataset"):
        lr = _linear_baseline(frame, ds)
        stats.append(lr)
        for d in [d for d in _values(frame, "model.depth") if d > 0]:
            s = group(nnfs_runs(frame, dataset=ds, activation="identity", model__depth=d), ACC)
            ok &= s.mean - lr.mean <= 0.05 and clearly_below(s, UNSOLVED)
            parts.append(f"{ds} depth {d}: {_num(s.mean)} ± {_num(s.std)}")
            stats.append(s)
        parts[-1] += f" (logistic regression {lr})"
    return _verdict(ok), "identity test acc: " + "; ".join(parts), _ids(*stats)


def _nl_nonlinear(frame):
    parts, stats, ok, worst = [], [], True, None
    for ds in _values(frame, "dataset"):
        lr = _linear_baseline(frame, ds)
        stats.append(lr)
        for act in [a for a in _values(frame, "activation") if a != "identity"]:
            for d in [d for d in _values(frame, "model.depth") if d > 0]:
                s = group(nnfs_runs(frame, dataset=ds, activation=act, model__depth=d), ACC,
                          f"{ds} {act} depth {d}")
                stats.append(s)
                if not clearly_greater(s, lr, margin=0.1):
                    ok = False
                    parts.append(f"{ds} {act} depth {d}: {s} (not above logistic {lr})")
                if worst is None or s.mean < worst[0].mean:
                    worst = (s, f"{ds} {act} depth {d}")
    if worst is None:
        raise Missing("no nonlinear activation runs")
    head = f"weakest nonlinear config {worst[1]}: {worst[0]}"
    return _verdict(ok), "; ".join([head] + parts), _ids(*stats)


# vanishing_gradients ---------------------------------------------------------------------
VG_LOSS_TARGET = 0.3


def _vg_derive(frame, histories):
    ratios = []
    for _, row in frame.iterrows():
        g0 = _curve(histories, row["run_id"], "grad_norm/layer_0")
        depth = int(row["model.depth"])  # the output layer's index
        gl = _curve(histories, row["run_id"], f"grad_norm/layer_{depth}")
        r = float(g0.iloc[0]) / float(gl.iloc[0]) if len(g0) and len(gl) and gl.iloc[0] \
            else math.nan
        ratios.append(math.log10(r) if r > 0 else (-math.inf if r == 0 else math.nan))
    frame = _with(frame, {"derived/log10_grad_ratio": ratios})
    return _derive_epochs("train/loss", VG_LOSS_TARGET, True, "derived/epochs_to_loss")(
        frame, histories)


def _vg_ratio_stats(frame, act):
    out = []
    for d in _values(frame, "model.depth"):
        rows = nnfs_runs(frame, activation=act, model__depth=d)
        out.append((d, group(rows.replace([-np.inf], -300.0), "derived/log10_grad_ratio",
                             f"{act} depth {d}")))
    return out


def _vg_sigmoid(frame):
    stats = _vg_ratio_stats(frame, "sigmoid")
    if len(stats) < 2:
        raise Missing("need two or more depths")
    means = [s.mean for _, s in stats]
    ok = all(a > b for a, b in zip(means, means[1:], strict=False)) \
        and means[-1] - means[0] <= -2
    parts = "; ".join(f"depth {d}: {s}" for d, s in stats)
    return _verdict(ok), f"sigmoid log10(‖∇W_0‖ / ‖∇W_last‖) at epoch 1: {parts}", \
        _ids(*(s for _, s in stats))


def _vg_others(frame):
    parts, stats, ok = [], [], True
    for act in [a for a in _values(frame, "activation") if a != "sigmoid"]:
        for d in _values(frame, "model.depth"):
            every = nnfs_runs(frame, finished=False, activation=act, model__depth=d)
            failed = every[every["outcome"] != "finished"]
            if len(failed):
                ok = False
                parts.append(f"{act} depth {d}: {len(failed)}/{len(every)} runs "
                             f"{'/'.join(sorted(set(failed['outcome'])))}")
                continue
            s = group(every, "derived/log10_grad_ratio", f"{act} depth {d}")
            ok &= abs(s.mean) + s.std <= 1.0
            parts.append(f"{act} depth {d}: {s}")
            stats.append(s)
    if not parts:
        raise Missing("no relu-like activation runs")
    return _verdict(ok), "log10 gradient ratio (first / last layer) at epoch 1: " + \
        "; ".join(parts), _ids(*stats)


def _vg_slower(frame):
    depths = _values(frame, "model.depth")
    if len(depths) < 2:
        raise Missing("need two or more depths")
    lo, hi = depths[0], depths[-1]
    key = "derived/epochs_to_loss"
    shallow = group(nnfs_runs(frame, activation="sigmoid", model__depth=lo), key)
    deep = group(nnfs_runs(frame, activation="sigmoid", model__depth=hi), key)
    relu = group(nnfs_runs(frame, activation="relu", model__depth=hi), key)
    ok = clearly_greater(deep, shallow) and clearly_greater(deep, relu)
    return (_verdict(ok), f"epochs to train loss <= {VG_LOSS_TARGET} (never reached = epochs + 1):"
            f" sigmoid depth {hi} {deep}; sigmoid depth {lo} {shallow}; relu depth {hi} {relu}",
            _ids(deep, shallow, relu))


# loss_choice -----------------------------------------------------------------------------
LC_TARGET = 0.9


def _lc_gradient(frame):
    # a ratio is judged in orders of magnitude (log10), as the gradient ratios of
    # vanishing_gradients: on a linear scale one seed at 160x and one at 20x make a spread
    # larger than the mean although every seed is far above 10x
    parts, stats, ok = [], [], True
    for ds in _values(frame, "dataset"):
        rows = nnfs_runs(frame, dataset=ds).drop_duplicates("seed")
        s = group(rows, "final/wrong_grad_ratio", ds)
        logs = stat(np.log10(rows["final/wrong_grad_ratio"].astype(float)), s.runs)
        ok &= clearly_above(logs, 1.0)
        lo, hi = rows["final/wrong_grad_ratio"].min(), rows["final/wrong_grad_ratio"].max()
        parts.append(f"{ds}: ratio {_num(lo)}x to {_num(hi)}x, log10 {logs}")
        stats.append(s)
    return _verdict(ok), "‖∇θ CE‖ / ‖∇θ MSE‖ on confidently wrong predictions: " + \
        "; ".join(parts), _ids(*stats)


def _lc_faster(frame):
    parts, stats, ok = [], [], True
    for ds in _values(frame, "dataset"):
        ce = group(nnfs_runs(frame, dataset=ds, loss="cross_entropy"),
                   "derived/epochs_to_acc", f"{ds} cross_entropy")
        mse = group(nnfs_runs(frame, dataset=ds, loss="mse"), "derived/epochs_to_acc",
                    f"{ds} mse")
        ok &= clearly_greater(mse, ce)
        parts.append(f"{ds}: cross-entropy {ce}, MSE {mse}")
        stats += [ce, mse]
    return _verdict(ok), f"epochs to test acc >= {LC_TARGET} (never = epochs + 1): " + \
        "; ".join(parts), _ids(*stats)


# optimizers ------------------------------------------------------------------------------
OPT_LOSS_TARGET = 0.3


def _variant(frame, v, metric, **kw) -> Stat:
    return group(nnfs_runs(frame, opt_variant=v, **kw), metric, v)


def _opt_epochs(frame):
    key = "derived/epochs_to_loss"
    s = {v: _variant(frame, v, key) for v in ("gd", "sgd", "minibatch", "momentum", "adam")}
    secs = {v: _variant(frame, v, key + "_s") for v in s}
    ok = (clearly_greater(s["gd"], s["minibatch"]) and clearly_greater(s["gd"], s["sgd"])
          and s["momentum"].mean < s["minibatch"].mean and s["adam"].mean < s["minibatch"].mean)
    parts = "; ".join(f"{v} {s[v]} epochs, {_num(secs[v].mean)} s" for v in s)
    return _verdict(ok), f"to train loss <= {OPT_LOSS_TARGET} (never = epochs + 1): {parts}", \
        _ids(*s.values())


def _opt_sgd_cost(frame):
    sgd = _variant(frame, "sgd", "time/ms_per_epoch")
    mb = _variant(frame, "minibatch", "time/ms_per_epoch")
    return (_verdict(clearly_greater(sgd, mb)),
            f"ms per epoch: sgd (batch 1) {sgd}; minibatch (batch 32) {mb}", _ids(sgd, mb))


def _opt_schedule(frame):
    cos = _variant(frame, "adam_warmup_cosine", "final/train_loss")
    const = _variant(frame, "adam", "final/train_loss")
    acc_c, acc_k = _variant(frame, "adam_warmup_cosine", ACC), _variant(frame, "adam", ACC)
    return (_verdict(clearly_greater(const, cos)),
            f"final train loss: warmup+cosine {cos}, constant {const}; test acc "
            f"{_num(acc_c.mean)} vs {_num(acc_k.mean)}", _ids(cos, const))


def _paired(frame, a: str, b: str, metric: str) -> tuple[list[float], list[str]]:
    ra = nnfs_runs(frame, opt_variant=a).set_index("seed")
    rb = nnfs_runs(frame, opt_variant=b).set_index("seed")
    seeds = sorted(set(ra.index) & set(rb.index))
    if len(seeds) < MIN_SEEDS:
        raise Missing(f"{a} vs {b}: {len(seeds)} paired seed(s), need >= {MIN_SEEDS}")
    if metric not in ra or metric not in rb:
        raise Missing(f"metric {metric!r} was not logged")
    diffs = [float(ra.loc[s, metric]) - float(rb.loc[s, metric]) for s in seeds]
    return diffs, list(ra.loc[seeds, "run_id"]) + list(rb.loc[seeds, "run_id"])


def _opt_accumulation(frame):
    worst, ids = 0.0, []
    for metric in ("final/train_loss", "final/test_loss"):
        diffs, ids = _paired(frame, "accumulation", "minibatch", metric)
        ref = nnfs_runs(frame, opt_variant="minibatch")[metric].abs().min()
        worst = max(worst, max(abs(d) for d in diffs) / max(ref, 1e-300))
    return (_verdict(worst <= 1e-9),
            f"4 micro-batches of 8 vs batches of 32, max relative difference of the final "
            f"train/test loss over seeds: {worst:.1e}", ids)


def _opt_mixed(frame):
    acc, ids = _paired(frame, "mixed", "float32", ACC)
    loss, _ = _paired(frame, "mixed", "float32", "final/test_loss")
    ref = _variant(frame, "float32", "final/test_loss")
    rel = stat([abs(d) / ref.mean for d in loss])
    a = stat([abs(d) for d in acc])
    ok = a.mean + a.std <= 0.01 and rel.mean + rel.std <= 0.05
    return (_verdict(ok), f"|Δ test acc| mixed vs float32 {a}; relative |Δ test loss| {rel}",
            ids)


def _opt_clipping(frame):
    wild = nnfs_runs(frame, finished=False, opt_variant="explode")
    tame = nnfs_runs(frame, finished=False, opt_variant="explode_clipped")
    if len(wild) < MIN_SEEDS or len(tame) < MIN_SEEDS:
        raise Missing("need >= 2 seeds of explode and explode_clipped")
    if "final/test_r2" not in tame or tame["final/test_r2"].isna().all():
        raise Missing("metric 'final/test_r2' was not logged (the explode cases are regressions)")
    n_wild = sum(_diverged(r) for _, r in wild.iterrows())
    # tamed: finite to the end and better than predicting the mean (R² > 0)
    tamed = [r["outcome"] == "finished" and r["final/test_r2"] > 0 for _, r in tame.iterrows()]
    r2 = stat(tame["final/test_r2"].dropna().astype(float))
    ok = n_wild == len(wild) and all(tamed)
    return (_verdict(ok), f"without clipping {n_wild}/{len(wild)} diverged; with clip_norm "
            f"{sum(tamed)}/{len(tame)} finished with test R² > 0 (R² {r2})",
            list(wild["run_id"]) + list(tame["run_id"]))


# universal_approximation -----------------------------------------------------------------
def _ua_falls(frame):
    widths = _values(frame, "model.width")
    if len(widths) < 3:
        raise Missing("need three or more widths")
    stats = [group(nnfs_runs(frame, model__width=w), "final/test_rmse", f"width {w}")
             for w in widths]
    means = pd.Series([s.mean for s in stats])
    rho = float(pd.Series(widths, dtype=float).rank().corr(means.rank()))
    ok = rho <= -0.8 and clearly_greater(stats[0], stats[-1])
    parts = "; ".join(f"w={w}: {s}" for w, s in zip(widths, stats, strict=True))
    return _verdict(ok), f"test RMSE {parts}; Spearman ρ(width, RMSE) = {rho:.2f}", \
        _ids(*stats)


# modern_activations ----------------------------------------------------------------------
MA_TARGET = 0.9


def _ma_compare(metric: str, better_is_higher: bool, what: str):
    def judge(frame):
        parts, stats, ok = [], [], True
        for ds in _values(frame, "dataset"):
            relu = group(nnfs_runs(frame, dataset=ds, activation="relu"), metric,
                         f"{ds} relu")
            stats.append(relu)
            line = [f"{ds}: relu {relu}"]
            for act in [a for a in _values(frame, "activation") if a != "relu"]:
                s = group(nnfs_runs(frame, dataset=ds, activation=act), metric, f"{ds} {act}")
                worse = clearly_greater(relu, s) if better_is_higher \
                    else clearly_greater(s, relu)
                ok &= not worse
                line.append(f"{act} {s}{' (clearly worse)' if worse else ''}")
                stats.append(s)
            parts.append(", ".join(line))
        params = _ma_params(frame)
        return _verdict(ok), f"{what}: " + "; ".join(parts) + params, _ids(*stats)
    return judge


def _ma_params(frame) -> str:
    rows = nnfs_runs(frame)
    if "final/n_params" not in rows or rows["final/n_params"].isna().all():
        return ""
    counts = rows.groupby(["dataset", "activation"])["final/n_params"].first()
    return " (parameters: " + ", ".join(f"{d} {a} {int(n)}" for (d, a), n in counts.items()) \
        + ")"


# tour ------------------------------------------------------------------------------------
def _tour_linear(frame):
    parts, stats, ok = [], [], True
    for ds in _values(frame, "dataset"):
        s = group(nnfs_runs(frame, dataset=ds, activation="identity"), ACC, ds)
        ok &= clearly_above(s, SOLVED) if ds in SEPARABLE else clearly_below(s, UNSOLVED)
        parts.append(f"{ds} {s}")
        stats.append(s)
    return _verdict(ok), "identity (a linear model) test acc: " + "; ".join(parts), \
        _ids(*stats)


def _tour_nonlinear(frame):
    parts, stats, ok = [], [], True
    for act in [a for a in _values(frame, "activation") if a != "identity"]:
        for ds in _values(frame, "dataset"):
            s = group(nnfs_runs(frame, dataset=ds, activation=act, loss="cross_entropy"), ACC)
            ok &= clearly_above(s, SOLVED)
            parts.append(f"{act} {ds} {s}")
            stats.append(s)
    return _verdict(ok), "cross-entropy test acc: " + "; ".join(parts), _ids(*stats)


def _tour_loss(frame):
    parts, stats, ok = [], [], True
    for act in [a for a in _values(frame, "activation") if a != "identity"]:
        for ds in _values(frame, "dataset"):
            ce = group(nnfs_runs(frame, dataset=ds, activation=act, loss="cross_entropy"), ACC)
            mse = group(nnfs_runs(frame, dataset=ds, activation=act, loss="mse"), ACC)
            worse = clearly_greater(mse, ce)
            ok &= not worse
            parts.append(f"{act} {ds}: CE {ce} vs MSE {mse}"
                         + (" (CE clearly worse)" if worse else ""))
            stats += [ce, mse]
    return _verdict(ok), "; ".join(parts), _ids(*stats)


def _tour_sklearn(frame):
    col = "delta_vs_sklearn_mlp/test_acc"
    rows = nnfs_runs(frame)
    if col not in rows or rows[col].isna().all():
        raise Missing("no nnfs-vs-scikit-learn MLP deltas in this sweep (baselines off?)")
    s = stat(rows[col].dropna().abs(), rows.loc[rows[col].notna(), "run_id"])
    return (_verdict(s.mean <= 0.03), f"|nnfs − sklearn MLP| test acc per run: {s}, "
            f"max {_num(rows[col].abs().max())}",
            list(s.runs))


# ------------------------------------------------------------------------------ registry
def _c(text: str, criterion: str, judge: Judge) -> Claim:
    return Claim(text, criterion, judge)


_solved = f"mean − std >= {SOLVED}"
_unsolved = f"mean + std <= {UNSOLVED}"

STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("least_squares", "Gradient descent finds the least-squares solution",
          ("optimizer.lr", "seed"), (
              _c("GD on linear regression converges to the least-squares solution of Gauss "
                 "and Legendre", f"at lr {LS_GOOD_LR}: max |W_gd − W_lstsq| (mean + std) < "
                 f"{LS_TOL:g}", _ls_converges),
              _c("Too large a learning rate diverges", "every run with lr above 2/λ_max of "
                 "the MSE Hessian diverges (non-finite or rising loss), none below it",
                 _ls_diverges),
              _c("Too small a learning rate is slow", "steps to 0.1 % of the optimal loss fall "
                 "as lr grows over the stable range; the smallest lr needs >= 10x the fewest",
                 _ls_slow)),
          curves=("train/loss",), derive=_ls_derive),
    Study("separability", "Linear models and linear separability", ("dataset", "model.depth",
          "seed"), (
        _c("Logistic regression (nnfs) solves the linearly separable sets (linear, "
           "breast_cancer)", f"test acc {_solved}",
           lambda f: _solves(f, SEPARABLE, True, model__depth=0)),
        _c("Logistic regression (nnfs) cannot solve xor, circles, spiral",
           f"test acc {_unsolved}", lambda f: _solves(f, INSEPARABLE, False, model__depth=0)),
        _c("scikit-learn's LogisticRegression: the same split of solved and unsolved sets",
           f"separable {_solved}, inseparable {_unsolved}", _sklearn_logreg),
        _c("An MLP (2 hidden layers) solves all five sets", f"test acc {_solved}",
           lambda f: _solves(f, SEPARABLE + INSEPARABLE, True, model__depth=2)))),
    Study("feature_cross", "Hand-made feature crosses against learned features",
          ("dataset", "features", "model.depth", "seed"), (
              _c("Logistic regression plus the cross x1·x2 solves XOR",
                 f"with the cross {_solved}, raw {_unsolved}", _fc_cross("xor", "cross")),
              _c("Logistic regression plus x1², x2² solves circles",
                 f"with squares {_solved}, raw {_unsolved}", _fc_cross("circles", "squares")),
              _c("An MLP on the raw inputs learns what the crosses give by hand",
                 f"MLP mean >= crossed logistic mean − 0.03 and {_solved}", _fc_learned))),
    Study("nonlinearity", "Without a nonlinearity depth adds nothing",
          ("dataset", "activation", "model.depth", "seed"), (
              _c("With the identity activation, depth 1 to 4 does no better than logistic "
                 "regression on the inseparable sets", "per dataset and depth: mean − mean(depth"
                 f" 0) <= 0.05 and {_unsolved}", _nl_identity),
              _c("Every nonlinear activation does better than logistic regression",
                 "every (dataset, activation, depth >= 1): one-std bands apart, >= 0.1 above",
                 _nl_nonlinear))),
    Study("vanishing_gradients", "Vanishing gradients in deep sigmoid nets",
          ("activation", "model.depth", "seed"), (
              _c("With sigmoid, the first layer's gradient norm shrinks relative to the last "
                 "layer's as depth grows, by orders of magnitude", "mean log10 ratio falls with "
                 "every depth step and by >= 2 from the shallowest to the deepest", _vg_sigmoid),
              _c("relu, gelu and swiglu keep the ratio near one", "every run finishes and "
                 "|mean log10 ratio| + std <= 1 at every depth", _vg_others),
              _c("Deep sigmoid nets train slower", f"epochs to train loss <= {VG_LOSS_TARGET}: "
                 "deepest sigmoid clearly above shallowest sigmoid and deepest relu",
                 _vg_slower)),
          curves=("train/loss", "grad_norm/"), derive=_vg_derive),
    Study("loss_choice", "Cross-entropy against MSE on classifiers",
          ("dataset", "loss", "seed"), (
              _c("On confidently wrong predictions cross-entropy's gradient is far larger than "
                 "MSE's", "log10(‖∇θ CE‖ / ‖∇θ MSE‖) at initialisation: mean − std >= 1",
                 _lc_gradient),
              _c("Cross-entropy reaches a target accuracy in fewer epochs", f"epochs to test "
                 f"acc >= {LC_TARGET}: MSE clearly above CE on every dataset", _lc_faster)),
          curves=("test/acc",),
          derive=_derive_epochs("test/acc", LC_TARGET, False, "derived/epochs_to_acc")),
    Study("optimizers", "Optimizers, schedules, accumulation, precision, clipping",
          ("opt_variant", "seed"), (
              _c("More steps per epoch reach a target loss in fewer epochs; momentum and Adam "
                 "beat plain mini-batch SGD", f"epochs to train loss <= {OPT_LOSS_TARGET}: GD "
                 "clearly above SGD and mini-batch; momentum and Adam means below mini-batch",
                 _opt_epochs),
              _c("SGD (batch 1) costs more time per epoch than mini-batch", "ms per epoch "
                 "clearly greater", _opt_sgd_cost),
              _c("Adam with warmup and cosine decay ends lower than Adam at a constant rate",
                 "final train loss clearly lower", _opt_schedule),
              _c("Gradient accumulation equals the large batch", "4 x 8 vs 32: relative "
                 "difference of final train and test loss <= 1e-9 on every seed",
                 _opt_accumulation),
              _c("Mixed precision matches float32", "|Δ test acc| mean + std <= 0.01 and "
                 "relative |Δ test loss| mean + std <= 0.05", _opt_mixed),
              _c("Clipping tames a run that explodes without it", "every unclipped run "
                 "diverges; every clipped run finishes with test R² > 0", _opt_clipping)),
          curves=("train/loss", "time/epoch_s"),
          derive=_chain(_derive_start_end, _derive_epochs(
              "train/loss", OPT_LOSS_TARGET, True, "derived/epochs_to_loss", seconds=True))),
    Study("universal_approximation", "One hidden layer approximates a sine",
          ("model.width", "seed"), (
              _c("Test error falls as the width of one hidden layer grows from 1 to 256",
                 "Spearman ρ(width, mean test RMSE) <= −0.8 and the widest clearly below the "
                 "narrowest", _ua_falls),)),
    Study("two_layer_xor", "The seed's 2-3-1 sigmoid network on XOR",
          ("model.depth", "seed"), (
              _c("Two inputs, three sigmoid hidden units and one output solve XOR",
                 f"test acc {_solved}", lambda f: _solves(f, ("xor",), True, model__depth=1)),
              _c("Logistic regression cannot", f"test acc {_unsolved}",
                 lambda f: _solves(f, ("xor",), False, model__depth=0)))),
    Study("modern_activations", "ReLU, GELU and SwiGLU at a matched parameter count",
          ("dataset", "activation", "act_case", "seed"), (
              _c("GELU and SwiGLU are at least as accurate as ReLU at a matched parameter "
                 "count", "no activation clearly below ReLU's test acc on any dataset",
                 _ma_compare(ACC, True, "test acc")),
              _c("GELU and SwiGLU reach the target accuracy no later than ReLU",
                 f"epochs to test acc >= {MA_TARGET}: none clearly above ReLU's",
                 _ma_compare("derived/epochs_to_acc", False, "epochs to target"))),
          curves=("test/acc",),
          derive=_derive_epochs("test/acc", MA_TARGET, False, "derived/epochs_to_acc")),
    Study("tour", "The tour: separability, activations x loss, baselines",
          ("dataset", "activation", "loss", "seed"), (
              _c("A linear model solves the separable set and none of the others",
                 f"identity: linear {_solved}; xor, circles, spiral {_unsolved}", _tour_linear),
              _c("A nonlinear hidden layer solves all four sets", f"cross-entropy, sigmoid "
                 f"and relu: {_solved}", _tour_nonlinear),
              _c("Cross-entropy is never clearly worse than MSE", "no (activation, dataset) "
                 "with MSE's band above CE's", _tour_loss),
              _c("nnfs and scikit-learn's MLPClassifier agree", "mean |Δ test acc| <= 0.03",
                 _tour_sklearn),
              _c("scikit-learn's LogisticRegression: the same split of solved and unsolved "
                 "sets", f"separable {_solved}, inseparable {_unsolved}", _sklearn_logreg))),
)}
NAMES = tuple(n for n in STUDIES if n != "tour")  # `make studies`; the tour is `make demo`


def get(name: str) -> Study:
    """The study ``name``; ValueError naming the valid ones."""
    if name not in STUDIES:
        raise ValueError(f"study={name!r} is not known; allowed: {', '.join(STUDIES)}")
    return STUDIES[name]


def verdicts(study: str, frame: pd.DataFrame) -> list[Verdict]:
    """One verdict per claim of ``study`` from its run table (pure; the frame is not changed).

    frame: one row per run with ``run_id``, ``impl``, ``outcome``, the study's axes, its
    ``final/*`` metrics and the columns of ``derive``. Returns dicts {claim, verdict, measured,
    runs, criterion}; a claim that cannot be decided is "inconclusive" with the reason.
    """
    spec = get(study)
    out = []
    for claim in spec.claims:
        try:
            verdict, measured, runs = claim.judge(frame)
        except Missing as exc:
            verdict, measured, runs = UNSURE, f"not decidable: {exc}", []
        out.append({"claim": f"{claim.text} ({claim.criterion})", "verdict": verdict,
                    "measured": measured, "runs": list(runs), "criterion": claim.criterion})
    return out
