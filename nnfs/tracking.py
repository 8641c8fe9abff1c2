"""Everything MLflow: the store, parent and child runs, batched logging, artifacts, the pyfunc.

``import mlflow`` costs 2-3 s, so it happens inside the functions that need it (the module
imports fast: the app, the bench and the tests of other parts load it without MLflow).
All logging goes through ``MlflowClient`` with an explicit run id (never the fluent "active
run", which leaks between jobs of a reused joblib worker), and in batches (``log_batch``: one
call per run for all per-epoch points; one call per value costs ~3 s a run).

Functions are small and reusable by the baselines (sibling child runs) and the report:
``resolve_uri``, ``get_client``, ``ensure_experiment``, ``start_parent_run``,
``start_child_run``, ``log_params``, ``log_tags``, ``log_metrics``, ``log_history``,
``log_figure``, ``log_artifact_bytes``, ``log_dataset``, ``log_pyfunc``, ``end_run``,
``child_runs``, ``summarize_sweep``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import math
import os
import re
import subprocess
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nnfs.config import ROOT

DEFAULT_DB = ROOT / "mlflow.db"
PARENT_ENV = "NNFS_PARENT_RUN_ID"  # set in each job of a sweep (hydra.job.env_set)
AXES_ENV = "NNFS_SWEEP_AXES"  # the swept keys, comma-separated, as typed
MAX_PARAM_VALUE = 6000  # MLflow's limit on a param value
MAX_TAG_VALUE = 8000
_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------- the store
def resolve_uri(uri: str | None = None) -> str:
    """``uri`` if given, else $MLFLOW_TRACKING_URI, else sqlite:///<project root>/mlflow.db.

    The default is absolute: Hydra jobs run in their own folders and a relative path would
    give each its own store.
    """
    if uri:
        return str(uri)
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return "sqlite:///" + str(DEFAULT_DB.resolve())


# also Hydra's escaped form of an override (http\://user\:pw@host)
_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*\\?://)[^/\s@]*@")


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` of every URI in it removed (never log a secret)."""
    return _CREDENTIALS.sub(r"\1", str(text))


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores or in-memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(path).resolve() if path and path != ":memory:" else None


@functools.lru_cache(maxsize=8)
def get_client(uri: str):
    """An MlflowClient on ``uri``; the first call on a fresh SQLite store creates it (about
    68 migrations, 1-4 s). Call it once in the launching process before workers start:
    concurrent first-time creation races in MLflow's migrations."""
    from mlflow import MlflowClient

    db = sqlite_path(uri)
    if redact(uri) != uri:  # MLflow prints "View run ... at: <uri>" with the password in it
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    with store_lock(uri):  # two processes creating one fresh store race in the migrations
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)  # opens the store: migrations happen now
        if db is not None:
            _sqlite_wal(client)
    return client


@contextlib.contextmanager
def store_lock(uri: str):
    """An exclusive lock across processes (``fcntl.flock`` on ``<db>.lock``) for a SQLite
    store's creation and migration; no lock for other stores (a server serialises itself)."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sqlite_wal(client) -> None:
    """WAL journal and synchronous=NORMAL on the store's SQLite connections.

    In the default rollback journal every commit waits for several fsyncs (a run makes about
    six commits: ~2/3 of its logging time here went to waiting on the disk). WAL lets readers
    (the UI, the report) and one writer work at once, and with synchronous=NORMAL a commit
    survives a crash of the process; only a power cut can lose the last commits. The journal
    mode is stored in the database file, synchronous is set per connection.
    """
    from sqlalchemy import event

    engine = getattr(getattr(client._tracking_client, "store", None), "engine", None)
    if engine is None or getattr(engine, "_nnfs_wal", False):
        return

    def pragmas(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        except Exception as exc:  # another process holds the file: stay in its mode
            log.debug("SQLite pragmas not applied: %s", exc)
        finally:
            cur.close()

    event.listen(engine, "connect", pragmas)
    engine._nnfs_wal = True
    engine.dispose()  # pooled connections were opened without the pragmas
    with engine.connect():  # and the file switches to WAL now, before any worker opens it
        pass


def ensure_experiment(client, name: str, uri: str) -> str:
    """The id of experiment ``name``, created if missing (restored if deleted).

    With a SQLite store the artifacts go beside the database (``<db dir>/mlartifacts/<name>``)
    instead of MLflow's default ``./mlruns`` of whatever folder the first run started in.
    """
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = None
        db = sqlite_path(uri)
        if db is not None:
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            location = (db.parent / "mlartifacts" / safe).as_uri()
        try:
            with store_lock(uri):
                exp = client.get_experiment_by_name(name)
                if exp is None:
                    return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # created meanwhile by another process
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    return exp.experiment_id


# ---------------------------------------------------------------------------- tags and params
@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """HEAD of the project's repository ('' when not a git checkout)."""
    env = os.environ.get("NNFS_GIT_COMMIT")
    if env is not None:
        return env
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def nnfs_version() -> str:
    from nnfs import __version__

    return __version__


def base_tags() -> dict[str, str]:
    tags = {"nnfs_version": nnfs_version()}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    return tags


def param_key(key: str) -> str:
    """A key MLflow accepts (alphanumerics, _ - . space /), at most 250 characters."""
    return _KEY_BAD.sub("_", str(key))[:250]


def _text(value: Any, limit: int) -> str:
    if isinstance(value, bool):
        text = str(value).lower()
    elif value is None:
        text = "null"
    elif isinstance(value, list | tuple):
        text = json.dumps(list(value))
    else:
        text = str(value)
    return (redact(text) if "://" in text else text)[:limit]


def config_hash(flat: Mapping[str, Any]) -> str:
    """A stable hash of a run's resolved settings (tracking settings excluded): the identity
    of a configuration, so a rerun of a sweep can find what already finished."""
    keep = {k: v for k, v in flat.items() if not k.startswith("tracking.") and k != "resume"}
    blob = json.dumps(keep, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------------ runs
def start_parent_run(client, experiment_id: str, *, run_name: str,
                     tags: Mapping[str, Any] | None = None) -> str:
    """The sweep's parent run (kind=sweep); returns its id."""
    all_tags = {**base_tags(), "kind": "sweep", **(tags or {})}
    run = client.create_run(experiment_id, run_name=redact(run_name),
                            tags={k: _text(v, MAX_TAG_VALUE) for k, v in all_tags.items()})
    return run.info.run_id


def start_child_run(client, experiment_id: str, *, run_name: str,
                    parent_run_id: str | None = None, params: Mapping[str, Any] | None = None,
                    tags: Mapping[str, Any] | None = None) -> str:
    """A run (a child of ``parent_run_id`` when given) with its params and tags; returns its
    id. Used for nnfs runs and, with other tags, for the scikit-learn baselines."""
    all_tags = {**base_tags(), **(tags or {})}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(experiment_id, run_name=redact(run_name)[:250],
                            tags={k: _text(v, MAX_TAG_VALUE) for k, v in all_tags.items()})
    if params:
        log_params(client, run.info.run_id, params)
    return run.info.run_id


def log_params(client, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    batch = {param_key(k): _text(v, MAX_PARAM_VALUE) for k, v in params.items()}
    client.log_batch(run_id, params=[Param(k, v) for k, v in batch.items()])


def log_tags(client, run_id: str, tags: Mapping[str, Any]) -> None:
    from mlflow.entities import RunTag

    client.log_batch(run_id, tags=[RunTag(k, _text(v, MAX_TAG_VALUE)) for k, v in tags.items()])


def _metric_value(v: float) -> float:
    # MLflow stores NaN; ±inf are clipped by the store anyway, keep them explicit
    v = float(v)
    if math.isinf(v):
        return math.copysign(1.7976931348623157e308, v)
    return v


def log_metrics(client, run_id: str, metrics: Mapping[str, float], *, step: int = 0,
                timestamp_ms: int | None = None) -> None:
    """Scalars at one step, one call."""
    from mlflow.entities import Metric

    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    client.log_batch(run_id, metrics=[Metric(k, _metric_value(v), ts, int(step))
                                      for k, v in metrics.items() if v is not None])


def history_metrics(epochs: Iterable[int], metrics: Mapping[str, Iterable[float]], *,
                    start_ms: int | None = None) -> list:
    """MLflow Metric entities, one per (key, epoch); timestamps follow the epochs' wall time
    (from ``time/epoch_s`` when present) so the UI's time axis is meaningful."""
    from mlflow.entities import Metric

    epochs = [int(e) for e in epochs]
    now = int(time.time() * 1000)
    seconds = metrics.get("time/epoch_s")
    if seconds is not None and len(list(seconds)) == len(epochs):
        elapsed = np.cumsum(np.nan_to_num(np.asarray(list(seconds), dtype=float)))
        t0 = start_ms if start_ms is not None else now - int(1000 * elapsed[-1])
        stamps = [t0 + int(1000 * s) for s in elapsed]
    else:
        stamps = [now] * len(epochs)
    out = []
    for key, values in metrics.items():
        values = list(values)
        for epoch, ts, v in zip(epochs, stamps, values, strict=False):
            out.append(Metric(key, _metric_value(v), ts, epoch))
    return out


def log_history(client, run_id: str, history, *, start_ms: int | None = None,
                tags: Mapping[str, Any] | None = None) -> int:
    """Every per-epoch metric of a ``History`` (step = epoch), its finals and ``tags``, in one
    batch. Returns the number of metric points.

    On a SQL store (SQLite, PostgreSQL) the points before each key's last one go in as one
    bulk INSERT into MLflow's ``metrics`` table, and the last points, finals and tags through
    ``log_batch``, which also maintains ``latest_metrics``: the same rows as a plain
    ``log_batch``, ~10x faster (MLflow's ORM path costs ~55 ms per 900 points here). Any
    store where that does not apply, or any error in it, falls back to ``log_batch``.
    """
    from mlflow.entities import Metric, RunTag

    points = history_metrics(history.epochs, history.metrics, start_ms=start_ms)
    last = int(history.epochs[-1]) if history.epochs else 0
    ts = int(time.time() * 1000)
    finals = [Metric(k, _metric_value(v), ts, last) for k, v in history.final.items()
              if v is not None]
    run_tags = [RunTag(k, _text(v, MAX_TAG_VALUE)) for k, v in (tags or {}).items()]
    head, tail = _split_last(points)
    if head and _bulk_insert_metrics(client, run_id, head):
        client.log_batch(run_id, metrics=tail + finals, tags=run_tags)
    else:
        client.log_batch(run_id, metrics=points + finals, tags=run_tags)
    return len(points) + len(finals)


def _split_last(points: list) -> tuple[list, list]:
    """(all but the last point of each key, the last point of each key)."""
    last: dict[str, int] = {}
    for i, m in enumerate(points):
        if m.key not in last or m.step >= points[last[m.key]].step:
            last[m.key] = i
    keep = set(last.values())
    return ([m for i, m in enumerate(points) if i not in keep],
            [m for i, m in enumerate(points) if i in keep])


def _bulk_insert_metrics(client, run_id: str, points: list) -> bool:
    """One INSERT of metric rows into a SQL store; False (nothing written) when not possible."""
    try:
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        store = client._tracking_client.store
        if not isinstance(store, SqlAlchemyStore):
            return False
        rows = []
        for m in points:
            is_nan, value = store.sanitize_metric_value(float(m.value))
            rows.append({"key": m.key, "value": value, "timestamp": int(m.timestamp),
                         "step": int(m.step), "is_nan": is_nan, "run_uuid": run_id})
        with store.engine.begin() as conn:  # one transaction: all rows or none
            conn.execute(SqlMetric.__table__.insert(), rows)
        return True
    except Exception:  # any surprise: the portable path writes everything
        return False


def log_artifact_bytes(client, run_id: str, files: Mapping[str, bytes | str]) -> None:
    """Several artifacts in one upload: ``files`` maps a relative path to its content."""
    with tempfile.TemporaryDirectory(prefix="nnfs-art-") as tmp:
        for rel, content in files.items():
            path = Path(tmp, rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        client.log_artifacts(run_id, tmp)


def log_figure(client, run_id: str, fig, artifact_file: str) -> None:
    """A matplotlib Figure as a PNG artifact (fast PNG settings of nnfs.plots)."""
    from nnfs.plots import to_png

    log_artifact_bytes(client, run_id, {artifact_file: to_png(fig)})


def log_dataset(client, run_id: str, data, *, context: str = "train") -> None:
    """The dataset of a run as an MLflow dataset input (name, digest, schema, source)."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.exceptions import MlflowException

    meta = data.meta
    name = f"{data.name}-n{meta.get('n_samples', '')}-s{meta.get('seed', '')}"
    if meta.get("features", "raw") != "raw":
        name += f"-{meta['features']}"
    # a CSV names its file; a generated set has no file (MLflow records the run as source)
    source = meta.get("path") or None
    ds = mlflow.data.from_numpy(data.X_train, targets=data.y_train, name=name, source=source)
    inputs = [DatasetInput(ds._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", context)])]
    for attempt in range(3):
        try:
            client.log_inputs(run_id, datasets=inputs)
            return
        except MlflowException as exc:
            # an MLflow server on PostgreSQL: jobs logging the same dataset at once race in
            # MLflow's select-then-insert (unique key dataset_pk, measured: 2-6 of 8 at once);
            # the loser's transaction is rolled back whole and its retry finds the row
            if attempt == 2 or "UniqueViolation" not in str(exc):
                raise


def end_run(client, run_id: str, status: str = "FINISHED",
            tags: Mapping[str, Any] | None = None) -> None:
    """Tags (if any) then the terminal status: FINISHED, FAILED or KILLED."""
    if tags:
        log_tags(client, run_id, tags)
    client.set_terminated(run_id, status=status)


def error_tags(exc: BaseException) -> dict[str, str]:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "error"
    return {"outcome": outcome, "error": f"{type(exc).__name__}: {exc}"[:500],
            "error_traceback": tb[-MAX_TAG_VALUE:]}


# ------------------------------------------------------------------------------ the pyfunc
_PYFUNC_CLASS = None


def _pyfunc_class():
    """``NNFSModel``, an ``mlflow.pyfunc.PythonModel``, built on first use so that importing
    this module does not import mlflow. It is reachable as ``nnfs.tracking.NNFSModel`` (module
    ``__getattr__``), so cloudpickle stores it by reference, not by value."""
    global _PYFUNC_CLASS
    if _PYFUNC_CLASS is None:
        # MLflow prints once per process "Add type hints to the `predict` method": its own
        # filter forces it; type hints would make it convert the input (numpy in, numpy out)
        import mlflow.pyfunc

        _PYFUNC_CLASS = _define_pyfunc(mlflow.pyfunc.PythonModel)
    return _PYFUNC_CLASS


def _define_pyfunc(base):
    class NNFSModel(base):
        """An nnfs MLP: weights and architecture in the ``weights`` .npz artifact.
        Input: the model's features (standardised, crosses applied), (n, d).
        Output: ``net.predict`` (class labels, or regression values)."""

        def load_context(self, context):
            self.net = load_npz(context.artifacts["weights"])

        def predict(self, context, model_input, params=None):
            X = np.asarray(model_input, dtype=np.float64)
            return self.net.predict(X)

    NNFSModel.__module__ = __name__
    NNFSModel.__qualname__ = "NNFSModel"
    return NNFSModel


def __getattr__(name: str):
    if name == "NNFSModel":
        return _pyfunc_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def save_npz(net, path) -> None:
    """The MLP's architecture (``net.config()``, as JSON) and parameters in one .npz."""
    arrays = {f"param:{k}": np.asarray(v) for k, v in net.params.items()}
    np.savez(path, __config__=np.array(json.dumps(net.config())), **arrays)


def load_npz(path):
    """The MLP saved by ``save_npz`` (``MLP.from_config``)."""
    from nnfs.core.model import MLP

    with np.load(path, allow_pickle=False) as z:
        config = json.loads(str(z["__config__"]))
        params = {k[len("param:"):]: z[k] for k in z.files if k.startswith("param:")}
    return MLP.from_config(config, params)


def log_pyfunc(uri: str, run_id: str, net, X_example: np.ndarray, *, name: str = "model") -> str:
    """Log ``net`` as an MLflow pyfunc model of run ``run_id`` (signature and input example)
    and return its model URI; ``mlflow.pyfunc.load_model(uri).predict(X)`` equals
    ``net.predict(X)``. Requirements are given, not inferred (inference costs seconds)."""
    import cloudpickle
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    X_example = np.asarray(X_example, dtype=np.float64)
    signature = infer_signature(X_example, net.predict(X_example))
    requirements = [f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}",
                    f"cloudpickle=={cloudpickle.__version__}"]
    mlflow.set_tracking_uri(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    quiet = logging.getLogger("mlflow")
    level = quiet.level
    with tempfile.TemporaryDirectory(prefix="nnfs-model-") as tmp, warnings.catch_warnings():
        # MLflow's advice (type hints, models-from-code) does not apply: say it once, here
        warnings.simplefilter("ignore", UserWarning)
        quiet.setLevel(logging.ERROR)
        weights = Path(tmp, "weights.npz")
        save_npz(net, weights)
        # resuming the run makes it the active one for log_model; ``end_run`` of the caller
        # sets the final status, so leave the run RUNNING here
        mlflow.start_run(run_id=run_id)
        try:
            info = mlflow.pyfunc.log_model(
                name=name, python_model=_pyfunc_class()(), artifacts={"weights": str(weights)},
                signature=signature, input_example=X_example[:5],
                pip_requirements=requirements)
        finally:
            _detach_active_run()
            quiet.setLevel(level)
    return info.model_uri


def _detach_active_run() -> None:
    """Forget the fluent active run without ending it (its status is the caller's to set)."""
    from mlflow.tracking import fluent

    stack = getattr(fluent, "_active_run_stack", None)
    if stack is not None:
        runs = stack.get() if hasattr(stack, "get") else stack
        while runs:
            runs.pop()


# ------------------------------------------------------------------------------ the sweep
def child_runs(client, experiment_id: str, parent_run_id: str, *,
               filter_string: str = "") -> list:
    """Every child run of ``parent_run_id`` (all pages)."""
    filt = f"tags.`mlflow.parentRunId` = '{parent_run_id}'"
    if filter_string:
        filt += f" and {filter_string}"
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=filt, max_results=1000,
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def summarize_sweep(client, experiment_id: str, parent_run_id: str) -> dict[str, Any]:
    """Counts and the best nnfs child of a sweep: runs, finished, failed, diverged, errors,
    killed, running, best run id / name / metric."""
    runs = child_runs(client, experiment_id, parent_run_id, filter_string="tags.impl = 'nnfs'")
    status = [r.info.status for r in runs]
    outcome = [r.data.tags.get("outcome", "") for r in runs]
    summary: dict[str, Any] = {
        "runs": len(runs), "finished": status.count("FINISHED"),
        "failed": status.count("FAILED"), "killed": status.count("KILLED"),
        "running": status.count("RUNNING"), "diverged": outcome.count("diverged"),
        "errors": outcome.count("error"),
    }
    for key, better in (("final/test_acc", max), ("final/test_rmse", min)):
        scored = [r for r in runs if r.info.status == "FINISHED" and key in r.data.metrics
                  and math.isfinite(r.data.metrics[key])]
        if scored:
            best = better(scored, key=lambda r, key=key: r.data.metrics[key])
            summary.update(best_run_id=best.info.run_id, best_run_name=best.info.run_name,
                           best_metric=key, best_value=best.data.metrics[key])
            break
    return summary


def finish_parent_run(client, parent_run_id: str, summary: Mapping[str, Any], *,
                      wall_s: float, status: str = "FINISHED") -> None:
    """The sweep's summary on its parent run (metrics sweep/* and best/*, tags best_*),
    then the end of the parent."""
    metrics = {f"sweep/{k}": float(summary[k]) for k in
               ("runs", "finished", "failed", "killed", "diverged", "errors", "skipped",
                "resumed")
               if k in summary}
    metrics["sweep/wall_s"] = wall_s
    tags = {k: summary[k] for k in ("best_run_id", "best_run_name", "best_metric")
            if k in summary}
    if "best_value" in summary:
        metrics["best/" + summary["best_metric"]] = float(summary["best_value"])
        tags["best_value"] = f"{summary['best_value']:.6g}"
    log_metrics(client, parent_run_id, metrics)
    end_run(client, parent_run_id, status, tags)


# ------------------------------------------------------------------ reliability: resume, health
STORE_ALLOWED = ("an MLflow server that answers (http(s)://host:port), or sqlite:///<path> "
                 "in a folder that can be created")


def check_store(uri: str, *, timeout: float = 5.0) -> str | None:
    """None when the store at ``uri`` can be used, else why not (one line, no secret).

    A server gets one ``GET <uri>/health`` (``timeout`` seconds, no retries: MLflow's client
    would retry for minutes); a SQLite file needs a folder that exists or can be created.
    Other stores (postgresql://, ...) are left to MLflow.
    """
    if uri.startswith(("http://", "https://")):
        return _check_server(uri, timeout)
    db = sqlite_path(uri)
    if db is not None:
        return unwritable_dir(db.parent)
    return None


def _check_server(uri: str, timeout: float) -> str | None:
    import base64
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return "its port is not a number"
    if port:
        netloc += f":{port}"
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health",
                                   "", ""))
    request = urllib.request.Request(url)
    if parts.username is not None:
        token = f"{urllib.parse.unquote(parts.username)}:" \
                f"{urllib.parse.unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(token.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403) or exc.code >= 500:
            return f"the server answered HTTP {exc.code} to GET /health"
        return None  # it answers (a proxy without /health, say)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"no answer to GET /health ({redact(str(reason))}; one try, {timeout:g} s timeout)"


def unwritable_dir(folder: Path) -> str | None:
    """None when ``folder`` exists as a writable folder or can be created, else why not."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def runtime_tags() -> dict[str, str]:
    """Who runs a run: pid and host, so a later sweep can tell a run whose process died."""
    import socket

    return {"pid": str(os.getpid()), "host": socket.gethostname()}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _all_runs(client, experiment_id: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=filter_string,
                                  max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def end_dead_runs(client, experiment_id: str) -> list[str]:
    """End KILLED every RUNNING run of the experiment started on this host by a process that
    no longer exists (a launcher or worker killed with SIGKILL cannot end its runs); returns
    their ids. Runs of live processes (another sweep running now) are left alone."""
    me = runtime_tags()["host"]
    ended = []
    for run in _all_runs(client, experiment_id, "attributes.status = 'RUNNING'"):
        tags = run.data.tags
        pid = tags.get("pid", "")
        if tags.get("host") != me or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        end_run(client, run.info.run_id, "KILLED",
                {"outcome": "interrupted", "killed_by": f"process {pid} on {me} is gone"})
        ended.append(run.info.run_id)
    return ended


def sweep_hash(config_hashes: Iterable[str]) -> str:
    """The identity of a sweep: a hash of the sorted ``config_hash`` of all its jobs (the same
    command, study grid included, gives the same hash whatever the launcher or folder)."""
    blob = json.dumps(sorted(config_hashes))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def resumable_parent(client, experiment_id: str, sweep_hash_: str):
    """The newest parent run (kind=sweep) of the experiment with this ``sweep_hash`` when it
    was interrupted (KILLED or FAILED; a dead launcher's RUNNING parent is KILLED by
    ``end_dead_runs`` first), else None: a completed sweep, or one running now, is not
    resumed."""
    runs = client.search_runs(
        [experiment_id], max_results=1, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.kind = 'sweep' and tags.sweep_hash = '{sweep_hash_}'")
    if runs and runs[0].info.status in ("KILLED", "FAILED"):
        return runs[0]
    return None


def reopen_parent(client, run_id: str, tags: Mapping[str, Any]) -> None:
    """An interrupted parent run becomes the parent of the rerun: new tags, RUNNING again
    (MLflow's stores allow a terminal run back to RUNNING; ``finish_parent_run`` ends it)."""
    log_tags(client, run_id, tags)
    client.update_run(run_id, status="RUNNING")


def finished_children(client, experiment_id: str, parent_run_id: str,
                      tags: Mapping[str, str]) -> list:
    """The FINISHED children of ``parent_run_id`` carrying all ``tags`` (key = value)."""
    filt = " and ".join(["attributes.status = 'FINISHED'"]
                        + [f"tags.`{k}` = '{v}'" for k, v in tags.items()])
    return child_runs(client, experiment_id, parent_run_id, filter_string=filt)


def finished_hashes(client, experiment_id: str, parent_run_id: str) -> set[str]:
    """The ``config_hash`` of every FINISHED nnfs child of ``parent_run_id``."""
    return {r.data.tags["config_hash"]
            for r in finished_children(client, experiment_id, parent_run_id, {"impl": "nnfs"})
            if "config_hash" in r.data.tags}
