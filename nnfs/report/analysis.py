"""Tables computed from the tidy runs frame (pure pandas: no MLflow, no plotting).

Vocabulary: an *axis* is a swept key (activation, loss, model.depth, ...); a *configuration* is one
value per axis except dataset and seed; seeds are repeats of a configuration.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

NOT_CONFIG = ("dataset", "seed")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def config_axes(axes: dict[str, list]) -> list[str]:
    """Axes that tell configurations apart: swept (more than one value), not dataset nor seed."""
    return [a for a, values in axes.items() if a not in NOT_CONFIG and len(values) > 1]


def _label(row: pd.Series, cols: list[str]) -> str:
    return ", ".join(f"{c}={row[c]}" for c in cols) if cols else "single config"


def labels(frame: pd.DataFrame, cols: list[str], sep: str = ", ", named: bool = True) -> pd.Series:
    """Vectorised `_label` ("activation=relu, loss=mse") of every row; object dtype."""
    if not cols:
        return pd.Series("single config", index=frame.index, dtype=object)
    parts = [(f"{c}=" if named else "") + frame[c].astype(object).map(str) for c in cols]
    out = parts[0]
    for p in parts[1:]:
        out = out + sep + p
    return out.astype(object)


def annotate(runs: pd.DataFrame, axes: dict[str, list]) -> pd.DataFrame:
    """A copy with a `config` label per run. sklearn runs take the configuration (and the dataset
    and seed when they lack them) of the nnfs run they are paired with; LogisticRegression runs are
    labelled as such since they depend on the data only."""
    out = runs.copy()
    cols = config_axes(axes)
    out["config"] = None
    is_nnfs = out["impl"] == "nnfs"
    out.loc[is_nnfs, "config"] = labels(out[is_nnfs], cols)
    nnfs_by_id = out[is_nnfs].set_index("run_id")
    for i, row in out[~is_nnfs].iterrows():
        paired = _RUN_ID.findall(str(row["paired_with"] or ""))
        mate = next((nnfs_by_id.loc[p] for p in paired if p in nnfs_by_id.index), None)
        for axis in ("dataset", "seed"):
            if axis in out and pd.isna(row.get(axis)) and mate is not None:
                out.at[i, axis] = mate[axis]
        if row["baseline"] == "logreg":
            out.at[i, "config"] = "LogisticRegression"
        elif mate is not None:
            out.at[i, "config"] = mate["config"]
        elif all(pd.notna(row.get(c)) for c in cols):  # unpaired: its own axis params
            out.at[i, "config"] = _label(row, cols)
    return out


def metric_of(frame: pd.DataFrame) -> tuple[str, bool] | None:
    """(final metric column, higher is better) for one dataset's runs, or None."""
    for col, higher in (("final/test_acc", True), ("final/test_rmse", False)):
        if col in frame and frame[col].notna().any():
            return col, higher
    return None


def datasets(runs: pd.DataFrame) -> list:
    if "dataset" not in runs:
        return [None]
    values = runs.loc[runs["impl"] == "nnfs", "dataset"].dropna().unique().tolist()
    return sorted(values, key=str) or [None]


def by_dataset(runs: pd.DataFrame, ds) -> pd.DataFrame:
    return runs if ds is None or "dataset" not in runs else runs[runs["dataset"] == ds]


def config_scores(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Finished runs grouped by config: mean, std, n over seeds, fit time; one row per config."""
    done = runs[(runs["outcome"] == "finished") & runs[metric].notna()]
    fit = "time/fit_s" if "time/fit_s" in done else metric
    ms = "time/ms_per_epoch" if "time/ms_per_epoch" in done else metric
    g = done.groupby("config", dropna=True)
    out = pd.DataFrame({"mean": g[metric].mean(), "std": g[metric].std(ddof=0),
                        "n": g[metric].size(), "fit_s": g[fit].mean(),
                        "ms_per_epoch": g[ms].mean()})
    if fit == metric:
        out["fit_s"] = np.nan
    if ms == metric:
        out["ms_per_epoch"] = np.nan
    return out.reset_index()


def _best(scores: pd.DataFrame, higher: bool, worst: bool = False) -> pd.Series | None:
    if scores.empty:
        return None
    asc = higher == worst  # best of higher-is-better: sort descending
    return scores.sort_values(["mean", "std"], ascending=[asc, True]).iloc[0]


def best_and_worst(runs: pd.DataFrame, metric: str, higher: bool):
    """(best config row, worst config row) of the nnfs runs, by mean over seeds."""
    scores = config_scores(runs[runs["impl"] == "nnfs"], metric)
    return _best(scores, higher), _best(scores, higher, worst=True)


def leaderboard(runs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: best nnfs config, the sklearn MLP at that config and at its own best,
    LogisticRegression; mean ± std over seeds and mean fit time. `runs` must be annotated."""
    rows = []
    for ds in datasets(runs):
        part = by_dataset(runs, ds)
        m = metric_of(part)
        if m is None:
            continue
        metric, higher = m
        best, _ = best_and_worst(part, metric, higher)
        mlp = config_scores(part[part["baseline"] == "mlp"], metric)
        logreg = config_scores(part[part["baseline"] == "logreg"], metric)
        entries = []
        if best is not None:
            entries.append(("nnfs (best config)", best))
            same = mlp[mlp["config"] == best["config"]]
            if not same.empty:
                entries.append(("sklearn MLP (same config)", same.iloc[0]))
        top = _best(mlp, higher)
        matched = entries[-1][1]["mean"] if len(entries) == 2 else None
        if top is not None and (best is None or top["config"] != best["config"]) \
                and not (matched is not None and np.isclose(top["mean"], matched)):
            entries.append(("sklearn MLP (its best config)", top))
        if not logreg.empty:
            entries.append(("LogisticRegression", logreg.iloc[0]))
        for model, r in entries:
            rows.append({"dataset": ds, "model": model, "config": r["config"],
                         "metric": metric.removeprefix("final/"), "mean": r["mean"],
                         "std": r["std"], "seeds": int(r["n"]), "fit_s": r["fit_s"],
                         "ms_per_epoch": r["ms_per_epoch"]})
    return pd.DataFrame(rows, columns=["dataset", "model", "config", "metric", "mean", "std",
                                       "seeds", "fit_s", "ms_per_epoch"])


def eta_squared(runs: pd.DataFrame, axes: dict[str, list]) -> pd.DataFrame:
    """Share of the variance of the final metric explained by each swept axis, per dataset.

    One-way decomposition: η²(axis) = Σ_g n_g (ȳ_g − ȳ)² / Σ_i (y_i − ȳ)² over the finished nnfs
    runs of a dataset. On a full grid the main effects are orthogonal, so 1 − Σ η² is what
    interactions and noise leave. Rows: axes (plus 'interactions + noise'), columns: datasets.
    """
    swept = [a for a, v in axes.items() if a != "dataset" and len(v) > 1]
    table = {}
    for ds in datasets(runs):
        part = by_dataset(runs, ds)
        part = part[(part["impl"] == "nnfs") & (part["outcome"] == "finished")]
        m = metric_of(part)
        if m is None or len(part) < 2:
            continue
        y = part[m[0]].astype(float)
        total = float(((y - y.mean()) ** 2).sum())
        if total <= 0:
            continue
        col = {}
        for axis in swept:
            g = part.groupby(part[axis].astype(str))[m[0]]
            col[axis] = float((g.size() * (g.mean() - y.mean()) ** 2).sum()) / total
        col["interactions + noise"] = max(0.0, 1.0 - sum(col.values()))
        table[str(ds)] = col
    return pd.DataFrame(table)


def speed_pairs(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, config): median ms/epoch of nnfs and of its paired sklearn MLP runs."""
    col = "time/ms_per_epoch"
    if col not in runs:
        return pd.DataFrame(columns=["dataset", "config", "nnfs_ms", "sklearn_ms", "ratio"])
    done = runs[(runs["outcome"] == "finished") & runs[col].notna()]
    keys = ["dataset", "config"] if "dataset" in done else ["config"]
    nn = done[done["impl"] == "nnfs"].groupby(keys)[col].median().rename("nnfs_ms")
    sk = done[done["baseline"] == "mlp"].groupby(keys)[col].median().rename("sklearn_ms")
    out = pd.concat([nn, sk], axis=1).reset_index()
    out["ratio"] = out["nnfs_ms"] / out["sklearn_ms"]
    if "dataset" not in out:
        out.insert(0, "dataset", None)
    return out


def overview(runs: pd.DataFrame, parent: dict, axes: dict[str, list], now: float) -> dict:
    """Counts by impl and outcome, wall time, axes table."""
    counts = (runs.groupby(["impl", "outcome"]).size().unstack(fill_value=0)
              if len(runs) else pd.DataFrame())
    start = parent.get("start_time")
    end = parent.get("end_time") if parent.get("status") != "RUNNING" else None
    if start is None and len(runs):
        start = float(runs["start_time"].min())
    if end is None and parent.get("status") != "RUNNING" and len(runs):
        end = float(runs["end_time"].max())
    wall = (end if end and not np.isnan(end) else now) - start if start else float("nan")
    wall = parent.get("metrics", {}).get("sweep/wall_s", wall)  # measured by the sweep itself
    axes_rows = [{"axis": a, "values": ", ".join(map(str, v)), "n": len(v),
                  "role": "swept" if len(v) > 1 else "fixed"} for a, v in axes.items()]
    outcome = runs["outcome"].value_counts().to_dict() if len(runs) else {}
    return {"counts": counts, "outcome": outcome, "wall_s": wall,
            "compute_s": float(runs["duration_s"].sum()) if len(runs) else 0.0,
            "axes": pd.DataFrame(axes_rows, columns=["axis", "values", "n", "role"]),
            "running": parent.get("status") == "RUNNING" or outcome.get("running", 0) > 0,
            "has_baselines": bool((runs["impl"] == "sklearn").any()) if len(runs) else False}
