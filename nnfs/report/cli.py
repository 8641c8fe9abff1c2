"""nnfs-report: turn one MLflow sweep into index.html, report.md and runs.csv."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from nnfs.report.load import DEFAULT_EXPERIMENT, ReportError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnfs-report",
        description="Report of an nnfs sweep: self-contained index.html, report.md (figures "
                    "beside it) and runs.csv; the HTML is also logged on the sweep's parent run.")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow store (default: $MLFLOW_TRACKING_URI, else "
                        "sqlite:///<project root>/mlflow.db)")
    p.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                   help=f"MLflow experiment name (default: {DEFAULT_EXPERIMENT})")
    p.add_argument("--sweep", default="latest",
                   help="'latest' (default) or the parent run id of a sweep")
    p.add_argument("--out", default=None,
                   help="output folder (default: reports/<experiment>/<parent run id>/)")
    p.add_argument("--no-log-artifact", action="store_true",
                   help="do not log index.html on the parent run")
    return p


# artifact downloads would print one progress bar per decision boundary, and MLflow retries an
# unreachable server for minutes by default: a report should fail fast. The user's own settings win.
_ENV_DEFAULTS = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


@contextlib.contextmanager
def _env_defaults():
    added = [k for k in _ENV_DEFAULTS if k not in os.environ]
    os.environ.update({k: _ENV_DEFAULTS[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from nnfs.report import make_report

    try:
        with _env_defaults():
            result = make_report(args.tracking_uri, args.experiment, args.sweep, args.out,
                                 log_artifact=not args.no_log_artifact)
    except ReportError as exc:
        print(f"nnfs-report: error: {exc}", file=sys.stderr)
        return 2
    print(f"nnfs-report: {result.n_runs} runs, {result.n_figures} figures, "
          f"{len(result.sections)} sections in {result.seconds:.1f} s -> {result.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
