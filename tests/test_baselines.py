"""nnfs.baselines: the mapping nnfs -> scikit-learn, proven on real fits.

Three layers of proof:
1. the mapping itself (activation, solver, alpha, substitutions, errors);
2. exactness: one real sklearn epoch reproduces the gradient of nnfs's own objective
   (``MLP.loss_and_grads``) for binary, multiclass and regression, full batch and mini-batch;
3. the issue's expected behaviour, on real fits over 3 seeds (means): logistic regression
   is the ceiling on separable sets and hopeless on xor / circles / 2-arm spiral, the nnfs MLP
   solves moons / circles / xor, and nnfs and MLPClassifier agree at matched settings.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor

from nnfs import baselines as B
from nnfs.data import load

SEEDS = (0, 1, 2)


def _mlp_kw(**over):
    kw = dict(task="binary", depth=2, width=16, activation="relu", loss="cross_entropy",
              optimizer="adam", lr=1e-2, batch_size=32, epochs=10, l2=0.0, n_train=100, seed=0)
    kw.update(over)
    return kw


# --------------------------------------------------------------------------- 1. the mapping
@pytest.mark.parametrize("depth, sizes", [(0, ()), (1, (16,)), (3, (16, 16, 16))])
def test_hidden_layer_sizes_follow_depth_and_width(depth, sizes):
    est, _ = B.matched_mlp(**_mlp_kw(depth=depth))
    assert est.hidden_layer_sizes == sizes


@pytest.mark.parametrize("nnfs_act, sk_act, substituted", [
    ("identity", "identity", False), ("sigmoid", "logistic", False), ("tanh", "tanh", False),
    ("relu", "relu", False), ("gelu", "relu", True), ("gelu_tanh", "relu", True),
    ("silu", "relu", True), ("swiglu", "relu", True),
])
def test_activation_mapping_and_its_substitution_tag(nnfs_act, sk_act, substituted):
    est, subs = B.matched_mlp(**_mlp_kw(activation=nnfs_act))
    assert est.activation == sk_act
    if substituted:
        assert subs == {"substituted.activation": f"{nnfs_act}->relu"}
    else:
        assert subs == {}


def test_depth_zero_has_no_activation_to_substitute():
    _, subs = B.matched_mlp(**_mlp_kw(depth=0, activation="gelu"))
    assert "substituted.activation" not in subs


@pytest.mark.parametrize("optimizer, solver, momentum, nesterov", [
    ("gd", "sgd", 0.0, False), ("sgd", "sgd", 0.0, False), ("minibatch", "sgd", 0.0, False),
    ("momentum", "sgd", 0.8, False), ("nesterov", "sgd", 0.8, True), ("adam", "adam", 0.0, False),
    ("adamw", "adam", 0.0, False),
])
def test_solver_and_momentum_follow_the_optimizer(optimizer, solver, momentum, nesterov):
    est, subs = B.matched_mlp(**_mlp_kw(optimizer=optimizer, momentum=0.8))
    assert est.solver == solver
    assert est.momentum == momentum
    assert est.nesterovs_momentum is nesterov
    assert ("substituted.optimizer" in subs) is (optimizer == "adamw")


def test_adam_hyperparameters_and_epoch_controls_are_passed_through():
    est, _ = B.matched_mlp(**_mlp_kw(beta1=0.8, beta2=0.99, eps=1e-6, lr=3e-3, epochs=17, seed=5))
    assert (est.beta_1, est.beta_2, est.epsilon) == (0.8, 0.99, 1e-6)
    assert est.learning_rate_init == 3e-3 and est.learning_rate == "constant"
    assert est.max_iter == 17 and est.random_state == 5 and est.shuffle
    assert est.tol == 0.0 and est.n_iter_no_change == np.inf and not est.early_stopping


def test_lbfgs_is_selectable_and_recorded():
    est, subs = B.matched_mlp(**_mlp_kw(solver="lbfgs", l2=1e-3, batch_size=10, n_train=100))
    assert est.solver == "lbfgs"
    assert est.alpha == pytest.approx(1e-3 * 100)  # full batch: n_train
    assert subs == {"substituted.optimizer": "adam->lbfgs"}


@pytest.mark.parametrize("batch_size, n_train, alpha", [
    (32, 128, 0.01 * 32),  # mini-batch: alpha = l2 * batch
    (None, 128, 0.01 * 128),  # full batch: alpha = l2 * n_train
    (500, 128, 0.01 * 128),  # a batch larger than the data is clipped, as both libraries do
])
def test_alpha_is_l2_times_the_batch_size(batch_size, n_train, alpha):
    est, subs = B.matched_mlp(**_mlp_kw(l2=0.01, batch_size=batch_size, n_train=n_train))
    assert est.alpha == pytest.approx(alpha)
    assert est.batch_size == min(batch_size or n_train, n_train)
    assert subs == {}


def test_ragged_last_batch_with_l2_is_recorded():
    # 100 = 3*32 + 4: sklearn regularises the last batch of 4 by alpha/4 = l2*8
    _, subs = B.matched_mlp(**_mlp_kw(l2=0.01, batch_size=32, n_train=100))
    assert subs == {"substituted.l2_last_batch": "0.01->0.08"}


def test_regression_rescales_alpha_lr_and_eps_for_half_mse():
    est, _ = B.matched_mlp(**_mlp_kw(task="regression", loss="mse", optimizer="sgd", lr=0.1,
                                     l2=0.01, batch_size=20, n_train=100, eps=1e-8))
    assert isinstance(est, MLPRegressor)
    assert est.alpha == pytest.approx(0.01 * 20 / 2)
    assert est.learning_rate_init == pytest.approx(0.2)
    est, _ = B.matched_mlp(**_mlp_kw(task="regression", loss="mse", n_targets=4, eps=1e-8))
    assert est.learning_rate_init == pytest.approx(1e-2)  # Adam: only epsilon scales
    assert est.epsilon == pytest.approx(2e-8)


def test_mse_on_a_classifier_schedule_and_decay_are_substituted():
    est, subs = B.matched_mlp(**_mlp_kw(loss="mse", schedule="warmup_cosine", optimizer="adamw",
                                        weight_decay=0.01, batch_size=25))
    assert isinstance(est, MLPClassifier)
    assert est.alpha == pytest.approx(0.01 * 25)
    assert subs == {
        "substituted.loss": "mse->cross_entropy",
        "substituted.schedule": "warmup_cosine->constant",
        "substituted.optimizer": "adamw->adam (decoupled weight decay as L2)",
        "substituted.weight_decay": "all parameters->weights only",
    }


@pytest.mark.parametrize("key, value, needle", [
    ("activation", "relux", "activation='relux'"),
    ("optimizer", "rmsprop", "optimizer='rmsprop'"),
    ("task", "ranking", "task='ranking'"),
    ("loss", "hinge", "loss='hinge'"),
    ("schedule", "cyclic", "schedule='cyclic'"),
    ("solver", "newton", "solver='newton'"),
    ("depth", -1, "depth=-1"),
    ("width", 0, "width=0"),
    ("lr", -0.1, "lr=-0.1"),
    ("epochs", 0, "epochs=0"),
    ("batch_size", 0, "batch_size=0"),
    ("l2", -1.0, "l2=-1.0"),
    ("l2", "0.1", "l2='0.1'"),
    ("lr", float("nan"), "lr=nan"),
    ("momentum", 1.0, "momentum=1.0"),
    ("seed", -3, "seed=-3"),
])
def test_bad_settings_fail_with_one_line_naming_key_and_value(key, value, needle):
    with pytest.raises(ValueError) as err:
        B.matched_mlp(**_mlp_kw(**{key: value}))
    msg = str(err.value)
    assert needle in msg and "allowed" in msg and "\n" not in msg


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="identity, sigmoid, tanh, relu, gelu"):
        B.matched_mlp(**_mlp_kw(activation="elu"))


def test_logreg_models_by_task():
    clf = B.logreg(task="multiclass", seed=3, C=0.5)
    assert isinstance(clf, LogisticRegression) and clf.solver == "lbfgs" and clf.C == 0.5
    assert isinstance(B.logreg(task="regression", seed=0), Ridge)
    assert isinstance(B.logreg(task="regression", seed=0, C=None), LinearRegression)
    with pytest.raises(ValueError, match="C=0"):
        B.logreg(task="binary", seed=0, C=0)


def test_logreg_is_multinomial_for_more_than_two_classes():
    d = load("spiral", n_samples=150, classes=3, seed=0)
    r = B.fit_baseline(B.logreg(task=d.task, seed=0), d)
    z = r.estimator.decision_function(d.X_test)  # (n, 3)
    softmax = np.exp(z - z.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(r.estimator.predict_proba(d.X_test), softmax, rtol=1e-10)


# ------------------------------------------------- 2. exactness against nnfs's own objective
def _nnfs_grads(coefs, intercepts, X, y, task, l2):
    """nnfs's loss and gradient of its own objective at sklearn-shaped weights."""
    from nnfs.core.model import MLP

    sizes = [W.shape[0] for W in coefs] + [coefs[-1].shape[1]]
    net = MLP(sizes[0], sizes[1:-1], sizes[-1], activation="tanh", task=task,
              loss="mse" if task == "regression" else "cross_entropy", l2=l2)
    params = {}
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        params[f"{i}.W"], params[f"{i}.b"] = W, b
    net.set_params(params)
    return net.loss_and_grads(X, y)


def _weights_of(est):
    return [W.copy() for W in est.coefs_], [b.copy() for b in est.intercepts_]


@pytest.mark.parametrize("name, kw", [
    ("moons", {"n_samples": 80}),
    ("spiral", {"n_samples": 80, "classes": 3}),
    ("sine", {"n_samples": 80}),
    ("two_targets", {}),  # regression with k = 2 targets: the k/2 rescaling
])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("batch", [None, 30])  # full batch and two mini-batches of 30 (n = 60)
def test_one_sklearn_epoch_follows_the_gradient_of_nnfs_objective(name, kw, batch):
    """With plain SGD, (W_before - W_after) / lr must be nnfs's gradient, l2 included: this
    proves alpha = l2 * batch, the half-MSE rescaling and the loss conventions at once."""
    if name == "two_targets":
        d = load("linreg", n_samples=80, seed=0)
        y = np.column_stack([d.y_train, np.sin(d.X_train[:, 0])])  # (60, 2)
    else:
        d = load(name, seed=0, **kw)
        y = d.y_train
    X, lr, l2 = d.X_train, 0.05, 0.03
    est, subs = B.matched_mlp(task=d.task, depth=2, width=5, activation="tanh",
                              loss="mse" if d.task == "regression" else "cross_entropy",
                              optimizer="gd", lr=lr, batch_size=batch, epochs=1, l2=l2,
                              n_train=len(X), seed=0, n_targets=1 if y.ndim == 1 else y.shape[1])
    assert subs == {}
    est.set_params(shuffle=False, warm_start=True)  # contiguous batches, to replay them here
    est.fit(X, y)  # epoch 1 initialises the weights
    before = _weights_of(est)
    est.fit(X, y)  # epoch 2: the steps we replay
    after = _weights_of(est)

    n_b = len(X) if batch is None else batch
    coefs, intercepts = [W.copy() for W in before[0]], [b.copy() for b in before[1]]
    weighted = 0.0
    for start in range(0, len(X), n_b):  # replay the epoch with nnfs's gradients
        Xb, yb = X[start:start + n_b], y[start:start + n_b]
        loss, g = _nnfs_grads(coefs, intercepts, Xb, yb, d.task, l2)
        weighted += loss * len(Xb)
        coefs = [W - lr * g[f"{i}.W"] for i, W in enumerate(coefs)]
        intercepts = [b - lr * g[f"{i}.b"] for i, b in enumerate(intercepts)]
    for got, want in zip(after[0] + after[1], coefs + intercepts, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if y.ndim == 2:
        return  # sklearn's reported multi-target loss is 0.5*mean, not its gradient's objective
    # and sklearn's loss curve (converted by fit_baseline for regression) is nnfs's train/loss
    factor = 2.0 if d.task == "regression" else 1.0
    assert factor * est.loss_curve_[-1] == pytest.approx(weighted / len(X), rel=1e-9)


def test_stochastic_solvers_train_exactly_the_given_epochs():
    d = load("linear", n_samples=200, seed=0)
    for optimizer in ("minibatch", "nesterov", "adam"):
        est, _ = B.matched_mlp(**_mlp_kw(optimizer=optimizer, lr=0.05, epochs=60,
                                         n_train=len(d.X_train)))
        r = B.fit_baseline(est, d)
        assert r.estimator.n_iter_ == 60
        assert len(r.curves["train/loss"]) == 60
    # the settings matter: sklearn's default tolerance stops this easy fit well before 60
    est.set_params(tol=1e-4, n_iter_no_change=10)
    assert B.fit_baseline(est, d).estimator.n_iter_ < 60


# ------------------------------------------------------------------ fit_baseline and friends
@pytest.fixture(scope="module")
def moons_small():
    return load("moons", n_samples=200, seed=0)


def test_fit_baseline_reports_nnfs_metric_names_and_leaves_input_unfitted(moons_small):
    pair = B.matched_mlp(**_mlp_kw(activation="gelu", n_train=len(moons_small.X_train)))
    r = B.fit_baseline(pair, moons_small)
    assert r.name == "mlp" and r.substitutions == {"substituted.activation": "gelu->relu"}
    assert not hasattr(pair[0], "coefs_")  # a clone was fitted
    assert set(r.final) == {"final/train_acc", "final/test_acc", "final/train_loss",
                            "final/test_loss", "time/fit_s", "time/ms_per_epoch"}
    assert r.final["time/ms_per_epoch"] == pytest.approx(1000 * r.final["time/fit_s"] / 10)
    assert 0.5 < r.final["final/test_acc"] <= 1.0
    lr_ = B.fit_baseline(B.logreg(task="binary", seed=0), moons_small)
    assert lr_.name == "logreg" and lr_.curves == {}
    assert lr_.final["time/ms_per_epoch"] == pytest.approx(
        1000 * lr_.final["time/fit_s"] / lr_.estimator.n_iter_[0])


def test_losses_are_in_nnfs_convention(moons_small):
    """Losses = nnfs's MLP.loss (mean log-loss + 0.5*l2*sum||W||^2) at the fitted weights,
    whatever sklearn's own scaling of its penalty: for the MLP (alpha = l2*batch) on the test
    split, and for LogisticRegression, whose C*sum(loss) + 0.5||w||^2 is nnfs's objective with
    l2 = 1/(C*n_train) -- the train loss is the lbfgs minimum of exactly that."""
    d = moons_small
    r = B.fit_baseline(B.matched_mlp(**_mlp_kw(activation="tanh", l2=0.01, batch_size=25,
                                               n_train=len(d.X_train))), d)
    est = r.estimator
    loss, _ = _nnfs_grads(est.coefs_, est.intercepts_, d.X_test, d.y_test, "binary", 0.01)
    assert r.final["final/test_loss"] == pytest.approx(loss, rel=1e-9)
    assert r.final["final/train_loss"] == r.curves["train/loss"][-1]

    r = B.fit_baseline(B.logreg(task="binary", seed=0, C=0.5), d)
    l2 = 1.0 / (0.5 * len(d.X_train))
    coef, icpt = r.estimator.coef_.T, r.estimator.intercept_  # (d, 1), (1,)
    loss, g = _nnfs_grads([coef], [icpt], d.X_train, d.y_train, "binary", l2)
    assert r.final["final/train_loss"] == pytest.approx(loss, rel=1e-9)
    assert np.abs(g["0.W"]).max() < 1e-4  # the lbfgs solution is nnfs's stationary point


def test_proba_on_a_grid_of_raw_inputs(moons_small):
    r = B.fit_baseline(B.logreg(task="binary", seed=0), moons_small)
    xx, yy, g = B.grid(moons_small, steps=30)
    assert xx.shape == yy.shape == (30, 30) and g.shape == (900, 2)
    p = r.proba_on_grid(moons_small, g)
    assert p.shape == (900, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    # the grid goes through the dataset's standardisation: the training points agree
    np.testing.assert_allclose(r.proba_on_grid(moons_small, moons_small.raw_train),
                               r.estimator.predict_proba(moons_small.X_train))
    with pytest.raises(ValueError, match="dataset='digits'"):
        B.grid(load("digits", n_samples=100, seed=0))


def test_run_baselines_for_notebooks_regression():
    d = load("linreg", n_samples=200, seed=0)
    out = B.run_baselines(d, seed=0, mlp={"depth": 1, "width": 16, "epochs": 40, "lr": 1e-2})
    assert set(out) == {"logreg", "mlp"}
    assert isinstance(out["mlp"].estimator, MLPRegressor)
    assert {"final/test_rmse", "final/test_r2", "final/train_loss"} <= set(out["logreg"].final)
    assert out["logreg"].final["final/test_r2"] > 0.95  # linreg is linear plus small noise
    assert out["mlp"].final["final/test_r2"] > 0.9
    # the curve is put in nnfs's convention: 2 * sklearn's half-MSE (proven equal to nnfs's
    # loss by test_one_sklearn_epoch_follows_the_gradient_of_nnfs_objective)
    np.testing.assert_allclose(out["mlp"].curves["train/loss"],
                               2 * np.asarray(out["mlp"].estimator.loss_curve_))
    with pytest.raises(ValueError, match="which='svm'"):
        B.run_baselines(d, which=("svm",))


# ------------------------------------------------------------- 3. the expectations
def _mean(xs):
    return float(np.mean(xs))


@pytest.fixture(scope="module")
def logreg_acc():
    sets = {"linear": {}, "breast_cancer": {}, "xor": {}, "circles": {},
            "spiral": {"classes": 2}}
    out = {}
    for name, kw in sets.items():
        accs = []
        for seed in SEEDS:
            d = load(name, seed=seed, **kw)
            r = B.fit_baseline(B.logreg(task=d.task, seed=seed), d)
            assert r.estimator.n_iter_[0] < r.estimator.max_iter  # converged
            accs.append(r.final["final/test_acc"])
        out[name] = accs
        print(f"logreg {name:14s} test_acc {np.round(accs, 3)} mean {_mean(accs):.4f}")
    return out


@pytest.mark.parametrize("name", ["linear", "breast_cancer"])
def test_logreg_is_the_ceiling_on_separable_data(logreg_acc, name):
    assert _mean(logreg_acc[name]) >= 0.95, logreg_acc[name]


@pytest.mark.parametrize("name", ["xor", "circles", "spiral"])
def test_logreg_is_hopeless_on_inseparable_data(logreg_acc, name):
    assert _mean(logreg_acc[name]) <= 0.6, logreg_acc[name]


# Matched settings for nnfs and MLPClassifier: the network of the claims.
MATCH = dict(depth=2, width=64, activation="relu", loss="cross_entropy", optimizer="adam",
             lr=1e-2, batch_size=32, epochs=40, l2=0.0)
MATCH_SETS = {"moons": {"noise": 0.2}, "circles": {}, "xor": {}, "digits": {}}


def _nnfs_fit(d, seed):
    from nnfs.core import optimizers
    from nnfs.core.model import MLP
    from nnfs.train import fit

    net = MLP(d.n_features, [MATCH["width"]] * MATCH["depth"], d.n_out,
              activation=MATCH["activation"], task=d.task, loss=MATCH["loss"], l2=MATCH["l2"],
              rng=np.random.default_rng(seed))
    # the core optimizer that each preset of matched_mlp stands for
    preset = MATCH["optimizer"]
    if preset == "adam":
        opt = optimizers.get("adam")(beta1=0.9, beta2=0.999, eps=1e-8)
    else:
        mu = {"momentum": 0.9, "nesterov": 0.9}.get(preset, 0.0)
        opt = optimizers.get("sgd")(momentum=mu, nesterov=preset == "nesterov")
    h = fit(net, d, optimizer=opt, epochs=MATCH["epochs"], lr=MATCH["lr"],
            batch_size=MATCH["batch_size"], rng=np.random.default_rng(seed))
    assert h.status == "finished"
    return h.final["final/test_acc"]


@pytest.fixture(scope="module")
def matched_acc():
    """{dataset: {"nnfs": [acc per seed], "sklearn": [...]}} on identical splits."""
    out = {}
    for name, kw in MATCH_SETS.items():
        accs = {"nnfs": [], "sklearn": []}
        for seed in SEEDS:
            d = load(name, seed=seed, **kw)
            accs["nnfs"].append(_nnfs_fit(d, seed))
            est, subs = B.matched_mlp(task=d.task, n_train=len(d.X_train), seed=seed, **MATCH)
            assert subs == {}
            r = B.fit_baseline(est, d)
            assert r.estimator.n_iter_ == MATCH["epochs"]
            accs["sklearn"].append(r.final["final/test_acc"])
        out[name] = accs
        gap = 100 * (_mean(accs["nnfs"]) - _mean(accs["sklearn"]))
        print(f"matched {name:8s} nnfs {np.round(accs['nnfs'], 3)} "
              f"sklearn {np.round(accs['sklearn'], 3)} gap {gap:+.2f} pts")
    return out


@pytest.mark.parametrize("name", ["moons", "circles", "xor"])
def test_nnfs_mlp_solves_the_inseparable_2d_sets(matched_acc, name):
    assert _mean(matched_acc[name]["nnfs"]) >= 0.95, matched_acc[name]


@pytest.mark.parametrize("name", list(MATCH_SETS))
def test_nnfs_and_sklearn_mlp_agree_at_matched_settings(matched_acc, name):
    accs = matched_acc[name]
    gap = abs(_mean(accs["nnfs"]) - _mean(accs["sklearn"]))
    assert gap <= 0.015, accs
