"""Scaling out: an MLflow tracking server on PostgreSQL, and a sweep through the Ray launcher.

Everything here is real: ``scripts/server.sh`` (the machinery of ``make server``) starts
PostgreSQL and ``mlflow server`` on 127.0.0.1 (free ports, data in a temporary folder), and
``nnfs-train -m ... hydra/launcher=ray tracking=server`` runs a 4-job sweep as Ray tasks on a
local Ray instance. What is missing (PostgreSQL, ray, the launcher plugins, psycopg2) makes
the tests FAIL with the command that installs it: a skip would pass for a proof it is not.
Everything started is stopped by PID at the end, also when a test fails, and checked gone.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, nnfs_train
from hydra import compose, initialize_config_dir

from nnfs import config as C

pytestmark = pytest.mark.server

SERVER_SH = ROOT / "scripts" / "server.sh"
MLFLOW = Path(sys.executable).parent / "mlflow"
EXPERIMENT = "scaling"
GRID = {"activation": ["relu", "tanh"], "model.depth": ["1", "2"]}


def _requirements() -> None:
    """Fail (not skip) when a piece of the distributed setup is missing."""
    missing = []
    pg = glob.glob("/usr/lib/postgresql/*/bin/initdb") or shutil.which("initdb")
    if not pg:
        missing.append("the PostgreSQL server (apt-get install -y postgresql)")
    for module in ("ray", "hydra_plugins.hydra_ray_launcher",
                   "hydra_plugins.hydra_submitit_launcher", "psycopg2"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(f"{module} (pip install -e '.[distributed]')")
    if missing:
        pytest.fail("scaling tests need: " + "; ".join(missing), pytrace=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int, *, group: bool = False) -> bool:
    try:
        os.killpg(pid, 0) if group else os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not group:  # a zombie has exited
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    return True


def _wait(cond, timeout: float = 30.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


class Server:
    """A PostgreSQL + MLflow server of ``scripts/server.sh`` in its own folder."""

    def __init__(self) -> None:
        # not pytest's tmp_path: its parents are private (0700) and PostgreSQL runs as `postgres`
        self.dir = Path(tempfile.mkdtemp(prefix="nnfs-server-"))
        self.dir.chmod(0o755)
        self.mlflow_port, self.pg_port = _free_port(), _free_port()
        self.env = {**os.environ, "NNFS_SERVER_DIR": str(self.dir),
                    "NNFS_MLFLOW_PORT": str(self.mlflow_port),
                    "NNFS_PG_PORT": str(self.pg_port), "NNFS_MLFLOW": str(MLFLOW)}
        self.env.pop("MLFLOW_TRACKING_URI", None)
        self.uri = ""
        self.pids: dict[str, int] = {}
        self.start_s = self.stop_s = float("nan")

    def _read_pids(self) -> None:
        for name in ("postgres", "mlflow"):
            f = self.dir / f"{name}.pid"
            if f.exists() and f.read_text().strip():
                self.pids[name] = int(f.read_text())

    def start(self) -> None:
        t0 = time.perf_counter()
        out = subprocess.run([str(SERVER_SH), "start"], env=self.env, capture_output=True,
                             text=True, timeout=300)
        self._read_pids()
        self.start_s = time.perf_counter() - t0
        assert out.returncode == 0, f"server.sh start failed:\n{out.stderr[-3000:]}"
        self.uri = out.stdout.strip().splitlines()[-1]
        assert self.uri == f"http://127.0.0.1:{self.mlflow_port}", out.stdout

    def stop(self) -> None:
        """server.sh stop, then check by PID and port that nothing is left (and kill what
        is: a failing test must not leave servers behind)."""
        self._read_pids()
        t0 = time.perf_counter()
        out = subprocess.run([str(SERVER_SH), "stop"], env=self.env, capture_output=True,
                             text=True, timeout=180)
        self.stop_s = time.perf_counter() - t0
        left = []
        for name, pid in self.pids.items():
            group = name == "mlflow"  # the MLflow server and its uvicorn workers: one group
            if not _wait(lambda pid=pid, group=group: not _alive(pid, group=group), 10):
                left.append(f"{name} (PID {pid})")
                try:
                    os.killpg(pid, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        ports = [p for p in (self.mlflow_port, self.pg_port)
                 if not _wait(lambda p=p: not _port_open(p), 10)]
        shutil.rmtree(self.dir, ignore_errors=True)
        assert out.returncode == 0, f"server.sh stop failed:\n{out.stderr[-2000:]}"
        assert not left, f"still alive after server.sh stop: {left}"
        assert not ports, f"ports still open after server.sh stop: {ports}"


@pytest.fixture(scope="module")
def server(request):
    _requirements()
    srv = Server()
    request.addfinalizer(srv.stop)  # first: a failed start is cleaned up too
    srv.start()
    return srv


def _psql(srv: Server, sql: str) -> str:
    pg_bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))[-1]) \
        if glob.glob("/usr/lib/postgresql/*/bin/psql") else Path(shutil.which("psql"))
    out = subprocess.run([str(pg_bin), "-X", "-tA", "-h", "127.0.0.1", "-p", str(srv.pg_port),
                          "-U", "nnfs", "-d", "mlflow", "-c", sql],
                         env={**srv.env, "PGPASSFILE": str(srv.dir / "pgpass")},
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_server_runs_on_postgresql_on_loopback_only(server):
    assert _port_open(server.mlflow_port) and _port_open(server.pg_port)
    assert server.pids.keys() == {"postgres", "mlflow"}
    assert _psql(server, "SHOW listen_addresses") == "127.0.0.1"
    # MLflow's schema lives in PostgreSQL (its migrations ran against it)
    assert _psql(server, "SELECT count(*) FROM information_schema.tables "
                         "WHERE table_name IN ('runs', 'metrics', 'experiments')") == "3"
    # the password sits in a private file, never on a command line nor in the URI
    assert (server.dir / "pgpass").stat().st_mode & 0o077 == 0
    cmdline = Path(f"/proc/{server.pids['mlflow']}/cmdline").read_bytes().replace(b"\0", b" ")
    password = (server.dir / "pgpass").read_text().strip().rsplit(":", 1)[1]
    assert password.encode() not in cmdline and b"postgresql+psycopg2://nnfs@" in cmdline


def test_concurrent_jobs_log_the_same_dataset(server):
    """Jobs of a sweep that log the same dataset at the same moment: MLflow's server on
    PostgreSQL races in its select-then-insert (2-6 of 8 requests failed with UniqueViolation
    here); ``tracking.log_dataset`` retries, so every run gets its dataset input."""
    import threading

    from nnfs import tracking
    from nnfs.data import load

    data = load("moons", n_samples=60, seed=0)
    client = tracking.get_client(server.uri)
    for round_ in range(3):
        exp = tracking.ensure_experiment(client, f"race-{round_}", server.uri)
        runs = [client.create_run(exp).info.run_id for _ in range(8)]
        barrier, errors = threading.Barrier(len(runs)), []

        def log(run_id: str, barrier=barrier, errors=errors) -> None:
            barrier.wait()
            try:
                tracking.log_dataset(client, run_id, data)
            except Exception as exc:  # the assertion below names it
                errors.append(repr(exc)[:200])

        threads = [threading.Thread(target=log, args=(r,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        assert [len(client.get_run(r).inputs.dataset_inputs) for r in runs] == [1] * len(runs)


def test_ray_sweep_into_the_server(server, tmp_path):
    """4 jobs as Ray tasks (local Ray, 2 CPUs) logging to the server: one parent, four
    FINISHED children with the axis params, per-epoch metrics and artifacts."""
    from mlflow import MlflowClient

    ray_tmp = Path(tempfile.mkdtemp(prefix="nnfs-ray-"))  # Ray's sockets: keep the path short
    args = ["-m", *(f"{k}={','.join(v)}" for k, v in GRID.items()), *TINY,
            "tracking=server", f"tracking.experiment={EXPERIMENT}", "hydra/launcher=ray",
            "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init.include_dashboard=false",
            f"+hydra.launcher.ray.init._temp_dir={ray_tmp}"]
    t0 = time.perf_counter()
    try:
        out = nnfs_train(args, cwd=tmp_path, env={"MLFLOW_TRACKING_URI": server.uri},
                         timeout=240)
        sweep_s = time.perf_counter() - t0
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-4000:]
        # the jobs ran as Ray tasks, in Ray's worker processes
        assert "Ray Launcher is launching 4 jobs" in log, log[-2000:]
        assert "(_run_job pid=" in log, log[-2000:]
        # the local Ray instance ended with the command: none of its processes is left
        leftover = subprocess.run(["pgrep", "-f", str(ray_tmp)], capture_output=True,
                                  text=True).stdout.split()
        assert not leftover, f"Ray processes left behind: {leftover}"
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)

    client = MlflowClient(tracking_uri=server.uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    assert len(parents) == 1, [r.data.tags for r in runs]
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["launcher"] == "ray"
    assert parent.data.metrics["sweep/runs"] == 4
    assert parent.data.metrics["sweep/finished"] == 4

    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4 == len(runs) - 1
    combos = set()
    for child in children:
        assert child.info.status == "FINISHED", (child.info.run_name, child.data.tags)
        p = child.data.params
        combos.add((p["activation"], p["model.depth"]))
        assert child.info.run_name == f"activation={p['activation']} " \
                                      f"model.depth={p['model.depth']}"
        history = client.get_metric_history(child.info.run_id, "train/loss")
        assert [m.step for m in history] == [1, 2, 3, 4]
        assert 0 <= child.data.metrics["final/test_acc"] <= 1
        top = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"config.yaml", "figures"} <= top, top
        # the pyfunc model is an MLflow LoggedModel: its files sit under its own URI
        model_id = child.data.tags["model_uri"].removeprefix("models:/")
        assert client.get_logged_model(model_id).source_run_id == child.info.run_id
        model_files = {Path(a.path).name for a in client.list_logged_model_artifacts(model_id)}
        assert {"MLmodel", "python_model.pkl"} <= model_files, model_files
        figures = {a.path for a in client.list_artifacts(child.info.run_id, "figures")}
        assert "figures/decision_boundary.png" in figures, figures
        config = Path(client.download_artifacts(child.info.run_id, "config.yaml", str(tmp_path)))
        assert f"activation: {p['activation']}" in config.read_text()
    assert combos == {(a, d) for a in GRID["activation"] for d in GRID["model.depth"]}

    # where the data lives: runs in PostgreSQL, artifact files under the server's folder
    n = _psql(server, f"SELECT count(*) FROM runs WHERE experiment_id = {exp.experiment_id}")
    assert n == "5"
    stored = glob.glob(str(server.dir / "artifacts" / "**" / "config.yaml"), recursive=True)
    assert len(stored) == 4, stored
    print(f"\nserver start {server.start_s:.1f} s; Ray sweep of 4 jobs {sweep_s:.1f} s")


def test_submitit_sweep_into_the_server(server, tmp_path):
    """The submitit launcher's local executor: the code path of hydra/launcher=submitit_slurm
    (jobs pickled by submitit, run in their own processes, env_set for the parent run id)
    without SLURM's sbatch, which cannot run here."""
    from mlflow import MlflowClient

    out = nnfs_train(["-m", "activation=relu,tanh", *TINY, "tracking=server",
                      "tracking.experiment=submitit", "hydra/launcher=submitit_local",
                      "hydra.launcher.timeout_min=5"],
                     cwd=tmp_path, env={"MLFLOW_TRACKING_URI": server.uri}, timeout=180)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "Submitit 'local' sweep output dir" in log, log[-2000:]
    assert list(tmp_path.glob("multirun/*/*/.submitit/*/*_result.pkl")), "no submitit job ran"
    client = MlflowClient(tracking_uri=server.uri)
    exp = client.get_experiment_by_name("submitit")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    (parent,) = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    assert parent.data.tags["launcher"] == "submitit_local"
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.params["activation"] for r in children) == ["relu", "tanh"]
    assert all(r.info.status == "FINISHED" for r in children)
    assert all(len(client.get_metric_history(r.info.run_id, "train/loss")) == 4
               for r in children)


def test_slurm_launcher_config_composes():
    """hydra/launcher=submitit_slurm composes with nnfs's config (it cannot run here: no
    SLURM), with the settings a user sets most."""
    C.register()
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", return_hydra_config=True, overrides=[
            "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu",
            "hydra.launcher.timeout_min=30", "hydra.launcher.cpus_per_task=2",
            "hydra.launcher.array_parallelism=8", "tracking=server",
            "tracking.uri=http://mlflow.example:5000"])
    launcher = cfg.hydra.launcher
    assert launcher._target_ == \
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.timeout_min, launcher.cpus_per_task,
            launcher.array_parallelism) == ("cpu", 30, 2, 8)
    assert cfg.tracking.uri == "http://mlflow.example:5000"
    C.check(cfg)


def test_tracking_server_reads_the_uri_from_the_environment(monkeypatch):
    C.register()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.0.0.7:5001")
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["tracking=server"])
        assert cfg.tracking.enabled and cfg.tracking.uri == "http://10.0.0.7:5001"
        monkeypatch.delenv("MLFLOW_TRACKING_URI")
        cfg = compose(config_name="config", overrides=["tracking=server"])
        assert cfg.tracking.uri == "http://127.0.0.1:5050"  # where `make server` listens
