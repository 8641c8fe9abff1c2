"""The studies: each claim with its criterion in words and its judge; ``verdicts``, ``derive``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from nnfs.studies import judges_linear as jl
from nnfs.studies import judges_training as jt
from nnfs.studies.stats import (
    ACC,
    SOLVED,
    UNSOLVED,
    UNSURE,
    Judge,
    Missing,
    Verdict,
    chain,
    derive_epochs,
    derive_start_end,
)


@dataclass(frozen=True)
class Claim:
    """A claim of the theory, its criterion (said in words), and the function that judges it."""

    text: str
    criterion: str
    judge: Judge


@dataclass(frozen=True)
class Study:
    """``axes``: params read as columns of the run table; ``curves``: metric histories that
    ``derive`` needs (keys, or prefixes ending in '/')."""

    name: str
    title: str
    axes: tuple[str, ...]
    claims: tuple[Claim, ...]
    curves: tuple[str, ...] = ()
    derive: Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None


def derive(study: str, frame: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """``frame`` plus the study's curve-derived columns (a new frame; inputs untouched).
    histories: rows (run_id, key, step, value) as ``nnfs.report.load.load_histories`` gives."""
    spec = get(study)
    return spec.derive(frame, histories) if spec.derive is not None else frame.copy()


# ------------------------------------------------------------------------------ registry
def _c(text: str, criterion: str, judge: Judge) -> Claim:
    return Claim(text, criterion, judge)


_solved = f"mean − std >= {SOLVED}"
_unsolved = f"mean + std <= {UNSOLVED}"

STUDIES: dict[str, Study] = {s.name: s for s in (
    Study("least_squares", "Gradient descent finds the least-squares solution",
          ("optimizer.lr", "seed"), (
              _c("GD on linear regression converges to the least-squares solution of Gauss "
                 "and Legendre", f"at lr {jl.LS_GOOD_LR}: max |W_gd − W_lstsq| (mean + std) < "
                 f"{jl.LS_TOL:g}", jl._ls_converges),
              _c("Too large a learning rate diverges", "every run with lr above 2/λ_max of "
                 "the MSE Hessian diverges (non-finite or rising loss), none below it",
                 jl._ls_diverges),
              _c("Too small a learning rate is slow", "steps to 0.1 % of the optimal loss fall "
                 "as lr grows over the stable range; the smallest lr needs >= 10x the fewest",
                 jl._ls_slow)),
          curves=("train/loss",), derive=jl._ls_derive),
    Study("separability", "Linear models and linear separability", ("dataset", "model.depth",
          "seed"), (
        _c("Logistic regression (nnfs) solves the linearly separable sets (linear, "
           "breast_cancer)", f"test acc {_solved}",
           lambda f: jl._solves(f, jl.SEPARABLE, True, model__depth=0)),
        _c("Logistic regression (nnfs) cannot solve xor, circles, spiral",
           f"test acc {_unsolved}", lambda f: jl._solves(f, jl.INSEPARABLE, False, model__depth=0)),
        _c("scikit-learn's LogisticRegression: the same split of solved and unsolved sets",
           f"separable {_solved}, inseparable {_unsolved}", jl._sklearn_logreg),
        _c("An MLP (2 hidden layers) solves all five sets", f"test acc {_solved}",
           lambda f: jl._solves(f, jl.SEPARABLE + jl.INSEPARABLE, True, model__depth=2)))),
    Study("feature_cross", "Hand-made feature crosses against learned features",
          ("dataset", "features", "model.depth", "seed"), (
              _c("Logistic regression plus the cross x1·x2 solves XOR",
                 f"with the cross {_solved}, raw {_unsolved}", jl._fc_cross("xor", "cross")),
              _c("Logistic regression plus x1², x2² solves circles",
                 f"with squares {_solved}, raw {_unsolved}", jl._fc_cross("circles", "squares")),
              _c("An MLP on the raw inputs learns what the crosses give by hand",
                 f"MLP mean >= crossed logistic mean − 0.03 and {_solved}", jl._fc_learned))),
    Study("nonlinearity", "Without a nonlinearity depth adds nothing",
          ("dataset", "activation", "model.depth", "seed"), (
              _c("With the identity activation, depth 1 to 4 does no better than logistic "
                 "regression on the inseparable sets", "per dataset and depth: mean − mean(depth"
                 f" 0) <= 0.05 and {_unsolved}", jl._nl_identity),
              _c("Every nonlinear activation does better than logistic regression",
                 "every (dataset, activation, depth >= 1): one-std bands apart, >= 0.1 above",
                 jl._nl_nonlinear))),
    Study("vanishing_gradients", "Vanishing gradients in deep sigmoid nets",
          ("activation", "model.depth", "seed"), (
              _c("With sigmoid, the first layer's gradient norm shrinks relative to the last "
                 "layer's as depth grows, by orders of magnitude", "mean log10 ratio falls with "
                 "every depth step and by >= 2 from the shallowest to the deepest", jt._vg_sigmoid),
              _c("relu, gelu and swiglu keep the ratio near one", "every run finishes and "
                 "|mean log10 ratio| + std <= 1 at every depth", jt._vg_others),
              _c("Deep sigmoid nets train slower", f"epochs to train loss <= {jt.VG_LOSS_TARGET}: "
                 "deepest sigmoid clearly above shallowest sigmoid and deepest relu",
                 jt._vg_slower)),
          curves=("train/loss", "grad_norm/"), derive=jt._vg_derive),
    Study("loss_choice", "Cross-entropy against MSE on classifiers",
          ("dataset", "loss", "seed"), (
              _c("On confidently wrong predictions cross-entropy's gradient is far larger than "
                 "MSE's", "log10(‖∇θ CE‖ / ‖∇θ MSE‖) at initialisation: mean − std >= 1",
                 jt._lc_gradient),
              _c("Cross-entropy reaches a target accuracy in fewer epochs", f"epochs to test "
                 f"acc >= {jt.LC_TARGET}: MSE clearly above CE on every dataset", jt._lc_faster)),
          curves=("test/acc",),
          derive=derive_epochs("test/acc", jt.LC_TARGET, False, "derived/epochs_to_acc")),
    Study("optimizers", "Optimizers, schedules, accumulation, precision, clipping",
          ("opt_variant", "seed"), (
              _c("More steps per epoch reach a target loss in fewer epochs; momentum and Adam "
                 "beat plain mini-batch SGD", f"epochs to train loss <= {jt.OPT_LOSS_TARGET}: GD "
                 "clearly above SGD and mini-batch; momentum and Adam means below mini-batch",
                 jt._opt_epochs),
              _c("SGD (batch 1) costs more time per epoch than mini-batch", "ms per epoch "
                 "clearly greater", jt._opt_sgd_cost),
              _c("Adam with warmup and cosine decay ends lower than Adam at a constant rate",
                 "final train loss clearly lower", jt._opt_schedule),
              _c("Gradient accumulation equals the large batch", "4 x 8 vs 32: relative "
                 "difference of final train and test loss <= 1e-9 on every seed",
                 jt._opt_accumulation),
              _c("Mixed precision matches float32", "|Δ test acc| mean + std <= 0.01 and "
                 "relative |Δ test loss| mean + std <= 0.05", jt._opt_mixed),
              _c("Clipping tames a run that explodes without it", "every unclipped run "
                 "diverges; every clipped run finishes with test R² > 0", jt._opt_clipping)),
          curves=("train/loss", "time/epoch_s"),
          derive=chain(derive_start_end, derive_epochs(
              "train/loss", jt.OPT_LOSS_TARGET, True, "derived/epochs_to_loss", seconds=True))),
    Study("universal_approximation", "One hidden layer approximates a sine",
          ("model.width", "seed"), (
              _c("Test error falls as the width of one hidden layer grows from 1 to 256",
                 "Spearman ρ(width, mean test RMSE) <= −0.8 and the widest clearly below the "
                 "narrowest", jt._ua_falls),)),
    Study("two_layer_xor", "The seed's 2-3-1 sigmoid network on XOR",
          ("model.depth", "seed"), (
              _c("Two inputs, three sigmoid hidden units and one output solve XOR",
                 f"test acc {_solved}", lambda f: jl._solves(f, ("xor",), True, model__depth=1)),
              _c("Logistic regression cannot", f"test acc {_unsolved}",
                 lambda f: jl._solves(f, ("xor",), False, model__depth=0)))),
    Study("modern_activations", "ReLU, GELU and SwiGLU at a matched parameter count",
          ("dataset", "activation", "act_case", "seed"), (
              _c("GELU and SwiGLU are at least as accurate as ReLU at a matched parameter "
                 "count", "no activation clearly below ReLU's test acc on any dataset",
                 jt._ma_compare(ACC, True, "test acc")),
              _c("GELU and SwiGLU reach the target accuracy no later than ReLU",
                 f"epochs to test acc >= {jt.MA_TARGET}: none clearly above ReLU's",
                 jt._ma_compare("derived/epochs_to_acc", False, "epochs to target"))),
          curves=("test/acc",),
          derive=derive_epochs("test/acc", jt.MA_TARGET, False, "derived/epochs_to_acc")),
    Study("tour", "The tour: separability, activations x loss, baselines",
          ("dataset", "activation", "loss", "seed"), (
              _c("A linear model solves the separable set and none of the others",
                 f"identity: linear {_solved}; xor, circles, spiral {_unsolved}", jt._tour_linear),
              _c("A nonlinear hidden layer solves all four sets", f"cross-entropy, sigmoid "
                 f"and relu: {_solved}", jt._tour_nonlinear),
              _c("Cross-entropy is never clearly worse than MSE", "no (activation, dataset) "
                 "with MSE's band above CE's", jt._tour_loss),
              _c("nnfs and scikit-learn's MLPClassifier agree", "mean |Δ test acc| <= 0.03",
                 jt._tour_sklearn),
              _c("scikit-learn's LogisticRegression: the same split of solved and unsolved "
                 "sets", f"separable {_solved}, inseparable {_unsolved}", jl._sklearn_logreg))),
)}
NAMES = tuple(n for n in STUDIES if n != "tour")  # `make studies`; the tour is `make demo`


def get(name: str) -> Study:
    """The study ``name``; ValueError naming the valid ones."""
    if name not in STUDIES:
        raise ValueError(f"study={name!r} is not known; allowed: {', '.join(STUDIES)}")
    return STUDIES[name]


def verdicts(study: str, frame: pd.DataFrame) -> list[Verdict]:
    """One verdict per claim of ``study`` from its run table (pure; the frame is not changed).

    frame: one row per run with ``run_id``, ``impl``, ``outcome``, the study's axes, its
    ``final/*`` metrics and the columns of ``derive``. Returns dicts {claim, verdict, measured,
    runs, criterion}; a claim that cannot be decided is "inconclusive" with the reason.
    """
    spec = get(study)
    out = []
    for claim in spec.claims:
        try:
            verdict, measured, runs = claim.judge(frame)
        except Missing as exc:
            verdict, measured, runs = UNSURE, f"not decidable: {exc}", []
        out.append({"claim": f"{claim.text} ({claim.criterion})", "verdict": verdict,
                    "measured": measured, "runs": list(runs), "criterion": claim.criterion})
    return out
