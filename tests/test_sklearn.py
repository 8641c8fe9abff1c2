"""NNFSClassifier / NNFSRegressor: scikit-learn's own estimator checks and real pipelines."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import make_moons, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from nnfs.sklearn import NNFSClassifier, NNFSRegressor

# Small and quick, but able to fit the checks' simple data (blobs: accuracy > 0.83; a 1-feature
# linear regression: R² > 0.5). No check is skipped: none is declared failing, and the tags only
# say what sklearn's tag docs define (the regressor supports multi-output targets).
CHECKED = [
    NNFSClassifier(hidden_layer_sizes=(16,), learning_rate=0.01, batch_size=32, epochs=20),
    NNFSRegressor(hidden_layer_sizes=(16,), learning_rate=0.01, batch_size=32, epochs=20),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    # check_array_api_input (NumPy inputs with array-API dispatch on) skips itself unless
    # SCIPY_ARRAY_API=1 is in the environment: set it for the check so that it runs
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def moons(n=600, seed=0):
    return make_moons(n, noise=0.2, random_state=seed)


def test_classifier_learns_moons_with_string_labels():
    X, y = moons()
    labels = np.array(["left", "right"])[y]
    clf = NNFSClassifier(hidden_layer_sizes=(32, 32), learning_rate=0.01, epochs=40,
                         random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["left", "right"]
    assert clf.score(X, labels) > 0.95
    assert clf.n_iter_ == 40 and len(clf.loss_curve_) == 40
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    proba = clf.predict_proba(X)
    assert proba.shape == (600, 2) and np.allclose(proba.sum(axis=1), 1)
    assert clf.net_.config()["task"] == "binary" and clf.history_.status == "finished"


def test_multiclass_and_multi_output():
    rng = np.random.default_rng(0)
    centers = np.array([[0, 4], [4, 0], [-4, -4]])
    y = rng.integers(0, 3, size=300)
    X = centers[y] + rng.normal(size=(300, 2))
    clf = NNFSClassifier(hidden_layer_sizes=(8,), learning_rate=0.02, epochs=20,
                         batch_size=32, random_state=0).fit(X, y + 10)
    assert clf.predict_proba(X).shape == (300, 3) and clf.score(X, y + 10) > 0.95
    Xr, Yr = make_regression(300, 4, n_targets=3, noise=1.0, random_state=0)
    reg = NNFSRegressor(hidden_layer_sizes=(), learning_rate=0.05, epochs=60, batch_size=32,
                        alpha=0.0, random_state=0).fit(Xr, Yr / Yr.std())
    assert reg.predict(Xr).shape == (300, 3) and reg.score(Xr, Yr / Yr.std()) > 0.99


def test_pipeline_cross_val_score_and_grid_search():
    X, y = moons(400)
    pipe = make_pipeline(StandardScaler(), NNFSClassifier(hidden_layer_sizes=(16,),
                                                          learning_rate=0.02, epochs=15,
                                                          batch_size=32, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    grid = GridSearchCV(pipe, {"nnfsclassifier__hidden_layer_sizes": [(2,), (16, 16)],
                               "nnfsclassifier__optimizer": ["sgd", "adam"]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["nnfsclassifier__hidden_layer_sizes"] == (16, 16)
    assert grid.best_score_ > 0.9
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_same_random_state_same_model_and_pickle_round_trip():
    X, y = moons(300)
    a = NNFSClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=3).fit(X, y)
    b = NNFSClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=3).fit(X, y)
    c = NNFSClassifier(hidden_layer_sizes=(8,), epochs=5, random_state=4).fit(X, y)
    assert a.net_.flat.tobytes() == b.net_.flat.tobytes() != c.net_.flat.tobytes()
    d = pickle.loads(pickle.dumps(a))
    assert np.array_equal(d.predict_proba(X), a.predict_proba(X))


def test_alpha_is_sklearns_l2_scaling_and_precision_reaches_the_net():
    X, y = moons(300)
    clf = NNFSClassifier(hidden_layer_sizes=(4,), epochs=1, batch_size=50, accumulation=2,
                         alpha=0.3, precision="float32", random_state=0).fit(X, y)
    assert clf.net_.config()["l2"] == pytest.approx(0.3 / 100)
    assert clf.net_.dtype == np.float32
    full = NNFSClassifier(hidden_layer_sizes=(4,), epochs=1, batch_size=None, alpha=0.3,
                          random_state=0).fit(X, y)
    assert full.net_.config()["l2"] == pytest.approx(0.3 / 300)


def test_schedule_and_early_stopping_parameters_reach_the_fit():
    X, y = moons(400)
    clf = NNFSClassifier(hidden_layer_sizes=(8,), epochs=3, batch_size=100,
                         schedule="warmup_cosine", warmup=4, learning_rate=0.1,
                         random_state=0).fit(X, y)
    lrs = clf.history_.metrics["lr"]  # lr of each epoch's last step: steps 3, 7, 11 of 12
    assert lrs[0] == pytest.approx(0.1 * 3 / 4) and lrs[-1] < lrs[1] < 0.1
    es = NNFSClassifier(hidden_layer_sizes=(32,), epochs=500, learning_rate=0.05, batch_size=16,
                        early_stopping=True, n_iter_no_change=3, random_state=0).fit(X, y)
    assert es.history_.status == "early_stopped" and es.n_iter_ < 500


def test_divergence_raises_a_one_line_value_error():
    X, y = make_regression(200, 3, noise=1.0, random_state=0)
    reg = NNFSRegressor(hidden_layer_sizes=(16,), optimizer="sgd", learning_rate=1e3,
                        epochs=20, random_state=0)
    with pytest.raises(ValueError, match="diverged at epoch") as err:
        reg.fit(X, y)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("params", "word"), [
    ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
    ({"batch_size": "big"}, "batch_size='big'"),
    ({"optimizer": "lion"}, "optimizer='lion'"),
    ({"activation": "relux"}, "relux"),
    ({"schedule": "cyclic"}, "schedule='cyclic'"),
    ({"precision": "int8"}, "precision='int8'"),
    ({"random_state": -1}, "random_state=-1"),
])
def test_bad_parameters_raise_value_error_at_fit(params, word):
    X, y = moons(50)
    with pytest.raises(ValueError) as err:
        NNFSClassifier(epochs=1, **params).fit(X, y)
    assert word in str(err.value)
