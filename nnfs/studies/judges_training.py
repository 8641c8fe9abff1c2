"""Judges of the training lessons: vanishing_gradients, loss_choice, optimizers,
universal_approximation, modern_activations and the tour. Each returns (verdict, measured text,
run ids) or raises Missing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nnfs.studies.judges_linear import SEPARABLE, _diverged
from nnfs.studies.stats import (
    ACC,
    MIN_SEEDS,
    SOLVED,
    UNSOLVED,
    Missing,
    Stat,
    clearly_above,
    clearly_below,
    clearly_greater,
    curve,
    derive_epochs,
    fmt,
    group,
    nnfs_runs,
    run_ids,
    stat,
    values_of,
    verdict_of,
    with_columns,
)

# vanishing_gradients ---------------------------------------------------------------------
VG_LOSS_TARGET = 0.3


def _vg_derive(frame, histories):
    ratios = []
    for _, row in frame.iterrows():
        g0 = curve(histories, row["run_id"], "grad_norm/layer_0")
        depth = int(row["model.depth"])  # the output layer's index
        gl = curve(histories, row["run_id"], f"grad_norm/layer_{depth}")
        r = float(g0.iloc[0]) / float(gl.iloc[0]) if len(g0) and len(gl) and gl.iloc[0] \
            else math.nan
        ratios.append(math.log10(r) if r > 0 else (-math.inf if r == 0 else math.nan))
    frame = with_columns(frame, {"derived/log10_grad_ratio": ratios})
    return derive_epochs("train/loss", VG_LOSS_TARGET, True, "derived/epochs_to_loss")(
        frame, histories)


def _vg_ratio_stats(frame, act):
    out = []
    for d in values_of(frame, "model.depth"):
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
    return verdict_of(ok), f"sigmoid log10(‖∇W_0‖ / ‖∇W_last‖) at epoch 1: {parts}", \
        run_ids(*(s for _, s in stats))


def _vg_others(frame):
    parts, stats, ok = [], [], True
    for act in [a for a in values_of(frame, "activation") if a != "sigmoid"]:
        for d in values_of(frame, "model.depth"):
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
    return verdict_of(ok), "log10 gradient ratio (first / last layer) at epoch 1: " + \
        "; ".join(parts), run_ids(*stats)


def _vg_slower(frame):
    depths = values_of(frame, "model.depth")
    if len(depths) < 2:
        raise Missing("need two or more depths")
    lo, hi = depths[0], depths[-1]
    key = "derived/epochs_to_loss"
    shallow = group(nnfs_runs(frame, activation="sigmoid", model__depth=lo), key)
    deep = group(nnfs_runs(frame, activation="sigmoid", model__depth=hi), key)
    relu = group(nnfs_runs(frame, activation="relu", model__depth=hi), key)
    ok = clearly_greater(deep, shallow) and clearly_greater(deep, relu)
    return (verdict_of(ok), f"epochs to train loss <= {VG_LOSS_TARGET} (never reached = "
            f"epochs + 1): sigmoid depth {hi} {deep}; sigmoid depth {lo} {shallow}; "
            f"relu depth {hi} {relu}",
            run_ids(deep, shallow, relu))


# loss_choice -----------------------------------------------------------------------------
LC_TARGET = 0.9


def _lc_gradient(frame):
    # a ratio is judged in orders of magnitude (log10), as the gradient ratios of
    # vanishing_gradients: on a linear scale one seed at 160x and one at 20x make a spread
    # larger than the mean although every seed is far above 10x
    parts, stats, ok = [], [], True
    for ds in values_of(frame, "dataset"):
        rows = nnfs_runs(frame, dataset=ds).drop_duplicates("seed")
        s = group(rows, "final/wrong_grad_ratio", ds)
        logs = stat(np.log10(rows["final/wrong_grad_ratio"].astype(float)), s.runs)
        ok &= clearly_above(logs, 1.0)
        lo, hi = rows["final/wrong_grad_ratio"].min(), rows["final/wrong_grad_ratio"].max()
        parts.append(f"{ds}: ratio {fmt(lo)}x to {fmt(hi)}x, log10 {logs}")
        stats.append(s)
    return verdict_of(ok), "‖∇θ CE‖ / ‖∇θ MSE‖ on confidently wrong predictions: " + \
        "; ".join(parts), run_ids(*stats)


def _lc_faster(frame):
    parts, stats, ok = [], [], True
    for ds in values_of(frame, "dataset"):
        ce = group(nnfs_runs(frame, dataset=ds, loss="cross_entropy"),
                   "derived/epochs_to_acc", f"{ds} cross_entropy")
        mse = group(nnfs_runs(frame, dataset=ds, loss="mse"), "derived/epochs_to_acc",
                    f"{ds} mse")
        ok &= clearly_greater(mse, ce)
        parts.append(f"{ds}: cross-entropy {ce}, MSE {mse}")
        stats += [ce, mse]
    return verdict_of(ok), f"epochs to test acc >= {LC_TARGET} (never = epochs + 1): " + \
        "; ".join(parts), run_ids(*stats)


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
    parts = "; ".join(f"{v} {s[v]} epochs, {fmt(secs[v].mean)} s" for v in s)
    return verdict_of(ok), f"to train loss <= {OPT_LOSS_TARGET} (never = epochs + 1): {parts}", \
        run_ids(*s.values())


def _opt_sgd_cost(frame):
    sgd = _variant(frame, "sgd", "time/ms_per_epoch")
    mb = _variant(frame, "minibatch", "time/ms_per_epoch")
    return (verdict_of(clearly_greater(sgd, mb)),
            f"ms per epoch: sgd (batch 1) {sgd}; minibatch (batch 32) {mb}", run_ids(sgd, mb))


def _opt_schedule(frame):
    cos = _variant(frame, "adam_warmup_cosine", "final/train_loss")
    const = _variant(frame, "adam", "final/train_loss")
    acc_c, acc_k = _variant(frame, "adam_warmup_cosine", ACC), _variant(frame, "adam", ACC)
    return (verdict_of(clearly_greater(const, cos)),
            f"final train loss: warmup+cosine {cos}, constant {const}; test acc "
            f"{fmt(acc_c.mean)} vs {fmt(acc_k.mean)}", run_ids(cos, const))


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
    return (verdict_of(worst <= 1e-9),
            f"4 micro-batches of 8 vs batches of 32, max relative difference of the final "
            f"train/test loss over seeds: {worst:.1e}", ids)


def _opt_mixed(frame):
    acc, ids = _paired(frame, "mixed", "float32", ACC)
    loss, _ = _paired(frame, "mixed", "float32", "final/test_loss")
    ref = _variant(frame, "float32", "final/test_loss")
    rel = stat([abs(d) / ref.mean for d in loss])
    a = stat([abs(d) for d in acc])
    ok = a.mean + a.std <= 0.01 and rel.mean + rel.std <= 0.05
    return (verdict_of(ok), f"|Δ test acc| mixed vs float32 {a}; relative |Δ test loss| {rel}",
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
    return (verdict_of(ok), f"without clipping {n_wild}/{len(wild)} diverged; with clip_norm "
            f"{sum(tamed)}/{len(tame)} finished with test R² > 0 (R² {r2})",
            list(wild["run_id"]) + list(tame["run_id"]))


# universal_approximation -----------------------------------------------------------------
def _ua_falls(frame):
    widths = values_of(frame, "model.width")
    if len(widths) < 3:
        raise Missing("need three or more widths")
    stats = [group(nnfs_runs(frame, model__width=w), "final/test_rmse", f"width {w}")
             for w in widths]
    means = pd.Series([s.mean for s in stats])
    rho = float(pd.Series(widths, dtype=float).rank().corr(means.rank()))
    ok = rho <= -0.8 and clearly_greater(stats[0], stats[-1])
    parts = "; ".join(f"w={w}: {s}" for w, s in zip(widths, stats, strict=True))
    return verdict_of(ok), f"test RMSE {parts}; Spearman ρ(width, RMSE) = {rho:.2f}", \
        run_ids(*stats)


# modern_activations ----------------------------------------------------------------------
MA_TARGET = 0.9


def _ma_compare(metric: str, better_is_higher: bool, what: str):
    def judge(frame):
        parts, stats, ok = [], [], True
        for ds in values_of(frame, "dataset"):
            relu = group(nnfs_runs(frame, dataset=ds, activation="relu"), metric,
                         f"{ds} relu")
            stats.append(relu)
            line = [f"{ds}: relu {relu}"]
            for act in [a for a in values_of(frame, "activation") if a != "relu"]:
                s = group(nnfs_runs(frame, dataset=ds, activation=act), metric, f"{ds} {act}")
                worse = clearly_greater(relu, s) if better_is_higher \
                    else clearly_greater(s, relu)
                ok &= not worse
                line.append(f"{act} {s}{' (clearly worse)' if worse else ''}")
                stats.append(s)
            parts.append(", ".join(line))
        params = _ma_params(frame)
        return verdict_of(ok), f"{what}: " + "; ".join(parts) + params, run_ids(*stats)
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
    for ds in values_of(frame, "dataset"):
        s = group(nnfs_runs(frame, dataset=ds, activation="identity"), ACC, ds)
        ok &= clearly_above(s, SOLVED) if ds in SEPARABLE else clearly_below(s, UNSOLVED)
        parts.append(f"{ds} {s}")
        stats.append(s)
    return verdict_of(ok), "identity (a linear model) test acc: " + "; ".join(parts), \
        run_ids(*stats)


def _tour_nonlinear(frame):
    parts, stats, ok = [], [], True
    for act in [a for a in values_of(frame, "activation") if a != "identity"]:
        for ds in values_of(frame, "dataset"):
            s = group(nnfs_runs(frame, dataset=ds, activation=act, loss="cross_entropy"), ACC)
            ok &= clearly_above(s, SOLVED)
            parts.append(f"{act} {ds} {s}")
            stats.append(s)
    return verdict_of(ok), "cross-entropy test acc: " + "; ".join(parts), run_ids(*stats)


def _tour_loss(frame):
    parts, stats, ok = [], [], True
    for act in [a for a in values_of(frame, "activation") if a != "identity"]:
        for ds in values_of(frame, "dataset"):
            ce = group(nnfs_runs(frame, dataset=ds, activation=act, loss="cross_entropy"), ACC)
            mse = group(nnfs_runs(frame, dataset=ds, activation=act, loss="mse"), ACC)
            worse = clearly_greater(mse, ce)
            ok &= not worse
            parts.append(f"{act} {ds}: CE {ce} vs MSE {mse}"
                         + (" (CE clearly worse)" if worse else ""))
            stats += [ce, mse]
    return verdict_of(ok), "; ".join(parts), run_ids(*stats)


def _tour_sklearn(frame):
    col = "delta_vs_sklearn_mlp/test_acc"
    rows = nnfs_runs(frame)
    if col not in rows or rows[col].isna().all():
        raise Missing("no nnfs-vs-scikit-learn MLP deltas in this sweep (baselines off?)")
    s = stat(rows[col].dropna().abs(), rows.loc[rows[col].notna(), "run_id"])
    return (verdict_of(s.mean <= 0.03), f"|nnfs − sklearn MLP| test acc per run: {s}, "
            f"max {fmt(rows[col].abs().max())}",
            list(s.runs))
