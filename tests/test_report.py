"""nnfs-report on real MLflow SQLite stores in temporary folders.

Two stores: a small REAL sweep run by `nnfs-train -m` (the proof of issue 6), and a store filled
by hand through MlflowClient with chosen numbers, for the cases a small real sweep does not show
(a running sweep, no baselines, diverged runs, claims, exact leaderboard values).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnfs.report import analysis, make_report
from nnfs.report.cli import main as report_main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers
class _Doc(HTMLParser):
    """Collects <img src> values and the cells of every <table id=...>."""

    def __init__(self):
        super().__init__()
        self.images, self.tables, self._table, self._row, self._cell = [], {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self._table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def parse_html(path: Path) -> _Doc:
    doc = _Doc()
    doc.feed(path.read_text(encoding="utf-8"))
    doc.close()
    return doc


def html_runs_table(doc: _Doc) -> pd.DataFrame:
    """The 'All runs' table (the last table of the report)."""
    key = [k for k in doc.tables if k and k.startswith("table-runs-")][0]
    head, *body = doc.tables[key]
    return pd.DataFrame(body, columns=head)


def md_runs_table(text: str) -> pd.DataFrame:
    block = text.split("**All runs**", 1)[1].strip().splitlines()
    rows = [[c.strip() for c in line.strip().strip("|").split(" | ")]
            for line in block if line.startswith("|")]
    head, _rule, *body = rows
    return pd.DataFrame(body, columns=head)


def child_runs(uri: str, parent_id: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_run(parent_id).info.experiment_id
    return list(client.search_runs([exp], f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                   max_results=1000))


def check_report(result, uri: str) -> tuple[_Doc, pd.DataFrame]:
    """What every report must satisfy: parsable HTML embedding every figure as a PNG, the
    Markdown referencing the same figures as files, and the runs of the sweep, exactly, in the
    HTML, the Markdown and the CSV."""
    doc = parse_html(result.html)
    html = result.html.read_text(encoding="utf-8")
    # opens offline: nothing fetched from elsewhere (no scripts, stylesheets or remote images)
    assert not re.search(r"<script|<link|src=\"(?!data:)", html)
    data_uris = [s for s in doc.images if s.startswith("data:image/png;base64,")]
    assert len(doc.images) == len(data_uris) == result.n_figures > 0
    for src in data_uris:
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_MAGIC)
    md = result.markdown.read_text(encoding="utf-8")
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) == result.n_figures
    for rel in linked:
        assert (result.out_dir / rel).read_bytes().startswith(PNG_MAGIC)

    expected = {r.info.run_id: r for r in child_runs(uri, result.parent_run_id)}
    table = pd.read_csv(result.csv)
    assert sorted(table["run_id"]) == sorted(expected)
    assert sorted(html_runs_table(doc)["run_id"]) == sorted(expected)
    assert sorted(md_runs_table(md)["run_id"]) == sorted(expected)
    for row in table.itertuples():
        run = expected[row.run_id]
        assert row.status == run.info.status
        assert row.impl == run.data.tags.get("impl", "nnfs")
        acc = run.data.metrics.get("final/test_acc")
        if acc is None:
            assert "final/test_acc" not in table or pd.isna(table.loc[row.Index, "final/test_acc"])
        else:
            assert table.loc[row.Index, "final/test_acc"] == pytest.approx(acc)
    # the HTML and Markdown show the same outcome per run as the CSV
    by_id = table.set_index("run_id")["outcome"]
    for frame in (html_runs_table(doc), md_runs_table(md)):
        assert (frame.set_index("run_id")["outcome"] == by_id.loc[frame["run_id"]].values).all()
    return doc, table


# ------------------------------------------------------------------ a small real sweep
SWEEP = ["-m", "activation=relu,tanh", "loss=mse,cross_entropy", "dataset=xor",
         "dataset.n_samples=200", "train.epochs=5", "tracking.log_model=false",
         "tracking.log_dataset=false"]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """`nnfs-train -m` (2 x 2 jobs, 5 epochs on xor) into a temporary store, then the report."""
    root = tmp_path_factory.mktemp("real")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_RUN_ID", None)
    train = Path(sys.executable).with_name("nnfs-train")
    proc = subprocess.run([str(train), *SWEEP, f"hydra.sweep.dir={root / 'multirun'}"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = make_report(uri, "nnfs", "latest", root / "out")
    return uri, result, root


def test_real_sweep_report_embeds_every_figure_and_holds_exactly_its_runs(real):
    uri, result, _ = real
    doc, table = check_report(result, uri)
    nnfs = table[table["impl"] == "nnfs"]
    assert len(nnfs) == 4 and set(nnfs["outcome"]) == {"finished"}
    assert sorted(zip(nnfs["activation"], nnfs["loss"], strict=True)) == [
        ("relu", "cross_entropy"), ("relu", "mse"), ("tanh", "cross_entropy"), ("tanh", "mse")]
    for section in ("overview", "leaderboard", "heatmaps", "curves", "gradients", "boundaries",
                    "speed", "sensitivity", "runs"):
        assert section in result.sections
    # the baselines of issue 5 are sibling runs: an MLP per nnfs run, one logreg for the data
    sk = table[table["impl"] == "sklearn"]
    assert sorted(sk["baseline"]) == ["logreg", "mlp", "mlp", "mlp", "mlp"]
    board = doc.tables["table-leaderboard-1"]
    board = pd.DataFrame(board[1:], columns=board[0]).set_index("model")
    top = nnfs["final/test_acc"].max()
    assert float(board.loc["nnfs (best config)", "mean"]) == pytest.approx(top, abs=5e-4)
    mate = sk[sk["paired_with"] == nnfs.loc[nnfs["final/test_acc"].idxmax(), "run_id"]]
    assert float(board.loc["sklearn MLP (same config)", "mean"]) == pytest.approx(
        mate["final/test_acc"].iloc[0], abs=5e-4)
    assert float(board.loc["LogisticRegression", "mean"]) == pytest.approx(
        sk.loc[sk["baseline"] == "logreg", "final/test_acc"].iloc[0], abs=5e-4)
    # the heatmap's reading names the best cell of the CSV
    best = nnfs.sort_values("final/test_acc", ascending=False).iloc[0]
    assert f"activation={best['activation']} × loss={best['loss']}" in result.html.read_text()
    assert result.artifact_logged


def test_real_sweep_csv_matches_mlflow_params_and_metrics(real):
    uri, result, _ = real
    table = pd.read_csv(result.csv).set_index("run_id")
    for run in child_runs(uri, result.parent_run_id):
        row = table.loc[run.info.run_id]
        if run.data.tags.get("impl", "nnfs") == "nnfs":  # baselines may name axes otherwise
            assert row["activation"] == run.data.params["activation"]
            assert row["loss"] == run.data.params["loss"]
            assert row["dataset"] == run.data.params["dataset"]
        for key in ("final/test_acc", "time/ms_per_epoch"):
            if key in run.data.metrics:
                assert row[key] == pytest.approx(run.data.metrics[key])


def test_real_sweep_boundaries_are_the_runs_own_pngs(real, tmp_path):
    from mlflow import MlflowClient

    from nnfs.report import load, sections

    uri, result, _ = real
    data = load.load_sweep(uri, "nnfs", result.parent_run_id)
    runs = analysis.annotate(data.runs, data.axes)
    panels = sections.boundary_panels(data, runs, tmp_path)
    assert [p[1] for p in panels] == ["best", "worst", "LogisticRegression"]
    client = MlflowClient(tracking_uri=uri)
    for _ds, _col, _title, rid, path in panels:
        name = load.find_artifact(client, rid)
        assert name.endswith("decision_boundary.png")
        logged = client.download_artifacts(rid, name, str(tmp_path / "check" / rid))
        assert Path(path).read_bytes() == Path(logged).read_bytes()
    assert Path(panels[0][4]).read_bytes() != Path(panels[1][4]).read_bytes()


def test_console_script_unknown_experiment_writes_nothing(real):
    uri, _, root = real
    out = root / "never"
    cli = Path(sys.executable).with_name("nnfs-report")
    proc = subprocess.run([str(cli), "--tracking-uri", uri, "--experiment", "nope",
                           "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nope'" in lines[0] and "nnfs" in lines[0]
    assert not out.exists()


# ------------------------------------------------------------------ a store filled by hand
ACC = {"relu": 0.90, "sigmoid": 0.60}
LOSS_BONUS = {"mse": 0.0, "cross_entropy": 0.05}


def _png(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [0, 1])
    fig.savefig(path)
    plt.close(fig)
    return path


def fill_store(root: Path, *, baselines: bool, running: bool = False,
               claims: list | None = None, experiment: str = "hand") -> dict:
    """A parent and its children with the names nnfs sweeps use and chosen numbers:
    xor, activation relu|sigmoid x loss mse|cross_entropy x seed 0|1, 5 epochs, depth 2;
    (sigmoid, mse, seed 1) diverged. With baselines: an MLP per nnfs run, a logreg per seed."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    eid = client.create_experiment(experiment, artifact_location=(root / "art").as_uri())
    png = _png(root / "decision_boundary.png")
    pid = client.create_run(eid, run_name="hand-sweep", tags={"kind": "sweep"}).info.run_id

    def child(name, params, tags, series, finals, status, boundary=True):
        rid = client.create_run(eid, run_name=name,
                                tags={"mlflow.parentRunId": pid, **tags}).info.run_id
        metrics = [Metric(k, float(v), 0, s) for k, vs in series.items()
                   for s, v in enumerate(vs)] + [Metric(k, v, 0, 4) for k, v in finals.items()]
        client.log_batch(rid, metrics=metrics,
                         params=[Param(k, str(v)) for k, v in params.items()])
        if boundary and status == "FINISHED":
            client.log_artifact(rid, str(png), artifact_path="figures")
        if status != "RUNNING":
            client.set_terminated(rid, status=status)
        return rid

    ids = {}
    for seed in (0, 1):
        if baselines:
            ids[("logreg", seed)] = child(
                f"logreg-seed{seed}", {"dataset": "xor", "seed": seed},
                {"impl": "sklearn", "baseline": "logreg"}, {"train/loss": [0.7, 0.69]},
                {"final/test_acc": 0.5, "time/fit_s": 0.01, "time/ms_per_epoch": 1.0}, "FINISHED")
        for act in ACC:
            for loss in LOSS_BONUS:
                acc = ACC[act] + LOSS_BONUS[loss] + 0.01 * seed
                params = {"activation": act, "loss": loss, "seed": seed, "dataset": "xor",
                          "dataset.name": "xor", "model.depth": 2, "optimizer": "adam",
                          "schedule.name": "constant"}
                diverged = (act, loss, seed) == ("sigmoid", "mse", 1)
                grad = 0.25 if act == "sigmoid" else 0.9
                series = {"test/acc": np.linspace(0.5, acc, 5), "train/loss": np.linspace(1, .2, 5)}
                series.update({f"grad_norm/layer_{i}": [grad ** (2 - i)] * 5 for i in range(3)})
                tags = {"impl": "nnfs"}
                finals = {"final/test_acc": acc, "time/fit_s": 0.05, "time/ms_per_epoch": 10.0}
                status = "FINISHED"
                if diverged:
                    tags.update(outcome="diverged", reason="non-finite loss", diverged_epoch="3")
                    series = {k: v[:3] for k, v in series.items()}
                    finals, status = {}, "FAILED"
                if running and (act, loss, seed) == ("relu", "mse", 1):
                    finals, status = {}, "RUNNING"
                rid = child(f"{act}-{loss}-{seed}", params, tags, series, finals, status)
                ids[(act, loss, seed)] = rid
                if baselines and status == "FINISHED":
                    child(f"mlp-{act}-{loss}-{seed}", params,
                          {"impl": "sklearn", "baseline": "mlp", "paired_with": rid},
                          {"train/loss": [1.0, 0.5]},
                          {"final/test_acc": acc - 0.02, "time/fit_s": 0.1,
                           "time/ms_per_epoch": 20.0}, "FINISHED")
    if claims is not None:
        (root / "claims.json").write_text(json.dumps(claims))
        client.log_artifact(pid, str(root / "claims.json"))
    if not running:
        client.set_terminated(pid)
    return {"uri": uri, "parent": pid, "experiment": experiment, "ids": ids}


CLAIMS = [{"claim": "relu beats sigmoid at depth 2", "verdict": "supported",
           "measured": "0.925 vs 0.625", "runs": ["a", "b"]}]


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    root = tmp_path_factory.mktemp("hand")
    store = fill_store(root / "store", baselines=True, claims=CLAIMS)
    result = make_report(store["uri"], store["experiment"], "latest", root / "out")
    return store, result


def test_hand_report_files_agree_with_the_store(hand):
    store, result = hand
    doc, table = check_report(result, store["uri"])
    assert result.parent_run_id == store["parent"]
    assert len(table) == 8 + 7 + 2  # nnfs, their finished MLP twins, one logreg per seed
    assert table.set_index("run_id").loc[store["ids"][("sigmoid", "mse", 1)], "outcome"] \
        == "diverged"
    assert result.artifact_logged


def test_hand_report_sections_and_numbers(hand):
    store, result = hand
    assert result.sections == ("overview", "leaderboard", "heatmaps", "curves", "gradients",
                               "boundaries", "speed", "sensitivity", "claims", "runs")
    doc = parse_html(result.html)
    board = pd.DataFrame(doc.tables["table-leaderboard-1"][1:],
                         columns=doc.tables["table-leaderboard-1"][0]).set_index("model")
    # best nnfs: relu + cross_entropy, seeds 0.95 and 0.96
    assert board.loc["nnfs (best config)", "config"] == "activation=relu, loss=cross_entropy"
    assert float(board.loc["nnfs (best config)", "mean"]) == pytest.approx(0.955)
    assert float(board.loc["nnfs (best config)", "std"]) == pytest.approx(0.005)
    assert float(board.loc["sklearn MLP (same config)", "mean"]) == pytest.approx(0.935)
    assert float(board.loc["LogisticRegression", "mean"]) == pytest.approx(0.5)
    claims = doc.tables["table-claims-1"]
    assert claims[1] == ["relu beats sigmoid at depth 2", "supported", "0.925 vs 0.625",
                         "2 runs: a, b"]
    text = result.html.read_text()
    assert "non-finite loss" in text  # the diverged run with its reason
    # the gradient reading: sigmoid's layer 0 gets 0.25^2 of the output layer's norm
    assert "sigmoid 0.062×" in text and "relu 0.81×" in text


def test_cli_logs_html_on_the_parent_run(hand):
    from mlflow import MlflowClient

    store, result = hand
    client = MlflowClient(tracking_uri=store["uri"])
    assert [a.path for a in client.list_artifacts(store["parent"], "report")] \
        == ["report/index.html"]


def test_running_sweep_without_baselines_adapts(tmp_path):
    store = fill_store(tmp_path / "store", baselines=False, running=True, experiment="live")
    result = make_report(store["uri"], "live", store["parent"], tmp_path / "out",
                         log_artifact=False)
    doc, table = check_report(result, store["uri"])
    assert "claims" not in result.sections and "boundaries" in result.sections
    text = result.html.read_text()
    assert "still running" in text and "No scikit-learn baselines" in text
    assert (table["impl"] == "nnfs").all() and len(table) == 8
    assert table["outcome"].value_counts().to_dict() == {"finished": 6, "diverged": 1,
                                                         "running": 1}
    board = doc.tables["table-leaderboard-1"]
    assert [r[1] for r in board[1:]] == ["nnfs (best config)"]


def _cli(args, tmp_path, capsys):
    out = tmp_path / "never"
    code = report_main([*args, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1 and err.startswith("nnfs-report: error:")
    assert not out.exists()
    return err


def test_unknown_experiment_or_sweep_fails_with_one_line(hand, tmp_path, capsys):
    store, _ = hand
    uri = ["--tracking-uri", store["uri"]]
    err = _cli([*uri, "--experiment", "nope"], tmp_path, capsys)
    assert "'nope'" in err and "hand" in err
    err = _cli([*uri, "--experiment", "hand", "--sweep", "0" * 32], tmp_path, capsys)
    assert "0" * 32 in err
    err = _cli([*uri, "--experiment", "hand", "--sweep", "not-an-id"], tmp_path, capsys)
    assert "not-an-id" in err
    child = store["ids"][("relu", "mse", 0)]
    err = _cli([*uri, "--experiment", "hand", "--sweep", child], tmp_path, capsys)
    assert "child run" in err and store["parent"] in err
    err = _cli(["--tracking-uri", f"sqlite:///{tmp_path / 'missing.db'}"], tmp_path, capsys)
    assert "missing.db" in err
    assert not (tmp_path / "missing.db").exists()
    # nothing listens on port 9: fails at once, in one line, without the password of the URI;
    # the CLI's environment defaults (few HTTP retries) do not outlive the call
    before = dict(os.environ)
    err = _cli(["--tracking-uri", "http://user:secret@127.0.0.1:9"], tmp_path, capsys)
    assert "cannot read the store" in err and "secret" not in err
    assert dict(os.environ) == before


def test_eta_squared_one_way_decomposition():
    # acc = 0.5 + 0.3 [relu] + noise-free: activation explains everything, loss nothing
    rows = [{"impl": "nnfs", "outcome": "finished", "dataset": "d", "activation": a, "loss": l,
             "final/test_acc": 0.5 + 0.3 * (a == "relu")}
            for a in ("relu", "tanh") for l in ("mse", "cross_entropy") for _ in range(2)]
    eta = analysis.eta_squared(pd.DataFrame(rows), {"activation": ["relu", "tanh"],
                                                    "loss": ["mse", "cross_entropy"]})
    assert eta.loc["activation", "d"] == pytest.approx(1.0)
    assert eta.loc["loss", "d"] == pytest.approx(0.0)
    # two additive effects on a balanced grid: shares 0.8 and 0.2 (squares of 0.4 and 0.2)
    rows = [{**r, "final/test_acc": 0.4 * (r["activation"] == "relu")
             + 0.2 * (r["loss"] == "mse")} for r in rows]
    eta = analysis.eta_squared(pd.DataFrame(rows), {"activation": ["relu", "tanh"],
                                                    "loss": ["mse", "cross_entropy"]})
    assert eta.loc["activation", "d"] == pytest.approx(0.8)
    assert eta.loc["loss", "d"] == pytest.approx(0.2)
    assert eta.loc["interactions + noise", "d"] == pytest.approx(0.0, abs=1e-12)


def test_bench_report_times_a_synthetic_store(tmp_path):
    from nnfs.report import bench_report

    out = bench_report(n_runs=12, store_dir=tmp_path / "syn")
    assert out["n_runs"] == 12 and out["synthetic"] is True
    assert 0 < out["report_s"] < 60 and out["n_figures"] >= 6
    again = bench_report(n_runs=12, store_dir=tmp_path / "syn")  # the store is reused
    assert again["store_cached"] is True and again["n_runs"] == 12
