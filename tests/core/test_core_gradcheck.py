"""gradcheck and nnfs-gradcheck: they pass on correct gradients and catch wrong ones."""

import io
import subprocess
import sys

import numpy as np
import pytest

from nnfs import gradcheck_cli
from nnfs.core import gradcheck
from nnfs.core.model import MLP


def f_cubic(p):
    return float((p["W"] ** 3).sum() + p["b"] @ p["b"])


@pytest.mark.parametrize("order", [2, 4])
def test_numerical_grads_of_a_known_function(order):
    rng = np.random.default_rng(0)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=4)}
    before = {k: v.copy() for k, v in params.items()}
    num = gradcheck.numerical_grads(f_cubic, params, h=1e-5 if order == 2 else 1e-3, order=order)
    np.testing.assert_allclose(num["W"], 3 * params["W"] ** 2, rtol=1e-7)
    np.testing.assert_allclose(num["b"], 2 * params["b"], rtol=1e-7)
    for k in params:  # the arrays passed in are not touched
        np.testing.assert_array_equal(params[k], before[k])


def test_gradcheck_per_key_and_catches_a_wrong_entry():
    rng = np.random.default_rng(1)
    params = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=4)}
    grads = {"W": 3 * params["W"] ** 2, "b": 2 * params["b"]}
    errors = gradcheck.gradcheck(f_cubic, params, grads)
    assert set(errors) == {"W", "b"} and max(errors.values()) < 1e-8
    grads["W"][1, 2] *= 1 + 1e-4  # one entry off by 0.01 %
    errors = gradcheck.gradcheck(f_cubic, params, grads)
    assert errors["W"] > 1e-6 and errors["b"] < 1e-8


def test_a_wrong_derivative_fails_the_check():
    rng = np.random.default_rng(0)
    net, X, y = gradcheck_cli.make_problem("sigmoid", "binary", "cross_entropy", 1, 0.0, rng)
    assert gradcheck_cli.check_one(net, X, y) < 1e-6
    # backprop through tanh' instead of σ' on the same weights: a wrong derivative
    wrong = MLP(**{**net.config(), "activation": "tanh"})
    wrong.flat[:] = net.flat
    _, bad = wrong.loss_and_grads(X, y)
    err = gradcheck_cli.check_one(net, X, y, grads=bad)
    assert err > 1e-2
    out = io.StringIO()
    rows = [("sigmoid", "binary", "cross_entropy", 1, 0.0, err),
            ("relu", "binary", "cross_entropy", 1, 0.0, 1e-9)]
    assert gradcheck_cli.report(rows, file=out) == 1
    assert "NO" in out.getvalue() and "1 above 1e-06" in out.getvalue()
    assert gradcheck_cli.report(rows[1:], file=io.StringIO()) == 0


def test_check_model_leaves_the_model_alone():
    net = MLP(2, [3], 1, activation="relu", rng=np.random.default_rng(0))
    before = net.flat.copy()
    gradcheck.check_model(net, np.ones((2, 2)), np.array([0, 1]))
    np.testing.assert_array_equal(net.flat, before)


def test_relu_problems_keep_away_from_the_kink():
    rng = np.random.default_rng(0)
    for _ in range(5):
        net, X, _ = gradcheck_cli.make_problem("relu", "multiclass", "mse", 3, 0.0, rng)
        for z in net.hidden_preactivations(X):
            assert np.abs(z).min() > gradcheck_cli.KINK_MARGIN


def test_cli_prints_every_combination_and_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "nnfs.gradcheck_cli"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.endswith(" yes") or ln.endswith(" NO")]
    assert len(lines) == 8 * 5 * 3 * 2  # activations x (task, loss) x depths x l2
    assert "240 combinations" in proc.stdout and "0 above 1e-06" in proc.stdout


def test_cli_main_options(capsys):
    assert gradcheck_cli.main(["--activation", "swiglu", "--seed", "3"]) == 0
    assert "30 combinations" in capsys.readouterr().out
    # an impossible tolerance makes the same check fail
    assert gradcheck_cli.main(["--activation", "tanh", "--tol", "0"]) == 1
