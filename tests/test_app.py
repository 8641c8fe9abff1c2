"""nnfs-train end to end: composition, bad input, single runs and sweeps in a real store."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import TINY, all_runs, nnfs_train
from hydra import compose, initialize_config_dir

from nnfs import app, tracking
from nnfs import config as C

GROUPS = ("dataset", "features", "optimizer", "schedule", "train", "tracking", "baseline")


def _compose(overrides: list[str]):
    C.register()
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (C.CONF_DIR / group).glob("*.yaml"))


def test_every_group_option_composes_and_passes_the_checks(tmp_path):
    csv = tmp_path / "data.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40)))
    expected = {"dataset": {"linear", "xor", "moons", "circles", "spiral", "blobs", "sine",
                            "linreg", "breast_cancer", "iris", "wine", "digits", "diabetes",
                            "csv"},
                "optimizer": {"gd", "sgd", "minibatch", "momentum", "nesterov", "adam",
                              "adamw"},
                "schedule": {"constant", "step", "inverse_time", "warmup_cosine"},
                "tracking": {"sqlite", "none"}, "baseline": {"default", "none"}}
    for group, names in expected.items():
        assert names <= set(_options(group)), group
    for group in GROUPS:
        for option in _options(group):
            extra = [f"dataset.path={csv}", "dataset.target=label"] if option == "csv" else []
            cfg = _compose([f"{group}={option}", *extra])
            C.check(cfg)
            if group == "dataset":
                assert cfg.dataset.name == option
            if group == "dataset" and option in ("sine", "linreg", "diabetes"):
                assert cfg.loss == C.Loss.mse  # a regression set brings its loss
    # the optimizer presets set the batch size, and the command line still wins over them
    assert _compose(["optimizer=gd"]).train.batch_size is None
    assert _compose(["optimizer=sgd"]).train.batch_size == 1
    assert _compose(["optimizer=sgd", "train.batch_size=8"]).train.batch_size == 8
    assert _compose(["optimizer=nesterov"]).optimizer.nesterov is True
    assert _compose(["tracking=none"]).tracking.enabled is False
    assert list(_compose(["baseline=none"]).baseline.models) == []
    assert list(_compose([]).baseline.models) == ["logreg", "mlp"]


def test_the_mission_sweep_expands_to_64_valid_jobs():
    argv = ["-m", "activation=sigmoid,relu,gelu,swiglu", "loss=mse,cross_entropy",
            "optimizer=sgd,adam", "model.depth=1,2", "dataset=xor,moons"]
    C.register()
    out = app.preflight(argv)
    assert out == {"n_jobs": 64, "skipped": []}


BAD = [
    # (override, the key the message must name, a word of what is allowed)
    ("activation=relux", "activation=relux", "gelu"),
    ("loss=hinge", "loss=hinge", "cross_entropy"),
    ("optimizer=adamx", "optimizer=adamx", "nesterov"),
    ("dataset=mnist", "dataset=mnist", "spiral"),
    ("optimizer.lr=-1", "optimizer.lr=-1", "> 0"),
    ("optimizer.lr=0", "optimizer.lr=0", "> 0"),
    ("model.depth=-1", "model.depth=-1", ">= 0"),
    ("model.width=0", "model.width=0", "> 0"),
    ("model.depth=abc", "model.depth=abc", "Integer"),
    ("train.batch_size=0", "train.batch_size=0", "null"),
    ("train.epochs=0", "train.epochs=0", "> 0"),
    ("dataset.test_size=1.5", "dataset.test_size=1.5", "(0, 1)"),
    ("dataset.test_size=0", "dataset.test_size=0", "(0, 1)"),
    ("optimizer.momentum=1", "optimizer.momentum=1", "[0, 1)"),
    ("optimizer.beta1=-0.1", "optimizer.beta1=-0.1", "[0, 1)"),
    ("optimizer.beta2=1", "optimizer.beta2=1", "[0, 1)"),
    ("train.clip_norm=0", "train.clip_norm=0", "> 0"),
    ("train.clip_value=-2", "train.clip_value=-2", "> 0"),
    ("dataset.noise=-0.1", "dataset.noise=-0.1", ">= 0"),
    ("train.precision=half", "train.precision=half", "mixed"),
    ("model.deep=3", "model.deep=3", "depth"),
    ("+experiment=nope", "experiment=nope", "allowed:"),
    ("dataset=csv", "dataset.path=null", "CSV"),
]


@pytest.mark.parametrize(("override", "key", "allowed"), BAD, ids=[b[0] for b in BAD])
def test_a_bad_value_stops_everything_with_one_line(override, key, allowed, store, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main([*TINY, override])
    assert exit_info.value.code == app.EXIT_BAD_CONFIG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert key in err and allowed in err, err
    assert all_runs(store) == []


def test_a_bad_value_inside_a_sweep_fails_before_the_parent_run(store, tmp_path):
    done = nnfs_train(["-m", "optimizer.lr=0.1,-1", "activation=relu,tanh", *TINY],
                      cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "nnfs-train: error: optimizer.lr=-1.0 is not valid; allowed: a number > 0"]
    assert all_runs(store) == []
    assert not (tmp_path / "multirun").exists()  # Hydra never started


def test_a_csv_problem_fails_before_any_run(store, tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("a,b,label\n1,2,0\n3,nan,1\n" + "".join(f"{i},{i},{i % 2}\n"
                                                           for i in range(20)))
    with pytest.raises(SystemExit) as exit_info:
        app.main(["dataset=csv", f"dataset.path={csv}", "dataset.target=label", *TINY])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nnfs-train: error:" in err, err
    assert all_runs(store) == []


def test_single_run_without_tracking_makes_no_store(tmp_path, monkeypatch):
    db = tmp_path / "never.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    app.main(["tracking=none", "dataset=xor", *TINY])
    assert not db.exists()


def test_single_run_is_one_run_without_parent(store, capsys):
    app.main(["dataset=moons", "activation=tanh", "tracking.log_model=false", *TINY])
    runs = all_runs(store)
    assert len(runs) == 1
    r = runs[0]
    assert r.info.status == "FINISHED"
    assert "mlflow.parentRunId" not in r.data.tags
    assert r.data.tags["impl"] == "nnfs" and r.data.tags["separable"] == "false"
    assert r.data.params["activation"] == "tanh" and r.data.params["dataset"] == "moons"
    assert r.data.params["model.width"] == "4" and r.data.params["optimizer.name"] == "adam"
    assert r.info.run_name == "dataset=moons activation=tanh tracking.log_model=False " \
        + " ".join(TINY)


def _children(uri: str):
    runs = all_runs(uri)
    parents = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(runs) - 1
    return parent, children


def _check_2x2_sweep(uri: str, epochs: int) -> None:
    parent, children = _children(uri)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["sweep/runs"] == 4 and parent.data.metrics["sweep/finished"] == 4
    assert parent.data.tags["best_run_id"] in {c.info.run_id for c in children}
    assert "activation" in parent.data.tags["grid"]
    assert len(children) == 4
    assert {(c.data.params["activation"], c.data.params["optimizer"]) for c in children} == {
        ("relu", "sgd"), ("relu", "adam"), ("tanh", "sgd"), ("tanh", "adam")}
    client = tracking.get_client(uri)
    for c in children:
        assert c.info.status == "FINISHED", c.data.tags.get("error")
        assert c.info.run_name.startswith("activation=") and "optimizer=" in c.info.run_name
        assert c.data.params["dataset"] == "xor"
        assert c.data.params["optimizer.name"] == c.data.params["optimizer"]
        for key in ("final/test_acc", "final/train_loss", "final/test_loss", "time/fit_s",
                    "time/ms_per_epoch"):
            assert math.isfinite(c.data.metrics[key]), key
        for key in ("train/loss", "test/acc", "lr", "grad_norm/layer_0", "update_ratio/layer_1"):
            steps = [m.step for m in client.get_metric_history(c.info.run_id, key)]
            assert sorted(steps) == list(range(1, epochs + 1)), key
        files = {a.path for a in client.list_artifacts(c.info.run_id)}
        assert "config.yaml" in files
        figures = {a.path for a in client.list_artifacts(c.info.run_id, "figures")}
        assert figures == {"figures/decision_boundary.png", "figures/learning_curves.png",
                           "figures/grad_norms.png"}
        assert c.data.tags["outcome"] == "finished"
        assert c.data.tags["sweep_dir"] == parent.data.tags["sweep_dir"]
        assert c.data.tags["sweep_dir"].startswith(str(Path.cwd()))
        assert c.data.tags["job_dir"].startswith(c.data.tags["sweep_dir"])


def test_sweep_with_the_basic_launcher(store, tmp_path):
    done = nnfs_train(["-m", "activation=relu,tanh", "optimizer=sgd,adam", "dataset=xor",
                       "tracking.log_model=false", *TINY], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_2x2_sweep(store, epochs=4)
    # one line per finished job, with dataset, config, accuracy and seconds
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if "| test_acc=" in ln]
    assert len(lines) == 4, lines
    assert all(" | xor | " in ln and " s | finished" in ln for ln in lines), lines


def test_sweep_with_joblib_on_a_fresh_store(tmp_path, monkeypatch):
    """Two workers and a store that does not exist yet: created once, before the workers."""
    db = tmp_path / "fresh" / "mlflow.db"
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    done = nnfs_train(["-m", "activation=relu,tanh", "optimizer=sgd,adam", "dataset=xor",
                       "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_2x2_sweep(uri, epochs=4)
    # the pyfunc model of a child answers like the net it came from
    _, children = _children(uri)
    assert all(c.data.tags["model_uri"].startswith("models:/") for c in children)


def test_a_diverging_job_fails_alone(store, tmp_path):
    done = nnfs_train(["-m", "dataset=linreg", "optimizer=minibatch",
                       "optimizer.lr=0.01,1000", "tracking.log_model=false", *TINY],
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    parent, children = _children(store)
    by_lr = {c.data.params["optimizer.lr"]: c for c in children}
    assert by_lr["0.01"].info.status == "FINISHED"
    bad = by_lr["1000"]
    assert bad.info.status == "FAILED"
    assert bad.data.tags["outcome"] == "diverged"
    assert "non-finite" in bad.data.tags["diverged_reason"]
    assert int(bad.data.tags["diverged_epoch"]) >= 1
    assert parent.data.metrics["sweep/diverged"] == 1
    assert parent.data.metrics["sweep/finished"] == 1
    assert parent.data.tags["best_run_id"] == by_lr["0.01"].info.run_id


def test_an_exception_inside_a_job_ends_its_run_failed(store):
    cfg = _compose(["dataset=xor", "tracking.log_model=false", *TINY])

    def explode(epoch, metrics):
        if epoch == 2:
            raise RuntimeError("boom at epoch 2")

    with pytest.raises(RuntimeError, match="boom"):
        app.run(cfg, app.JobInfo(run_name="explodes"), callbacks=[explode])
    (r,) = all_runs(store)
    assert r.info.status == "FAILED"
    assert r.data.tags["outcome"] == "error"
    assert r.data.tags["error"] == "RuntimeError: boom at epoch 2"


def test_incompatible_combinations_are_skipped_in_a_sweep(store, tmp_path):
    done = nnfs_train(["-m", "dataset=sine,xor", "loss=mse,cross_entropy",
                       "tracking.log_model=false", "tracking.log_figures=false", *TINY],
                      cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    parent, children = _children(store)
    assert len(children) == 3
    assert parent.data.metrics["sweep/skipped"] == 1
    assert all(c.info.status == "FINISHED" for c in children)


def test_a_study_grid_in_the_sweeper_params_is_expanded_and_named(tmp_path, monkeypatch):
    """+experiment=<name> finds a preset through hydra.searchpath; a grid it keeps in
    hydra.sweeper.params counts in the preflight and names the axes; the command line
    replaces an axis of the study."""
    study = tmp_path / "studies" / "experiment"
    study.mkdir(parents=True)
    (study / "mini.yaml").write_text(
        "# @package _global_\n"
        "train:\n  epochs: 3\n"
        "hydra:\n  sweeper:\n    params:\n      activation: relu,tanh,gelu\n"
        "      dataset: xor,moons\n")
    monkeypatch.setenv("NNFS_EXPERIMENTS", str(tmp_path / "studies"))
    C.register()
    assert app.preflight(["-m", "+experiment=mini"])["n_jobs"] == 6
    assert app.preflight(["-m", "+experiment=mini", "dataset=xor"])["n_jobs"] == 3
    assert app.sweep_grid(["dataset=xor", "seed=1,2"], {"activation": "relu,tanh",
                                                        "dataset": "xor,moons"}) == {
        "activation": ["relu", "tanh"], "dataset": ["xor"], "seed": ["1", "2"]}
    with pytest.raises(SystemExit):
        app.preflight(["-m", "+experiment=mini", "optimizer.lr=-1"])


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["basic", "joblib"])
def test_ctrl_c_leaves_no_run_running(store, tmp_path, launcher):
    """SIGINT in the launching process mid-sweep: exit 130, the parent and every child that
    had started end KILLED (a joblib worker stopped mid-job cannot end its own run)."""
    import os
    import signal
    import subprocess
    import time

    from conftest import NNFS_TRAIN

    cmd = [str(NNFS_TRAIN), "-m", "seed=0,1,2,3", "optimizer=sgd", "train.epochs=400",
           "tracking.log_model=false", "baseline=none", *launcher]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # until the children of the first jobs exist
            if sum(r.info.status == "RUNNING" for r in all_runs(store)) >= 2:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the sweep never started its runs")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    runs = all_runs(store)
    assert runs and all(r.info.status != "RUNNING" for r in runs)
    parent = [r for r in runs if r.data.tags.get("kind") == "sweep"][0]
    assert parent.info.status == "KILLED"
    assert {r.data.tags.get("outcome") for r in runs if r.info.status == "KILLED"} == {
        "interrupted"}
