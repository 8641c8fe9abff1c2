"""Studies: presets compose, verdicts on synthetic run tables (both outcomes of every claim),
extra metrics on tiny real fits, and one shrunken study end to end in a temporary MLflow store."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nnfs import studies
from nnfs.studies import FAILS, HOLDS, UNSURE

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
JITTER = (-0.004, 0.0, 0.004)  # per seed, so every group has a small nonzero spread


# ------------------------------------------------------------------------ synthetic tables
def table(rows: list[dict]) -> pd.DataFrame:
    """A run table as nnfs.report.load.runs_frame makes it: run_id, impl, outcome, axes,
    metrics (plus derived columns)."""
    out = []
    for i, r in enumerate(rows):
        out.append({"run_id": f"run{i:03d}", "impl": "nnfs", "baseline": None,
                    "status": "FINISHED", "outcome": "finished", **r})
    return pd.DataFrame(out)


def grid(values, **axes) -> list[dict]:
    """One row per combination of ``axes`` and seed; ``values(combo)`` -> metrics dict (each
    number shifted by the seed's jitter)."""
    rows = []
    keys = list(axes)
    for combo in itertools.product(*axes.values()):
        point = dict(zip(keys, combo, strict=True))
        for seed, j in zip(SEEDS, JITTER, strict=True):
            metrics = values(point)
            rows.append({**point, "seed": seed, **{
                k: (v + j * abs(v) if isinstance(v, float) and math.isfinite(v) else v)
                for k, v in metrics.items()}})
    return rows


def setv(frame: pd.DataFrame, col: str, value, **where) -> pd.DataFrame:
    """A copy of ``frame`` with ``col`` = ``value`` on the rows matching ``where``."""
    out = frame.copy()
    mask = pd.Series(True, index=out.index)
    for k, v in where.items():
        mask &= out[k.replace("__", ".")] == v
    assert mask.any(), where
    if col not in out:
        out[col] = np.nan
    out[col] = out[col].astype(object)
    out.loc[mask, col] = value
    if all(isinstance(v, int | float) for v in out[col].dropna()):
        out[col] = out[col].astype(float)
    return out


def least_squares() -> pd.DataFrame:
    def values(p):
        lr = p["optimizer.lr"]
        stable = lr < 0.86
        return {"final/lstsq_max_abs_diff": 1e-10 if lr >= 0.3 else 1e-2,
                "final/gd_max_stable_lr": 0.86, "derived/start_loss": 6.0,
                "derived/end_loss": 0.01 if stable else math.inf,
                "derived/epochs_to_tol": {0.003: 301.0, 0.03: 120.0, 0.3: 8.0}.get(lr, 301.0)}
    f = table(grid(values, **{"optimizer.lr": [0.003, 0.03, 0.3, 1.2]}))
    return setv(f, "outcome", "diverged", optimizer__lr=1.2)


def separability() -> pd.DataFrame:
    sep = ("linear", "breast_cancer")

    def values(p):
        acc = 0.97 if p["model.depth"] == 2 or p["dataset"] in sep else 0.5
        return {"final/test_acc": acc}
    axes = {"dataset": ["linear", "breast_cancer", "xor", "circles", "spiral"]}
    nnfs = grid(values, **axes, **{"model.depth": [0, 2]})
    sk = [{**r, "impl": "sklearn", "baseline": "logreg"}
          for r in grid(lambda p: values({**p, "model.depth": 0}), **axes)]
    return table(nnfs + sk)


def feature_cross() -> pd.DataFrame:
    def values(p):
        if p["model.depth"] == 2:
            return {"final/test_acc": 0.97}
        good = (p["dataset"], p["features"]) in (("xor", "cross"), ("circles", "squares"))
        return {"final/test_acc": 0.98 if good else 0.5}
    return table(grid(values, dataset=["xor", "circles"], features=["raw", "cross", "squares"],
                      **{"model.depth": [0, 2]}))


def nonlinearity() -> pd.DataFrame:
    def values(p):
        linear = p["model.depth"] == 0 or p["activation"] == "identity"
        return {"final/test_acc": 0.5 if linear else 0.95}
    return table(grid(values, dataset=["xor", "circles"],
                      activation=["identity", "sigmoid", "relu"], **{"model.depth": [0, 1, 2]}))


def vanishing_gradients() -> pd.DataFrame:
    ratio = {("sigmoid", 2): -0.5, ("sigmoid", 6): -3.0, ("sigmoid", 10): -6.0}
    epochs = {("sigmoid", 2): 5.0, ("sigmoid", 6): 20.0, ("sigmoid", 10): 61.0}

    def values(p):
        key = (p["activation"], p["model.depth"])
        return {"derived/log10_grad_ratio": ratio.get(key, 0.1),
                "derived/epochs_to_loss": epochs.get(key, 3.0)}
    return table(grid(values, activation=["sigmoid", "relu", "gelu"],
                      **{"model.depth": [2, 6, 10]}))


def loss_choice() -> pd.DataFrame:
    def values(p):
        return {"final/wrong_grad_ratio": 1000.0, "final/wrong_grad_norm_ce": 1.0,
                "final/wrong_grad_norm_mse": 1e-3,
                "derived/epochs_to_acc": 10.0 if p["loss"] == "cross_entropy" else 40.0}
    return table(grid(values, dataset=["xor", "digits"], loss=["mse", "cross_entropy"]))


def optimizers() -> pd.DataFrame:
    epochs = {"gd": 31.0, "sgd": 2.0, "minibatch": 8.0, "momentum": 4.0, "adam": 3.0,
              "adam_warmup_cosine": 3.0, "accumulation": 8.0}

    def values(p):
        v = p["opt_variant"]
        return {"derived/epochs_to_loss": epochs.get(v, 5.0),
                "derived/epochs_to_loss_s": epochs.get(v, 5.0) / 10,
                "time/ms_per_epoch": 300.0 if v == "sgd" else 20.0,
                "final/train_loss": {"adam": 0.1, "adam_warmup_cosine": 0.05}.get(v, 0.2),
                "final/test_loss": 0.151 if v == "mixed" else 0.15,
                "final/test_acc": 0.95, "derived/start_loss": 5.0, "derived/end_loss": 0.5,
                "final/test_r2": 0.8 if v == "explode_clipped" else math.nan}
    rows = grid(values, opt_variant=list(epochs) + ["float32", "mixed", "explode",
                                                    "explode_clipped"])
    for r in rows:  # accumulation is the same computation as minibatch: no jitter
        if r["opt_variant"] in ("accumulation", "minibatch"):
            r.update({"final/train_loss": 0.2, "final/test_loss": 0.15})
        if r["opt_variant"] in ("mixed", "float32"):
            r["final/test_acc"] = 0.95
    f = table(rows)
    f = setv(f, "outcome", "diverged", opt_variant="explode")
    return setv(f, "derived/end_loss", math.inf, opt_variant="explode")


def universal_approximation() -> pd.DataFrame:
    rmse = {1: 0.3, 2: 0.1, 4: 0.05, 16: 0.02, 256: 0.015}
    return table(grid(lambda p: {"final/test_rmse": rmse[p["model.width"]]},
                      **{"model.width": list(rmse)}))


def two_layer_xor() -> pd.DataFrame:
    return table(grid(lambda p: {"final/test_acc": 0.97 if p["model.depth"] else 0.5},
                      dataset=["xor"], **{"model.depth": [0, 1]}))


def modern_activations() -> pd.DataFrame:
    return table(grid(lambda p: {"final/test_acc": 0.97, "derived/epochs_to_acc": 5.0,
                                 "final/n_params": 4547.0},
                      dataset=["spiral", "digits"], activation=["relu", "gelu", "swiglu"]))


def tour() -> pd.DataFrame:
    def values(p):
        if p["activation"] == "identity":
            return {"final/test_acc": 0.99 if p["dataset"] == "linear" else 0.5,
                    "delta_vs_sklearn_mlp/test_acc": 0.01}
        return {"final/test_acc": 0.97, "delta_vs_sklearn_mlp/test_acc": -0.01}
    axes = {"dataset": ["linear", "xor", "circles", "spiral"]}
    nnfs = grid(values, **axes, activation=["identity", "relu"], loss=["mse", "cross_entropy"])
    sk = [{**r, "impl": "sklearn", "baseline": "logreg"}
          for r in grid(lambda p: values({**p, "activation": "identity"}), **axes)]
    return table(nnfs + sk)


BASE = {"least_squares": least_squares, "separability": separability,
        "feature_cross": feature_cross, "nonlinearity": nonlinearity,
        "vanishing_gradients": vanishing_gradients, "loss_choice": loss_choice,
        "optimizers": optimizers, "universal_approximation": universal_approximation,
        "two_layer_xor": two_layer_xor, "modern_activations": modern_activations, "tour": tour}

# (study, claim index, a change of the base table that must make that claim not hold)
BREAKS = [
    ("least_squares", 0, lambda f: setv(f, "final/lstsq_max_abs_diff", 1e-3, optimizer__lr=0.3)),
    ("least_squares", 1, lambda f: setv(setv(f, "outcome", "finished", optimizer__lr=1.2),
                                        "derived/end_loss", 0.01, optimizer__lr=1.2)),
    ("least_squares", 1, lambda f: setv(f, "derived/end_loss", 7.0, optimizer__lr=0.03)),
    ("least_squares", 2, lambda f: setv(f, "derived/epochs_to_tol", 5.0, optimizer__lr=0.03)),
    ("least_squares", 2, lambda f: setv(f, "derived/epochs_to_tol", 30.0, optimizer__lr=0.003)),
    ("separability", 0, lambda f: setv(f, "final/test_acc", 0.8, dataset="linear",
                                       model__depth=0, impl="nnfs")),
    ("separability", 1, lambda f: setv(f, "final/test_acc", 0.85, dataset="xor",
                                       model__depth=0, impl="nnfs")),
    ("separability", 2, lambda f: setv(f, "final/test_acc", 0.9, dataset="circles",
                                       impl="sklearn")),
    ("separability", 3, lambda f: setv(f, "final/test_acc", 0.6, dataset="spiral",
                                       model__depth=2)),
    ("feature_cross", 0, lambda f: setv(f, "final/test_acc", 0.6, dataset="xor",
                                        features="cross", model__depth=0)),
    ("feature_cross", 1, lambda f: setv(f, "final/test_acc", 0.95, dataset="circles",
                                        features="raw", model__depth=0)),
    ("feature_cross", 2, lambda f: setv(f, "final/test_acc", 0.8, dataset="xor",
                                        features="raw", model__depth=2)),
    ("nonlinearity", 0, lambda f: setv(f, "final/test_acc", 0.8, activation="identity",
                                       model__depth=2, dataset="circles")),
    ("nonlinearity", 1, lambda f: setv(f, "final/test_acc", 0.55, activation="sigmoid",
                                       model__depth=2, dataset="xor")),
    ("vanishing_gradients", 0, lambda f: setv(f, "derived/log10_grad_ratio", -0.2,
                                              activation="sigmoid", model__depth=10)),
    ("vanishing_gradients", 1, lambda f: setv(f, "derived/log10_grad_ratio", -2.0,
                                              activation="relu", model__depth=6)),
    ("vanishing_gradients", 1, lambda f: setv(f, "outcome", "diverged", activation="gelu",
                                              model__depth=10)),
    ("vanishing_gradients", 2, lambda f: setv(f, "derived/epochs_to_loss", 5.0,
                                              activation="sigmoid", model__depth=10)),
    ("loss_choice", 0, lambda f: setv(f, "final/wrong_grad_ratio", 2.0, dataset="digits")),
    ("loss_choice", 0, lambda f: setv(f, "final/wrong_grad_ratio", 3.0, dataset="xor", seed=1)),
    ("loss_choice", 1, lambda f: setv(f, "derived/epochs_to_acc", 10.0, dataset="digits",
                                      loss="mse")),
    ("optimizers", 0, lambda f: setv(f, "derived/epochs_to_loss", 9.0, opt_variant="momentum")),
    ("optimizers", 0, lambda f: setv(f, "derived/epochs_to_loss", 8.0, opt_variant="gd")),
    ("optimizers", 1, lambda f: setv(f, "time/ms_per_epoch", 10.0, opt_variant="sgd")),
    ("optimizers", 2, lambda f: setv(f, "final/train_loss", 0.2,
                                     opt_variant="adam_warmup_cosine")),
    ("optimizers", 3, lambda f: setv(f, "final/train_loss", 0.2001, opt_variant="accumulation")),
    ("optimizers", 4, lambda f: setv(f, "final/test_acc", 0.8, opt_variant="mixed")),
    ("optimizers", 5, lambda f: setv(setv(f, "outcome", "finished", opt_variant="explode"),
                                     "derived/end_loss", 0.5, opt_variant="explode")),
    ("optimizers", 5, lambda f: setv(f, "outcome", "diverged", opt_variant="explode_clipped")),
    ("optimizers", 5, lambda f: setv(f, "final/test_r2", -0.5, opt_variant="explode_clipped",
                                     seed=1)),
    ("universal_approximation", 0, lambda f: setv(f, "final/test_rmse", 0.5,
                                                  model__width=256)),
    ("two_layer_xor", 0, lambda f: setv(f, "final/test_acc", 0.7, model__depth=1)),
    ("two_layer_xor", 1, lambda f: setv(f, "final/test_acc", 0.95, model__depth=0)),
    ("modern_activations", 0, lambda f: setv(f, "final/test_acc", 0.9, dataset="digits",
                                             activation="swiglu")),
    ("modern_activations", 1, lambda f: setv(f, "derived/epochs_to_acc", 30.0,
                                             activation="gelu", dataset="spiral")),
    ("tour", 0, lambda f: setv(f, "final/test_acc", 0.9, activation="identity", dataset="xor")),
    ("tour", 1, lambda f: setv(f, "final/test_acc", 0.6, activation="relu", dataset="spiral",
                               loss="cross_entropy")),
    ("tour", 2, lambda f: setv(f, "final/test_acc", 0.91, activation="relu", dataset="circles",
                               loss="cross_entropy")),
    ("tour", 3, lambda f: setv(f, "delta_vs_sklearn_mlp/test_acc", 0.1, activation="relu")),
    ("tour", 4, lambda f: setv(f, "final/test_acc", 0.96, impl="sklearn", dataset="xor")),
]


def test_every_study_has_a_base_table_and_breaks_for_every_claim():
    assert set(BASE) == set(studies.STUDIES)
    for name, spec in studies.STUDIES.items():
        broken = {i for s, i, _ in BREAKS if s == name}
        assert broken == set(range(len(spec.claims))), name


@pytest.mark.parametrize("name", sorted(BASE))
def test_every_claim_holds_on_its_base_table(name):
    frame = BASE[name]()
    before = frame.copy()
    got = studies.verdicts(name, frame)
    assert [v["verdict"] for v in got] == [HOLDS] * len(studies.get(name).claims), got
    pd.testing.assert_frame_equal(frame, before)  # pure: the input is not changed
    for v in got:
        assert set(v) >= {"claim", "verdict", "measured", "runs"}
        assert v["runs"] and set(v["runs"]) <= set(frame["run_id"])
        assert "±" in v["measured"] or "/" in v["measured"] or "difference" in v["measured"]
    json.dumps(got)  # claims.json must serialise


@pytest.mark.parametrize("name,index,change", BREAKS,
                         ids=[f"{s}-{i}-{k}" for k, (s, i, _) in enumerate(BREAKS)])
def test_each_claim_does_not_hold_when_its_numbers_say_so(name, index, change):
    got = studies.verdicts(name, change(BASE[name]()))
    assert got[index]["verdict"] == FAILS, got[index]


def test_missing_metric_or_seeds_is_inconclusive_with_the_reason():
    frame = least_squares().drop(columns=["final/lstsq_max_abs_diff", "final/gd_max_stable_lr"])
    got = studies.verdicts("least_squares", frame)
    assert [v["verdict"] for v in got] == [UNSURE] * 3
    assert "final/lstsq_max_abs_diff" in got[0]["measured"]
    one_seed = two_layer_xor().query("seed == 0")
    assert {v["verdict"] for v in studies.verdicts("two_layer_xor", one_seed)} == {UNSURE}
    no_sklearn = separability().query("impl == 'nnfs'")
    assert studies.verdicts("separability", no_sklearn)[2]["verdict"] == UNSURE


def test_unknown_study_names_the_valid_ones():
    with pytest.raises(ValueError, match="study='nope'.*least_squares"):
        studies.verdicts("nope", pd.DataFrame())


def test_stat_and_spread_rules():
    s = studies.stat([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)
    assert studies.clearly_above(s, 1.0) and not studies.clearly_above(s, 1.01)
    assert studies.clearly_greater(studies.stat([5, 5.1]), s)
    assert not studies.clearly_greater(studies.stat([2.9, 3.0]), s)


# ------------------------------------------------------------------------- curve-derived
def test_first_epoch_and_derive_from_histories():
    curve = pd.Series([0.9, 0.5, 0.2, 0.1], index=[1, 2, 3, 4])
    assert studies.first_epoch(curve, 0.3, below=True) == 3
    assert studies.first_epoch(curve, 0.05, below=True) == 5  # never: last epoch + 1
    assert studies.first_epoch(curve, 0.9, below=False) == 1
    frame = table([{"model.depth": 2, "seed": 0, "final/train_loss": 0.1}])
    hist = pd.DataFrame(
        [("run000", "grad_norm/layer_0", 1, 0.001), ("run000", "grad_norm/layer_2", 1, 1.0),
         ("run000", "train/loss", 1, 0.7), ("run000", "train/loss", 2, 0.25)],
        columns=["run_id", "key", "step", "value"])
    out = studies.derive("vanishing_gradients", frame, hist)
    assert out.loc[0, "derived/log10_grad_ratio"] == pytest.approx(-3.0)
    assert out.loc[0, "derived/epochs_to_loss"] == 2
    assert "derived/log10_grad_ratio" not in frame  # a new frame


# ----------------------------------------------------------------- extra metrics, real fits
def _linreg(seed=0):
    from nnfs.data import load

    return load("linreg", n_samples=200, seed=seed)


def _gd(data, lr, epochs):
    from nnfs.core import optimizers
    from nnfs.core.model import MLP
    from nnfs.train import fit

    net = MLP(data.n_features, [], 1, activation="identity", task="regression", loss="mse",
              rng=np.random.default_rng(0))
    return net, fit(net, data, optimizer=optimizers.get("sgd")(), epochs=epochs, lr=lr,
                    batch_size=None)


def test_least_squares_metrics_on_real_gradient_descent():
    data = _linreg()
    net, h = _gd(data, 0.3, 200)
    m = studies.extra_metrics("least_squares", net, data, h)
    assert m["final/lstsq_max_abs_diff"] < 1e-10
    assert m["final/lstsq_train_loss"] == pytest.approx(h.final["final/train_loss"], rel=1e-6)
    _, short = _gd(data, 0.3, 2)
    assert studies.least_squares_metrics(short.net, data)["final/lstsq_max_abs_diff"] > 1e-3
    # the stable-step bound is where gradient descent turns from converging to diverging
    bound = m["final/gd_max_stable_lr"]
    _, below = _gd(data, 0.95 * bound, 100)
    _, above = _gd(data, 1.05 * bound, 100)
    assert below.metrics["train/loss"][-1] < below.metrics["train/loss"][0]
    assert above.status == "diverged" or above.metrics["train/loss"][-1] > \
        above.metrics["train/loss"][0]
    with pytest.raises(ValueError, match="hidden"):
        from nnfs.core.model import MLP

        studies.least_squares_metrics(MLP(5, [4], 1, task="regression", loss="mse"), data)


@pytest.mark.parametrize("dataset", ["moons", "iris"])
def test_wrong_prediction_gradients_favour_cross_entropy(dataset):
    from nnfs.core.model import MLP
    from nnfs.data import load

    data = load(dataset, seed=0, **({"n_samples": 200} if dataset == "moons" else {}))
    net = MLP(data.n_features, [8], data.n_out, activation="sigmoid",
              task=data.task, loss="mse", rng=np.random.default_rng(1))
    flat = net.flat.copy()
    m = studies.extra_metrics("loss_choice", net, data, None)
    assert np.array_equal(net.flat, flat)  # the net is not changed
    assert m["final/wrong_grad_ratio"] > 10
    assert m["final/wrong_grad_ratio"] == pytest.approx(
        m["final/wrong_grad_norm_ce"] / m["final/wrong_grad_norm_mse"])
    assert studies.extra_metrics("separability", net, data, None) == {}
    assert studies.extra_metrics("modern_activations", net, data, None) == {
        "final/n_params": float(net.n_params)}


# ----------------------------------------------------------------------------- presets
def _compose(overrides):
    from hydra import compose, initialize_config_dir

    from nnfs import config as C

    C.register()
    with initialize_config_dir(config_dir=str(C.CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    C.check(cfg)
    return cfg


@pytest.mark.parametrize("name", sorted(studies.STUDIES))
def test_every_preset_composes_with_its_cases(name):
    cfg = _compose([f"+experiment={name}"])
    params = dict(cfg.hydra.sweeper.params)
    assert cfg.tracking.experiment == name
    assert len(str(params["seed"]).split(",")) >= 3, "every study runs >= 3 seeds"
    first = (ROOT / "experiments" / "experiment" / f"{name}.yaml").read_text().splitlines()[0]
    assert first == "# @package _global_"
    for key, values in params.items():
        if key.startswith("+"):  # a group of cases: every case composes and passes the checks
            for case in str(values).split(","):
                # the sweeper puts the preset's params before the command line's overrides;
                # a case must mean the same whatever the order (the preset must not undo it)
                first = _compose([f"{key}={case}", f"+experiment={name}"])
                last = _compose([f"+experiment={name}", f"{key}={case}"])
                assert first.dataset == last.dataset and first.optimizer == last.optimizer \
                    and first.activation == last.activation and first.loss == last.loss \
                    and first.train == last.train and first.model == last.model, case


# ------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_shrunken_study_end_to_end_logs_claims_the_report_reads(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    cmd = [sys.executable, "-m", "nnfs.study_cli", "two_layer_xor", "--jobs", "2",
           "--no-report", "--", "train.epochs=300", "dataset.n_samples=200", "seed=0,1",
           f"hydra.sweep.dir={tmp_path}/multirun"]
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    from nnfs.report import load

    sweep = load.load_sweep(uri, "two_layer_xor", "latest")
    assert len(sweep.runs) == 4 and set(sweep.runs["outcome"]) == {"finished"}
    claims = sweep.claims
    assert [c["claim"] for c in claims] == [
        f"{c.text} ({c.criterion})" for c in studies.get("two_layer_xor").claims]
    assert all(c["verdict"] in studies.VERDICTS for c in claims)
    # logistic regression on XOR is at chance whatever the epochs: that verdict is decided
    assert claims[1]["verdict"] == HOLDS, claims[1]
    assert set(claims[1]["runs"]) <= set(sweep.runs["run_id"])
    assert sweep.parent["tags"]["study"] == "two_layer_xor"
    assert "two_layer_xor:" in out.stdout


def test_offline_study_runs_the_real_configs_with_extra_metrics(capsys):
    """The study's jobs in this process without MLflow: the extra metrics reach the verdicts."""
    from nnfs import study_cli

    frame, histories = study_cli.offline_runs(
        "least_squares", ["train.epochs=60", "dataset.n_samples=200", "seed=0,1",
                          "optimizer.lr=0.03,0.3,3.0"])
    assert len(frame) == 6 and set(frame["optimizer.lr"]) == {0.03, 0.3, 3.0}
    assert frame["final/gd_max_stable_lr"].notna().all()
    assert set(histories["key"]) >= {"train/loss"}
    got = studies.verdicts("least_squares", studies.derive("least_squares", frame, histories))
    # 60 epochs stop lr 0.03 at 61 steps (censored), less than 10x the ~9 steps of lr 0.3:
    # "does not hold" is what this shrunken run measures
    assert [v["verdict"] for v in got] == [HOLDS, HOLDS, FAILS]
    assert "0.030" in got[2]["measured"]


def test_cli_lists_and_rejects_bad_input(capsys):
    from nnfs import study_cli

    assert study_cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{n}:" in out for n in studies.STUDIES)
    assert study_cli.main(["nope"]) == 2
    assert "study='nope' is not known; allowed: least_squares" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        study_cli.main(["separability", "--jobs", "0"])
    assert "--jobs=0 is not valid" in capsys.readouterr().err
    assert study_cli.experiment_of("tour", ["tracking.experiment=mine", "seed=1"]) == "mine"
    assert study_cli.experiment_of("tour", ["seed=1"]) == "tour"


def test_summary_markdown_has_one_row_per_claim_and_the_total_time():
    from nnfs import study_cli

    v = studies.verdicts("two_layer_xor", two_layer_xor())
    md = study_cli.summary_markdown({"two_layer_xor": (v, 12.0), "tour": ([], 30.0)})
    assert md.count("| two_layer_xor | ") == len(v) + 1  # claims + the seconds row
    assert "| total | 42 |" in md
