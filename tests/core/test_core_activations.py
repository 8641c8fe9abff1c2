"""Activations: derivatives against central differences, hand values, extremes, dtypes."""

import math
import warnings

import numpy as np
import pytest

from nnfs.core import activations

NAMES = activations.NAMES
# points away from relu's kink at 0 (central differences are meaningless across it)
Z = np.concatenate([np.linspace(-6.0, -0.05, 40), np.linspace(0.05, 6.0, 40)])


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name):
    act = activations.get(name)
    h = 1e-6
    numeric = (act.f(Z + h) - act.f(Z - h)) / (2 * h)
    analytic = act.df(Z)
    rel = np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-6)
    assert rel.max() < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_backprop_is_upstream_times_derivative_and_reads_only(name):
    act = activations.get(name)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(7, 5)) * 3
    da = rng.normal(size=(7, 5))
    z0, da0 = z.copy(), da.copy()
    a = act.f(z)
    out = np.empty_like(z)
    dz = act.backprop(da, z, a, out)
    np.testing.assert_allclose(dz, da * act.df(z), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(da, da0)


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs_are_finite_without_warnings(name):
    act = activations.get(name)
    z = np.array([-1e3, -500.0, -40.0, 0.0, 40.0, 500.0, 1e3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning fails the test
        a, d = act.f(z), act.df(z)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))


def test_sigmoid_and_its_derivative_by_hand():
    sig = activations.get("sigmoid")
    for x in (-2.0, -0.5, 0.0, 1.0, 3.0):
        s = 1.0 / (1.0 + math.exp(-x))
        assert sig.f(np.array([x]))[0] == pytest.approx(s, rel=1e-14)
        assert sig.df(np.array([x]))[0] == pytest.approx(s * (1 - s), rel=1e-14)  # σ(1 − σ)
    assert sig.df(np.array([0.0]))[0] == 0.25
    assert sig.f(np.array([-1e3]))[0] == 0.0 and sig.f(np.array([1e3]))[0] == 1.0


def test_known_values():
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(activations.get("relu").f(z), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(activations.get("relu").df(z), [0.0, 0.0, 1.0])  # 0 at kink
    np.testing.assert_array_equal(activations.get("identity").df(z), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(activations.get("tanh").df(z), 1 - np.tanh(z) ** 2)
    # GELU(z) = z Φ(z): Φ(1) = 0.8413447460685429
    assert activations.get("gelu").f(np.array([1.0]))[0] == pytest.approx(0.8413447460685429)
    # tanh approximation is within 1e-3 of the exact GELU
    zz = np.linspace(-5, 5, 101)
    assert np.abs(activations.get("gelu_tanh").f(zz) - activations.get("gelu").f(zz)).max() < 1e-3
    # SiLU(z) = z σ(z)
    assert activations.get("silu").f(np.array([2.0]))[0] == pytest.approx(2 / (1 + math.exp(-2)))


def test_swiglu_marker_is_gated_silu():
    sw = activations.get("swiglu")
    assert sw.gated and not sw.he_init  # Glorot under "auto" (see activations.SWIGLU)
    np.testing.assert_array_equal(sw.f(Z), activations.get("silu").f(Z))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("name", NAMES)
def test_low_precision_keeps_dtype_and_is_close(name, dtype):
    act = activations.get(name)
    z = np.linspace(-4, 4, 33)
    zl = z.astype(dtype)
    a, d = act.f(zl), act.df(zl)
    assert a.dtype == dtype and d.dtype == dtype
    tol = 1e-2 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(a, act.f(zl.astype(np.float64)), rtol=tol, atol=tol)
    np.testing.assert_allclose(d, act.df(zl.astype(np.float64)), rtol=tol, atol=tol)


def test_f_does_not_alias_its_input():
    z = np.array([1.0, -2.0])
    for name in NAMES:
        a = activations.get(name).f(z)
        assert not np.shares_memory(a, z)


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="relux.*identity.*sigmoid.*swiglu"):
        activations.get("relux")
