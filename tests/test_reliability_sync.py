"""A real MLflow tracking server (started here, killed by its PID): no secret of a tracking URI
is ever logged, and a server that dies in the middle of a run loses nothing: the result goes
to ``<job dir>/offline/`` and ``nnfs-sync`` uploads it to a working store later."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, TINY, all_runs, nnfs_train

from nnfs import tracking

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mlflow server`` (one worker, SQLite behind it) on a free local port: (process, url)."""
    folder = tmp_path_factory.mktemp("server")
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
         "--artifacts-destination", str(folder / "artifacts")],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("mlflow server exited at start")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not answer within 120 s")
    yield proc, url
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
        proc.wait()


def _stop(proc) -> None:
    """The server's process group killed by PID; its port closes."""
    os.killpg(proc.pid, 9)
    proc.wait(timeout=30)


def test_a_password_in_the_tracking_uri_is_never_logged(server, tmp_path):
    _, url = server
    secret_uri = url.replace("http://", "http://nnfs-user:secret@") + "/"
    done = nnfs_train(["dataset=xor", f"tracking.uri={secret_uri}", "tracking.experiment=sec",
                       "tracking.log_model=false", *TINY], cwd=tmp_path,
                      env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "secret" not in done.stdout + done.stderr
    client = tracking.get_client(url)
    runs = all_runs(url, "sec")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    # logged without the credentials (as typed: Hydra escapes the colons)
    assert run.data.params["tracking.uri"].replace("\\", "") == url + "/"
    assert run.data.tags["tracking_uri"] == url + "/"
    for key, value in {**run.data.params, **run.data.tags}.items():
        assert "secret" not in key and "secret" not in value, (key, value)
    out = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "art")))
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "config.yaml" for p in files)
    for p in files:
        assert b"secret" not in p.read_bytes(), p
    logs = list(tmp_path.rglob("*.log"))  # the job's log (Hydra's .hydra/ keeps the command)
    assert logs and all("secret" not in p.read_text(errors="replace") for p in logs)


def test_the_readme_ui_command_binds_to_localhost():
    readme = (ROOT / "README.md").read_text()
    ui = [ln for ln in readme.splitlines() if "mlflow ui" in ln or "mlflow server" in ln]
    assert ui, "the README shows how to start the MLflow UI"
    for ln in ui:
        if ln.lstrip().startswith(("mlflow ui", "mlflow server", "$ mlflow", ".venv/bin/mlflow")):
            assert "--host 127.0.0.1" in ln or "--host localhost" in ln, ln


def test_the_server_dies_mid_run_and_nnfs_sync_uploads_the_result(server, tmp_path):
    """A single run through the real command; the server is killed (by PID) while it fits."""
    proc, url = server
    epochs = 300  # sgd, batch 1: a few seconds of fitting, time to kill the server
    args = ["dataset=xor", f"tracking.uri={url}", "tracking.experiment=lost",
            "tracking.log_model=true", "tracking.log_figures=false", "dataset.n_samples=120",
            f"train.epochs={epochs}", "model.width=4", "baseline=none", "optimizer=sgd",
            f"hydra.run.dir={tmp_path / 'outputs' / 'job'}"]
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
           "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    env.pop("HYDRA_FULL_ERROR", None)
    job = subprocess.Popen([str(BIN / "nnfs-train"), *args], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:  # until the run is set up (params logged: fitting), then kill
        if any(r.info.status == "RUNNING" and r.data.params for r in all_runs(url, "lost")):
            break
        assert job.poll() is None, job.communicate()[1][-3000:]
        time.sleep(0.2)
    _stop(proc)
    _, err = job.communicate(timeout=180)
    assert job.returncode == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    offline = tmp_path / "outputs" / "job" / "offline"
    last = err.strip().splitlines()[-1]
    assert last.startswith("nnfs-train: error: tracking failed after the fit"), err[-3000:]
    assert f"nnfs-sync {offline}" in last, last
    assert {p.name for p in offline.iterdir()} >= {"run.json", "history.json", "weights.npz",
                                                    "config.yaml", "X_example.npy"}

    # upload into a working store: the run, its params, every metric point, the model
    good = f"sqlite:///{tmp_path / 'good' / 'mlflow.db'}"
    sync = subprocess.run([str(BIN / "nnfs-sync"), str(tmp_path / "outputs"), "--uri", good],
                          capture_output=True, text=True, timeout=180)
    assert sync.returncode == 0, sync.stderr[-3000:]
    (run,) = all_runs(good, "lost")
    assert run.info.status == "FINISHED" and "dataset=xor" in run.info.run_name
    assert run.data.params["dataset.name"] == "xor" and run.data.tags["impl"] == "nnfs"
    assert run.data.tags["outcome"] == "finished"
    client = tracking.get_client(good)
    for key in ("train/loss", "test/acc", "lr", "grad_norm/layer_0"):
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(1, epochs + 1)), key
    assert "final/test_acc" in run.data.metrics
    import mlflow.pyfunc
    import numpy as np

    mlflow.set_tracking_uri(good)
    model = mlflow.pyfunc.load_model(run.data.tags["model_uri"])
    X = np.load(offline / "X_example.npy")
    net = tracking.load_npz(offline / "weights.npz")
    assert np.array_equal(model.predict(X), net.predict(X))

    # a second sync uploads nothing twice
    again = subprocess.run([str(BIN / "nnfs-sync"), str(tmp_path / "outputs"), "--uri", good],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "nothing to upload" in again.stdout
    assert len(all_runs(good, "lost")) == 1


def test_nnfs_sync_of_a_missing_folder_is_one_line(tmp_path):
    done = subprocess.run([str(BIN / "nnfs-sync"), str(tmp_path / "absent")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "absent" in done.stderr
