"""Shared fixtures: real MLflow SQLite stores in temporary folders, and nnfs-train runs.

Creating a SQLite store runs about 68 migrations (1-4 s), so one migrated store is made per
session and copied for each test that needs one (a file copy: milliseconds).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NNFS_TRAIN = Path(sys.executable).parent / "nnfs-train"
# few samples and epochs: every launch in the tests stays around a second of fitting
TINY = ["dataset.n_samples=120", "train.epochs=4", "model.width=4", "baseline=none"]


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """In-process Hydra launches (app.main) attach handlers bound to pytest's captured streams
    to the root logger; later tests would log into those closed streams. Put the root logger
    back as it was after every test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory) -> Path:
    """A SQLite file with MLflow's schema, created once per session (never written to)."""
    from nnfs import tracking

    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    tracking.get_client(f"sqlite:///{db}")
    return db


@pytest.fixture
def store(migrated_store, tmp_path, monkeypatch) -> str:
    """A fresh copy of the migrated store in this test's folder; MLFLOW_TRACKING_URI points
    at it (also for subprocesses) and the test runs in its folder (Hydra's outputs go there)."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(migrated_store, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture
def client(store):
    from nnfs import tracking

    return tracking.get_client(store)


def all_runs(uri: str, experiment: str = "nnfs") -> list:
    """Every run of ``experiment`` in the store at ``uri`` ([] if the experiment is absent)."""
    from nnfs import tracking

    c = tracking.get_client(uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        return []
    return c.search_runs([exp.experiment_id], max_results=1000)


def nnfs_train(args: list[str], *, cwd: Path, env: dict | None = None,
               timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the installed ``nnfs-train`` console script as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([str(NNFS_TRAIN), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
