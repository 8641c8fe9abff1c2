"""The fit loop: real MLPs, real optimizers, small data built here with numpy / scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.datasets import make_moons

from nnfs.core import optimizers, schedules
from nnfs.core.model import MLP
from nnfs.core.precision import LossScaler
from nnfs.train import History, fit, step_groups


# ------------------------------------------------------------------ data
def moons(n=1000, seed=0, noise=0.2):
    X, y = make_moons(n, noise=noise, random_state=seed)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    k = int(0.75 * n)
    return X[:k], y[:k], X[k:], y[k:]


def xor(n=800, seed=0, cross=False):
    """Uniform points in [-1, 1]^2, label 1 where x1·x2 > 0; optionally with the x1·x2 column."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(-1, 1, size=(n, 2))
    y = (raw[:, 0] * raw[:, 1] > 0).astype(np.int64)
    X = np.column_stack([raw, raw[:, 0] * raw[:, 1]]) if cross else raw
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    k = int(0.75 * n)
    return X[:k], y[:k], X[k:], y[k:]


def linreg(n=400, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.7 + 0.3 * rng.normal(size=n)
    return X, y


class Recording:
    """A real optimizer wrapped to record what the loop passes to it (lr, the gradient)."""

    def __init__(self, inner):
        self.inner, self.lrs, self.grad_norms, self.deltas = inner, [], [], []

    @property
    def state(self):
        return self.inner.state

    def step(self, params, grads, lr):
        before = {k: p.copy() for k, p in params.items()}
        self.lrs.append(lr)
        self.grad_norms.append(math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values())))
        self.inner.step(params, grads, lr)
        moved = [params[k] - before[k] for k in params]
        self.deltas.append(math.sqrt(sum(float(np.vdot(d, d)) for d in moved)))


def binary_net(hidden=(16, 16), seed=0, **kw):
    return MLP(2, list(hidden), 1, rng=np.random.default_rng(seed), **kw)


# ------------------------------------------------------------------ accumulation
@pytest.mark.parametrize("n", [800, 830])  # 830: a ragged last micro-batch and a short last step
def test_accumulation_equals_a_k_times_larger_batch(n):
    X, y, Xt, yt = moons(1200)
    X, y = X[:n], y[:n]
    runs = []
    for batch_size, k in ((40, 5), (200, 1)):
        h = fit(binary_net(), (X, y, Xt, yt), optimizer=optimizers.get("sgd")(momentum=0.9),
                epochs=3, lr=0.1, batch_size=batch_size, accumulation=k,
                rng=np.random.default_rng(7))
        runs.append(h)
    a, b = runs
    assert a.n_steps == b.n_steps == 3 * math.ceil(n / 200)
    np.testing.assert_allclose(a.net.flat, b.net.flat, rtol=0, atol=1e-12)
    assert np.abs(a.net.flat - binary_net().flat).max() > 1e-2  # it did train


def test_step_groups_weight_micro_batches_by_size():
    assert step_groups(10, 4, 2) == [[(0, 4, 0.5), (4, 8, 0.5)], [(8, 10, 1.0)]]
    assert step_groups(10, None, 1) == [[(0, 10, 1.0)]]
    assert step_groups(10, None, 3) == [[(0, 4, 0.4), (4, 8, 0.4), (8, 10, 0.2)]]
    assert step_groups(5, 1, 1) == [[(i, i + 1, 1.0)] for i in range(5)]
    assert step_groups(5, 99, 1) == [[(0, 5, 1.0)]]


def test_accumulated_gradient_is_the_big_batch_gradient():
    # the rule the loop uses: micro-batch i weighted n_i / N through scale=, summed
    X, y, _, _ = moons(600)
    net = binary_net(l2=1e-3)
    _, big = net.loss_and_grads(X[:230], y[:230])
    gflat, gdict = net.new_grads()
    mflat, mdict = net.new_grads()
    bounds = [(0, 50), (50, 100), (100, 150), (150, 200), (200, 230)]
    for j, (a, b) in enumerate(bounds):
        net.loss_and_grads(X[a:b], y[a:b], scale=(b - a) / 230, out=gdict if j == 0 else mdict)
        if j:
            gflat += mflat
    for key in big:
        np.testing.assert_allclose(gdict[key], big[key], rtol=0, atol=1e-12)


# ------------------------------------------------------------------ classical results
def test_full_batch_gd_linear_regression_reaches_least_squares():
    X, y = linreg()
    net = MLP(3, [], 1, task="regression", loss="mse", rng=np.random.default_rng(0))
    h = fit(net, (X, y, X, y), optimizer="sgd", epochs=600, lr=0.3, batch_size=None,
            eval_every=100)
    assert h.status == "finished" and h.n_steps == 600
    coef, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(len(X))]), y, rcond=None)
    np.testing.assert_allclose(h.net.params["0.W"][:, 0], coef[:3], atol=1e-8)
    np.testing.assert_allclose(h.net.params["0.b"], coef[3:], atol=1e-8)
    assert h.epochs == [100, 200, 300, 400, 500, 600]
    rmse = math.sqrt(np.mean((np.column_stack([X, np.ones(len(X))]) @ coef - y) ** 2))
    assert h.final["final/test_rmse"] == pytest.approx(rmse, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_logistic_regression_fails_xor_and_succeeds_with_the_cross(seed):
    from nnfs.data import load  # the lesson's own xor set (four noisy clusters)

    def logistic(features):
        data = load("xor", seed=seed, features=features)
        net = MLP(data.n_features, [], 1, rng=np.random.default_rng(0))
        return fit(net, data, optimizer="adam", epochs=60, lr=0.05, batch_size=32)

    assert logistic(None).final["final/test_acc"] <= 0.6
    assert logistic(["x1", "x2", "x1*x2"]).final["final/test_acc"] >= 0.97


def test_uniform_xor_needs_the_cross_too():
    def logistic(data):
        net = MLP(data[0].shape[1], [], 1, rng=np.random.default_rng(0))
        return fit(net, data, optimizer="adam", epochs=60, lr=0.05, batch_size=32)

    # on uniform xor a line can still reach 5/8 (cut off a corner); the cross makes it separable
    assert logistic(xor()).final["final/test_acc"] <= 0.7
    assert logistic(xor(cross=True)).final["final/test_acc"] >= 0.97


def test_the_2_3_1_sigmoid_network_learns_xor():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    net = MLP(2, [3], 1, activation="sigmoid", rng=np.random.default_rng(1))
    h = fit(net, (X, y, X, y), optimizer=optimizers.get("sgd")(momentum=0.9), epochs=2000,
            lr=0.5, batch_size=None, eval_every=500)
    assert h.final["final/test_acc"] == 1.0
    assert h.final["final/test_loss"] < 0.05


# ------------------------------------------------------------------ reproducibility
@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_same_config_and_seed_are_bit_identical(precision):
    data = moons(600)

    def run():
        return fit(binary_net(seed=3), data, optimizer="adam", epochs=4, lr=1e-2, batch_size=50,
                   precision=precision, rng=np.random.default_rng(11), clip_norm=5.0)

    a, b = run(), run()
    assert a.net.dtype == np.dtype(precision)
    assert a.net.flat.tobytes() == b.net.flat.tobytes()
    for key in a.metrics:
        if not key.startswith("time/"):
            assert a.metrics[key] == b.metrics[key], key
    c = fit(binary_net(seed=3), data, optimizer="adam", epochs=4, lr=1e-2, batch_size=50,
            precision=precision, rng=np.random.default_rng(12), clip_norm=5.0)
    assert c.net.flat.tobytes() != a.net.flat.tobytes()  # the shuffling rng matters


def test_fit_does_not_mutate_its_inputs():
    X, y, Xt, yt = moons(400)
    copies = [a.copy() for a in (X, y, Xt, yt)]
    net = binary_net()
    flat = net.flat.copy()
    h = fit(net, (X, y, Xt, yt), optimizer="adam", epochs=2, batch_size=32)
    assert np.array_equal(net.flat, flat) and h.net is not net
    for a, b in zip((X, y, Xt, yt), copies, strict=True):
        assert np.array_equal(a, b)


# ------------------------------------------------------------------ mixed precision
def test_mixed_precision_matches_float32_on_moons():
    data = moons(800)
    acc = {}
    for precision in ("float32", "mixed"):
        h = fit(binary_net(), data, optimizer="adam", epochs=15, lr=1e-2, batch_size=64,
                precision=precision)
        assert h.status == "finished"
        assert h.net.dtype == np.float32  # float32 master weights in both
        acc[precision] = h.final["final/test_acc"]
    assert acc["float32"] >= 0.95
    assert abs(acc["mixed"] - acc["float32"]) <= 0.01
    assert "precision/loss_scale" in h.metrics and "precision/skipped_steps" in h.metrics
    # accumulation under mixed precision sums the unscaled micro-batch gradients in float32
    h = fit(binary_net(), data, optimizer="adam", epochs=15, lr=1e-2, batch_size=32,
            accumulation=2, precision="mixed")
    assert abs(h.final["final/test_acc"] - acc["float32"]) <= 0.01


def test_mixed_precision_backs_off_from_an_overflowing_scale_and_converges():
    data = moons(800)
    h = fit(binary_net(), data, optimizer="adam", epochs=15, lr=1e-2, batch_size=64,
            precision="mixed", loss_scaler=LossScaler(init_scale=2.0**40))
    scales = h.metrics["precision/loss_scale"]
    skipped = h.metrics["precision/skipped_steps"]
    assert h.status == "finished"
    assert scales[-1] < 2.0**40 and skipped[-1] > 0  # backed off, steps skipped
    assert h.n_steps == 15 * math.ceil(600 / 64) - skipped[-1]  # skipped steps took no step
    assert h.final["final/test_acc"] >= 0.95  # and still converged


# ------------------------------------------------------------------ clipping, divergence
def test_clipping_bounds_the_global_gradient_norm_of_the_applied_update():
    X, y, Xt, yt = moons(400)
    data = (100 * X, y, 100 * Xt, yt)  # large inputs: large gradients
    free = Recording(optimizers.get("sgd")())
    fit(binary_net(), data, optimizer=free, epochs=2, lr=1e-3, batch_size=32)
    assert max(free.grad_norms) > 10.0  # clipping has work to do
    clipped = Recording(optimizers.get("sgd")())
    fit(binary_net(), data, optimizer=clipped, epochs=2, lr=1e-3, batch_size=32, clip_norm=1.0)
    assert max(clipped.grad_norms) <= 1.0 + 1e-12
    assert max(clipped.grad_norms) == pytest.approx(1.0)  # clipped to exactly the bound
    assert max(clipped.deltas) <= 1e-3 * (1.0 + 1e-9)  # plain SGD: ||Δθ|| = lr ||g|| <= lr c
    by_value = Recording(optimizers.get("sgd")())
    fit(binary_net(), data, optimizer=by_value, epochs=1, lr=1e-3, batch_size=32,
        clip_value=0.01, clip_norm=None)
    n_params = binary_net().n_params
    assert max(by_value.grad_norms) <= 0.01 * math.sqrt(n_params) + 1e-12


def test_a_huge_learning_rate_is_reported_as_divergence_without_raising():
    X, y = linreg()
    seen = []
    net = MLP(3, [16], 1, task="regression", loss="mse", rng=np.random.default_rng(0))
    h = fit(net, (X, y, X, y), optimizer="sgd", epochs=50, lr=1e3, batch_size=40,
            callbacks=[lambda epoch, m: seen.append(epoch)])
    assert h.status == "diverged"
    assert h.diverged_epoch is not None and 1 <= h.diverged_epoch <= 50
    assert h.diverged_step is not None and h.diverged_step >= 1
    assert f"epoch {h.diverged_epoch}" in h.reason and "non-finite" in h.reason
    assert h.n_epochs == h.diverged_epoch  # stopped at once
    assert all(e < h.diverged_epoch for e in seen)
    assert math.isnan(h.final["final/test_rmse"])


def test_float32_divergence_is_detected_too():
    X, y = linreg()
    net = MLP(3, [16], 1, task="regression", loss="mse", rng=np.random.default_rng(0))
    h = fit(net, (X, y, X, y), optimizer="sgd", epochs=50, lr=1e3, batch_size=40,
            precision="float32")
    assert h.status == "diverged" and h.diverged_epoch >= 1


# ------------------------------------------------------------------ early stopping, schedules
def test_early_stopping_stops_early_and_restores_the_best_parameters():
    data = moons(800, noise=0.35)
    h = fit(binary_net(hidden=(64, 64)), data, optimizer="adam", epochs=300, lr=3e-2,
            batch_size=32, early_stopping=True, validation_fraction=0.2, patience=4)
    assert h.status == "early_stopped" and "val/loss" in h.reason
    assert h.n_epochs < 300
    assert h.n_epochs - h.best_epoch == 4
    val = h.metrics["val/loss"]
    assert min(val) == val[h.best_epoch - 1]
    assert h.final["final/test_acc"] >= 0.8


def test_a_schedule_sets_the_lr_of_every_optimizer_step():
    data = moons(400)
    lr_at = schedules.get("warmup_cosine")(base_lr=0.05, warmup_steps=10, total_steps=40)
    rec = Recording(optimizers.get("adam")())
    h = fit(binary_net(), data, optimizer=rec, epochs=4, batch_size=30, schedule=lr_at)
    assert h.n_steps == 40
    assert rec.lrs == [lr_at(s) for s in range(40)]
    assert len(set(rec.lrs)) > 30  # it changes per step, not per epoch
    assert h.metrics["lr"] == [lr_at(9), lr_at(19), lr_at(29), lr_at(39)]


# ------------------------------------------------------------------ batches, metrics, callbacks
@pytest.mark.parametrize(("batch_size", "steps"), [(None, 1), (1, 300), (64, 5), (10**6, 1)])
def test_batch_size_sets_the_steps_per_epoch(batch_size, steps):
    X, y, Xt, yt = moons(400)
    h = fit(binary_net(hidden=(4,)), (X, y, Xt, yt), optimizer="sgd", epochs=2, lr=0.01,
            batch_size=batch_size)
    assert h.n_steps == 2 * steps


def test_metrics_callbacks_and_eval_every():
    calls = []
    data = moons(400)
    h = fit(binary_net(hidden=(8, 8)), data, optimizer="adam", epochs=7, batch_size=50,
            eval_every=3, callbacks=[lambda e, m: calls.append((e, m))])
    assert h.epochs == [3, 6, 7] and [e for e, _ in calls] == [3, 6, 7]
    keys = {"train/loss", "train/acc", "test/loss", "test/acc", "lr", "time/epoch_s",
            *(f"grad_norm/layer_{i}" for i in range(3)),
            *(f"update_ratio/layer_{i}" for i in range(3))}
    assert set(h.metrics) == keys and set(calls[0][1]) == keys
    assert all(len(v) == 3 for v in h.metrics.values())
    assert all(0 < r < 1 for r in h.metrics["update_ratio/layer_0"])
    assert all(g > 0 for g in h.metrics["grad_norm/layer_2"])
    # the test metrics are those of the returned model; train/loss is the batch mean
    net = h.net
    X, y, Xt, yt = data
    assert h.final["final/test_acc"] == np.mean(net.predict(Xt) == yt)
    assert h.final["final/test_loss"] == pytest.approx(net.loss(Xt, yt), rel=1e-12)
    # train/acc is the running accuracy of the epoch's batches (exactness: see the test below)
    assert abs(h.metrics["train/acc"][-1] - np.mean(net.predict(X) == y)) < 0.1
    assert h.final["final/train_loss"] == h.metrics["train/loss"][-1]
    assert h.final["time/ms_per_epoch"] > 0 and h.fit_seconds > 0
    assert isinstance(h, History) and h.status == "finished" and h.reason == ""


def test_train_acc_is_the_running_accuracy_of_the_epochs_batches():
    # replay one epoch by hand: same permutation, same steps; score each batch before its step
    X, y, Xt, yt = moons(300, seed=2)
    net = binary_net(hidden=(8,), seed=4)
    h = fit(net, (X, y, Xt, yt), optimizer="sgd", epochs=1, lr=0.5, batch_size=64,
            rng=np.random.default_rng(9))
    replay, sgd = net.copy(), optimizers.get("sgd")()
    gflat, gdict = replay.new_grads()
    order = np.random.default_rng(9).permutation(len(y))
    hits = 0
    for a in range(0, len(y), 64):
        idx = order[a:a + 64]
        hits += int(np.sum(replay.predict(X[idx]) == y[idx]))
        replay.loss_and_grads(X[idx], y[idx], out=gdict)
        sgd.step({"flat": replay.flat}, {"flat": gflat}, 0.5)
    np.testing.assert_array_equal(replay.flat, h.net.flat)
    assert h.metrics["train/acc"] == [hits / len(y)]
    # ... which is not the end-of-epoch accuracy here (lr 0.5 moves the boundary a lot)
    assert h.metrics["train/acc"][0] != np.mean(h.net.predict(X) == y)
    # with a step too small to move any parameter, both definitions agree exactly
    h = fit(net, (X, y, Xt, yt), optimizer="sgd", epochs=2, lr=1e-300, batch_size=64)
    np.testing.assert_allclose(h.net.flat, net.flat, rtol=1e-15, atol=1e-290)
    assert h.metrics["train/acc"] == [np.mean(net.predict(X) == y)] * 2


def test_train_rmse_is_a_running_figure_too():
    X, y = linreg()
    net = MLP(3, [8], 1, task="regression", loss="mse", rng=np.random.default_rng(0))
    h = fit(net, (X, y), optimizer="sgd", epochs=1, lr=1e-300, batch_size=32)
    rmse = math.sqrt(np.mean((net.predict(X) - y) ** 2))
    assert h.metrics["train/rmse"][0] == pytest.approx(rmse, rel=1e-12)
    assert h.metrics["train/loss"][0] == pytest.approx(rmse**2, rel=1e-12)


def test_regression_metrics_and_multiclass():
    X, y = linreg()
    h = fit(MLP(3, [8], 1, task="regression", loss="mse", rng=np.random.default_rng(0)),
            (X[:300], y[:300], X[300:], y[300:]), optimizer="adam", epochs=30, lr=0.02,
            batch_size=32, train_metrics=False)
    assert {"train/loss", "test/loss", "test/rmse", "test/r2"} <= set(h.metrics)
    assert "train/rmse" not in h.metrics  # train_metrics=False leaves it out
    assert h.final["final/test_r2"] > 0.9
    rng = np.random.default_rng(0)
    centers = np.array([[0, 3], [3, 0], [-3, -3]])
    lab = rng.integers(0, 3, size=600)
    Xm = centers[lab] + rng.normal(size=(600, 2))
    h = fit(MLP(2, [8], 3, task="multiclass", rng=np.random.default_rng(0)),
            (Xm[:450], lab[:450], Xm[450:], lab[450:]), optimizer="adam", epochs=10, lr=0.02,
            batch_size=32)
    assert h.final["final/test_acc"] > 0.9 and h.metrics["train/acc"][-1] > 0.9


def test_two_tuple_data_means_no_test_metrics():
    X, y, _, _ = moons(400)
    h = fit(binary_net(hidden=(4,)), (X, y), optimizer="adam", epochs=2, batch_size=50)
    assert not any(k.startswith("test/") for k in h.metrics)
    assert "final/test_acc" not in h.final and "final/train_loss" in h.final


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"epochs": 0}, "epochs=0"),
    ({"lr": -1.0}, "lr=-1.0"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"accumulation": 0}, "accumulation=0"),
    ({"precision": "float8"}, "precision='float8'"),
    ({"clip_norm": -1}, "clip_norm=-1"),
    ({"eval_every": 0}, "eval_every=0"),
    ({"optimizer": "lion"}, "optimizer='lion'"),
    ({"validation_fraction": 1.5}, "validation_fraction=1.5"),
    ({"rng": "seed"}, "rng='seed'"),
])
def test_bad_arguments_fail_before_training_with_one_line(kwargs, word):
    args = {"optimizer": "adam", "epochs": 1, **kwargs}
    with pytest.raises(ValueError) as err:
        fit(binary_net(hidden=(2,)), moons(100), **args)
    assert word in str(err.value) and "\n" not in str(err.value)


def test_bad_data_shape_is_a_value_error():
    X, y, Xt, yt = moons(100)
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        fit(binary_net(), (X[:, :1], y, Xt, yt), optimizer="adam", epochs=1)


def test_blas_threads_are_limited_during_the_fit_and_restored_after():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before, seen = blas_threads(), []
    X, y, Xt, yt = moons(200)
    fit(binary_net(hidden=(4,)), (X, y, Xt, yt), optimizer="adam", epochs=2, batch_size=50,
        callbacks=[lambda e, m: seen.append(blas_threads())])
    assert seen and all(threads == [1] * len(before) for threads in seen)
    assert blas_threads() == before
