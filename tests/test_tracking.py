"""nnfs.tracking against a real SQLite store: URIs, batched logging, the pyfunc, summaries."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import all_runs

from nnfs import plots, tracking
from nnfs.core.model import MLP
from nnfs.data import load
from nnfs.train import fit


@pytest.fixture(scope="module")
def trained():
    """A small real fit on moons: (data, history)."""
    data = load("moons", n_samples=200, seed=1)
    net = MLP(n_in=2, hidden=[8, 8], n_out=1, activation="tanh", task="binary",
              rng=np.random.default_rng(1))
    history = fit(net, data, optimizer="adam", epochs=6, lr=0.05, batch_size=32,
                  rng=np.random.default_rng(2))
    return data, history


def test_uri_explicit_then_environment_then_project_default(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    default = tracking.resolve_uri()
    assert default == "sqlite:///" + str(tracking.DEFAULT_DB.resolve())
    assert default.startswith("sqlite:////")  # absolute, whatever the job's folder
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/env.db")
    assert tracking.resolve_uri() == f"sqlite:///{tmp_path}/env.db"
    assert tracking.resolve_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_secrets_are_stripped_from_uris():
    assert tracking.redact("postgresql://alice:s3cret@db.example:5432/mlflow") == \
        "postgresql://db.example:5432/mlflow"
    assert tracking.redact("https://bob:pw@mlflow.example") == "https://mlflow.example"
    assert tracking.redact("sqlite:////tmp/x/mlflow.db") == "sqlite:////tmp/x/mlflow.db"
    # a param whose value is a URI with a password is logged without it
    assert tracking._text("http://u:p@h:1/x", 6000) == "http://h:1/x"


def test_environment_uri_is_where_runs_go(store, client, trained, tmp_path):
    data, history = trained
    exp = tracking.ensure_experiment(client, "nnfs", store)
    run_id = tracking.start_child_run(client, exp, run_name="env", params={"a": 1})
    tracking.end_run(client, run_id)
    assert [r.info.run_id for r in all_runs(store)] == [run_id]
    # artifacts live beside the database, not in the current folder's ./mlruns
    location = client.get_experiment(exp).artifact_location
    assert location == (tmp_path / "mlartifacts" / "nnfs").as_uri()


def test_history_is_one_batch_with_one_point_per_epoch(client, store, trained):
    data, history = trained
    exp = tracking.ensure_experiment(client, "nnfs", store)
    run_id = tracking.start_child_run(client, exp, run_name="hist")
    n = tracking.log_history(client, run_id, history)
    assert n == sum(len(v) for v in history.metrics.values()) + len(history.final)
    for key, values in history.metrics.items():
        points = client.get_metric_history(run_id, key)
        assert [p.step for p in points] == history.epochs, key
        got = np.array([p.value for p in points])
        assert np.allclose(got, values, equal_nan=True), key
    run = client.get_run(run_id)
    assert run.data.metrics["final/test_acc"] == pytest.approx(history.final["final/test_acc"])
    tracking.end_run(client, run_id, "FINISHED", {"outcome": "finished"})
    assert client.get_run(run_id).info.status == "FINISHED"


def test_bulk_history_equals_plain_log_batch(client, store, trained):
    """The fast path (bulk INSERT + log_batch of the last points) stores exactly what one
    plain log_batch of every point stores: histories and latest values."""
    _, history = trained
    exp = tracking.ensure_experiment(client, "nnfs", store)
    fast = tracking.start_child_run(client, exp, run_name="fast")
    plain = tracking.start_child_run(client, exp, run_name="plain")
    t0 = 1_700_000_000_000
    tracking.log_history(client, fast, history, start_ms=t0)
    points = tracking.history_metrics(history.epochs, history.metrics, start_ms=t0)
    client.log_batch(plain, metrics=points)
    for key in history.metrics:
        a = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(fast, key)]
        b = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(plain, key)]
        assert sorted(a) == sorted(b), key
    latest_fast = client.get_run(fast).data.metrics
    latest_plain = client.get_run(plain).data.metrics
    assert {k: latest_fast[k] for k in latest_plain} == latest_plain


def test_sqlite_store_runs_in_wal_mode(store, client):
    import sqlite3

    path = tracking.sqlite_path(store)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pyfunc_round_trip(client, store, trained):
    import mlflow.pyfunc

    data, history = trained
    net = history.net
    exp = tracking.ensure_experiment(client, "nnfs", store)
    run_id = tracking.start_child_run(client, exp, run_name="model")
    uri = tracking.log_pyfunc(store, run_id, net, data.X_test[:5])
    # logging the model leaves the run's status to its owner
    assert client.get_run(run_id).info.status == "RUNNING"
    tracking.end_run(client, run_id)
    model = mlflow.pyfunc.load_model(uri)
    assert np.array_equal(np.asarray(model.predict(data.X_test)), net.predict(data.X_test))
    assert model.metadata.signature is not None
    assert model.metadata.get_input_schema().inputs[0].shape[-1] == 2


def test_npz_round_trip_keeps_every_parameter(tmp_path, trained):
    net = trained[1].net
    tracking.save_npz(net, tmp_path / "w.npz")
    back = tracking.load_npz(tmp_path / "w.npz")
    assert back.config() == net.config()
    for k, v in net.params.items():
        assert np.array_equal(back.params[k], v)


def test_sweep_summary_counts_and_best(client, store, trained):
    _, history = trained
    exp = tracking.ensure_experiment(client, "nnfs", store)
    parent = tracking.start_parent_run(client, exp, run_name="sweep", tags={"grid": {"a": [1]}})
    ids = []
    for i, (status, outcome, acc) in enumerate([("FINISHED", "finished", 0.7),
                                                ("FINISHED", "finished", 0.9),
                                                ("FAILED", "diverged", math.nan),
                                                ("FAILED", "error", None)]):
        rid = tracking.start_child_run(client, exp, run_name=f"c{i}", parent_run_id=parent,
                                       tags={"impl": "nnfs"})
        if acc is not None:
            tracking.log_metrics(client, rid, {"final/test_acc": acc})
        tracking.end_run(client, rid, status, {"outcome": outcome})
        ids.append(rid)
    # a sibling from another implementation is not an nnfs child
    other = tracking.start_child_run(client, exp, run_name="sk", parent_run_id=parent,
                                     tags={"impl": "sklearn"})
    tracking.log_metrics(client, other, {"final/test_acc": 1.0})
    tracking.end_run(client, other)
    s = tracking.summarize_sweep(client, exp, parent)
    assert (s["runs"], s["finished"], s["failed"], s["diverged"], s["errors"]) == (4, 2, 2, 1, 1)
    assert s["best_run_id"] == ids[1] and s["best_value"] == pytest.approx(0.9)
    tracking.finish_parent_run(client, parent, s, wall_s=1.0)
    p = client.get_run(parent)
    assert p.info.status == "FINISHED"
    assert p.data.metrics["sweep/diverged"] == 1 and p.data.tags["best_run_id"] == ids[1]


def test_dataset_input_is_logged(client, store, trained):
    data, _ = trained
    exp = tracking.ensure_experiment(client, "nnfs", store)
    rid = tracking.start_child_run(client, exp, run_name="ds")
    tracking.log_dataset(client, rid, data)
    tracking.end_run(client, rid)
    inputs = client.get_run(rid).inputs.dataset_inputs
    assert len(inputs) == 1 and inputs[0].dataset.name.startswith("moons-n200")


def test_figures_are_pngs(trained):
    data, history = trained
    png = b"\x89PNG"
    assert plots.to_png(plots.learning_curves(history.epochs, history.metrics)).startswith(png)
    assert plots.to_png(plots.grad_norms(history.epochs, history.metrics)).startswith(png)
    net = history.net
    assert plots.to_png(plots.decision_boundary(net.predict_proba, data)).startswith(png)
    rgb, extent = plots.decision_boundary_rgb(net.predict_proba, data, resolution=50)
    assert rgb.shape == (100, 100, 3) and rgb.dtype == np.uint8
    assert extent[0] < data.raw_train[:, 0].min() and extent[3] > data.raw_train[:, 1].max()
    # a confident class-1 net paints the plane blue, a class-0 net orange (Playground colours)
    blue = plots.decision_boundary_rgb(lambda X: np.tile([0.0, 1.0], (len(X), 1)), data)[0]
    orange = plots.decision_boundary_rgb(lambda X: np.tile([1.0, 0.0], (len(X), 1)), data)[0]
    assert tuple(blue[0, 0]) == (8, 119, 189) and tuple(orange[0, 0]) == (245, 147, 34)
    spiral = load("spiral", n_samples=90, seed=0)
    assert plots.decision_boundary_png(lambda X: np.full((len(X), 3), 1 / 3),
                                       spiral).startswith(png)
    # a reused figure is the same object, redrawn with the new data
    a = plots.learning_curves(history.epochs, history.metrics, reuse=True)
    b = plots.learning_curves(history.epochs, {k: np.asarray(v) * 2 for k, v in
                                               history.metrics.items()}, reuse=True)
    assert a is b and plots.to_png(b).startswith(png)
