"""Schedules: closed-form values at step 0, end of warmup, middle and end."""

import math
import pickle

import pytest

from nnfs.core import schedules


def test_constant():
    lr = schedules.get("constant")(base_lr=0.3)
    assert lr(0) == lr(10**6) == 0.3


def test_step():
    lr = schedules.get("step")(base_lr=0.1, step_size=10, gamma=0.5)
    assert lr(0) == 0.1 and lr(9) == 0.1
    assert lr(10) == pytest.approx(0.05) and lr(25) == pytest.approx(0.025)


def test_inverse_time_is_sklearn_invscaling():
    # scikit-learn: learning_rate_init / (t + 1) ** power_t
    lr = schedules.get("inverse_time")(base_lr=0.1, power_t=0.5)
    assert lr(0) == 0.1
    assert lr(3) == pytest.approx(0.05)
    assert lr(99) == pytest.approx(0.01)


def test_warmup_cosine():
    lr = schedules.get("warmup_cosine")(base_lr=1.0, warmup_steps=10, total_steps=110, min_lr=0.1)
    assert lr(0) == 0.0  # linear warmup starts from 0
    assert lr(5) == pytest.approx(0.5)
    assert lr(10) == pytest.approx(1.0)  # end of warmup
    assert lr(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))  # middle: 0.55
    assert lr(85) == pytest.approx(0.1 + 0.45 * (1 + math.cos(0.75 * math.pi)))
    assert lr(110) == pytest.approx(0.1)  # end
    assert lr(500) == 0.1  # after the end
    no_warmup = schedules.get("warmup_cosine")(base_lr=0.2, total_steps=100)
    assert no_warmup(0) == 0.2 and no_warmup(100) == 0.0


def test_schedules_are_pure_and_picklable():
    lr = schedules.get("warmup_cosine")(base_lr=1.0, warmup_steps=3, total_steps=9)
    values = [lr(s) for s in range(12)]
    assert [lr(s) for s in range(12)] == values
    assert pickle.loads(pickle.dumps(lr))(4) == lr(4)


@pytest.mark.parametrize("name,kwargs,match", [
    ("constant", {"base_lr": -1.0}, "base_lr=-1.0"),
    ("step", {"base_lr": 0.1, "step_size": 0}, "step_size=0"),
    ("inverse_time", {"base_lr": 0.1, "power_t": -0.5}, "power_t=-0.5"),
    ("warmup_cosine", {"base_lr": 0.1, "warmup_steps": 20, "total_steps": 10}, "warmup_steps=20"),
    ("warmup_cosine", {"base_lr": 0.1, "min_lr": 0.2}, "min_lr=0.2"),
])
def test_bad_settings(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        schedules.get(name)(**kwargs)


def test_bad_step_and_unknown_name():
    with pytest.raises(ValueError, match="step=-1"):
        schedules.get("constant")(base_lr=0.1)(-1)
    with pytest.raises(ValueError, match="schedule='cyclic'.*constant, step, inverse_time"):
        schedules.get("cyclic")
