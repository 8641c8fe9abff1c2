"""nnfs.report: an MLflow sweep -> tidy runs -> seaborn figures -> index.html, report.md, runs.csv.

    from nnfs.report import make_report
    result = make_report(experiment="nnfs", sweep="latest")   # -> ReportResult
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nnfs.report.load import DEFAULT_EXPERIMENT, PROJECT_ROOT, ReportError

__all__ = ["ReportError", "ReportResult", "bench_report", "default_out_dir", "make_report"]


@dataclass(frozen=True)
class ReportResult:
    out_dir: Path
    html: Path
    markdown: Path
    csv: Path
    parent_run_id: str
    n_runs: int
    n_figures: int
    sections: tuple[str, ...]
    seconds: float
    artifact_logged: bool


def default_out_dir(experiment: str, parent_run_id: str) -> Path:
    return PROJECT_ROOT / "reports" / experiment / parent_run_id


def make_report(tracking_uri: str | None = None, experiment: str = DEFAULT_EXPERIMENT,
                sweep: str = "latest", out: str | Path | None = None,
                log_artifact: bool = True) -> ReportResult:
    """Read the sweep, build every section, then write the files (nothing is written when the
    store, experiment or sweep is unknown: ReportError) and log index.html on the parent run."""
    import time

    t0 = time.perf_counter()
    from nnfs.report import load, render, sections

    data = load.load_sweep(tracking_uri, experiment, sweep)
    parts, runs = sections.build(data)
    pid = data.parent["run_id"]
    out_dir = Path(out) if out is not None else default_out_dir(experiment, pid)
    title = f"nnfs report — {experiment} / {data.parent['run_name'] or pid}"
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    paths = render.write(out_dir, title, parts, runs, generated)
    logged = False
    if log_artifact:
        try:
            data.client.log_artifact(pid, str(paths["html"]), artifact_path="report")
            logged = True
        except Exception as exc:  # the files are written; a read-only store only loses the copy
            import sys

            print(f"nnfs-report: warning: could not log index.html on run {pid}: "
                  f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                  file=sys.stderr)
    return ReportResult(out_dir, paths["html"], paths["markdown"], paths["csv"], pid, len(runs),
                        sum(len(s.figures) for s in parts), tuple(s.id for s in parts),
                        time.perf_counter() - t0, logged)


def bench_report(n_runs: int = 1000, store_dir: str | Path | None = None) -> dict:
    from nnfs.report.synthetic import bench_report as _bench

    return _bench(n_runs=n_runs, store_dir=store_dir)
