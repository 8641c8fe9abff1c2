"""The scikit-learn baselines inside real sweeps: real nnfs-train launches (basic and joblib
launchers), real sklearn fits, real MLflow SQLite stores, the real report on the result."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import nnfs_train

EPOCHS = 5
TINY = ["dataset.n_samples=120", f"train.epochs={EPOCHS}", "model.width=4",
        "tracking.log_model=false", "tracking.log_dataset=false"]
GRID = ["dataset=moons,xor", "activation=relu,gelu", "loss=cross_entropy,mse"]


def _launch(tmp: Path, migrated_store: Path, args: list[str]) -> dict:
    """A fresh copy of the migrated store in ``tmp``, nnfs-train run there; its runs."""
    from nnfs import tracking

    tmp.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_store, tmp / "mlflow.db")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    proc = nnfs_train(args, cwd=tmp, env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode == 0, proc.stderr[-3000:]
    client = tracking.get_client(uri)
    exp = client.get_experiment_by_name("nnfs")
    runs = client.search_runs([exp.experiment_id], max_results=1000) if exp else []
    return {"uri": uri, "client": client, "runs": runs, "proc": proc, "dir": tmp}


def _by(runs, **tags) -> list:
    return [r for r in runs if all(r.data.tags.get(k) == v for k, v in tags.items())]


def _children(sweep) -> tuple:
    parents = _by(sweep["runs"], kind="sweep")
    assert len(parents) == 1
    parent = parents[0]
    kids = [r for r in sweep["runs"]
            if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, kids


@pytest.fixture(scope="module")
def sweep(migrated_store, tmp_path_factory) -> dict:
    """dataset x activation x loss = 8 jobs, default baselines (logreg and mlp), basic launcher."""
    return _launch(tmp_path_factory.mktemp("sweep"), migrated_store, ["-m", *GRID, *TINY])


def test_every_nnfs_job_has_an_sklearn_mlp_sibling_under_the_same_parent(sweep):
    parent, kids = _children(sweep)
    nnfs, mlps = _by(kids, impl="nnfs"), _by(kids, impl="sklearn", baseline="mlp")
    assert len(nnfs) == 8 and len(mlps) == 8
    assert all(r.info.status == "FINISHED" for r in kids)
    assert sorted(m.data.tags["paired_with"] for m in mlps) == sorted(r.info.run_id for r in nnfs)
    by_id = {r.info.run_id: r for r in nnfs}
    for m in mlps:
        mate = by_id[m.data.tags["paired_with"]]
        # the pair shares its axis params (the UI and the report group on them)
        for key in ("dataset", "activation", "loss", "model.depth", "seed"):
            assert m.data.params[key] == mate.data.params[key], key
        assert m.data.params["sklearn.max_iter"] == str(EPOCHS)
        assert m.data.tags["estimator"] == "MLPClassifier"
    # the parent's summary counts the nnfs children only
    assert parent.data.metrics["sweep/runs"] == 8
    assert parent.info.status == "FINISHED"


def test_one_logreg_per_dataset_pairs_with_all_its_nnfs_runs(sweep):
    _, kids = _children(sweep)
    logregs = _by(kids, impl="sklearn", baseline="logreg")
    assert sorted(r.data.params["dataset.name"] for r in logregs) == ["moons", "xor"]
    for lr in logregs:
        ds = lr.data.params["dataset.name"]
        mates = {r.info.run_id for r in _by(kids, impl="nnfs") if r.data.params["dataset"] == ds}
        assert len(mates) == 4
        assert set(lr.data.tags["paired_with"].split(",")) == mates
        assert "activation" not in lr.data.params  # it knows no network
        assert lr.data.tags["estimator"] == "LogisticRegression"


def test_mlp_baseline_trains_exactly_the_configured_epochs(sweep):
    client = sweep["client"]
    for m in _by(sweep["runs"], baseline="mlp"):
        steps = [p.step for p in client.get_metric_history(m.info.run_id, "train/loss")]
        assert sorted(steps) == list(range(1, EPOCHS + 1))
        assert m.data.tags["epochs_run"] == str(EPOCHS)
        for key in ("final/test_acc", "time/fit_s", "time/ms_per_epoch"):
            assert key in m.data.metrics


def test_substitutions_are_tags_of_the_mlp_run(sweep):
    by_id = {r.info.run_id: r for r in _by(sweep["runs"], impl="nnfs")}
    for m in _by(sweep["runs"], baseline="mlp"):
        mate = by_id[m.data.tags["paired_with"]].data.params
        subs = {k: v for k, v in m.data.tags.items() if k.startswith("substituted.")}
        expected = {}
        if mate["activation"] == "gelu":
            expected["substituted.activation"] = "gelu->relu"
        if mate["loss"] == "mse":
            expected["substituted.loss"] = "mse->cross_entropy"
        assert subs == expected


def test_deltas_are_nnfs_minus_baseline(sweep):
    runs = sweep["runs"]
    mlp_of = {m.data.tags["paired_with"]: m for m in _by(runs, baseline="mlp")}
    logreg_of = {pid: lr for lr in _by(runs, baseline="logreg")
                 for pid in lr.data.tags["paired_with"].split(",")}
    for r in _by(runs, impl="nnfs"):
        acc = r.data.metrics["final/test_acc"]
        mlp_acc = mlp_of[r.info.run_id].data.metrics["final/test_acc"]
        lr_acc = logreg_of[r.info.run_id].data.metrics["final/test_acc"]
        assert r.data.metrics["delta_vs_sklearn_mlp/test_acc"] == pytest.approx(acc - mlp_acc)
        assert r.data.metrics["delta_vs_logreg/test_acc"] == pytest.approx(acc - lr_acc)


def test_baselines_log_the_decision_boundary_of_2d_sets(sweep):
    client = sweep["client"]
    for r in _by(sweep["runs"], impl="sklearn"):
        paths = [a.path for a in client.list_artifacts(r.info.run_id, "figures")]
        assert paths == ["figures/decision_boundary.png"]


def test_jobs_receive_the_tracking_uri(sweep):
    hydra_yaml = next(sweep["dir"].glob("multirun/*/*/0/.hydra/hydra.yaml"))
    env_set = yaml.safe_load(hydra_yaml.read_text())["hydra"]["job"]["env_set"]
    assert env_set["MLFLOW_TRACKING_URI"] == sweep["uri"]


def test_report_ranks_the_sklearn_baselines(sweep, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([str(Path(sys.executable).parent / "nnfs-report"), "--tracking-uri",
                           sweep["uri"], "--out", str(out), "--no-log-artifact"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    md = (out / "report.md").read_text()
    board = md.split("**Leaderboard**", 1)[1].split("\n\n## ", 1)[0]
    for ds in ("moons", "xor"):
        rows = [ln for ln in board.splitlines() if ln.startswith(f"| {ds} |")]
        models = [ln.split("|")[2].strip() for ln in rows]
        assert models[0] == "nnfs (best config)"
        assert "sklearn MLP (same config)" in models and "LogisticRegression" in models
        # the sklearn MLP row is at the nnfs row's configuration (paired_with resolved)
        same = next(ln for ln in rows if "sklearn MLP (same config)" in ln)
        assert same.split("|")[3] == rows[0].split("|")[3]


def test_joblib_workers_still_fit_one_logreg_per_dataset(migrated_store, tmp_path):
    # two workers start at once on the same data: the race the lock file is there for
    sweep = _launch(tmp_path, migrated_store,
                    ["-m", "activation=relu,gelu", "seed=1", *TINY,
                     "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"])
    _, kids = _children(sweep)
    logregs = _by(kids, baseline="logreg")
    assert [r.data.params["dataset.name"] for r in logregs] == ["moons"]
    nnfs = _by(kids, impl="nnfs")
    assert len(nnfs) == 2 and len(_by(kids, baseline="mlp")) == 2
    assert len({r.data.tags["job_dir"] for r in nnfs}) == 2
    paired = sorted(p for r in logregs for p in r.data.tags["paired_with"].split(","))
    assert paired == sorted(r.info.run_id for r in nnfs)


def test_baseline_none_fits_no_sklearn_model(migrated_store, tmp_path):
    sweep = _launch(tmp_path, migrated_store,
                    ["-m", "activation=relu,gelu", "seed=2", *TINY, "baseline=none"])
    _, kids = _children(sweep)
    assert len(kids) == 2 and not _by(kids, impl="sklearn")
    assert not any(k.startswith("delta_") for r in kids for k in r.data.metrics)


def test_single_run_logs_its_baselines_as_separate_paired_runs(migrated_store, tmp_path):
    sweep = _launch(tmp_path, migrated_store, ["seed=3", *TINY])
    (nnfs,) = _by(sweep["runs"], impl="nnfs")
    sk = _by(sweep["runs"], impl="sklearn")
    assert sorted(r.data.tags["baseline"] for r in sk) == ["logreg", "mlp"]
    for r in sk:
        assert r.data.tags["paired_with"] == nnfs.info.run_id
        assert "mlflow.parentRunId" not in r.data.tags
    assert "delta_vs_logreg/test_acc" in nnfs.data.metrics


def test_without_tracking_one_baseline_is_fitted_and_only_printed(migrated_store, tmp_path):
    sweep = _launch(tmp_path, migrated_store, ["seed=4", *TINY, "tracking=none", "baseline=mlp"])
    assert sweep["runs"] == []
    out = sweep["proc"].stdout + sweep["proc"].stderr
    line = next(ln for ln in out.splitlines() if "baselines:" in ln)
    assert "mlp test_acc=" in line and "logreg" not in line


def test_a_failing_launcher_ends_the_parent_failed(migrated_store, tmp_path):
    from nnfs import tracking

    shutil.copyfile(migrated_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = nnfs_train(["-m", "activation=relu,gelu", *TINY, "baseline=none",
                       "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"],
                      cwd=tmp_path, env={"MLFLOW_TRACKING_URI": uri})
    assert proc.returncode != 0
    client = tracking.get_client(uri)
    exp = client.get_experiment_by_name("nnfs")
    (parent,) = client.search_runs([exp.experiment_id], "tags.kind = 'sweep'")
    assert parent.info.status == "FAILED"
    assert "n_jobs == 0" in parent.data.tags["error"]


def test_a_diverging_sklearn_mlp_ends_its_run_diverged_and_the_job_goes_on(migrated_store,
                                                                          tmp_path):
    sweep = _launch(tmp_path, migrated_store, ["seed=5", *TINY, "optimizer=sgd",
                                               "optimizer.lr=1e5", "baseline=mlp"])
    (mlp,) = _by(sweep["runs"], baseline="mlp")
    assert mlp.info.status == "FAILED"
    assert mlp.data.tags["outcome"] == "diverged"
    assert "non-finite" in mlp.data.tags["diverged_reason"]
    (nnfs,) = _by(sweep["runs"], impl="nnfs")
    assert nnfs.data.tags["outcome"] == "diverged"
    assert not any(k.startswith("delta_") for k in nnfs.data.metrics)
