"""Dynamic loss scaling and the finiteness check."""

import numpy as np
import pytest

from nnfs.core.precision import LossScaler, all_finite


def test_loss_scaler_backs_off_and_grows():
    s = LossScaler(init_scale=2.0**15, growth_interval=3)
    assert s.scale == 2.0**15 and s.n_skipped == 0
    s.update(found_inf=True)
    assert s.scale == 2.0**14 and s.n_skipped == 1
    s.update(False)
    s.update(False)
    s.update(True)  # an overflow breaks the streak
    assert s.scale == 2.0**13 and s.n_skipped == 2
    for _ in range(3):
        s.update(False)
    assert s.scale == 2.0**14  # doubled after 3 good steps in a row
    for _ in range(2):
        s.update(False)
    assert s.scale == 2.0**14


@pytest.mark.parametrize("kwargs,match", [
    ({"init_scale": 0.0}, "init_scale"), ({"growth_factor": 1.0}, "growth_factor"),
    ({"backoff_factor": 1.5}, "backoff_factor"), ({"growth_interval": 0}, "growth_interval"),
])
def test_loss_scaler_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LossScaler(**kwargs)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_all_finite(dtype):
    x = np.ones(100, dtype=dtype)
    assert all_finite(x)
    x[17] = np.inf
    assert not all_finite(x)
    x[17] = np.nan
    assert not all_finite(x)
    big = np.full(10, np.finfo(dtype).max, dtype=dtype)  # the sum overflows, the values do not
    assert all_finite(big)
