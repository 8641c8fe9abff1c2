"""Speed of the tracking: per-run overhead of MLflow, and a sweep's speed-up under joblib.

Functions return plain dicts so ``nnfs-bench`` can put them in its table and JSON:

    from nnfs.bench_tracking import tracking_overhead, sweep_speedup
    tracking_overhead()   # {"overhead_ms": ..., "target_ms": 150, ...}
    sweep_speedup()       # {"speedup": ..., "target": 1.7, ...}

or ``python -m nnfs.bench_tracking [--quick] [--json FILE]``. Both work in a temporary folder
with their own SQLite store (created before timing: its ~68 migrations are not per-run costs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir

    from nnfs import config as C

    C.register()
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def tracking_overhead(*, repeats: int = 9, epochs: int = 100, dataset: str = "xor",
                      warmup: int = 2) -> dict[str, Any]:
    """Median wall time of one run with MLflow (start to end: params, tags, every per-epoch
    metric, config and PNG artifacts, dataset input; the pyfunc model aside) minus the same
    run with ``tracking=none``; runs alternate so load drifts hit both alike.

    Also the tracking phases timed on their own (``tracking_ms``: opening the run plus
    logging and closing it, wall and CPU), which is less noisy on a shared machine.
    """
    from nnfs import app, tracking
    from nnfs.train import fit

    base = [f"dataset={dataset}", f"train.epochs={epochs}", "tracking.log_model=false",
            "baseline=none"]
    with tempfile.TemporaryDirectory(prefix="nnfs-bench-trk-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        tracked = _compose([*base, f"tracking.uri={uri}"])
        untracked = _compose([*base, "tracking=none"])
        client = tracking.get_client(uri)  # migrations now, not in the timings
        tracking.ensure_experiment(client, tracked.tracking.experiment, uri)
        info = app.JobInfo(run_name="bench")
        t_on, t_off, paired = [], [], []
        for i in range(warmup + repeats):
            t0 = time.perf_counter()
            app.run(untracked, info)
            t1 = time.perf_counter()
            app.run(tracked, info)
            t2 = time.perf_counter()
            if i >= warmup:
                t_off.append(t1 - t0)
                t_on.append(t2 - t1)
                paired.append((t2 - t1) - (t1 - t0))
        # the tracking phases alone, around a fit done once
        data, net, optimizer, schedule, rng = app.build(tracked)
        history = fit(net, data, optimizer=optimizer, epochs=epochs,
                      lr=float(tracked.optimizer.lr), batch_size=tracked.train.batch_size,
                      rng=rng)
        wall, cpu = [], []
        for _ in range(repeats):
            w0, c0 = time.perf_counter(), time.process_time()
            job = app.TrackedJob(tracked, data, info)
            job.finish(history)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        n_points = sum(len(v) for v in history.metrics.values())
    ms = 1000.0
    return {
        "overhead_ms": ms * (statistics.median(t_on) - statistics.median(t_off)),
        "overhead_paired_ms": ms * statistics.median(paired),
        "run_tracked_ms": ms * statistics.median(t_on),
        "run_untracked_ms": ms * statistics.median(t_off),
        "tracking_ms": ms * statistics.median(wall),
        "tracking_cpu_ms": ms * statistics.median(cpu),
        "tracking_ms_min": ms * min(wall),
        "metric_points": n_points, "epochs": epochs, "dataset": dataset, "repeats": repeats,
        "target_ms": 150.0, "load_avg_1m": os.getloadavg()[0],
    }


def _nnfs_train() -> str:
    exe = Path(sys.executable).parent / "nnfs-train"
    return str(exe) if exe.exists() else "nnfs-train"


def sweep_speedup(*, jobs: int = 12, epochs: int = 240, n_samples: int = 4000,
                  width: int = 48) -> dict[str, Any]:
    """The same ``jobs``-job sweep (seeds 0..jobs-1, each fit about 2 s here) with Hydra's
    basic launcher and with ``hydra/launcher=joblib hydra.launcher.n_jobs=2``; speed-up =
    basic / joblib, from the command's wall time and from the sweep's own wall time (the
    parent run's ``sweep/wall_s``: from store ready to last child ended)."""
    seeds = ",".join(str(s) for s in range(jobs))
    common = ["-m", "dataset=moons", f"dataset.n_samples={n_samples}", f"train.epochs={epochs}",
              f"model.width={width}", "model.depth=2", f"seed={seeds}", "baseline=none",
              "tracking.experiment=bench", "tracking.log_model=false",
              "resume=false"]  # the second sweep repeats the first: it must run, not skip
    out: dict[str, Any] = {"jobs": jobs, "target": 1.7}
    with tempfile.TemporaryDirectory(prefix="nnfs-bench-sweep-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        from nnfs import tracking

        tracking.ensure_experiment(tracking.get_client(uri), "bench", uri)
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
        for name, extra in (("basic", []),
                            ("joblib", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])):
            t0 = time.perf_counter()
            done = subprocess.run([_nnfs_train(), *common, *extra],
                                  cwd=tmp, env=env, capture_output=True, text=True)
            out[f"{name}_s"] = time.perf_counter() - t0
            if done.returncode != 0:
                raise RuntimeError(f"{name} sweep failed: {done.stderr[-2000:]}")
        client = tracking.get_client(uri)
        exp = client.get_experiment_by_name("bench")
        parents = client.search_runs([exp.experiment_id], filter_string="tags.kind = 'sweep'",
                                     order_by=["start_time ASC"])
        walls = [float(p.data.metrics["sweep/wall_s"]) for p in parents]
        fits = [[r.data.metrics.get("time/fit_s", float("nan")) for r in tracking.child_runs(
            client, exp.experiment_id, p.info.run_id)] for p in parents]
    if len(parents) != 2 or [len(f) for f in fits] != [jobs, jobs]:
        raise RuntimeError(f"expected 2 sweeps of {jobs} runs, found "
                           f"{[len(f) for f in fits]} runs under {len(parents)} sweep run(s)")
    out["basic_sweep_s"], out["joblib_sweep_s"] = walls[0], walls[1]
    out["speedup"] = out["basic_s"] / out["joblib_s"]
    out["speedup_sweep"] = walls[0] / walls[1]
    # a job's fit alone, in each launcher: the same under joblib unless the cores are busy
    out["basic_job_fit_s"] = statistics.median(fits[0])
    out["joblib_job_fit_s"] = statistics.median(fits[1])
    out["load_avg_1m"] = os.getloadavg()[0]
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="nnfs tracking speed: per-run overhead, sweep "
                                "speed-up with joblib")
    p.add_argument("--quick", action="store_true", help="fewer repeats, smaller sweep")
    p.add_argument("--json", help="write the figures to this file")
    args = p.parse_args(argv)
    result = {"tracking_overhead": tracking_overhead(repeats=5 if args.quick else 9),
              "sweep_speedup": sweep_speedup(jobs=4 if args.quick else 12)}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
