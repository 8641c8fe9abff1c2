"""A SYNTHETIC MLflow store shaped like an nnfs sweep, for the report's speed benchmark only.

Every number in it is made up by a formula (labelled so in the experiment's and runs' tags): the
store exists to time `nnfs-report` on 1,000 runs without training 1,000 networks. It is a real
SQLite store written through `MlflowClient.log_batch`, with the names nnfs sweeps use (params per
swept axis, tags impl/baseline/paired_with, per-epoch metrics, finals, decision-boundary PNGs).
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

SYNTHETIC_TAG = "synthetic"  # tag set to "true" on the experiment and every run
EXPERIMENT = "nnfs-synthetic"
BOUNDARY_PNG = "decision_boundary.png"

_DATASETS = ("xor", "moons", "spiral", "circles")
_ACTIVATIONS = ("sigmoid", "tanh", "relu", "gelu", "swiglu")
_LOSSES = ("mse", "cross_entropy")
_OPTIMIZERS = ("sgd", "adam")
_DEPTHS = (1, 2, 4)
_SKILL = {"sigmoid": 0.80, "tanh": 0.88, "relu": 0.95, "gelu": 0.96, "swiglu": 0.95}
_HARDNESS = {"xor": 0.02, "moons": 0.0, "spiral": 0.10, "circles": 0.03}
_LOGREG_ACC = {"xor": 0.50, "moons": 0.86, "spiral": 0.55, "circles": 0.50}


def _boundary_png(path: Path) -> Path:
    """One plausible-looking PNG reused by every 2-D run (only its presence matters here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = np.linspace(-2, 2, 80)
    xx, yy = np.meshgrid(g, g)
    fig, ax = plt.subplots(figsize=(3, 3), dpi=60)
    ax.contourf(xx, yy, 1 / (1 + np.exp(-4 * xx * yy)), levels=20, cmap="RdBu")
    ax.set_title("synthetic boundary")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.savefig(path)
    plt.close(fig)
    return path


def _curves(final: float, epochs: int, depth: int, activation: str, rng) -> dict[str, list]:
    """Per-epoch curves rising to `final` accuracy; grad norms shrinking by layer for sigmoid."""
    t = np.arange(epochs)
    tau = rng.uniform(3, 12)
    acc = final - (final - 0.5) * np.exp(-t / tau) + rng.normal(0, 0.005, epochs)
    loss = 0.7 * np.exp(-t / tau) + (1 - final) * 0.5
    out = {"train/acc": acc + 0.01, "test/acc": acc, "train/loss": loss * 0.95,
           "test/loss": loss, "lr": np.full(epochs, 1e-2)}
    # a sigmoid passes at most 1/4 of the gradient per layer, relu-like close to all of it
    shrink = {"sigmoid": 0.25, "tanh": 0.6}.get(activation, 0.9)
    for i in range(depth + 1):
        g = shrink ** (depth - i) * np.exp(-t / (2 * tau)) * rng.uniform(0.8, 1.2)
        out[f"grad_norm/layer_{i}"] = g
        out[f"update_ratio/layer_{i}"] = 1e-3 * g
    return out


def _log(client, run_id, params, tags, series, finals, status, artifact=None):
    """Params, per-epoch series (epochs 1..n), finals and tags of one run, then its end.

    The series go through `tracking.log_history` like a real run's: on a SQLite store one bulk
    INSERT plus one `log_batch` (MLflow's per-point ORM path made a 1,000-run store take
    minutes); `log_batch` keeps params and tags to its limit of 100 per call.
    """
    from nnfs import tracking
    from nnfs.train import History

    n = max((len(v) for v in series.values()), default=0)
    history = History(metrics={k: [float(x) for x in v] for k, v in series.items()},
                      epochs=list(range(1, n + 1)), final={k: float(v) for k, v in finals.items()})
    tracking.log_params(client, run_id, params)
    tracking.log_history(client, run_id, history, tags=tags)
    if artifact is not None:
        _put_artifact(client, run_id, Path(artifact))
    client.set_terminated(run_id, status=status)


def _put_artifact(client, run_id: str, path: Path) -> None:
    """The PNG into the run's artifacts: a hard link when the artifact store is a local folder
    (what MLflow's local repository would copy, without copying 1,000 times), else upload."""
    import os
    from urllib.parse import unquote, urlparse

    uri = client.get_run(run_id).info.artifact_uri
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        client.log_artifact(run_id, str(path))
        return
    dest = Path(unquote(parsed.path))
    dest.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, dest / path.name)
    except OSError:  # another file system: a plain copy
        import shutil

        shutil.copyfile(path, dest / path.name)


def make_synthetic_store(root: str | Path, n_runs: int = 1000, *, epochs: int = 50,
                         seed: int = 0, db_name: str = "mlflow.db") -> dict:
    """Fill `root/<db_name>` with one synthetic sweep of exactly `n_runs` child runs.

    Children come as nnfs runs each paired with an sklearn MLP sibling, plus one LogisticRegression
    run per (dataset, seed); about 3 % of nnfs runs diverge (FAILED with reason and epoch tags).
    Returns {"tracking_uri", "experiment", "parent_run_id", "n_runs", "seconds"}.
    """
    if n_runs < 1:
        raise ValueError(f"n_runs={n_runs!r}: must be a positive integer")
    from nnfs import tracking

    t0 = time.perf_counter()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / db_name}"
    # WAL and synchronous=NORMAL: a run's few commits no longer each wait for fsyncs
    client = tracking.get_client(uri)
    eid = client.create_experiment(EXPERIMENT, artifact_location=(root / "artifacts").as_uri(),
                                   tags={SYNTHETIC_TAG: "true"})
    png = _boundary_png(root / BOUNDARY_PNG)
    rng = np.random.default_rng(seed)
    # the last axis varies fastest: a small store still covers every activation
    grid = {"dataset": list(_DATASETS), "model.depth": list(_DEPTHS),
            "optimizer": list(_OPTIMIZERS), "loss": list(_LOSSES),
            "activation": list(_ACTIVATIONS)}
    parent = client.create_run(eid, run_name="synthetic-sweep",
                               tags={SYNTHETIC_TAG: "true", "kind": "sweep",
                                     "grid": json.dumps(grid),
                                     "sweep_dir": str(root / "multirun")})
    pid = parent.info.run_id
    jobs = (dict(zip(grid, combo, strict=True), seed=s)
            for s in itertools.count()
            for combo in itertools.product(*grid.values()))
    made, logreg_done = 0, set()

    def child(name, **tags):
        tags = {"mlflow.parentRunId": pid, SYNTHETIC_TAG: "true", **tags}
        return client.create_run(eid, run_name=name, tags=tags).info.run_id

    for job in jobs:
        if made >= n_runs:
            break
        ds, act, depth, s = job["dataset"], job["activation"], job["model.depth"], job["seed"]
        if (ds, s) not in logreg_done:
            logreg_done.add((ds, s))
            acc = _LOGREG_ACC[ds] + rng.normal(0, 0.01)
            rid = child(f"logreg-{ds}-seed{s}", impl="sklearn", baseline="logreg")
            _log(client, rid, {"dataset": ds, "seed": s}, {},
                 {"train/loss": np.linspace(0.69, 0.5, 10)},
                 {"final/test_acc": acc, "time/fit_s": 0.004, "time/ms_per_epoch": 0.4},
                 "FINISHED", png)
            made += 1
            if made >= n_runs:
                break
        sig_penalty = 0.06 * depth if act == "sigmoid" else 0.0
        final = min(0.995, _SKILL[act] - _HARDNESS[ds] - sig_penalty
                    + (0.02 if job["loss"] == "cross_entropy" else 0.0)
                    + (0.01 if job["optimizer"] == "adam" else 0.0) + rng.normal(0, 0.01))
        params = {**job, "model.width": 16, "train.epochs": epochs, "schedule": "constant",
                  "optimizer.lr": 0.01, "dataset.n_samples": 400}
        name = ",".join(f"{k}={v}" for k, v in job.items())
        rid = child(name, impl="nnfs", separable="false")
        ms = rng.uniform(0.3, 0.6) * (1 + depth) * (2 if act == "swiglu" else 1)
        diverged = job["optimizer"] == "sgd" and rng.random() < 0.06
        series = _curves(final, epochs, depth, act, rng)
        if diverged:
            stop = int(rng.integers(2, epochs))
            series = {k: v[:stop] for k, v in series.items()}
            _log(client, rid, params, {"diverged": "true", "reason": "non-finite loss",
                                       "diverged_epoch": stop}, series, {}, "FAILED")
        else:
            _log(client, rid, params, {}, series,
                 {"final/test_acc": final, "final/train_loss": series["train/loss"][-1],
                  "time/fit_s": ms * epochs / 1e3, "time/ms_per_epoch": ms}, "FINISHED", png)
        made += 1
        if made >= n_runs:
            break
        mid = child(f"mlp-{name}", impl="sklearn", baseline="mlp", paired_with=rid)
        sk_ms = ms * rng.uniform(1.2, 2.5)
        _log(client, mid, params, {}, {"train/loss": series["train/loss"]},
             {"final/test_acc": final + rng.normal(0, 0.01), "time/fit_s": sk_ms * epochs / 1e3,
              "time/ms_per_epoch": sk_ms}, "FINISHED", png)
        made += 1
    client.set_terminated(pid)
    return {"tracking_uri": uri, "experiment": EXPERIMENT, "parent_run_id": pid,
            "n_runs": made, "seconds": time.perf_counter() - t0}


STORE_FORMAT = 2  # bump when the store's content changes: cached stores are then rebuilt
MARKER = "synthetic.json"


def cached_store(root: str | Path, n_runs: int) -> dict:
    """The synthetic store of `n_runs` runs in `root`, built there unless a complete one of
    this format and size already is (its marker `synthetic.json`); an incomplete, older or
    other-sized synthetic store there is removed first. A folder that holds anything else is
    refused. Returns the marker's content plus "cached" (bool)."""
    import shutil

    root = Path(root).resolve()
    marker = root / MARKER
    if marker.exists():
        info = json.loads(marker.read_text())
        if (info.get("complete") and info.get("format") == STORE_FORMAT
                and info.get("n_runs") == n_runs and info.get("root") == str(root)):
            return {**info, "cached": True}
        shutil.rmtree(root)  # ours (it has our marker) but stale or half built
    elif root.exists() and any(root.iterdir()):
        raise ValueError(f"store_dir={str(root)!r}: not empty and not a synthetic store")
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"complete": False, "format": STORE_FORMAT}))
    # a new file name per build: MLflow keeps one engine per URI for the process, which would
    # still point at the removed file of a store rebuilt in the same process
    info = make_synthetic_store(root, n_runs, db_name=f"mlflow-{time.time_ns()}.db")
    info = {**info, "complete": True, "format": STORE_FORMAT, "root": str(root)}
    marker.write_text(json.dumps(info))
    return {**info, "cached": False}


def bench_report(n_runs: int = 1000, store_dir: str | Path | None = None) -> dict:
    """Time `make_report` on a synthetic store of `n_runs` child runs (built once per
    `store_dir` and reused; a temporary folder when None). The timing covers the report only,
    never the store's building. Returns the timings in seconds."""
    import tempfile

    from nnfs.report import make_report

    with tempfile.TemporaryDirectory(prefix="nnfs-bench-report-") as tmp:
        store = cached_store(Path(store_dir) if store_dir is not None else Path(tmp) / "store",
                             n_runs)
        t0 = time.perf_counter()
        result = make_report(store["tracking_uri"], store["experiment"], "latest",
                             Path(tmp) / "report", log_artifact=True)
        total = time.perf_counter() - t0
        return {"n_runs": result.n_runs, "report_s": total,
                "store_build_s": store["seconds"], "store_cached": store["cached"],
                "store_dir": store["root"] if store_dir is not None else None,
                "n_figures": result.n_figures, "sections": list(result.sections),
                "html_bytes": result.html.stat().st_size, "synthetic": True}
