"""Resuming a sweep after a real interruption: the launcher's process group killed with
SIGKILL (nothing can clean up), or Ctrl-C. The rerun of the same command skips every
configuration already FINISHED (same ``config_hash``), reruns the others, and ends KILLED the
runs a dead process left RUNNING. Afterwards: exactly one FINISHED run per configuration."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from conftest import NNFS_TRAIN, all_runs, nnfs_train

from nnfs import tracking

SEEDS = "0,1,2,3,4"
# each job fits for ~1 s (sgd, batch 1): long enough to kill the sweep between jobs
SLOW = ["dataset.n_samples=120", "model.width=4", "baseline=none", "train.epochs=150",
        "optimizer=sgd", "tracking.log_model=false", "tracking.log_figures=false",
        "tracking.log_dataset=false"]


def _nnfs(runs):
    return [r for r in runs if r.data.tags.get("impl") == "nnfs"]


def _interrupt(cmd, cwd, store, sig, *, finished_before: int) -> int:
    """Start ``cmd`` in its own session, wait until ``finished_before`` children FINISHED, send
    ``sig`` to the whole process group; the number of FINISHED children at that moment."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 150
        while time.time() < deadline:
            done = sum(r.info.status == "FINISHED" for r in _nnfs(all_runs(store)))
            if done >= finished_before:
                break
            if proc.poll() is not None:
                pytest.fail("the sweep ended before it could be interrupted")
            time.sleep(0.25)
        else:
            pytest.fail("the sweep never finished its first jobs")
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return sum(r.info.status == "FINISHED" for r in _nnfs(all_runs(store)))


def _check_resumed(store, done, finished_before: int) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    runs = all_runs(store)
    assert all(r.info.status != "RUNNING" for r in runs), [
        (r.info.run_name, r.data.tags.get("kind")) for r in runs if r.info.status == "RUNNING"]
    finished = [r for r in _nnfs(runs) if r.info.status == "FINISHED"]
    # exactly one FINISHED run per configuration, none lost
    per_seed = Counter(r.data.params["seed"] for r in finished)
    assert per_seed == Counter({s: 1 for s in SEEDS.split(",")}), per_seed
    assert len({r.data.tags["config_hash"] for r in finished}) == len(SEEDS.split(","))
    parents = sorted((r for r in runs if r.data.tags.get("kind") == "sweep"),
                     key=lambda r: r.info.start_time)
    assert len(parents) == 2
    first, second = parents
    assert first.info.status == "KILLED" and second.info.status == "FINISHED"
    # the rerun says what it skipped; skipped jobs are not failures
    assert second.data.metrics["sweep/resumed"] == finished_before
    assert second.data.metrics["sweep/errors"] == 0
    assert second.data.metrics["sweep/runs"] == len(SEEDS.split(",")) - finished_before
    # the rerun's parent names the runs it reused, so a report can gather the whole sweep
    reused = set(second.data.tags["resumed_run_ids"].split(",")) - {""}
    assert len(reused) == finished_before
    assert {r.info.run_id for r in finished if r.info.run_id in reused} == reused
    assert {r.data.tags["mlflow.parentRunId"] for r in finished
            if r.info.run_id in reused} == {first.info.run_id}
    text = done.stdout + done.stderr
    assert f"{finished_before} resumed" in text, text[-2000:]
    assert text.count("resumed: FINISHED before") == finished_before


def test_sigkill_of_the_launcher_then_the_rerun_resumes(store, tmp_path):
    cmd = [str(NNFS_TRAIN), "-m", f"seed={SEEDS}", *SLOW]
    finished_before = _interrupt(cmd, tmp_path, store, signal.SIGKILL, finished_before=2)
    assert 2 <= finished_before < len(SEEDS.split(","))
    # SIGKILL: nobody could end the parent or the job that was running
    left_running = [r for r in all_runs(store) if r.info.status == "RUNNING"]
    assert any(r.data.tags.get("kind") == "sweep" for r in left_running)
    assert all("pid" in r.data.tags and "host" in r.data.tags for r in left_running)

    done = nnfs_train(cmd[1:], cwd=tmp_path)
    _check_resumed(store, done, finished_before)
    reaped = {r.info.run_id: r for r in all_runs(store)}
    for r in left_running:
        again = reaped[r.info.run_id]
        assert again.info.status == "KILLED"
        assert again.data.tags["killed_by"].startswith(f"process {r.data.tags['pid']} ")


def test_ctrl_c_then_the_rerun_resumes(store, tmp_path):
    cmd = [str(NNFS_TRAIN), "-m", f"seed={SEEDS}", *SLOW]
    finished_before = _interrupt(cmd, tmp_path, store, signal.SIGINT, finished_before=2)
    assert 2 <= finished_before < len(SEEDS.split(","))
    done = nnfs_train(cmd[1:], cwd=tmp_path)
    _check_resumed(store, done, finished_before)


def test_the_config_hash_ignores_where_a_run_goes():
    """The identity of a configuration: its resolved settings and seed, not the store, the
    experiment, the output folder or the resume flag."""
    base = {"seed": 0, "model.depth": 1, "optimizer.lr": 0.01, "resume": True,
            "tracking.uri": "sqlite:///a.db", "tracking.experiment": "nnfs"}
    moved = {**base, "tracking.uri": "http://user:pw@host:5000", "tracking.experiment": "x",
             "resume": False}
    assert tracking.config_hash(base) == tracking.config_hash(moved)
    assert tracking.config_hash(base) != tracking.config_hash({**base, "seed": 1})
    assert tracking.config_hash(base) != tracking.config_hash({**base, "optimizer.lr": 0.02})
