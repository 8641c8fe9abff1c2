"""Same config + same seed = the same numbers, bit for bit: a sweep over float64 and float32
under the basic launcher, then the same command under joblib (the first sweep completed, so
the rerun is a new sweep that runs every job: nothing is resumed, which is also checked),
metric histories compared from the store."""

from __future__ import annotations

from conftest import all_runs, nnfs_train

from nnfs import tracking

EPOCHS = 5
ARGS = ["-m", "train.precision=float64,float32", "seed=7", "dataset=moons",
        "dataset.n_samples=200", f"train.epochs={EPOCHS}", "model.width=5", "model.depth=2",
        "optimizer=adam", "train.batch_size=16", "baseline=none", "tracking.log_model=false",
        "tracking.log_figures=false", "tracking.log_dataset=false"]


def _histories(client, run) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a run but wall times, as (step, value) in step order."""
    out = {}
    for key in run.data.metrics:
        if key.startswith("time/"):
            continue
        points = client.get_metric_history(run.info.run_id, key)
        out[key] = sorted((m.step, m.value) for m in points)
    return out


def test_same_config_and_seed_give_identical_metrics_under_both_launchers(store, tmp_path):
    basic = nnfs_train(ARGS, cwd=tmp_path)
    assert basic.returncode == 0, basic.stderr[-3000:]
    # the same command again, under joblib: the sweep completed, so every job runs again
    joblib = nnfs_train([*ARGS, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                        cwd=tmp_path)
    assert joblib.returncode == 0, joblib.stderr[-3000:]
    assert "0 resumed" in joblib.stdout + joblib.stderr
    parents = sorted((r for r in all_runs(store) if r.data.tags.get("kind") == "sweep"),
                     key=lambda r: r.info.start_time)
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert parents[0].data.tags["sweep_hash"] == parents[1].data.tags["sweep_hash"]
    assert parents[1].data.metrics["sweep/finished"] == 2
    assert parents[1].data.metrics["sweep/resumed"] == 0

    client = tracking.get_client(store)
    runs = [r for r in all_runs(store) if r.data.tags.get("impl") == "nnfs"]
    assert len(runs) == 4 and all(r.info.status == "FINISHED" for r in runs)
    by_precision: dict[str, list] = {}
    for r in runs:
        by_precision.setdefault(r.data.params["train.precision"], []).append(r)
    assert sorted(by_precision) == ["float32", "float64"]
    histories = {}
    for precision, (a, b) in by_precision.items():
        assert a.data.tags["config_hash"] == b.data.tags["config_hash"]
        ha, hb = _histories(client, a), _histories(client, b)
        assert len(ha) >= 8
        assert all(len(v) == EPOCHS for k, v in ha.items() if not k.startswith("final/"))
        assert ha == hb, precision  # bit for bit: floats compared with ==
        finals_a = {k: v for k, v in a.data.metrics.items() if not k.startswith("time/")}
        finals_b = {k: v for k, v in b.data.metrics.items() if not k.startswith("time/")}
        assert finals_a == finals_b
        histories[precision] = ha
    # and the comparison can fail: the two precisions do differ
    assert histories["float32"]["train/loss"] != histories["float64"]["train/loss"]
