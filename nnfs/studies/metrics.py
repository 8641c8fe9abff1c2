"""The numbers a plain run does not log, measured on one run (nnfs-train logs them as final/*)."""

from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------- extra metrics
def extra_metrics(study: str | None, net, data, history) -> dict[str, float]:
    """The study's extra ``final/*`` metrics of one run (empty for other studies).

    net: the model as initialised (before ``fit``); history.net: the trained model.
    data: the run's ``nnfs.data.Dataset``. Pure: nothing is mutated.
    """
    if study == "least_squares":
        trained = getattr(history, "net", None)
        if getattr(history, "status", "") == "diverged" or trained is None:
            return {}
        return least_squares_metrics(trained, data)
    if study == "loss_choice":
        return wrong_prediction_grads(net, data)
    if study == "modern_activations":
        return {"final/n_params": float(net.n_params)}
    return {}


def least_squares_metrics(net, data) -> dict[str, float]:
    """A linear model (no hidden layer) against the least-squares solution on the same split.

    With A = [X_train, 1] (n, d+1): θ* = argmin ||A θ − y||² (numpy.linalg.lstsq);
    ``final/lstsq_max_abs_diff`` = max |θ_gd − θ*| over W and b; ``final/lstsq_train_loss`` =
    mean (A θ* − y)², the lowest MSE any linear model reaches; ``final/gd_max_stable_lr`` =
    2 / λ_max(H) with H = (2/n) AᵀA the Hessian of the MSE: GD diverges above it.
    """
    if net.hidden or data.task != "regression":
        raise ValueError(f"net.hidden={list(net.hidden)}, task={data.task!r}: least-squares "
                         "metrics need a linear regression (hidden=[], task 'regression')")
    X, y = np.asarray(data.X_train, dtype=np.float64), np.asarray(data.y_train, np.float64)
    n = X.shape[0]
    A = np.hstack([X, np.ones((n, 1))])  # (n, d+1)
    Y = y.reshape(n, -1)  # (n, k)
    theta, *_ = np.linalg.lstsq(A, Y, rcond=None)  # (d+1, k)
    W, b = np.asarray(net.params["0.W"], np.float64), np.asarray(net.params["0.b"], np.float64)
    diff = max(np.abs(W - theta[:-1]).max(), np.abs(b - theta[-1]).max())
    lam_max = np.linalg.eigvalsh(2.0 / n * (A.T @ A))[-1]
    return {"final/lstsq_max_abs_diff": float(diff),
            "final/lstsq_train_loss": float(np.mean((A @ theta - Y) ** 2)),
            "final/gd_max_stable_lr": float(2.0 / lam_max)}


def wrong_prediction_grads(net, data, *, margin: float = 6.0,
                           n: int = 512) -> dict[str, float]:
    """Gradient norms of MSE and cross-entropy on confidently wrong predictions.

    The initial net's output layer is scaled so that the median logit margin is ``margin``
    (binary: |z|; multiclass: max z − min z), and each sample is labelled with the class the net
    finds least likely: every prediction is wrong and confident. Then ||∇θ L|| for both losses
    with the same parameters. ∂L_CE/∂z = p − y stays near 1 while ∂L_MSE/∂z carries the link's
    derivative (σ'(z) → 0), hence ``final/wrong_grad_ratio`` = CE / MSE ≫ 1.
    """
    if data.task == "regression":
        raise ValueError("data.task='regression': confidently wrong predictions need a "
                         "classifier; allowed: 'binary' or 'multiclass'")
    from nnfs.core.model import MLP

    X = np.asarray(data.X_train[:n], dtype=np.float64)
    z = net.forward(X)  # (batch, n_out)
    if z.shape[1] == 1:
        spread, y_wrong = np.abs(z[:, 0]), (z[:, 0] < 0).astype(np.int64)
    else:
        spread, y_wrong = z.max(axis=1) - z.min(axis=1), z.argmin(axis=1).astype(np.int64)
    c = margin / max(float(np.median(spread)), 1e-12)
    out = str(net.n_layers - 1)
    params = {k: (v * c if k.split(".", 1)[0] == out else v) for k, v in net.params.items()}
    norms = {}
    for loss in ("mse", "cross_entropy"):
        probe = MLP.from_config({**net.config(), "loss": loss, "l2": 0.0}, params)
        _, grads = probe.loss_and_grads(X, y_wrong)
        norms[loss] = float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values())))
    return {"final/wrong_grad_norm_mse": norms["mse"],
            "final/wrong_grad_norm_ce": norms["cross_entropy"],
            "final/wrong_grad_ratio": norms["cross_entropy"] / max(norms["mse"], 1e-300)}
