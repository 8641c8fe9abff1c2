"""nnfs-study: run a study's sweep, judge its claims, log claims.json, write its report.

    nnfs-study least_squares              # the sweep (joblib, 2 workers), verdicts, report
    nnfs-study all                        # every study in turn (`make studies`), then a summary
    nnfs-study tour                       # the tour of `make demo`
    nnfs-study separability --sweep latest    # judge an existing sweep again, no training
    nnfs-study least_squares -- train.epochs=50 dataset.n_samples=200   # extra overrides
    nnfs-study least_squares --offline    # in this process, no MLflow: verdicts only
    nnfs-study --list

The sweep is `nnfs-train -m +experiment=<name>` in a child process (Hydra owns its process);
the verdicts come from nnfs.studies (pure), the MLflow side from nnfs.tracking and the report's
reader (nnfs.report.load).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from nnfs import studies

PARENT_LINE = re.compile(r"MLflow parent run ([0-9a-f]{32})")
MARK = {studies.HOLDS: "✔", studies.FAILS: "✘", studies.UNSURE: "?"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nnfs-study",
        description="Run a study (experiments/experiment/<name>.yaml), compute the verdict of "
                    "each claim from its runs, log claims.json on the sweep's parent run and "
                    "write the report.")
    p.add_argument("name", nargs="?", help="a study, 'all' (every study but the tour) or "
                   "'tour'")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides (after --)")
    p.add_argument("--list", action="store_true", help="list the studies and their claims")
    p.add_argument("--jobs", type=int, default=2,
                   help="parallel jobs (joblib launcher; 1 = Hydra's basic launcher)")
    p.add_argument("--sweep", default=None,
                   help="judge an existing sweep ('latest' or a parent run id) instead of "
                        "running one")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow store (default: $MLFLOW_TRACKING_URI, else the project's "
                        "sqlite:///mlflow.db)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML/Markdown report")
    p.add_argument("--offline", action="store_true",
                   help="run the jobs one by one in this process without MLflow and print the "
                        "verdicts (no store, no report)")
    p.add_argument("--summary", default=None,
                   help="with 'all': write the verdicts as Markdown here "
                        "(default reports/studies.md)")
    return p


def experiment_of(name: str, overrides: list[str]) -> str:
    """The MLflow experiment of a study: its preset sets tracking.experiment = the study's
    name, unless the command line overrides it."""
    for o in overrides:
        key, _, value = o.lstrip("+").partition("=")
        if key == "tracking.experiment" and value:
            return value
    return name


def run_sweep(name: str, overrides: list[str], jobs: int) -> tuple[int, str | None]:
    """`nnfs-train -m +experiment=<name>` in a child process, its output passed through;
    returns (exit code, parent run id read from its log)."""
    launcher = ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}"] if jobs > 1 else []
    cmd = [sys.executable, "-m", "nnfs.app", "-m", f"+experiment={name}", *launcher, *overrides]
    print("$ nnfs-train " + " ".join(cmd[3:]), flush=True)
    parent = None
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            m = PARENT_LINE.search(line)
            if m and parent is None:
                parent = m.group(1)
        code = proc.wait()
    return code, parent


def judge(name: str, uri: str, experiment: str, sweep: str) -> tuple[str, list[dict]]:
    """(parent run id, verdicts) of a finished sweep of study ``name``."""
    from nnfs import tracking
    from nnfs.report import load

    spec = studies.get(name)
    client = tracking.get_client(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise load.ReportError(f"--experiment {experiment!r}: not found at {tracking.redact(uri)}")
    parent = load.find_parent(client, exp.experiment_id, sweep).info.run_id
    runs = tracking.child_runs(client, exp.experiment_id, parent)
    axes = list(dict.fromkeys([*spec.axes, "dataset", "activation", "loss", "model.depth",
                               "model.width", "features", "seed"]))
    frame = load.runs_frame(runs, axes)
    if spec.curves and len(frame):
        keys = [c for c in spec.curves if not c.endswith("/")]
        prefixes = [c for c in spec.curves if c.endswith("/")]
        nnfs_ids = frame.loc[frame["impl"] == "nnfs", "run_id"].tolist()
        histories = load.load_histories(uri, nnfs_ids, keys, prefixes)
        frame = studies.derive(name, frame, histories)
    return parent, studies.verdicts(name, frame)


def offline_runs(name: str, overrides: list[str]):
    """Every job of the study, run here without MLflow: (run table, histories) as ``judge``
    builds them from a store, so the same ``derive`` and ``verdicts`` apply."""
    import pandas as pd
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from nnfs import app
    from nnfs import config as C
    from nnfs.report.load import _number

    C.register()
    parser = OverridesParser.create()
    base = [f"+experiment={name}", *overrides]
    rows, points = [], []
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        singles = [o.input_line for o in parser.parse_overrides(base)
                   if not o.is_sweep_override()]
        primary = compose("config", overrides=singles, return_hydra_config=True)
        params = [f"{k}={v}" for k, v in (primary.hydra.sweeper.get("params") or {}).items()]
        jobs = BasicSweeper.split_arguments(parser.parse_overrides(params + base), None)[0]
        for i, job in enumerate(jobs):
            cfg = compose("config", overrides=[*job, "tracking.enabled=false",
                                               "baseline.models=[]"])
            try:
                C.check(cfg)
            except C.Incompatible:
                continue
            data, net0, *_ = app.build(cfg)
            history = app.run(cfg)
            rid = f"job{i:03d}"
            row = {"run_id": rid, "run_name": " ".join(job), "impl": "nnfs", "baseline": None,
                   "status": "FAILED" if history.status == "diverged" else "FINISHED",
                   "outcome": "diverged" if history.status == "diverged" else "finished",
                   "dataset": cfg.dataset.name, "activation": app._name(cfg.activation),
                   "loss": app._name(cfg.loss), "features": cfg.features.name,
                   "model.depth": int(cfg.model.depth), "model.width": int(cfg.model.width),
                   "seed": int(cfg.seed), "optimizer.lr": float(cfg.optimizer.lr),
                   **{k: _number(v) for k, v in app.axis_params(job).items()},
                   **history.final, **studies.extra_metrics(name, net0, data, history)}
            rows.append(row)
            points += [(rid, key, epoch, float(v)) for key, values in history.metrics.items()
                       for epoch, v in zip(history.epochs, values, strict=False)]
            print(f"[{i + 1}/{len(jobs)}] {' '.join(job)} | {history.status}", flush=True)
    return pd.DataFrame(rows), pd.DataFrame(points, columns=["run_id", "key", "step", "value"])


def log_claims(uri: str, parent: str, name: str, verdicts: list[dict]) -> None:
    """claims.json on the parent run (what nnfs-report's Claims section reads) and a summary
    tag per verdict kind."""
    from nnfs import tracking

    client = tracking.get_client(uri)
    tracking.log_artifact_bytes(client, parent, {
        "claims.json": json.dumps(verdicts, indent=2, ensure_ascii=False)})
    counts = {v: sum(c["verdict"] == v for c in verdicts) for v in studies.VERDICTS}
    tracking.log_tags(client, parent, {"study": name, **{
        f"claims.{k.replace(' ', '_')}": n for k, n in counts.items()}})


def show(name: str, verdicts: list[dict]) -> str:
    lines = [f"{name}:"]
    for v in verdicts:
        lines.append(f"  {MARK[v['verdict']]} {v['verdict']:<13} {v['claim']}")
        lines.append(f"      {v['measured']}")
    return "\n".join(lines)


def one(name: str, args, overrides: list[str]) -> tuple[int, list[dict], float, str | None]:
    """Run (or re-judge) one study; (exit code, verdicts, seconds, report path)."""
    from nnfs import tracking
    from nnfs.report import ReportError, make_report

    t0 = time.perf_counter()
    uri = tracking.resolve_uri(args.tracking_uri)
    experiment = experiment_of(name, overrides)
    code, sweep = 0, args.sweep
    if args.offline:
        frame, histories = offline_runs(name, overrides)
        verdicts = studies.verdicts(name, studies.derive(name, frame, histories))
        print(show(name, verdicts), flush=True)
        return 0, verdicts, time.perf_counter() - t0, None
    if sweep is None:
        if args.tracking_uri:
            os.environ["MLFLOW_TRACKING_URI"] = args.tracking_uri
        code, sweep = run_sweep(name, overrides, args.jobs)
        if sweep is None and code == 0:  # the log did not name the parent: take the newest
            sweep = "latest"
        if sweep is None:
            print(f"nnfs-study: error: the sweep of {name} did not start (exit {code})",
                  file=sys.stderr)
            return code or 1, [], time.perf_counter() - t0, None
    try:
        parent, verdicts = judge(name, uri, experiment, sweep)
    except ReportError as exc:
        print(f"nnfs-study: error: {exc}", file=sys.stderr)
        return 2, [], time.perf_counter() - t0, None
    log_claims(uri, parent, name, verdicts)
    print(show(name, verdicts), flush=True)
    html = None
    if not args.no_report:
        result = make_report(uri, experiment, parent)
        html = str(result.html)
        print(f"report: {result.html}", flush=True)
    return code, verdicts, time.perf_counter() - t0, html


def summary_markdown(results: dict[str, tuple[list[dict], float]]) -> str:
    lines = ["| study | claim | verdict | measured |", "|---|---|---|---|"]
    for name, (verdicts, _) in results.items():
        for v in verdicts:
            measured = v["measured"].replace("|", "\\|")
            lines.append(f"| {name} | {v['claim']} | {v['verdict']} | {measured} |")
    lines.append("")
    lines.append("| study | seconds |")
    lines.append("|---|---|")
    lines += [f"| {n} | {s:.0f} |" for n, (_, s) in results.items()]
    lines.append(f"| total | {sum(s for _, s in results.values()):.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser().parse_intermixed_args(argv[:argv.index("--")] if "--" in argv else argv)
    args.overrides = [*args.overrides, *extra]
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if args.list:
        for spec in studies.STUDIES.values():
            print(f"{spec.name}: {spec.title}")
            for c in spec.claims:
                print(f"  - {c.text} [{c.criterion}]")
        return 0
    if not args.name:
        parser().error("a study name is required (or --list)")
    if args.jobs < 1:
        parser().error(f"--jobs={args.jobs} is not valid; allowed: an integer >= 1")
    names = list(studies.NAMES) if args.name == "all" else [args.name]
    for n in names:
        try:
            studies.get(n)
        except ValueError as exc:
            print(f"nnfs-study: error: {exc}", file=sys.stderr)
            return 2
    if args.name == "all" and args.sweep:
        parser().error("--sweep judges one study; name it instead of 'all'")
    results, worst = {}, 0
    for n in names:
        code, verdicts, seconds, _ = one(n, args, list(args.overrides))
        worst = worst or code
        results[n] = (verdicts, seconds)
        print(f"{n}: {seconds:.0f} s", flush=True)
    if args.name == "all":
        from nnfs.config import ROOT

        path = Path(args.summary) if args.summary else ROOT / "reports" / "studies.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(summary_markdown(results))
        print(f"summary: {path} (total {sum(s for _, s in results.values()):.0f} s)")
    return worst


if __name__ == "__main__":
    sys.exit(main())
