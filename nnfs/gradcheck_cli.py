"""nnfs-gradcheck: backpropagation against central differences, for every configuration.

Every activation × task × loss × depth (0, 1, 3) × l2 (0, 1e-2) is checked in float64 on a small
random problem (3 inputs, hidden width 4, 6 samples, Glorot weights and random non-zero biases
so that bias gradients are exercised; problems with a loss above 10 are redrawn, since the
rounding error of a difference quotient grows with |loss|).  As in cs231n, kinks are kept away:
for relu the inputs and weights are resampled until every hidden pre-activation is farther than
``KINK_MARGIN`` from 0, much more than the finite-difference perturbation moves it.  One table
row per combination with the maximum relative error over all parameters; exit code 1 if any
exceeds the tolerance (1e-6).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

import numpy as np

from nnfs.core import activations, gradcheck
from nnfs.core.model import MLP

TASK_LOSSES = (("regression", "mse"), ("binary", "mse"), ("binary", "cross_entropy"),
               ("multiclass", "mse"), ("multiclass", "cross_entropy"))
DEPTHS = (0, 1, 3)
L2S = (0.0, 1e-2)
N_IN, WIDTH, BATCH, N_CLASSES, N_TARGETS = 3, 4, 6, 3, 2
KINK_MARGIN = 5e-2  # perturbations (≤ 2h = 2e-3 per weight) move pre-activations far less
MAX_LOSS = 10.0  # rounding error of a difference quotient grows with |f|: keep f of order 1
TOLERANCE = 1e-6
_KINKED = {"relu"}  # activations with a point of non-differentiability (at z = 0)


def make_problem(activation: str, task: str, loss: str, depth: int, l2: float,
                 rng: np.random.Generator, max_tries: int = 1000):
    """A small random (net, X, y) in float64, resampled until no pre-activation sits at a kink."""
    n_out = {"regression": N_TARGETS, "binary": 1, "multiclass": N_CLASSES}[task]
    for _ in range(max_tries):
        net = MLP(N_IN, [WIDTH] * depth, n_out, activation=activation, task=task, loss=loss,
                  l2=l2, rng=rng, dtype=np.float64, init="glorot")
        for key, view in net.params.items():
            if ".b" in key:
                view[...] = rng.normal(0.0, 0.5, size=view.shape)
        X = rng.normal(size=(BATCH, N_IN))
        if task == "regression":
            y = rng.normal(size=(BATCH, n_out))
        else:
            y = rng.integers(0, max(n_out, 2), size=BATCH)
        if net.loss(X, y) > MAX_LOSS:
            continue
        if activation not in _KINKED or all(
                np.min(np.abs(z)) > KINK_MARGIN for z in net.hidden_preactivations(X)):
            return net, X, y
    raise RuntimeError(f"no kink-free, well-scaled problem for {activation} "
                       f"after {max_tries} draws")


def check_one(net: MLP, X, y, grads: dict | None = None) -> float:
    """Max relative error over all parameters of ``grads`` (default: the model's backprop)."""
    return max(gradcheck.check_model(net, X, y, grads=grads).values())


def run(seed: int = 0, activation_names=None):
    """Rows (activation, task, loss, depth, l2, max relative error) for every combination."""
    rng = np.random.default_rng(seed)
    rows = []
    names = activation_names or activations.NAMES
    for act, (task, loss), depth, l2 in itertools.product(names, TASK_LOSSES, DEPTHS, L2S):
        net, X, y = make_problem(act, task, loss, depth, l2, rng)
        rows.append((act, task, loss, depth, l2, check_one(net, X, y)))
    return rows


def report(rows, tol: float = TOLERANCE, file=None) -> int:
    """Print the table (to ``file``, default stdout); return 0 if every error is <= tol, else 1."""
    file = sys.stdout if file is None else file
    header = f"{'activation':<10} {'task':<10} {'loss':<13} {'depth':>5} {'l2':>6} " \
             f"{'max rel err':>11}  ok"
    print(header, file=file)
    print("-" * len(header), file=file)
    n_bad = 0
    for act, task, loss, depth, l2, err in rows:
        ok = err <= tol
        n_bad += not ok
        print(f"{act:<10} {task:<10} {loss:<13} {depth:>5} {l2:>6g} {err:>11.2e}  "
              f"{'yes' if ok else 'NO'}", file=file)
    worst = max((r[-1] for r in rows), default=0.0)
    print(f"{len(rows)} combinations, worst {worst:.2e}, {n_bad} above {tol:g}", file=file)
    return 1 if n_bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="nnfs-gradcheck",
        description="Check nnfs backpropagation against central differences (float64).")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random problems")
    parser.add_argument("--tol", type=float, default=TOLERANCE,
                        help="largest relative error allowed (default 1e-6)")
    parser.add_argument("--activation", action="append", choices=activations.NAMES,
                        help="check only this activation (repeatable)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.seed, args.activation)
    code = report(rows, args.tol)
    print(f"took {time.perf_counter() - start:.1f} s")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
