"""Judges of the linear-model lessons: least_squares, separability (also two_layer_xor),
feature_cross, nonlinearity. Each returns (verdict, measured text, run ids) or raises Missing."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd

from nnfs.studies.stats import (
    ACC,
    SOLVED,
    UNSOLVED,
    Missing,
    Stat,
    clearly_above,
    clearly_below,
    clearly_greater,
    derive_epochs,
    derive_start_end,
    fmt,
    group,
    nnfs_runs,
    run_ids,
    values_of,
    verdict_of,
)


# ---------------------------------------------------------------------------- the judges
# Each judge returns (verdict, measured text, run ids); raising Missing makes it inconclusive.
def _solves(frame: pd.DataFrame, datasets: Iterable[str], solved: bool, **where):
    parts, stats, ok = [], [], True
    for ds in datasets:
        s = group(nnfs_runs(frame, dataset=ds, **where), ACC, ds)
        ok &= clearly_above(s, SOLVED) if solved else clearly_below(s, UNSOLVED)
        parts.append(f"{ds} {s}")
        stats.append(s)
    return verdict_of(ok), "test acc " + "; ".join(parts), run_ids(*stats)


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
    return (verdict_of(ok), "sklearn LogisticRegression test acc " + "; ".join(parts),
            run_ids(*stats))


# least_squares ---------------------------------------------------------------------------
LS_GOOD_LR = 0.3
LS_TOL = 1e-4  # max |W_gd − W_lstsq|
LS_LOSS_RTOL = 1e-3  # "converged" for the step count: train loss within 0.1 % of the optimum


def _ls_converges(frame):
    s = group(nnfs_runs(frame, optimizer__lr=LS_GOOD_LR), "final/lstsq_max_abs_diff",
              f"lr={LS_GOOD_LR}")
    return (verdict_of(s.mean + s.std < LS_TOL),
            f"lr={LS_GOOD_LR}: max |W_gd − W_lstsq| = {s}", run_ids(s))


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
    return (verdict_of(all(div_above) and not any(div_below)), measured,
            list(above["run_id"]) + list(below["run_id"]))


def _lrs(rows) -> str:
    return ", ".join(fmt(v) for v in sorted(rows["optimizer.lr"].unique()))


def _ls_slow(frame):
    bound = _ls_bound(frame)
    lrs = [lr for lr in values_of(frame, "optimizer.lr") if lr < bound]
    if len(lrs) < 2:
        raise Missing("need two or more stable learning rates")
    stats = [group(nnfs_runs(frame, optimizer__lr=lr), "derived/epochs_to_tol", f"lr={lr}")
             for lr in lrs]
    means = [s.mean for s in stats]
    falling = all(a > b for a, b in zip(means, means[1:], strict=False))
    ok = falling and means[0] >= 10 * min(means)
    parts = "; ".join(f"lr={fmt(lr)}: {s}" for lr, s in zip(lrs, stats, strict=True))
    return verdict_of(ok), f"steps to a train loss within 0.1 % of least squares: {parts}", \
        run_ids(*stats)


def _ls_tol_target(frame: pd.DataFrame) -> pd.Series:
    """The loss to reach: the least-squares optimum (logged) or the lowest loss of the seed."""
    if "final/lstsq_train_loss" in frame and frame["final/lstsq_train_loss"].notna().any():
        best = frame.groupby("seed")["final/lstsq_train_loss"].transform("min")
    else:
        best = frame.groupby("seed")["final/train_loss"].transform("min")
    return best * (1 + LS_LOSS_RTOL)


def _ls_derive(frame, histories):
    frame = derive_start_end(frame, histories)
    target = _ls_tol_target(frame)
    return derive_epochs("train/loss", lambda row: target[row.name], True,
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
        return (verdict_of(ok), f"{dataset}, logistic regression: raw {raw}; + {feature} {crossed}",
                run_ids(raw, crossed))
    return judge


def _fc_learned(frame):
    parts, stats, ok = [], [], True
    for ds, feature in (("xor", "cross"), ("circles", "squares")):
        hand = group(nnfs_runs(frame, dataset=ds, features=feature, model__depth=0), ACC)
        depths = [d for d in values_of(frame, "model.depth") if d > 0]
        if not depths:
            raise Missing("no MLP (depth > 0) runs")
        mlp = group(nnfs_runs(frame, dataset=ds, features="raw", model__depth=max(depths)), ACC)
        ok &= mlp.mean >= hand.mean - 0.03 and clearly_above(mlp, SOLVED)
        parts.append(f"{ds}: MLP on raw inputs {mlp} vs logistic + {feature} {hand}")
        stats += [mlp, hand]
    return verdict_of(ok), "; ".join(parts), run_ids(*stats)


# nonlinearity ----------------------------------------------------------------------------
def _linear_baseline(frame, ds) -> Stat:
    rows = nnfs_runs(frame, dataset=ds, model__depth=0).drop_duplicates("seed")
    return group(rows, ACC, f"{ds} depth 0")


def _nl_identity(frame):
    parts, stats, ok = [], [], True
    for ds in values_of(frame, "dataset"):
        lr = _linear_baseline(frame, ds)
        stats.append(lr)
        for d in [d for d in values_of(frame, "model.depth") if d > 0]:
            s = group(nnfs_runs(frame, dataset=ds, activation="identity", model__depth=d), ACC)
            ok &= s.mean - lr.mean <= 0.05 and clearly_below(s, UNSOLVED)
            parts.append(f"{ds} depth {d}: {fmt(s.mean)} ± {fmt(s.std)}")
            stats.append(s)
        parts[-1] += f" (logistic regression {lr})"
    return verdict_of(ok), "identity test acc: " + "; ".join(parts), run_ids(*stats)


def _nl_nonlinear(frame):
    parts, stats, ok, worst = [], [], True, None
    for ds in values_of(frame, "dataset"):
        lr = _linear_baseline(frame, ds)
        stats.append(lr)
        for act in [a for a in values_of(frame, "activation") if a != "identity"]:
            for d in [d for d in values_of(frame, "model.depth") if d > 0]:
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
    return verdict_of(ok), "; ".join([head] + parts), run_ids(*stats)
