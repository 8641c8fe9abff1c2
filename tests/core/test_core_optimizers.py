"""Optimizers: torch.optim's rules, checked on steps computed by hand with lr changing."""

import math

import numpy as np
import pytest

from nnfs.core import optimizers

P0 = [1.0, -2.0]
G = [[0.5, -1.0], [-0.2, 0.4], [0.1, 0.3]]
LR = [0.1, 0.05, 0.2]


def run(opt, steps=3):
    params = {"w": np.array(P0)}
    out = []
    for g, lr in zip(G[:steps], LR[:steps], strict=True):
        grads = {"w": np.array(g)}
        opt.step(params, grads, lr)
        np.testing.assert_array_equal(grads["w"], g)  # grads are never mutated
        out.append(params["w"].copy())
    return out


def test_sgd_plain():
    p = run(optimizers.get("sgd")())
    np.testing.assert_allclose(p[0], [0.95, -1.9])  # 1 − 0.1·0.5, −2 + 0.1·1
    np.testing.assert_allclose(p[1], [0.96, -1.92])  # − 0.05·(−0.2, 0.4)
    np.testing.assert_allclose(p[2], [0.94, -1.98])  # − 0.2·(0.1, 0.3)


def test_sgd_momentum():
    opt = optimizers.get("sgd")(momentum=0.9)
    p = run(opt)
    # v1 = g1 = (0.5, −1);  v2 = 0.9 v1 + g2 = (0.25, −0.5);  v3 = 0.9 v2 + g3 = (0.325, −0.15)
    np.testing.assert_allclose(p[0], [0.95, -1.9])
    np.testing.assert_allclose(p[1], [0.95 - 0.05 * 0.25, -1.9 + 0.05 * 0.5])
    np.testing.assert_allclose(p[2], [0.9375 - 0.2 * 0.325, -1.875 + 0.2 * 0.15])
    np.testing.assert_allclose(opt.state["w"]["v"], [0.325, -0.15])


def test_sgd_nesterov():
    p = run(optimizers.get("sgd")(momentum=0.9, nesterov=True))
    # d_t = g_t + 0.9 v_t:  d1 = (0.95, −1.9), d2 = (0.025, −0.05), d3 = (0.3925, 0.165)
    np.testing.assert_allclose(p[0], [1 - 0.1 * 0.95, -2 + 0.1 * 1.9])
    np.testing.assert_allclose(p[1], [0.905 - 0.05 * 0.025, -1.81 + 0.05 * 0.05])
    np.testing.assert_allclose(p[2], [0.90375 - 0.2 * 0.3925, -1.8075 - 0.2 * 0.165])


def test_sgd_weight_decay_is_coupled():
    p = run(optimizers.get("sgd")(weight_decay=0.1))
    # d = g + 0.1 p:  d1 = (0.6, −1.2);  d2 = (−0.106, 0.212);  d3 = (0.19453, 0.11094)
    np.testing.assert_allclose(p[0], [0.94, -1.88])
    np.testing.assert_allclose(p[1], [0.94 + 0.05 * 0.106, -1.88 - 0.05 * 0.212])
    np.testing.assert_allclose(p[2], [0.9453 - 0.2 * 0.19453, -1.8906 - 0.2 * 0.11094])


def _adam_by_hand(wd=0.0, decoupled=False, b1=0.9, b2=0.999, eps=1e-8):
    p = np.array(P0)
    m = np.zeros(2)
    v = np.zeros(2)
    out = []
    for t, (g, lr) in enumerate(zip(G, LR, strict=True), start=1):
        g = np.array(g)
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def test_adam_first_steps_written_out():
    p = run(optimizers.get("adam")())
    # step 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + eps) = lr·sign(g) (up to eps)
    np.testing.assert_allclose(p[0], [1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 * 1 / (1 + 1e-8)],
                               rtol=1e-15)
    # step 2, first element: m = 0.9·0.05 + 0.1·(−0.2) = 0.025, v = 0.999·0.00025 + 0.001·0.04
    m_hat = 0.025 / (1 - 0.9**2)
    v_hat = (0.999 * 0.00025 + 0.001 * 0.04) / (1 - 0.999**2)
    assert p[1][0] == pytest.approx(p[0][0] - 0.05 * m_hat / (math.sqrt(v_hat) + 1e-8), rel=1e-14)
    for got, want in zip(p, _adam_by_hand(), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_adam_coupled_weight_decay():
    p = run(optimizers.get("adam")(weight_decay=0.1))
    # step 1: g' = g + 0.1 p0 = (0.6, −1.2): still a step of lr·sign(g')
    np.testing.assert_allclose(p[0], [1 - 0.1 * 0.6 / (0.6 + 1e-8), -2 + 0.1 * 1.2 / (1.2 + 1e-8)])
    for got, want in zip(p, _adam_by_hand(wd=0.1), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13)


def test_adamw_decoupled_weight_decay():
    p = run(optimizers.get("adamw")(weight_decay=0.1))
    # step 1: p0 (1 − 0.1·0.1) first, then the Adam step on the raw gradient
    np.testing.assert_allclose(p[0], [0.99 - 0.1 * 0.5 / (0.5 + 1e-8), -1.98 + 0.1 / (1 + 1e-8)])
    for got, want in zip(p, _adam_by_hand(wd=0.1, decoupled=True), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13)
    assert optimizers.get("adamw")().weight_decay == 0.01  # torch's default


def test_state_is_keyed_like_params_and_flat_equals_per_key():
    rng = np.random.default_rng(0)
    flat = rng.normal(size=10)
    views = {"0.W": flat[:6].reshape(2, 3), "0.b": flat[6:]}
    gflat = rng.normal(size=10)
    gviews = {"0.W": gflat[:6].reshape(2, 3), "0.b": gflat[6:]}
    fast_params = flat.copy()
    per_key, fast = optimizers.get("adam")(), optimizers.get("adam")()
    for lr in (0.1, 0.01, 0.05):
        per_key.step(views, gviews, lr)
        fast.step({"flat": fast_params}, {"flat": gflat}, lr)
    np.testing.assert_allclose(fast_params, flat, rtol=1e-15)
    assert set(per_key.state) == {"0.W", "0.b"}
    assert per_key.state["0.W"]["m"].shape == (2, 3) and per_key.state["0.W"]["step"] == 3
    assert set(fast.state) == {"flat"}


@pytest.mark.parametrize("name,kwargs,match", [
    ("sgd", {"momentum": -0.1}, "momentum=-0.1"),
    ("sgd", {"momentum": 1.0}, "momentum=1.0"),
    ("sgd", {"nesterov": True}, "nesterov"),
    ("adam", {"beta1": 1.0}, "beta1=1.0"),
    ("adam", {"eps": -1.0}, "eps=-1.0"),
    ("adamw", {"weight_decay": float("nan")}, "weight_decay=nan"),
])
def test_bad_hyperparameters(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.get(name)(**kwargs)


def test_bad_step_arguments_and_unknown_name():
    opt = optimizers.get("sgd")()
    with pytest.raises(ValueError, match="lr=-0.1"):
        opt.step({"w": np.zeros(2)}, {"w": np.zeros(2)}, -0.1)
    with pytest.raises(ValueError, match="grads keys"):
        opt.step({"w": np.zeros(2)}, {"v": np.zeros(2)}, 0.1)
    with pytest.raises(ValueError, match="optimizer='rmsprop'.*sgd, adam, adamw"):
        optimizers.get("rmsprop")


def test_adam_on_float16_parameters_stays_finite():
    p = {"w": np.array([1.0, -1.0, 0.5], dtype=np.float16)}
    opt = optimizers.get("adam")()
    for _ in range(3):
        opt.step(p, {"w": np.array([1e-4, 0.0, -2.0], dtype=np.float16)}, 1e-2)
    assert p["w"].dtype == np.float16 and np.all(np.isfinite(p["w"]))
    assert opt.state["w"]["v"].dtype == np.float32
    np.testing.assert_allclose(p["w"], [0.97, -1.0, 0.53], atol=2e-3)  # ~lr·sign(g) per step


@pytest.mark.parametrize("name,hyper", [("adam", {}), ("adam", {"weight_decay": 0.1}),
                                        ("adamw", {"weight_decay": 0.1})])
def test_adam_in_cache_sized_chunks_equals_one_piece(name, hyper):
    # a flat buffer of 2.5 chunks goes through the chunked path; the same numbers in a Fortran-
    # ordered (non-contiguous rows) array through the one-piece path: bit-identical updates
    from nnfs.core.optimizers import _CHUNK

    rng = np.random.default_rng(0)
    n = 5 * _CHUNK // 2
    p = rng.normal(size=n)
    pf = np.asfortranarray(p.reshape(-1, 2).copy())
    chunked, whole = optimizers.get(name)(**hyper), optimizers.get(name)(**hyper)
    for _ in range(3):
        g = rng.normal(size=n)
        chunked.step({"w": p}, {"w": g}, 1e-2)
        whole.step({"w": pf}, {"w": np.asfortranarray(g.reshape(-1, 2))}, 1e-2)
    np.testing.assert_array_equal(p, pf.reshape(-1))
    np.testing.assert_array_equal(chunked.state["w"]["v"], whole.state["w"]["v"].reshape(-1))
