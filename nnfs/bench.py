"""nnfs-bench: the speed of nnfs next to scikit-learn, measured in one process.

Method (the same for every implementation, so the ratios are matched):
- BLAS and OpenMP run on ONE thread for everything (threadpoolctl), as nnfs does by default;
  the machine is shared, so implementations are alternated inside each repeat (the order
  rotates from repeat to repeat) and ratios are paired per repeat: median [min-max].
- Timed region of a classifier run: build the model + the whole `fit` call, wall clock
  (`time.perf_counter`), divided by the number of epochs. nnfs runs `nnfs.train.fit` with its
  defaults, so it computes the per-epoch metrics a user gets (train/test loss and accuracy,
  gradient norms, update ratios). Its train/loss and train/acc are running figures over the
  epoch's batches, scored with the logits of each batch's own training forward pass (the
  accuracy "as seen during training", before each batch's update; not a post-epoch pass over
  the training set), like the running training loss that is all scikit-learn's
  `MLPClassifier.fit` keeps per epoch; the test metrics take one forward pass over the test
  set per epoch, which scikit-learn does not do. The variant "nnfs float64, metrics at end"
  (eval_every = epochs) shows what the per-epoch metrics cost.
- Test accuracy: `predict` on the held-out split after the full training of that same run,
  outside the timed region, the same definition for both libraries.
- Wide case: GEMM flops of one training step (forward + backward GEMMs, see `gemm_flops`) over
  the wall time of `loss_and_grads` + one Adam step, as a fraction of the peak of `np.matmul` on
  large square float64 matrices measured in the same run, on one thread, paired per repeat.
- Tracking (`nnfs.bench_tracking`): a fit with MLflow tracking against the same fit with
  tracking=none, alternated (overhead = median of the paired differences), and a 12-job sweep of
  ~2 s jobs with Hydra's basic launcher against joblib n_jobs=2 (speed-up = wall time ratio).
- Report: `nnfs-report` on a SYNTHETIC store of 1,000 runs (`nnfs.report.synthetic`), built once
  and cached under `--cache-dir` (.bench/); only the report is timed.

Sections are functions `section(opts: BenchOptions) -> dict`, listed in `SECTIONS`; each returns
its figures plus optional "lines" (text for the table), "summary" (keys lifted to the top of the
JSON) and "targets" (dicts made by `target`). To add one, write the function (import heavy
modules inside it) and add it to `SECTIONS`; `--only NAME` runs a subset.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

# Targets of issue 3 (ratios: nnfs ms/epoch over scikit-learn's, moons; lower is better).
TARGET_RATIO_F64 = 0.45
TARGET_RATIO_F32 = 0.33
TARGET_ACC_POINTS = 0.5  # nnfs test accuracy may trail scikit-learn's by at most this many points
TARGET_WIDE_PEAK_FRACTION = 0.65
# Targets of issue 4 (tracking) and issue 6 (report).
TARGET_TRACKING_MS = 150.0  # median per-run overhead of MLflow tracking vs tracking=none
TARGET_SWEEP_SPEEDUP = 1.7  # 12-job sweep: basic launcher wall time / joblib n_jobs=2
TARGET_REPORT_S = 30.0  # nnfs-report on a 1,000-run store
REPORT_TARGET_RUNS = 1000


@dataclass(frozen=True)
class BenchOptions:
    """Sizes of one bench run; `QUICK` and `FULL` are the two presets."""

    quick: bool = False
    repeats: int = 5
    seed: int = 0
    moons_samples: int = 10_000
    moons_noise: float | None = None  # None: nnfs.data's default
    test_size: float = 0.25
    hidden: tuple[int, ...] = (64, 64)
    batch_size: int = 200
    lr: float = 1e-3
    epochs: int = 200  # full training, the same for nnfs and scikit-learn
    wide_in: int = 64  # digits' 8x8 pixels
    wide_hidden: tuple[int, ...] = (1024, 1024)
    wide_out: int = 10  # digits' classes
    wide_batch: int = 256
    wide_steps: int = 20
    peak_n: int = 2048
    peak_reps: int = 2
    # tracking section (nnfs.bench_tracking): xor fits with and without MLflow, and a sweep of
    # sweep_jobs seeds of ~2 s fits (moons sweep_samples, width sweep_width, depth 2)
    tracking_repeats: int = 9
    tracking_warmup: int = 2
    tracking_epochs: int = 100
    sweep_jobs: int = 12
    sweep_epochs: int = 240
    sweep_samples: int = 4000
    sweep_width: int = 48
    capacity_loop: int = 15_000_000  # iterations of the CPU-bound probe (~1 s)
    # report section: a synthetic store of report_runs runs, cached under cache_dir
    report_runs: int = REPORT_TARGET_RUNS
    cache_dir: str = ".bench"

    def __post_init__(self):
        for name in ("repeats", "moons_samples", "batch_size", "epochs", "wide_batch",
                     "wide_steps", "peak_n", "peak_reps", "wide_in", "wide_out",
                     "tracking_repeats", "tracking_epochs", "sweep_jobs", "sweep_epochs",
                     "sweep_samples", "sweep_width", "report_runs", "capacity_loop"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}: must be an integer >= 1")
        if not isinstance(self.tracking_warmup, int) or self.tracking_warmup < 0:
            raise ValueError(f"tracking_warmup={self.tracking_warmup!r}: must be an integer >= 0")
        if not 0.0 < self.test_size < 1.0:
            raise ValueError(f"test_size={self.test_size!r}: must be in (0, 1)")


FULL = BenchOptions()
QUICK = BenchOptions(quick=True, epochs=20, wide_steps=5, peak_n=1024, peak_reps=3,
                     tracking_repeats=3, tracking_warmup=1, tracking_epochs=50, sweep_jobs=4,
                     sweep_epochs=60, report_runs=100)
ADAM = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}


def gemm_flops(batch: int, sizes: list[int] | tuple[int, ...], *, input_grad: bool = False) -> int:
    """Floating-point operations of the GEMMs of one training step of a dense MLP.

    sizes = [n_in, *hidden, n_out]. A (batch, n) @ (n, m) product costs 2*batch*n*m flops.
    Per dense layer: forward z = x @ W, backward dW = x.T @ dz and dx = dz @ W.T; the first
    layer's dx (the gradient of the inputs) is useless for training and is counted only with
    input_grad=True. Bias adds, activations, the loss and the optimizer are not counted.
    """
    if batch < 1 or len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"batch={batch!r}, sizes={list(sizes)!r}: need batch >= 1 and >= 2 "
                         "positive layer sizes")
    total = 0
    for i, (n, m) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        n_gemms = 3 if (i > 0 or input_grad) else 2
        total += n_gemms * 2 * batch * n * m
    return total


def target(name: str, value: float | None, op: str, threshold: float, note: str = "") -> dict:
    """One target; met is None when the value is missing (a --quick run still says met/missed,
    with a note, and the printed table says it is not a verdict)."""
    if op not in ("<=", ">="):
        raise ValueError(f"op={op!r}: must be '<=' or '>='")
    met = None
    if value is not None and math.isfinite(value):
        met = value <= threshold if op == "<=" else value >= threshold
    return {"name": name, "value": value, "op": op, "threshold": threshold, "met": met,
            "note": note}


def spread(values: list[float]) -> dict:
    """median, min, max, mean and the raw values of a list of measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "mean": statistics.fmean(values), "values": list(values)}


# ---------------------------------------------------------------- implementations
def run_nnfs(data, opts: BenchOptions, *, seed: int, epochs: int, dtype=np.float64,
             eval_every: int = 1) -> dict:
    """Build and fit an nnfs MLP like a user would; time model build + fit."""
    from nnfs.core import optimizers
    from nnfs.core.model import MLP
    from nnfs.train import fit

    precision = np.dtype(dtype).name
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    net = MLP(data.n_features, list(opts.hidden), data.n_out, activation="relu",
              task=data.task, loss="cross_entropy", l2=0.0, rng=np.random.default_rng(seed),
              dtype=dtype)
    optimizer = optimizers.get("adam")(**ADAM)
    history = fit(net, data, optimizer=optimizer, epochs=epochs, lr=opts.lr,
                  batch_size=opts.batch_size, precision=precision,
                  rng=np.random.default_rng(seed + 1), eval_every=eval_every, threads=1)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if history.status != "finished":
        raise RuntimeError(f"nnfs fit ended with status {history.status!r}: {history.reason}")
    test_acc = float(np.mean(history.net.predict(data.X_test) == data.y_test))
    return {"seconds": seconds, "ms_per_epoch": 1e3 * seconds / epochs,
            "cpu_ms_per_epoch": 1e3 * cpu_seconds / epochs, "test_acc": test_acc,
            "fit_ms_per_epoch": float(history.final["time/ms_per_epoch"]),
            "final_test_acc": float(history.final["final/test_acc"])}


def run_sklearn(data, opts: BenchOptions, *, seed: int, epochs: int) -> dict:
    """scikit-learn's MLPClassifier with the same architecture, optimizer and batches.

    alpha=0 (no L2, like nnfs l2=0); tol=0 and n_iter_no_change > epochs so that exactly
    `epochs` epochs run, as in nnfs.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    clf = MLPClassifier(hidden_layer_sizes=opts.hidden, activation="relu", solver="adam",
                        alpha=0.0, batch_size=opts.batch_size, learning_rate_init=opts.lr,
                        beta_1=ADAM["beta1"], beta_2=ADAM["beta2"], epsilon=ADAM["eps"],
                        max_iter=epochs, shuffle=True, tol=0.0, n_iter_no_change=epochs + 1,
                        early_stopping=False, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(data.X_train, data.y_train)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    if clf.n_iter_ != epochs:
        raise RuntimeError(f"scikit-learn ran {clf.n_iter_} epochs instead of {epochs}")
    test_acc = float(np.mean(clf.predict(data.X_test) == data.y_test))
    return {"seconds": seconds, "ms_per_epoch": 1e3 * seconds / epochs,
            "cpu_ms_per_epoch": 1e3 * cpu_seconds / epochs, "test_acc": test_acc}


def classifier_impls(data, opts: BenchOptions) -> dict[str, Callable[..., dict]]:
    """The implementations compared on a classification dataset, by name."""
    return {
        "nnfs_f64": lambda seed, epochs: run_nnfs(data, opts, seed=seed, epochs=epochs),
        "nnfs_f32": lambda seed, epochs: run_nnfs(data, opts, seed=seed, epochs=epochs,
                                                  dtype=np.float32),
        "sklearn": lambda seed, epochs: run_sklearn(data, opts, seed=seed, epochs=epochs),
        "nnfs_f64_eval_end": lambda seed, epochs: run_nnfs(data, opts, seed=seed, epochs=epochs,
                                                           eval_every=epochs),
    }


LABELS = {"nnfs_f64": "nnfs float64", "nnfs_f32": "nnfs float32",
          "sklearn": "scikit-learn (float64)", "nnfs_f64_eval_end": "nnfs float64, metrics at end"}


def compare(impls: dict[str, Callable[..., dict]], opts: BenchOptions,
            baseline: str = "sklearn") -> dict:
    """Alternate the implementations over opts.repeats paired repeats.

    One short warm-up run each first (imports, first allocations). Repeat r uses model seed
    opts.seed + r for every implementation, and rotates the order by r.
    """
    from threadpoolctl import threadpool_limits

    names = list(impls)
    runs: dict[str, list[dict]] = {name: [] for name in names}
    with threadpool_limits(limits=1):
        for name in names:
            impls[name](seed=opts.seed, epochs=1)
        for r in range(opts.repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                runs[name].append(impls[name](seed=opts.seed + r, epochs=opts.epochs))
    out: dict = {"runs": runs, "impls": {}}
    for name in names:
        ms = [run["ms_per_epoch"] for run in runs[name]]
        acc = [run["test_acc"] for run in runs[name]]
        entry = {"ms_per_epoch": spread(ms), "test_acc": spread(acc),
                 "cpu_ms_per_epoch": spread([run["cpu_ms_per_epoch"] for run in runs[name]])}
        if name != baseline:
            pairs = list(zip(runs[name], runs[baseline], strict=True))
            entry["ratio"] = spread([a["ms_per_epoch"] / b["ms_per_epoch"] for a, b in pairs])
            # process CPU time: less sensitive to other processes taking the cores
            entry["cpu_ratio"] = spread([a["cpu_ms_per_epoch"] / b["cpu_ms_per_epoch"]
                                         for a, b in pairs])
            entry["acc_diff_points"] = spread([100 * (a["test_acc"] - b["test_acc"])
                                               for a, b in pairs])
        out["impls"][name] = entry
    return out


def _fmt(s: dict, digits: int = 2) -> str:
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}-{s['max']:.{digits}f}]"


def classifier_lines(title: str, result: dict) -> list[str]:
    lines = [title, f"  {'implementation':<30}{'ms/epoch med [min-max]':<26}"
                    f"{'ratio vs sklearn':<22}{'cpu-time ratio':<22}{'test acc mean [min-max]'}"]
    for name, e in result["impls"].items():
        ratio = _fmt(e["ratio"], 3) if "ratio" in e else "1"
        cpu_ratio = _fmt(e["cpu_ratio"], 3) if "cpu_ratio" in e else "1"
        acc = e["test_acc"]
        lines.append(f"  {LABELS.get(name, name):<30}{_fmt(e['ms_per_epoch']):<26}{ratio:<22}"
                     f"{cpu_ratio:<22}{acc['mean']:.4f} [{acc['min']:.4f}-{acc['max']:.4f}]")
    return lines


def classifier_section(name: str, data, opts: BenchOptions) -> dict:
    result = compare(classifier_impls(data, opts), opts)
    e = result["impls"]
    n_train, n_test = len(data.y_train), len(data.y_test)
    title = (f"{name}: {n_train} train / {n_test} test, {data.n_features} features, "
             f"{data.n_out} output(s), hidden {'-'.join(map(str, opts.hidden))} relu, "
             f"Adam lr {opts.lr:g}, batch {opts.batch_size}, no L2 (sklearn alpha=0), "
             f"{opts.epochs} epochs, {opts.repeats} repeats; nnfs reports per epoch train/loss "
             "and train/acc running over the batches (as seen during training, no extra pass) "
             "and test loss/acc (one pass over the test set)")
    acc_sk = e["sklearn"]["test_acc"]["mean"]
    note = "quick run: too few epochs for a verdict" if opts.quick else ""
    targets = []
    for impl in ("nnfs_f64", "nnfs_f32"):
        gap = 100 * (acc_sk - e[impl]["test_acc"]["mean"])
        targets.append(target(f"{name} {LABELS[impl]}: accuracy points below sklearn", gap, "<=",
                              TARGET_ACC_POINTS, note))
    return {"title": title, "lines": classifier_lines(title, result), "targets": targets,
            "data": {"n_train": n_train, "n_test": n_test, "meta": _plain(data.meta)},
            **result}


def section_moons(opts: BenchOptions) -> dict:
    from nnfs.data import load

    data = load("moons", n_samples=opts.moons_samples, noise=opts.moons_noise, seed=opts.seed,
                test_size=opts.test_size)
    out = classifier_section("moons", data, opts)
    e = out["impls"]
    out["summary"] = {"ratio_f64": e["nnfs_f64"]["ratio"]["median"],
                      "ratio_f32": e["nnfs_f32"]["ratio"]["median"],
                      "cpu_ratio_f64": e["nnfs_f64"]["cpu_ratio"]["median"],
                      "cpu_ratio_f32": e["nnfs_f32"]["cpu_ratio"]["median"],
                      "ratio_f64_eval_end": e["nnfs_f64_eval_end"]["ratio"]["median"],
                      "acc_nnfs": e["nnfs_f64"]["test_acc"]["mean"],
                      "acc_nnfs_f32": e["nnfs_f32"]["test_acc"]["mean"],
                      "acc_sklearn": e["sklearn"]["test_acc"]["mean"],
                      "ms_per_epoch_nnfs_f64": e["nnfs_f64"]["ms_per_epoch"]["median"],
                      "ms_per_epoch_nnfs_f32": e["nnfs_f32"]["ms_per_epoch"]["median"],
                      "ms_per_epoch_sklearn": e["sklearn"]["ms_per_epoch"]["median"]}
    note = "quick run" if opts.quick else ""
    out["targets"] = [target("moons ratio_f64 (nnfs f64 / sklearn ms/epoch)",
                             out["summary"]["ratio_f64"], "<=", TARGET_RATIO_F64, note),
                      target("  the same in process CPU time (less sensitive to load)",
                             out["summary"]["cpu_ratio_f64"], "<=", TARGET_RATIO_F64, note),
                      target("moons ratio_f32 (nnfs f32 / sklearn ms/epoch)",
                             out["summary"]["ratio_f32"], "<=", TARGET_RATIO_F32, note),
                      target("  the same in process CPU time (less sensitive to load)",
                             out["summary"]["cpu_ratio_f32"], "<=", TARGET_RATIO_F32, note),
                      *out["targets"]]
    return out


def section_digits(opts: BenchOptions) -> dict:
    from nnfs.data import load

    data = load("digits", seed=opts.seed, test_size=opts.test_size)
    out = classifier_section("digits", data, opts)
    e = out["impls"]
    out["summary"] = {"digits_ratio_f64": e["nnfs_f64"]["ratio"]["median"],
                      "digits_ratio_f32": e["nnfs_f32"]["ratio"]["median"],
                      "digits_acc_nnfs": e["nnfs_f64"]["test_acc"]["mean"],
                      "digits_acc_nnfs_f32": e["nnfs_f32"]["test_acc"]["mean"],
                      "digits_acc_sklearn": e["sklearn"]["test_acc"]["mean"]}
    return out


# ---------------------------------------------------------------- wide case
def gemm_peak(n: int, reps: int, rng: np.random.Generator) -> tuple[float, float]:
    """(wall, cpu) best GFLOP/s of reps (n, n) @ (n, n) float64 products.

    Call under a thread limit; "cpu" divides by the process CPU time of the product.
    """
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    c = np.empty((n, n))
    np.matmul(a, b, out=c)
    best_wall = best_cpu = math.inf
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        np.matmul(a, b, out=c)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    flops = 2 * n**3
    return flops / best_wall / 1e9, flops / max(best_cpu, 1e-9) / 1e9


def section_wide(opts: BenchOptions) -> dict:
    """GFLOP/s of the nnfs training step on a wide MLP against the measured GEMM peak."""
    from threadpoolctl import threadpool_limits

    from nnfs.core import optimizers
    from nnfs.core.model import MLP

    rng = np.random.default_rng(opts.seed)
    sizes = [opts.wide_in, *opts.wide_hidden, opts.wide_out]
    # Inputs: standard normal features and uniform labels; GEMM cost does not depend on values.
    n_batches = 4
    batches = [(rng.standard_normal((opts.wide_batch, opts.wide_in)),
                rng.integers(0, opts.wide_out, opts.wide_batch)) for _ in range(n_batches)]
    net = MLP(opts.wide_in, list(opts.wide_hidden), opts.wide_out, activation="relu",
              task="multiclass", loss="cross_entropy", rng=rng, dtype=np.float64)
    gflat, grads = net.new_grads()
    adam = optimizers.get("adam")(**ADAM)
    params, flat_grads = {"flat": net.flat}, {"flat": gflat}

    def grads_only(k):
        X, y = batches[k % n_batches]
        net.loss_and_grads(X, y, out=grads)

    def train_step(k):
        grads_only(k)
        adam.step(params, flat_grads, lr=opts.lr)

    def time_steps(step) -> tuple[float, float]:
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(opts.wide_steps):
            step(k)
        return ((time.perf_counter() - t0) / opts.wide_steps,
                (time.process_time() - c0) / opts.wide_steps)

    flops = gemm_flops(opts.wide_batch, sizes)
    peaks, steps, grads_s = [], [], []  # (wall, cpu) pairs
    with threadpool_limits(limits=1):
        train_step(0)  # warm-up: optimizer state, first allocations
        for r in range(opts.repeats):
            measures = [lambda: peaks.append(gemm_peak(opts.peak_n, opts.peak_reps, rng)),
                        lambda: steps.append(time_steps(train_step)),
                        lambda: grads_s.append(time_steps(grads_only))]
            for measure in measures[r % 3:] + measures[:r % 3]:
                measure()
    figures: dict = {}
    for clock, i in (("wall", 0), ("cpu", 1)):
        peak = [p[i] for p in peaks]
        step_gflops = [flops / s[i] / 1e9 for s in steps]
        grad_gflops = [flops / s[i] / 1e9 for s in grads_s]
        figures[clock] = {
            "peak_gflops": spread(peak),
            "step_ms": spread([1e3 * s[i] for s in steps]), "step_gflops": spread(step_gflops),
            "peak_fraction": spread([g / p for g, p in zip(step_gflops, peak, strict=True)]),
            "grads_only_ms": spread([1e3 * s[i] for s in grads_s]),
            "grads_only_gflops": spread(grad_gflops),
            "grads_only_peak_fraction": spread([g / p for g, p in
                                                zip(grad_gflops, peak, strict=True)])}
    title = (f"wide: MLP {'-'.join(map(str, sizes))} relu float64, batch {opts.wide_batch} "
             f"(standard normal inputs, {opts.wide_out} classes), Adam; {opts.wide_steps} steps "
             f"x {opts.repeats} repeats; peak = np.matmul {opts.peak_n}^2 float64, best of "
             f"{opts.peak_reps}; one BLAS thread; fractions paired per repeat")
    lines = [title,
             f"  GEMM flops per step      {flops / 1e9:.4f} GFLOP (fwd x@W, bwd x.T@dz and dz@W.T;"
             " no dx for layer 0)"]
    for clock, f in figures.items():
        lines += [f"  [{clock} clock] GEMM peak {_fmt(f['peak_gflops'], 1)} GFLOP/s",
                  f"    train step (grads+Adam)  {_fmt(f['step_ms'])} ms, "
                  f"{_fmt(f['step_gflops'], 1)} GFLOP/s, peak fraction "
                  f"{_fmt(f['peak_fraction'], 3)}",
                  f"    loss_and_grads only      {_fmt(f['grads_only_ms'])} ms, "
                  f"{_fmt(f['grads_only_gflops'], 1)} GFLOP/s, peak fraction "
                  f"{_fmt(f['grads_only_peak_fraction'], 3)}"]
    wall, cpu = figures["wall"], figures["cpu"]
    summary = {"wide_peak_fraction": wall["peak_fraction"]["median"],
               "wide_cpu_peak_fraction": cpu["peak_fraction"]["median"],
               "wide_gflops": wall["step_gflops"]["median"],
               "gemm_peak_gflops": wall["peak_gflops"]["median"],
               "gemm_peak_gflops_max": wall["peak_gflops"]["max"],
               "wide_grads_only_peak_fraction": wall["grads_only_peak_fraction"]["median"]}
    note = "quick run" if opts.quick else ""
    return {"title": title, "lines": lines, "summary": summary,
            "targets": [target("wide_peak_fraction (train step GFLOP/s / GEMM peak)",
                               summary["wide_peak_fraction"], ">=", TARGET_WIDE_PEAK_FRACTION,
                               note),
                        target("  the same in process CPU time (less sensitive to load)",
                               summary["wide_cpu_peak_fraction"], ">=",
                               TARGET_WIDE_PEAK_FRACTION, note)],
            "sizes": sizes, "gemm_flops_per_step": flops, **figures}


# ---------------------------------------------------------------- tracking and report
def parallel_capacity(n_loop: int) -> dict:
    """How many cores the machine gives right now: one CPU-bound Python process alone, then two
    at once; capacity = 2 * alone / slowest of the two (2 on an idle 2-core machine, 1 when
    other work takes one core). A joblib speed-up cannot exceed it."""
    import subprocess

    code = (f"import time\nt = time.perf_counter()\nx = 0\nfor i in range({n_loop}): x += i\n"
            "print(time.perf_counter() - t)")

    def start():
        return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)

    def seconds(proc) -> float:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"capacity probe failed with code {proc.returncode}")
        return float(out)

    alone = seconds(start())
    pair = [start(), start()]
    both = [seconds(p) for p in pair]
    return {"alone_s": alone, "two_at_once_s": both, "capacity": 2 * alone / max(both)}


def section_tracking(opts: BenchOptions) -> dict:
    """MLflow's cost per run, and a sweep's speed-up under joblib (nnfs.bench_tracking)."""
    from nnfs.bench_tracking import sweep_speedup, tracking_overhead

    over = tracking_overhead(repeats=opts.tracking_repeats, epochs=opts.tracking_epochs,
                             warmup=opts.tracking_warmup)
    capacity = parallel_capacity(opts.capacity_loop)
    sweep = sweep_speedup(jobs=opts.sweep_jobs, epochs=opts.sweep_epochs,
                          n_samples=opts.sweep_samples, width=opts.sweep_width)
    capacity_after = parallel_capacity(opts.capacity_loop)
    title = (f"tracking: {over['dataset']} fit of {over['epochs']} epochs ({over['metric_points']} "
             f"metric points, PNG artifacts, no pyfunc model) with MLflow (SQLite, temporary "
             f"store) vs tracking=none, alternated, {over['repeats']} repeats; sweep of "
             f"{sweep['jobs']} seeds (moons {opts.sweep_samples} samples, width "
             f"{opts.sweep_width} depth 2, {opts.sweep_epochs} epochs), Hydra basic launcher vs "
             "joblib n_jobs=2 (one BLAS thread per worker)")
    lines = [title,
             f"  run with tracking          {over['run_tracked_ms']:.0f} ms median",
             f"  run with tracking=none     {over['run_untracked_ms']:.0f} ms median",
             f"  overhead per run           {over['overhead_paired_ms']:.0f} ms (median of paired "
             f"differences); difference of medians {over['overhead_ms']:.0f} ms",
             f"  tracking phases alone      {over['tracking_ms']:.0f} ms wall, "
             f"{over['tracking_cpu_ms']:.0f} ms CPU (median; min {over['tracking_ms_min']:.0f})",
             f"  sweep, basic launcher      {sweep['basic_s']:.1f} s command, "
             f"{sweep['basic_sweep_s']:.1f} s sweep (a job's fit "
             f"{sweep['basic_job_fit_s']:.2f} s)",
             f"  sweep, joblib n_jobs=2     {sweep['joblib_s']:.1f} s command, "
             f"{sweep['joblib_sweep_s']:.1f} s sweep (a job's fit "
             f"{sweep['joblib_job_fit_s']:.2f} s)",
             f"  speed-up                   {sweep['speedup']:.2f}x command, "
             f"{sweep['speedup_sweep']:.2f}x sweep",
             f"  cores free (2 CPU-bound processes at once vs one; 2.0 = both cores free) "
             f"{capacity['capacity']:.2f} before the sweeps, {capacity_after['capacity']:.2f} "
             "after: the speed-up cannot exceed it"]
    summary = {"tracking_overhead_ms": over["overhead_paired_ms"],
               "tracking_overhead_median_diff_ms": over["overhead_ms"],
               "tracking_phases_ms": over["tracking_ms"],
               "tracking_phases_cpu_ms": over["tracking_cpu_ms"],
               "run_tracked_ms": over["run_tracked_ms"],
               "run_untracked_ms": over["run_untracked_ms"],
               "sweep_speedup": sweep["speedup"],
               "sweep_speedup_sweep_wall": sweep["speedup_sweep"],
               "sweep_basic_s": sweep["basic_s"], "sweep_joblib_s": sweep["joblib_s"],
               "sweep_job_fit_s": sweep["basic_job_fit_s"],
               "parallel_capacity": min(capacity["capacity"], capacity_after["capacity"])}
    note = "quick run" if opts.quick else ""
    sweep_note = note if opts.sweep_jobs == 12 else f"{opts.sweep_jobs} jobs, not 12"
    return {"title": title, "lines": lines, "summary": summary,
            "targets": [target("tracking overhead per run (ms, median paired vs none)",
                               summary["tracking_overhead_ms"], "<=", TARGET_TRACKING_MS, note),
                        target("  the same, tracking phases timed alone (less noisy)",
                               summary["tracking_phases_ms"], "<=", TARGET_TRACKING_MS, note),
                        target(f"sweep speed-up, {opts.sweep_jobs} jobs, joblib n_jobs=2 vs basic",
                               summary["sweep_speedup"], ">=", TARGET_SWEEP_SPEEDUP, sweep_note),
                        target("  the same, from the sweeps' own wall time",
                               summary["sweep_speedup_sweep_wall"], ">=", TARGET_SWEEP_SPEEDUP,
                               sweep_note)],
            "overhead": over, "sweep": sweep,
            "capacity": {"before": capacity, "after": capacity_after}}


def section_report(opts: BenchOptions) -> dict:
    """nnfs-report on a synthetic store of opts.report_runs runs (built once, cached under
    opts.cache_dir; the timing is the report's alone)."""
    from nnfs.report import bench_report

    store_dir = os.path.join(opts.cache_dir, f"report-store-{opts.report_runs}")
    rep = bench_report(opts.report_runs, store_dir)
    judged = opts.report_runs == REPORT_TARGET_RUNS
    build = ("reused from the cache" if rep["store_cached"]
             else f"built now in {rep['store_build_s']:.1f} s")
    title = (f"report: nnfs-report (HTML, Markdown, CSV, {rep['n_figures']} figures, logged to "
             f"the store) on a SYNTHETIC store of {rep['n_runs']} runs in {store_dir} ({build}, "
             "not timed)")
    lines = [title, f"  report time                {rep['report_s']:.2f} s "
                    f"({rep['html_bytes'] / 1e6:.1f} MB of HTML; sections "
                    f"{', '.join(rep['sections'])})"]
    if not judged:
        lines.append(f"  {rep['n_runs']} runs, not {REPORT_TARGET_RUNS}: the target is not judged")
    summary = {"report_1000_s": rep["report_s"] if judged else None,
               "report_s": rep["report_s"], "report_n_runs": rep["n_runs"],
               "report_store_build_s": rep["store_build_s"],
               "report_store_cached": rep["store_cached"]}
    note = "" if judged else f"{rep['n_runs']} runs: not judged"
    return {"title": title, "lines": lines, "summary": summary,
            "targets": [target(f"report of a {REPORT_TARGET_RUNS:,}-run store (s)",
                               summary["report_1000_s"], "<=", TARGET_REPORT_S, note)],
            **rep}


# ---------------------------------------------------------------- driver
SECTIONS: dict[str, Callable[[BenchOptions], dict]] = {
    "moons": section_moons,
    "digits": section_digits,
    "wide": section_wide,
    "tracking": section_tracking,
    "report": section_report,
}
GROUPS = {"speed": ("moons", "digits", "wide")}
REQUIRED_KEYS = ("ratio_f64", "ratio_f32", "acc_nnfs", "acc_sklearn", "wide_peak_fraction",
                 "tracking_overhead_ms", "sweep_speedup", "report_1000_s")


def environment() -> dict:
    """What the numbers depend on: versions, CPU, BLAS (as loaded, before any limit), load."""
    import sklearn
    from threadpoolctl import threadpool_info

    cpu = next((line.split(":", 1)[1].strip() for line in _read_lines("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return {"python": platform.python_version(), "numpy": np.__version__,
            "sklearn": sklearn.__version__, "platform": platform.platform(), "cpu": cpu,
            "cpu_count": os.cpu_count(),
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            "blas": threadpool_info(), "bench_threads": 1,
            "loadavg_start": list(os.getloadavg())}


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.readlines()
    except OSError:
        return []


def _plain(value):
    """JSON-safe copy: numpy scalars to Python, non-finite floats to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def resolve_sections(only: str | None) -> list[str]:
    """'moons,wide' or 'speed' -> section names, in SECTIONS order; unknown -> ValueError."""
    if not only:
        return list(SECTIONS)
    wanted: set[str] = set()
    for part in (p.strip() for p in only.split(",") if p.strip()):
        if part in GROUPS:
            wanted.update(GROUPS[part])
        elif part in SECTIONS:
            wanted.add(part)
        else:
            valid = ", ".join([*SECTIONS, *GROUPS])
            raise ValueError(f"--only={part!r}: unknown section; valid: {valid}")
    return [name for name in SECTIONS if name in wanted]


def run(opts: BenchOptions, sections: list[str], *, echo: Callable[[str], None] = print) -> dict:
    """Run the sections; return the whole result (JSON-ready)."""
    result: dict = {key: None for key in REQUIRED_KEYS}
    result.update({"quick": opts.quick, "options": _plain(asdict(opts)), "env": environment(),
                   "targets": [], "sections": {}})
    for name in sections:
        t0 = time.perf_counter()
        out = SECTIONS[name](opts)
        out["section_seconds"] = time.perf_counter() - t0
        lines = out.get("lines") or [f"{name}:"] + [
            f"  {key:<30} {value:.6g}" if isinstance(value, float) else f"  {key:<30} {value}"
            for key, value in out.items() if isinstance(value, int | float | str | bool)]
        for line in lines:
            echo(line)
        echo("")
        result.update(out.get("summary", {}))
        result["targets"].extend(out.get("targets", []))
        result["sections"][name] = out
    result["env"]["loadavg_end"] = list(os.getloadavg())
    return _plain(result)


def targets_lines(result: dict) -> list[str]:
    quick = " (QUICK RUN: indicative only, not a verdict)" if result["quick"] else ""
    lines = [f"targets{quick}"]
    for t in result["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.3f}"
        verdict = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        lines.append(f"  {t['name']:<62} {value:>8} {t['op']} {t['threshold']:<6g} {verdict}")
    return lines


def write_json(result: dict, path: str) -> None:
    """Write the result; the REQUIRED_KEYS are always present (null when not measured)."""
    missing = [key for key in REQUIRED_KEYS if key not in result]
    if missing:
        raise ValueError(f"result is missing required keys {missing}")
    with open(path, "w") as f:
        json.dump(_plain(result), f, indent=2, allow_nan=False)
        f.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nnfs-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"a run of under a minute: {QUICK.epochs} epochs, "
                             f"{QUICK.wide_steps} wide steps, peak on {QUICK.peak_n}^2")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    parser.add_argument("--only", metavar="SECTIONS",
                        help=f"comma-separated subset of {', '.join([*SECTIONS, *GROUPS])}")
    parser.add_argument("--repeats", type=int, help="paired repeats (default 5)")
    parser.add_argument("--epochs", type=int, help="training epochs of the classifier sections")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=FULL.cache_dir,
                        help="folder of the report section's synthetic stores, reused from run "
                             "to run (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        sections = resolve_sections(args.only)
        opts = replace(QUICK if args.quick else FULL, seed=args.seed, cache_dir=args.cache_dir,
                       **{k: v for k, v in (("repeats", args.repeats), ("epochs", args.epochs))
                          if v is not None})
    except ValueError as exc:
        parser.error(str(exc))
    env = {k: v for k, v in environment().items() if k not in ("blas", "loadavg_start")}
    print(f"nnfs-bench{' --quick' if opts.quick else ''}: {env}")
    for lib in environment()["blas"]:
        print(f"  {lib.get('user_api')}: {lib.get('internal_api')} {lib.get('version')} "
              f"{lib.get('architecture', '')} ({os.path.basename(lib.get('filepath', ''))}), "
              f"{lib.get('num_threads')} threads by default; limited to 1 in the bench")
    if opts.quick:
        print(f"QUICK RUN: {opts.epochs} epochs, {opts.repeats} repeats; accuracies are not after "
              "full training and the targets below are not a verdict")
    if opts.repeats < 5:
        print(f"note: {opts.repeats} repeats (< 5): spreads are unreliable")
    print()
    t0 = time.perf_counter()
    result = run(opts, sections)
    result["bench_seconds"] = time.perf_counter() - t0
    for line in targets_lines(result):
        print(line)
    print(f"\nbench time {result['bench_seconds']:.1f} s")
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
