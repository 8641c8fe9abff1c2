"""A sweep -> the report's sections (text, tables, figures); empty sections vanish."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nnfs.report import analysis, figures, load
from nnfs.report.figures import Figure

CURVE_KEYS = ["test/acc", "test/rmse"]
GRAD_PREFIX = "grad_norm/"


@dataclass
class Table:
    caption: str
    frame: pd.DataFrame


@dataclass
class Section:
    id: str
    title: str
    text: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def _duration(s: float) -> str:
    if not np.isfinite(s):
        return "n/a"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The 'all runs' table of the report: one row per run of the sweep."""
    cols = ["run_id", "run_name", "impl", "baseline", "dataset", "config", "seed", "outcome",
            "final/test_acc", "final/test_rmse", "time/ms_per_epoch"]
    return runs[[c for c in cols if c in runs]]


def overview(sweep: load.SweepData, runs: pd.DataFrame) -> Section:
    ov = analysis.overview(runs, sweep.parent, sweep.axes, time.time())
    p = sweep.parent
    n_out = ", ".join(f"{v} {k}" for k, v in sorted(ov["outcome"].items())) or "no runs yet"
    text = [f"Sweep {p['run_name']} (parent run {p['run_id']}) of experiment "
            f"{sweep.experiment} at {load.redact(sweep.tracking_uri)}; "
            f"parent status {p['status']}.",
            f"{len(runs)} child runs: {n_out}. Wall time {_duration(ov['wall_s'])}, "
            f"compute time (sum over runs) {_duration(ov['compute_s'])}."]
    if ov["running"]:
        text.append("This sweep is still running: the report covers what has finished so far.")
    if not ov["has_baselines"]:
        text.append("No scikit-learn baselines in this sweep (run with the baseline config on "
                    "to compare against MLPClassifier and LogisticRegression).")
    fixed = ov["axes"][ov["axes"]["role"] == "fixed"]
    if len(fixed):
        text.append("Fixed (one value, collapsed in the figures): "
                    + ", ".join(f"{r.axis}={r.values}" for r in fixed.itertuples()) + ".")
    counts = ov["counts"].reset_index() if len(ov["counts"]) else pd.DataFrame()
    tables = [Table("Axes of the sweep", ov["axes"]), Table("Runs by implementation and outcome",
                                                              counts)]
    bad = runs[runs["outcome"].isin(["failed", "diverged"])]
    if len(bad):
        tables.append(Table("Failed and diverged runs",
                            bad[["run_id", "run_name", "outcome", "reason", "diverged_epoch"]]))
    figs = [f for f in [figures.outcomes(runs)] if f]
    return Section("overview", "Overview", text, tables, figs)


def leaderboard(runs: pd.DataFrame) -> Section | None:
    board = analysis.leaderboard(runs)
    if board.empty:
        return None
    text = ["Per dataset, the best nnfs configuration (mean over seeds of the final test metric) "
            "against scikit-learn's MLP at the same configuration and LogisticRegression on the "
            "same splits."]
    if not (runs["impl"] == "sklearn").any():
        text.append("This sweep has no scikit-learn baselines: only nnfs is ranked.")
    fig = figures.leaderboard(board)
    return Section("leaderboard", "Leaderboard", text, [Table("Leaderboard", board)],
                   [fig] if fig else [])


def heatmaps(runs: pd.DataFrame, axes: dict) -> Section | None:
    figs = [f for f in (figures.heatmap(runs, axes, "activation", "loss"),
                        figures.heatmap(runs, axes, "activation", "model.depth")) if f]
    if not figs:
        return None
    return Section("heatmaps", "Heatmaps of the test metric",
                   ["Each cell: mean over the other axes and the seeds of finished nnfs runs."],
                   figures=figs)


def curves(runs: pd.DataFrame, hist: pd.DataFrame, axes: dict) -> Section | None:
    # one curve metric per run: test/acc where logged, else test/rmse
    h = hist[hist["key"].isin(CURVE_KEYS)]
    h = h[h["key"] == h.groupby("run_id")["key"].transform("min")]
    fig = figures.learning_curves(runs, h, axes)
    return Section("curves", "Learning curves", figures=[fig]) if fig else None


def gradients(runs: pd.DataFrame, hist: pd.DataFrame, axes: dict) -> Section | None:
    fig = figures.gradients(runs, hist, axes)
    if fig is None:
        return None
    return Section("gradients", "Vanishing gradients",
                   ["Norm of each layer's weight gradient divided by the output layer's, at the "
                    "first logged epoch of the deepest networks (median over runs)."],
                   figures=[fig])


def boundary_panels(sweep: load.SweepData, runs: pd.DataFrame, tmp: Path) -> list[tuple]:
    """Per dataset, the decision-boundary PNGs of the best and worst nnfs configurations (their
    best seed) and of LogisticRegression, downloaded under `tmp`:
    [(dataset, column, panel title, run_id, local path or None)]."""
    panels = []
    for ds in analysis.datasets(runs):
        part = analysis.by_dataset(runs, ds)
        m = analysis.metric_of(part)
        if m is None:
            continue
        metric, higher = m
        best, worst = analysis.best_and_worst(part, metric, higher)
        picks = []
        for column, row in (("best", best), ("worst", worst)):
            if row is None or (column == "worst" and worst["config"] == best["config"]):
                continue
            cand = part[(part["config"] == row["config"]) & (part["impl"] == "nnfs")
                        & (part["outcome"] == "finished")]
            picks.append((column, f"best: {row['config']}" if column == "best"
                          else f"worst: {row['config']}",
                          cand.sort_values(metric, ascending=not higher).iloc[0]))
        lr = part[(part["baseline"] == "logreg") & (part["outcome"] == "finished")]
        if len(lr):
            picks.append(("LogisticRegression", "LogisticRegression", lr.iloc[0]))
        for column, label, run in picks:
            rid = run["run_id"]
            path = load.find_artifact(sweep.client, rid)
            dst = tmp / rid  # one folder per run: the artifacts all share one file name
            dst.mkdir(parents=True, exist_ok=True)
            local = load.download(sweep.client, rid, path, dst) if path else None
            title = f"{label}\n{metric.removeprefix('final/')}={run[metric]:.3f}"
            panels.append((ds, column, title, rid, local))
    return panels


def boundaries(sweep: load.SweepData, runs: pd.DataFrame) -> Section | None:
    if sweep.client is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        panels = boundary_panels(sweep, runs, Path(tmp))
        fig = figures.boundaries([(ds, col, title, path) for ds, col, title, _, path in panels])
    if fig is None:
        return None
    return Section("boundaries", "Decision boundaries",
                   ["Rows: datasets; columns: the best and worst nnfs configurations (the best "
                    "seed of each) and LogisticRegression, from the PNGs logged with the runs."],
                   figures=[fig])


def speed(runs: pd.DataFrame) -> Section | None:
    pairs = analysis.speed_pairs(runs)
    fig = figures.speed(pairs)
    if fig is None:
        return None
    return Section("speed", "Speed", ["Milliseconds per epoch, median over seeds."],
                   [Table("ms/epoch per configuration", pairs)], [fig])


def sensitivity(runs: pd.DataFrame, axes: dict) -> Section | None:
    eta = analysis.eta_squared(runs, axes)
    fig = figures.sensitivity(eta)
    if fig is None:
        return None
    return Section("sensitivity", "Sensitivity",
                   ["η² = between-group sum of squares / total sum of squares of the final test "
                    "metric, one axis at a time (finished nnfs runs); seed measures noise."],
                   [Table("η² per axis and dataset", eta.reset_index(names="axis"))], [fig])


def _run_list(runs, shown: int = 3) -> str:
    """'12 runs: 1a2b3c4d, 5e6f7a8b, 9c0d1e2f, …' (full ids are in runs.csv and MLflow)."""
    if not isinstance(runs, list):
        return "" if runs is None else str(runs)
    head = ", ".join(str(r)[:8] for r in runs[:shown])
    return f"{len(runs)} runs: {head}" + (", …" if len(runs) > shown else "")


def claims(sweep: load.SweepData) -> Section | None:
    if not sweep.claims:
        return None
    rows = [{"claim": c["claim"], "verdict": c["verdict"], "measured": c.get("measured", ""),
             "runs": _run_list(c.get("runs"))} for c in sweep.claims]
    return Section("claims", "Claims", ["Verdicts recorded by the studies (claims.json on the "
                                        "parent run)."], [Table("Claims", pd.DataFrame(rows))])


def build(sweep: load.SweepData) -> tuple[list[Section], pd.DataFrame]:
    """All sections in report order and the annotated runs frame."""
    runs = analysis.annotate(sweep.runs, sweep.axes)
    nnfs_ids = runs.loc[runs["impl"] == "nnfs", "run_id"].tolist()
    hist = load.load_histories(sweep.tracking_uri, nnfs_ids, CURVE_KEYS, [GRAD_PREFIX])
    sections = [overview(sweep, runs), leaderboard(runs), heatmaps(runs, sweep.axes),
                curves(runs, hist, sweep.axes), gradients(runs, hist, sweep.axes),
                boundaries(sweep, runs), speed(runs), sensitivity(runs, sweep.axes),
                claims(sweep)]
    sections = [s for s in sections if s is not None]
    sections.append(Section("runs", "All runs", [f"{len(runs)} runs; also in runs.csv."],
                            [Table("All runs", runs_table(runs))]))
    return sections, runs
