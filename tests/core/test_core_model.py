"""MLP: backprop against central differences everywhere, a hand-derived example, the linear
case, the flat buffer, precision, configs and bad input."""

import itertools
import math

import numpy as np
import pytest

from nnfs import gradcheck_cli
from nnfs.core import activations, gradcheck
from nnfs.core.model import MLP

COMBOS = list(itertools.product(activations.NAMES, gradcheck_cli.TASK_LOSSES, (0, 1, 3)))


@pytest.mark.parametrize("activation,task_loss,depth", COMBOS,
                         ids=[f"{a}-{t}-{lo}-d{d}" for a, (t, lo), d in COMBOS])
def test_loss_and_grads_match_central_differences(activation, task_loss, depth):
    task, loss = task_loss
    rng = np.random.default_rng(COMBOS.index((activation, task_loss, depth)))
    for l2 in (0.0, 1e-2):
        net, X, y = gradcheck_cli.make_problem(activation, task, loss, depth, l2, rng)
        errors = gradcheck.check_model(net, X, y)
        assert set(errors) == set(net.params)
        assert max(errors.values()) < 1e-6, errors


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def test_2_3_1_sigmoid_network_gradient_by_the_chain_rule():
    # two inputs, three hidden sigmoid units, one sigmoid output, cross-entropy, one sample
    x, y = [0.5, -1.2], 1
    W1 = [[0.1, -0.3, 0.8], [0.4, 0.2, -0.5]]
    b1 = [0.05, -0.1, 0.2]
    W2 = [0.7, -0.6, 0.3]
    b2 = -0.2
    # forward
    h = [_sig(x[0] * W1[0][j] + x[1] * W1[1][j] + b1[j]) for j in range(3)]
    o = _sig(sum(h[j] * W2[j] for j in range(3)) + b2)
    L = -(y * math.log(o) + (1 - y) * math.log(1 - o))
    # backward: dL/dz2 = o − y for sigmoid + cross-entropy
    dz2 = o - y
    dW2 = [dz2 * h[j] for j in range(3)]
    db2 = dz2
    dz1 = [dz2 * W2[j] * h[j] * (1 - h[j]) for j in range(3)]  # σ' = σ(1 − σ)
    dW1 = [[x[i] * dz1[j] for j in range(3)] for i in range(2)]
    db1 = dz1

    net = MLP(2, [3], 1, activation="sigmoid", task="binary", loss="cross_entropy")
    net.params["0.W"][...] = W1
    net.params["0.b"][...] = b1
    net.params["1.W"][...] = np.array(W2).reshape(3, 1)
    net.params["1.b"][...] = b2
    loss, grads = net.loss_and_grads(np.array([x]), np.array([y]))
    assert loss == pytest.approx(L, rel=1e-14)
    np.testing.assert_allclose(grads["0.W"], dW1, rtol=1e-13)
    np.testing.assert_allclose(grads["0.b"], db1, rtol=1e-13)
    np.testing.assert_allclose(grads["1.W"][:, 0], dW2, rtol=1e-13)
    np.testing.assert_allclose(grads["1.b"], [db2], rtol=1e-13)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_identity_mlp_is_one_dense_layer(depth):
    rng = np.random.default_rng(depth)
    net = MLP(3, [5] * depth, 2, activation="identity", task="regression", loss="mse", rng=rng)
    for key, view in net.params.items():
        if key.endswith(".b"):
            view[...] = rng.normal(size=view.shape)
    W, b = np.eye(3), np.zeros(3)
    for i in range(net.n_layers):  # x W0 + b0 then (.) W1 + b1 ...: W = Π W_i, b = b W_{i} + b_i
        W = W @ net.params[f"{i}.W"]
        b = b @ net.params[f"{i}.W"] + net.params[f"{i}.b"]
    X = rng.normal(size=(10, 3))
    np.testing.assert_allclose(net.forward(X), X @ W + b, rtol=1e-12, atol=1e-12)


def test_flat_buffer_views_and_grads_out():
    net = MLP(2, [4, 3], 1, activation="tanh", rng=np.random.default_rng(0))
    assert list(net.params) == ["0.W", "0.b", "1.W", "1.b", "2.W", "2.b"]
    assert net.flat.size == sum(v.size for v in net.params.values()) == net.n_params
    for v in net.params.values():
        assert np.shares_memory(v, net.flat)
    net.flat[:] = 0.5  # writing the buffer changes every parameter
    assert all(np.all(v == 0.5) for v in net.params.values())
    gflat, gdict = net.new_grads()
    assert gflat.shape == net.flat.shape and not gflat.any()
    assert all(np.shares_memory(gdict[k], gflat) for k in gdict)
    X, y = np.random.default_rng(1).normal(size=(6, 2)), np.array([0, 1, 1, 0, 1, 0])
    loss, returned = net.loss_and_grads(X, y, out=gdict)
    assert returned is gdict and gflat.any()
    _, fresh = net.loss_and_grads(X, y)
    for k in fresh:
        np.testing.assert_array_equal(fresh[k], gdict[k])
    before = gflat.copy()
    net.loss_and_grads(X, y, out=gdict)  # overwritten, not accumulated
    np.testing.assert_array_equal(gflat, before)
    assert loss == pytest.approx(net.loss(X, y))


def test_swiglu_keys_and_l2_over_both_weights():
    net = MLP(2, [3], 1, activation="swiglu", l2=0.1, rng=np.random.default_rng(0))
    assert list(net.params) == ["0.W_gate", "0.b_gate", "0.W_up", "0.b_up", "1.W", "1.b"]
    X, y = np.ones((1, 2)), np.array([1])
    plain = MLP(**{**net.config(), "l2": 0.0})
    plain.flat[:] = net.flat
    W2 = sum(float((net.params[k] ** 2).sum()) for k in ("0.W_gate", "0.W_up", "1.W"))
    assert net.loss(X, y) == pytest.approx(plain.loss(X, y) + 0.5 * 0.1 * W2)
    _, g = net.loss_and_grads(X, y)
    _, g0 = plain.loss_and_grads(X, y)
    for k in net.params:
        extra = 0.1 * net.params[k] if ".W" in k else 0.0
        np.testing.assert_allclose(g[k], g0[k] + extra, rtol=1e-12)


def test_scale_scales_gradients_only():
    net = MLP(2, [4], 3, activation="gelu", task="multiclass", l2=1e-3,
              rng=np.random.default_rng(0))
    X, y = np.random.default_rng(1).normal(size=(5, 2)), np.array([0, 1, 2, 2, 1])
    l1, g1 = net.loss_and_grads(X, y)
    g1 = {k: v.copy() for k, v in g1.items()}
    l2, g2 = net.loss_and_grads(X, y, scale=256.0)
    assert l1 == l2
    for k in g1:
        np.testing.assert_allclose(g2[k], 256.0 * g1[k], rtol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float16, 3e-2)])
@pytest.mark.parametrize("activation", ["sigmoid", "relu", "gelu", "swiglu"])
def test_low_precision_forward_backward_close_to_float64(dtype, tol, activation):
    rng = np.random.default_rng(0)
    net = MLP(3, [16, 16], 3, activation=activation, task="multiclass", rng=rng)
    X, y = rng.normal(size=(32, 3)), rng.integers(0, 3, size=32)
    low = net.astype(dtype)
    assert low.flat.dtype == dtype and all(v.dtype == dtype for v in low.params.values())
    l64, g64 = net.loss_and_grads(X, y)
    llo, glo = low.loss_and_grads(X.astype(dtype), y)
    assert math.isfinite(llo) and llo == pytest.approx(l64, rel=tol)
    for k in g64:
        assert glo[k].dtype == dtype and np.all(np.isfinite(glo[k]))
        scale = np.abs(g64[k]).max() + 1e-12
        assert np.abs(glo[k].astype(np.float64) - g64[k]).max() / scale < 10 * tol
    np.testing.assert_allclose(low.forward(X), net.forward(X), rtol=10 * tol, atol=10 * tol)


def test_float16_with_loss_scale_stays_finite():
    net = MLP(2, [8], 1, activation="silu", dtype=np.float16, rng=np.random.default_rng(0))
    X, y = np.random.default_rng(1).normal(size=(50, 2)), np.arange(50) % 2
    loss, g = net.loss_and_grads(X, y, scale=2.0**10)
    assert math.isfinite(loss) and all(np.all(np.isfinite(v)) for v in g.values())


def test_predict_and_predict_proba():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 2))
    b = MLP(2, [4], 1, task="binary", rng=rng)
    p = b.predict_proba(X)
    assert p.shape == (7, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(b.predict(X), (p[:, 1] > 0.5).astype(np.int64))
    assert b.predict(X).dtype == np.int64
    m = MLP(2, [4], 3, task="multiclass", rng=rng)
    np.testing.assert_array_equal(m.predict(X), m.predict_proba(X).argmax(axis=1))
    r1 = MLP(2, [], 1, task="regression", loss="mse", rng=rng)
    assert r1.predict(X).shape == (7,)
    r2 = MLP(2, [], 2, task="regression", loss="mse", rng=rng)
    assert r2.predict(X).shape == (7, 2)
    with pytest.raises(ValueError, match="predict_proba"):
        r1.predict_proba(X)


def test_config_roundtrip_astype_copy_and_layers():
    net = MLP(2, [5, 4], 3, activation="swiglu", task="multiclass", loss="mse", l2=0.01,
              rng=np.random.default_rng(3), dtype=np.float32, init="glorot")
    cfg = net.config()
    assert cfg == {"n_in": 2, "hidden": [5, 4], "n_out": 3, "activation": "swiglu",
                   "task": "multiclass", "loss": "mse", "l2": 0.01, "dtype": "float32",
                   "init": "glorot"}
    back = MLP.from_config(cfg, {k: v.copy() for k, v in net.params.items()})
    np.testing.assert_array_equal(back.flat, net.flat)
    c64 = net.astype(np.float64)
    assert c64.dtype == np.float64 and not np.shares_memory(c64.flat, net.flat)
    c64.flat[:] = 0
    assert net.flat.any()  # a copy
    assert net.n_layers == 3
    assert [net.layer_index(k) for k in net.params] == [0] * 4 + [1] * 4 + [2] * 2
    with pytest.raises(ValueError, match="key='9.W'"):
        net.layer_index("9.W")


def test_init_schemes_and_reproducibility():
    def net(act, init="auto", seed=0):
        return MLP(200, [300], 1, activation=act, rng=np.random.default_rng(seed), init=init)

    relu, tanh = net("relu"), net("tanh")
    # He normal: std √(2/fan_in); Glorot uniform: bound √(6/(fan_in + fan_out))
    assert relu.params["0.W"].std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    assert np.abs(tanh.params["0.W"]).max() <= math.sqrt(6 / 500)
    assert tanh.params["0.W"].std() == pytest.approx(math.sqrt(6 / 500) / math.sqrt(3), rel=0.02)
    assert np.abs(relu.params["1.W"]).max() <= math.sqrt(6 / 301)  # output layer: Glorot
    assert net("sigmoid", init="he").params["0.W"].std() == pytest.approx(0.1, rel=0.02)
    assert not relu.params["0.b"].any() and not relu.params["1.b"].any()
    np.testing.assert_array_equal(net("relu").flat, relu.flat)
    assert not np.array_equal(net("relu", seed=1).flat, relu.flat)


def test_never_mutates_inputs():
    rng = np.random.default_rng(0)
    net = MLP(2, [4], 3, activation="relu", task="multiclass", rng=rng)
    X, y = rng.normal(size=(5, 2)), np.array([0, 1, 2, 0, 1])
    X0, y0 = X.copy(), y.copy()
    net.loss_and_grads(X, y)
    net.predict(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


@pytest.mark.parametrize("kwargs,match", [
    ({"activation": "relux"}, "activation='relux'.*identity"),
    ({"task": "ranking"}, "task='ranking'.*regression, binary, multiclass"),
    ({"loss": "hinge"}, "loss='hinge'.*mse, cross_entropy"),
    ({"init": "lecun"}, "init='lecun'.*auto, glorot, he"),
    ({"dtype": "int32"}, "dtype='int32'.*float16, float32, float64"),
    ({"l2": -1.0}, "l2=-1.0"),
    ({"l2": "big"}, "l2=.big."),
    ({"n_out": 2}, "n_out=2.*binary"),
    ({"hidden": [4, 0]}, "hidden width=0"),
    ({"hidden": 4}, "hidden=4"),
    ({"task": "regression", "loss": "cross_entropy"}, "cross_entropy"),
    ({"rng": 0}, "rng=0"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
    args = {"n_in": 2, "hidden": [4], "n_out": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        MLP(**args)


def test_bad_data_raises_value_error():
    net = MLP(2, [4], 1)
    with pytest.raises(ValueError, match=r"X has shape \(3, 5\)"):
        net.forward(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="4 samples but X has 3"):
        net.loss_and_grads(np.zeros((3, 2)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="out is missing"):
        net.loss_and_grads(np.zeros((3, 2)), np.zeros(3, dtype=int), out={})


def test_auto_init_keeps_deep_swiglu_finite():
    # He would compound through the quadratic gate (output std ~5e8 at depth 4); Glorot does not
    X = np.random.default_rng(1).normal(size=(500, 2))
    net = MLP(2, [64] * 4, 1, activation="swiglu", rng=np.random.default_rng(0))
    assert net.forward(X).std() < 10
    he = MLP(2, [64] * 4, 1, activation="swiglu", rng=np.random.default_rng(0), init="he")
    assert he.forward(X).std() > 1e3


def test_pickle_and_deepcopy_keep_params_as_views():
    import copy
    import pickle

    net = MLP(2, [4], 3, activation="gelu", task="multiclass", rng=np.random.default_rng(0))
    net.loss_and_grads(np.ones((5, 2)), np.array([0, 1, 2, 0, 1]))  # creates a workspace
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        np.testing.assert_array_equal(clone.flat, net.flat)
        assert all(np.shares_memory(v, clone.flat) for v in clone.params.values())
        assert not np.shares_memory(clone.flat, net.flat)
        assert clone.config() == net.config()


@pytest.mark.parametrize("activation", ["relu", "tanh", "identity", "swiglu"])
def test_grads_into_separate_arrays_equal_grads_into_a_flat_buffer(activation):
    # the first layer folds its bias into the GEMM when dW and db are adjacent (new_grads);
    # with unrelated arrays it takes a buffer and copies: the numbers must not differ
    rng = np.random.default_rng(0)
    net = MLP(3, [5, 4], 2, activation=activation, task="regression", loss="mse", rng=rng)
    X, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    _, flat_grads = net.new_grads()
    separate = {k: np.full(v.shape, np.nan) for k, v in net.params.items()}
    net.loss_and_grads(X, y, out=flat_grads)
    net.loss_and_grads(X, y, out=separate)
    for k in net.params:
        np.testing.assert_array_equal(separate[k], flat_grads[k])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("task,n_out,hidden", [("binary", 1, [6, 5]), ("multiclass", 3, [6]),
                                               ("regression", 2, []), ("binary", 1, [])])
def test_logits_out_receives_the_logits_of_the_forward_pass(dtype, task, n_out, hidden):
    rng = np.random.default_rng(3)
    loss = "mse" if task == "regression" else "cross_entropy"
    net = MLP(4, hidden, n_out, task=task, loss=loss, rng=rng, dtype=dtype)
    X = rng.normal(size=(9, 4))
    y = rng.normal(size=(9, n_out)) if task == "regression" else rng.integers(0, max(n_out, 2), 9)
    z = np.full((9, n_out), np.nan, dtype=dtype)
    loss_with, grads_with = net.loss_and_grads(X, y, logits_out=z)
    # equal up to rounding: the first layer folds its bias into the GEMM on this path only
    np.testing.assert_allclose(z, net.forward(X), rtol=1e-12 if dtype == np.float64 else 1e-5,
                               atol=1e-12 if dtype == np.float64 else 1e-6)
    loss_without, grads_without = net.loss_and_grads(X, y)
    assert loss_with == loss_without  # the hook changes nothing else
    for key in grads_with:
        np.testing.assert_array_equal(grads_with[key], grads_without[key])


@pytest.mark.parametrize("n", [5, 512, 1100])  # 1100: three chunks of 367
def test_forward_into_out_matches_the_allocating_forward(n):
    rng = np.random.default_rng(5)
    net = MLP(3, [7, 6], 4, task="multiclass", rng=rng)
    X = rng.normal(size=(n, 3))
    out = np.full((n, 4), np.nan)
    assert net.forward(X, out=out) is out
    np.testing.assert_allclose(out, net.forward(X), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="out has shape"):
        net.forward(X, out=np.empty((n, 3)))


def test_large_layers_skip_the_transposed_copy_with_the_same_gradients():
    # above _COPY_WT_MAX weights dx = dz Wᵀ reads W.T directly; the small-layer path (Wᵀ copied,
    # the one the central-difference tests cover) must give the same gradients
    from nnfs.core.layers import _COPY_WT_MAX

    rng = np.random.default_rng(2)
    net = MLP(3, [8, _COPY_WT_MAX // 3 + 1], 3, task="multiclass", activation="tanh", rng=rng)
    assert not net.layers[1]._copy_WT and not net.layers[2]._copy_WT
    X, y = rng.normal(size=(16, 3)), rng.integers(0, 3, 16)
    _, direct = net.loss_and_grads(X, y)
    for layer in net.layers[1:]:
        layer._copy_WT = True
    net._workspaces.clear()  # buffers with room for Wᵀ
    _, copied = net.loss_and_grads(X, y)
    for key in direct:
        np.testing.assert_allclose(direct[key], copied[key], rtol=1e-13, atol=1e-15)


def test_loss_and_grads_prepared_equals_the_checked_entry():
    from nnfs.core import losses

    rng = np.random.default_rng(8)
    net = MLP(3, [5], 4, task="multiclass", rng=rng, dtype=np.float32)
    X, y = rng.normal(size=(11, 3)), rng.integers(0, 4, 11)
    loss, grads = net.loss_and_grads(X, y, scale=2.0)
    _, out = net.new_grads()
    t = losses.targets(y, "multiclass", 4, np.float32, "cross_entropy")
    loss_p, grads_p = net.loss_and_grads_prepared(X.astype(np.float32), t, out, scale=2.0)
    assert loss_p == loss and grads_p is out
    for key in grads:
        np.testing.assert_array_equal(grads_p[key], grads[key])
