"""Bad input through the real ``nnfs-train`` / ``nnfs-report`` commands: a table of cases, each
in its own folder with its own store. For each: exit code non-zero, ONE line on stderr naming
the key, the value and what is allowed (no traceback), and no MLflow run in the store.

The commands stop in the preflight (about a second each), so the table runs three at a time.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import TINY, all_runs, nnfs_train

from nnfs import tracking

NNFS_REPORT = Path(sys.executable).parent / "nnfs-report"


def _closed_port() -> int:
    """A local port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _csv(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


GOOD_ROWS = "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40))

# (id, argv builder (folder -> argv), text the line must contain: key=value, what is allowed)
CASES = [
    # every config group: an unknown option, with the valid ones listed
    ("group dataset", lambda d: ["dataset=mnist"], ["dataset=mnist", "allowed", "spiral"]),
    ("group features", lambda d: ["features=nope"], ["features=nope", "allowed", "cross"]),
    ("group optimizer", lambda d: ["optimizer=adamx"], ["optimizer=adamx", "allowed", "adamw"]),
    ("group schedule", lambda d: ["schedule=cyclic"],
     ["schedule=cyclic", "allowed", "warmup_cosine"]),
    ("group train", lambda d: ["train=slow"], ["train=slow", "allowed", "quick"]),
    ("group tracking", lambda d: ["tracking=cloud"], ["tracking=cloud", "allowed", "sqlite"]),
    ("group baseline", lambda d: ["baseline=xgboost"], ["baseline=xgboost", "allowed", "none"]),
    ("group experiment", lambda d: ["+experiment=nope"], ["experiment=nope", "allowed"]),
    ("value activation", lambda d: ["activation=relux"], ["activation=relux", "gelu"]),
    ("value loss", lambda d: ["loss=hinge"], ["loss=hinge", "cross_entropy"]),
    ("unknown key", lambda d: ["model.deep=3"], ["model.deep=3", "depth"]),
    # wrong types
    ("type depth", lambda d: ["model.depth=abc"], ["model.depth=abc", "Integer"]),
    ("type lr", lambda d: ["optimizer.lr=fast"], ["optimizer.lr=fast", "Float"]),
    ("type seed", lambda d: ["seed=x"], ["seed=x", "Integer"]),
    ("type precision", lambda d: ["train.precision=half"], ["train.precision=half", "mixed"]),
    # out of range
    ("lr 0", lambda d: ["optimizer.lr=0"], ["optimizer.lr=0", "> 0"]),
    ("lr negative", lambda d: ["optimizer.lr=-0.1"], ["optimizer.lr=-0.1", "> 0"]),
    ("depth negative", lambda d: ["model.depth=-1"], ["model.depth=-1", ">= 0"]),
    ("width 0", lambda d: ["model.width=0"], ["model.width=0", "> 0"]),
    ("batch_size 0", lambda d: ["train.batch_size=0"], ["train.batch_size=0", "null"]),
    ("epochs 0", lambda d: ["train.epochs=0"], ["train.epochs=0", "> 0"]),
    ("test_size 0", lambda d: ["dataset.test_size=0"], ["dataset.test_size=0", "(0, 1)"]),
    ("test_size 1", lambda d: ["dataset.test_size=1"], ["dataset.test_size=1", "(0, 1)"]),
    ("momentum 1", lambda d: ["optimizer=momentum", "optimizer.momentum=1"],
     ["optimizer.momentum=1", "[0, 1)"]),
    ("momentum negative", lambda d: ["optimizer=momentum", "optimizer.momentum=-0.1"],
     ["optimizer.momentum=-0.1", "[0, 1)"]),
    ("beta1 1", lambda d: ["optimizer.beta1=1"], ["optimizer.beta1=1", "[0, 1)"]),
    ("beta2 negative", lambda d: ["optimizer.beta2=-0.5"], ["optimizer.beta2=-0.5", "[0, 1)"]),
    ("clip_norm 0", lambda d: ["train.clip_norm=0"], ["train.clip_norm=0", "> 0"]),
    ("clip_value negative", lambda d: ["train.clip_value=-1"], ["train.clip_value=-1", "> 0"]),
    ("noise negative", lambda d: ["dataset.noise=-0.1"], ["dataset.noise=-0.1", ">= 0"]),
    # a bad value in one job of a sweep stops the whole sweep before its parent run
    ("sweep bad lr", lambda d: ["-m", "optimizer.lr=0.1,-1", "activation=relu,tanh"],
     ["optimizer.lr=-1", "> 0"]),
    # CSV problems
    ("csv missing file", lambda d: ["dataset=csv", f"dataset.path={d}/absent.csv",
                                    "dataset.target=label"], ["absent.csv"]),
    ("csv no path", lambda d: ["dataset=csv"], ["dataset.path=null", "CSV"]),
    ("csv missing target", lambda d: ["dataset=csv", "dataset.target=label", "dataset.path="
                                      + str(_csv(d, "t.csv", "a,b,y\n" + GOOD_ROWS))],
     ["label", "y"]),
    ("csv NaN", lambda d: ["dataset=csv", "dataset.target=label", "dataset.path="
                           + str(_csv(d, "n.csv", "a,b,label\n1,nan,0\n" + GOOD_ROWS))],
     ["NaN"]),
    ("csv non-numeric", lambda d: ["dataset=csv", "dataset.target=label", "dataset.path="
                                   + str(_csv(d, "s.csv", "a,b,label\n1,abc,0\n" + GOOD_ROWS))],
     ["s.csv", "non-numeric", "allowed"]),
    ("csv one class", lambda d: ["dataset=csv", "dataset.target=label", "dataset.path="
                                 + str(_csv(d, "c.csv", "a,b,label\n" + "".join(
                                     f"{i},{i % 3},1\n" for i in range(30))))],
     ["class"]),
    # a tracking server that does not answer: one GET, a few seconds, no traceback
    ("server closed port", lambda d: [f"tracking.uri=http://127.0.0.1:{_closed_port()}"],
     ["tracking.uri=http://127.0.0.1:", "allowed", "does not answer|no answer"]),
    ("server with password", lambda d: [
        f"tracking.uri=http://user:secret@127.0.0.1:{_closed_port()}/"],
     ["tracking.uri=http://127.0.0.1:", "allowed"]),
    ("sqlite under a file", lambda d: [f"tracking.uri=sqlite:///{_csv(d, 'f', 'x')}/m.db"],
     ["tracking.uri=sqlite:///", "is a file", "allowed"]),
    # an output folder that cannot be created (root ignores chmod: a path under a file)
    ("run dir under a file", lambda d: [f"hydra.run.dir={_csv(d, 'afile', 'x')}/out"],
     ["hydra.run.dir=", "afile is a file", "allowed"]),
    ("sweep dir under a file", lambda d: ["-m", "seed=0,1",
                                          f"hydra.sweep.dir={_csv(d, 'bfile', 'x')}/out"],
     ["hydra.sweep.dir=", "bfile is a file", "allowed"]),
]


def _argv(args: list[str]) -> list[str]:
    """-m first, then the small defaults, then the case (which wins over them)."""
    flags = [a for a in args if a == "-m"]
    return [*flags, *TINY, *[a for a in args if a != "-m"]]


def _report(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(NNFS_REPORT), *args], cwd=folder, capture_output=True,
                          text=True, timeout=120)


REPORT_CASES = [
    ("report unknown experiment", ["--experiment", "nope"], ["nope", "known"]),
    ("report unknown sweep", ["--sweep", "0123456789abcdef0123456789abcdef"],
     ["0123456789abcdef0123456789abcdef"]),
]


@pytest.fixture(scope="module")
def outcomes(migrated_store, tmp_path_factory):
    """Every case run once (three at a time): id -> (CompletedProcess, store uri)."""
    jobs = []
    for name, argv, _ in CASES:
        folder = tmp_path_factory.mktemp("bad")
        shutil.copyfile(migrated_store, folder / "mlflow.db")
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        jobs.append((name, folder, uri, lambda f=folder, a=argv, u=uri: nnfs_train(
            _argv(a(f)), cwd=f, env={"MLFLOW_TRACKING_URI": u}, timeout=120)))
    for name, argv, _ in REPORT_CASES:
        folder = tmp_path_factory.mktemp("report")
        shutil.copyfile(migrated_store, folder / "mlflow.db")
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        tracking.get_client(uri).create_experiment("nnfs")  # an experiment without sweeps
        jobs.append((name, folder, uri, lambda f=folder, a=argv, u=uri: _report(
            ["--tracking-uri", u, *a, "--out", str(f / "rep")], f)))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: (pool.submit(fn), uri) for name, _, uri, fn in jobs}
        return {name: (f.result(), uri) for name, (f, uri) in futures.items()}


def test_the_table_is_big_enough():
    assert len(CASES) + len(REPORT_CASES) >= 25


@pytest.mark.parametrize(("name", "expected"), [(c[0], c[2]) for c in CASES + REPORT_CASES],
                         ids=[c[0] for c in CASES + REPORT_CASES])
def test_bad_input_fails_in_one_line_without_a_run(name, expected, outcomes):
    done, uri = outcomes[name]
    err = done.stderr.strip()
    assert done.returncode != 0, (done.stdout[-500:], err[-1500:])
    assert "Traceback" not in err, err[-2000:]
    lines = err.splitlines()
    assert len(lines) == 1, err[-2000:]
    line = lines[0]
    assert line.startswith(("nnfs-train: error: ", "nnfs-report: error: ")), line
    for text in expected:
        assert any(alt in line for alt in text.split("|")), (text, line)
    assert "secret" not in line
    assert all_runs(uri) == [], line
    assert not (Path(uri[len("sqlite:///"):]).parent / "multirun").exists()


def test_a_combination_that_cannot_run_is_skipped_and_counted(store, tmp_path):
    """Inside a sweep an incompatible combination (cross_entropy on regression data) is
    skipped with its reason, the others run, the parent counts it."""
    done = nnfs_train(["-m", "dataset=sine,xor", "loss=mse,cross_entropy",
                       "tracking.log_model=false", "tracking.log_figures=false",
                       "tracking.log_dataset=false", *TINY], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "skipping 1 of 4 jobs" in done.stderr and "cross_entropy" in done.stderr
    runs = all_runs(store)
    parent = next(r for r in runs if r.data.tags.get("kind") == "sweep")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3 and all(c.info.status == "FINISHED" for c in children)
    assert parent.data.metrics["sweep/skipped"] == 1
    assert {(c.data.params["dataset"], c.data.params["loss"]) for c in children} == {
        ("sine", "mse"), ("xor", "mse"), ("xor", "cross_entropy")}
