"""Resuming a sweep after a real interruption: the launcher's process group killed with
SIGKILL (nothing can clean up), or Ctrl-C. The rerun of the same command reattaches to the
interrupted parent run (same ``sweep_hash``), skips the configurations FINISHED under it (same
``config_hash``), reruns the others there, and ends KILLED the runs a dead process left RUNNING.
Afterwards: one parent, exactly one FINISHED run per configuration under it. ``resume=false``
starts a fresh parent and runs everything (a completed sweep rerun does too:
tests/test_reliability_determinism.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from conftest import NNFS_TRAIN, all_runs, nnfs_train

from nnfs import tracking

SEEDS = "0,1,2,3"
# each job fits for ~1 s (sgd, batch 1): long enough to kill the sweep between jobs
SLOW = ["dataset.n_samples=120", "train.epochs=150", "optimizer=sgd",
        "tracking.log_model=false", "tracking.log_figures=false", "tracking.log_dataset=false"]
BY_SEED = [f"seed={SEEDS}", "model.width=4", "baseline=none", *SLOW]
# one data for all jobs: a single LogisticRegression per parent, shared across the attempts
WIDTHS = "3,4,5,6"
BY_WIDTH = [f"model.width={WIDTHS}", "seed=0", "baseline=logreg", *SLOW]


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


def _parents(store) -> list:
    return sorted((r for r in all_runs(store) if r.data.tags.get("kind") == "sweep"),
                  key=lambda r: r.info.start_time)


def _children(store, parent) -> list:
    return [r for r in _nnfs(all_runs(store))
            if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def _one_finished_per_config(runs, key: str = "seed", values: str = SEEDS) -> None:
    finished = [r for r in runs if r.info.status == "FINISHED"]
    per_value = Counter(r.data.params[key] for r in finished)
    assert per_value == Counter({v: 1 for v in values.split(",")}), per_value
    assert len({r.data.tags["config_hash"] for r in finished}) == len(values.split(","))


def _check_resumed(store, done, first, finished_before: int, key: str = "seed",
                   values: str = SEEDS) -> None:
    """The rerun reused the interrupted parent ``first``: one parent, FINISHED, one FINISHED
    run per seed under it, the interrupted ones KILLED, the summary counting all of them."""
    assert done.returncode == 0, done.stderr[-3000:]
    runs = all_runs(store)
    assert all(r.info.status != "RUNNING" for r in runs), [
        (r.info.run_name, r.data.tags.get("kind")) for r in runs if r.info.status == "RUNNING"]
    (parent,) = _parents(store)
    assert parent.info.run_id == first.info.run_id
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["resumed"] == "true" and parent.data.tags["resumes"] == "1"
    assert parent.data.tags["sweep_hash"] == first.data.tags["sweep_hash"]
    assert parent.data.tags["pid"] != first.data.tags["pid"]  # the rerun's process owns it
    children = _children(store, parent)
    assert len(children) == len(_nnfs(runs))  # every nnfs run of the store is under it
    _one_finished_per_config(children, key, values)
    status = Counter(r.info.status for r in children)
    assert set(status) <= {"FINISHED", "KILLED"}, status
    m = parent.data.metrics
    assert m["sweep/finished"] == len(values.split(","))  # both attempts
    assert m["sweep/resumed"] == finished_before  # skipped by the rerun
    assert m["sweep/killed"] == status["KILLED"]
    assert m["sweep/runs"] == len(children) and m["sweep/errors"] == 0
    text = done.stdout + done.stderr
    assert f"{finished_before} resumed" in text, text[-2000:]
    assert text.count("resumed: FINISHED before") == finished_before


def test_sigkill_of_the_launcher_then_the_rerun_resumes(store, tmp_path):
    cmd = [str(NNFS_TRAIN), "-m", *BY_SEED]
    finished_before = _interrupt(cmd, tmp_path, store, signal.SIGKILL, finished_before=2)
    assert 2 <= finished_before < len(SEEDS.split(","))
    # SIGKILL: nobody could end the parent or the job that was running
    left_running = [r for r in all_runs(store) if r.info.status == "RUNNING"]
    assert any(r.data.tags.get("kind") == "sweep" for r in left_running)
    assert all("pid" in r.data.tags and "host" in r.data.tags for r in left_running)
    (first,) = _parents(store)

    done = nnfs_train(cmd[1:], cwd=tmp_path)
    _check_resumed(store, done, first, finished_before)
    reaped = {r.info.run_id: r for r in all_runs(store)}
    for r in left_running:
        if r.data.tags.get("kind") == "sweep":
            continue  # the parent: KILLED, then reused
        again = reaped[r.info.run_id]
        assert again.info.status == "KILLED"
        assert again.data.tags["killed_by"].startswith(f"process {r.data.tags['pid']} ")


def test_ctrl_c_then_the_rerun_resumes_and_keeps_one_logreg(store, tmp_path):
    cmd = [str(NNFS_TRAIN), "-m", *BY_WIDTH]
    finished_before = _interrupt(cmd, tmp_path, store, signal.SIGINT, finished_before=2)
    assert 2 <= finished_before < len(WIDTHS.split(","))
    (first,) = _parents(store)
    assert first.info.status == "KILLED"  # Ctrl-C: the launcher ended it itself
    done = nnfs_train(cmd[1:], cwd=tmp_path)
    _check_resumed(store, done, first, finished_before, "model.width", WIDTHS)
    # the logreg of the first attempt is found again under the parent, not fitted twice,
    # and every FINISHED nnfs run of both attempts is paired with it
    logreg = [r for r in all_runs(store) if r.data.tags.get("baseline") == "logreg"
              and r.info.status == "FINISHED"]
    assert len(logreg) == 1, [(r.info.run_name, r.info.status) for r in logreg]
    assert logreg[0].data.tags["mlflow.parentRunId"] == first.info.run_id
    finished = {r.info.run_id for r in _children(store, first) if r.info.status == "FINISHED"}
    assert finished <= set(logreg[0].data.tags["paired_with"].split(","))


def test_resume_false_after_an_interruption_starts_a_fresh_sweep(store, tmp_path):
    cmd = [str(NNFS_TRAIN), "-m", *BY_SEED]
    finished_before = _interrupt(cmd, tmp_path, store, signal.SIGKILL, finished_before=1)
    (first,) = _parents(store)
    before = {r.info.run_id: r.info.status for r in _children(store, first)}
    done = nnfs_train([*cmd[1:], "resume=false"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    old, new = _parents(store)
    assert old.info.run_id == first.info.run_id and old.info.status == "KILLED"
    # the interrupted sweep keeps its runs (the dead process's RUNNING ones now KILLED)
    after = {r.info.run_id: r.info.status for r in _children(store, old)}
    assert after.keys() == before.keys()
    assert Counter(after.values())["FINISHED"] == finished_before
    assert "RUNNING" not in after.values()
    assert new.info.status == "FINISHED" and new.data.metrics["sweep/resumed"] == 0
    _one_finished_per_config(_children(store, new))
    assert len(_children(store, new)) == len(SEEDS.split(","))


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
