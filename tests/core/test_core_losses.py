"""Losses: PyTorch's reductions by hand, stability at logits of ±1000, targets."""

import math
import warnings

import numpy as np
import pytest

from nnfs.core import losses


def _loss(z, y, task, loss):
    value, dz = losses.loss_and_dz(np.asarray(z, dtype=float), y, task, loss)
    return value, dz


def test_binary_cross_entropy_by_hand():
    z, y = [[2.0], [-1.0], [0.5]], np.array([1, 0, 0])
    sig = [1 / (1 + math.exp(-v[0])) for v in z]
    expected = -(math.log(sig[0]) + math.log(1 - sig[1]) + math.log(1 - sig[2])) / 3
    value, dz = _loss(z, y, "binary", "cross_entropy")
    assert value == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(dz[:, 0], [(sig[0] - 1) / 3, sig[1] / 3, sig[2] / 3], rtol=1e-14)


def test_multiclass_cross_entropy_by_hand():
    z, y = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], np.array([1, 0])
    total = 0.0
    for row, label in zip(z, y, strict=True):
        total += -(row[label] - math.log(sum(math.exp(v) for v in row)))
    value, dz = _loss(z, y, "multiclass", "cross_entropy")
    assert value == pytest.approx(total / 2, rel=1e-14)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[[0, 1], y] -= 1
    np.testing.assert_allclose(dz, p / 2, rtol=1e-13)


def test_mse_is_mean_over_all_elements():
    z = [[1.0, 2.0], [3.0, -1.0]]
    y = np.array([[0.0, 2.0], [1.0, 1.0]])
    value, dz = _loss(z, y, "regression", "mse")
    assert value == pytest.approx((1 + 0 + 4 + 4) / 4)  # torch.nn.MSELoss: mean over 4 elements
    np.testing.assert_allclose(dz, 2 * (np.array(z) - y) / 4)


def test_mse_on_classifiers_is_link_then_squared_error():
    z, y = [[0.3], [-2.0]], np.array([1, 0])
    s = 1 / (1 + np.exp(-np.array([0.3, -2.0])))
    value, _ = _loss(z, y, "binary", "mse")
    assert value == pytest.approx(((s[0] - 1) ** 2 + s[1] ** 2) / 2)
    zm, ym = np.array([[1.0, 0.0, -1.0]]), np.array([2])
    p = np.exp(zm) / np.exp(zm).sum()
    value, _ = _loss(zm, ym, "multiclass", "mse")
    assert value == pytest.approx(((p - [[0, 0, 1]]) ** 2).mean())  # one-hot targets


@pytest.mark.parametrize("task,n_out", [("binary", 1), ("multiclass", 3)])
def test_cross_entropy_finite_at_logits_1000(task, n_out):
    z = np.array([[1000.0] * n_out, [-1000.0] * n_out, [1000.0] + [-1000.0] * (n_out - 1)])
    y = np.array([0, 1, 0]) if task == "binary" else np.array([1, 2, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, dz = _loss(z, y, task, "cross_entropy")
    assert np.isfinite(value) and np.all(np.isfinite(dz))
    if task == "binary":  # every sample wrong by a logit of 1000: loss 1000 each
        assert value == pytest.approx(1000.0)
        np.testing.assert_allclose(dz[:, 0], [1 / 3, -1 / 3, 1 / 3])
    else:  # equal logits: log 3 twice; the true class ahead by 2000: 0
        assert value == pytest.approx(2 * math.log(3) / 3)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_cross_entropy_stable_in_low_precision(dtype):
    z = np.array([[1000.0, -1000.0, 3.0], [-1000.0, 1000.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, dz = losses.loss_and_dz(z, np.array([0, 2]), "multiclass", "cross_entropy")
        bvalue, bdz = losses.loss_and_dz(z[:, :1], np.array([0, 1]), "binary", "cross_entropy")
    assert dz.dtype == dtype and bdz.dtype == dtype
    assert value == pytest.approx((0 + 1000) / 2, rel=1e-3)
    assert bvalue == pytest.approx((1000 + 1000) / 2, rel=1e-3)


def test_scale_multiplies_gradient_not_loss():
    z, y = np.array([[0.2], [-0.7]]), np.array([1, 0])
    v1, d1 = losses.loss_and_dz(z, y, "binary", "cross_entropy")
    v2, d2 = losses.loss_and_dz(z, y, "binary", "cross_entropy", scale=1024.0)
    assert v1 == v2
    np.testing.assert_allclose(d2, 1024 * d1)


def test_targets_validation():
    with pytest.raises(ValueError, match="labels outside"):
        losses.targets(np.array([0, 2]), "binary", 1, np.float64, "cross_entropy")
    with pytest.raises(ValueError, match="labels outside"):
        losses.targets(np.array([0, 3]), "multiclass", 3, np.float64, "cross_entropy")
    with pytest.raises(ValueError, match="non-integer"):
        losses.targets(np.array([0.5, 1.0]), "multiclass", 3, np.float64, "cross_entropy")
    with pytest.raises(ValueError, match="regression with n_out=2"):
        losses.targets(np.zeros(4), "regression", 2, np.float64, "mse")


def test_targets_are_idempotent():
    t = losses.targets(np.array([0, 2, 1]), "multiclass", 3, np.float32, "mse")
    np.testing.assert_array_equal(t, np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert losses.targets(t, "multiclass", 3, np.float32, "mse") is t
    tb = losses.targets(np.array([1, 0]), "binary", 1, np.float64, "cross_entropy")
    np.testing.assert_array_equal(losses.targets(tb, "binary", 1, np.float64, "mse"), tb)


def test_unknown_task_and_loss_and_bad_pairs():
    with pytest.raises(ValueError, match="task='ranking'.*regression, binary, multiclass"):
        losses.check("ranking", "mse")
    with pytest.raises(ValueError, match="loss='hinge'.*mse, cross_entropy"):
        losses.check("binary", "hinge")
    with pytest.raises(ValueError, match="cross_entropy"):
        losses.check("regression", "cross_entropy")
