"""The vocabulary of the verdicts: the three verdict words, the spread rule, run selection in the
tidy run table, and readers of the per-epoch curves (pure functions of pandas frames)."""

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


class Missing(Exception):
    """A judge cannot decide: runs or a metric are missing (the verdict is inconclusive)."""


# ------------------------------------------------------------------------- curve-derived
def curve(histories: pd.DataFrame, run_id: str, key: str) -> pd.Series:
    """Values of one metric of one run, indexed by step (epoch), in order."""
    h = histories[(histories["run_id"] == run_id) & (histories["key"] == key)]
    return h.sort_values("step").set_index("step")["value"]


def first_epoch(values: pd.Series, target: float, *, below: bool) -> float:
    """First epoch (index) at which a curve reaches ``target`` (<= when ``below``, else >=);
    when it never does, last epoch + 1 (a lower bound, so "slower" stays measurable); NaN if
    empty."""
    if values.empty:
        return math.nan
    hit = values <= target if below else values >= target
    return float(values.index[hit.to_numpy()][0]) if hit.any() else float(values.index[-1] + 1)


def with_columns(frame: pd.DataFrame, columns: dict[str, list]) -> pd.DataFrame:
    out = frame.copy()
    for name, values in columns.items():
        out[name] = pd.Series(values, index=frame.index, dtype=float)
    return out


def derive_epochs(key: str, target: Callable[[pd.Series], float] | float, below: bool,
                   name: str, seconds: bool = False):
    """A ``derive`` adding ``name`` = first epoch the curve ``key`` reaches its target (and
    ``name``_s, the seconds until then, from ``time/epoch_s``)."""

    def derive(frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
        epochs, secs = [], []
        for _, row in frame.iterrows():
            t = target(row) if callable(target) else target
            c = curve(histories, row["run_id"], key)
            e = first_epoch(c, t, below=below)
            epochs.append(e)
            if seconds:
                times = curve(histories, row["run_id"], "time/epoch_s")
                secs.append(float(times[times.index <= e].sum()) if len(times) else math.nan)
        cols = {name: epochs}
        if seconds:
            cols[name + "_s"] = secs
        return with_columns(frame, cols)

    return derive


def derive_start_end(frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """``derived/start_loss``, ``derived/end_loss``: train/loss at the first and last epoch
    (inf when the loss became non-finite)."""
    start, end = [], []
    for rid in frame["run_id"]:
        c = curve(histories, rid, "train/loss")
        start.append(float(c.iloc[0]) if len(c) else math.nan)
        last = float(c.iloc[-1]) if len(c) else math.nan
        end.append(last if math.isfinite(last) or not len(c) else math.inf)
    return with_columns(frame, {"derived/start_loss": start, "derived/end_loss": end})


def chain(*fns):
    def derive(frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
        for fn in fns:
            frame = fn(frame, histories)
        return frame

    return derive


# ------------------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class Stat:
    mean: float
    std: float
    n: int
    runs: tuple[str, ...]

    def __str__(self) -> str:
        return f"{fmt(self.mean)} ± {fmt(self.std)} (n={self.n})"


def fmt(v: float) -> str:
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


def values_of(frame: pd.DataFrame, col: str) -> list:
    rows = nnfs_runs(frame, finished=False)
    if col not in rows:
        raise Missing(f"column {col!r} is not in the run table")
    return sorted(rows[col].dropna().unique().tolist(), key=lambda v: (isinstance(v, str), v))


def run_ids(*stats: Stat) -> list[str]:
    return list(dict.fromkeys(r for s in stats for r in s.runs))


def verdict_of(ok: bool) -> str:
    return HOLDS if ok else FAILS


ACC = "final/test_acc"
