"""Figures of one run: decision boundary, learning curves, gradient norms per layer.

Plain matplotlib ``Figure`` objects on the Agg canvas (no pyplot: no global state, safe in
workers, no display needed). Small, fast and self-explaining: each figure is logged for every
run of a sweep, so it must cost milliseconds. The report reuses these functions.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

# TensorFlow Playground's palette: orange for class 0 (negative), blue for class 1 (positive)
ORANGE, BLUE, WHITE = "#f59322", "#0877bd", "#e8eaeb"
PLAYGROUND = LinearSegmentedColormap.from_list("playground", [ORANGE, WHITE, BLUE])
CLASS_COLORS = [ORANGE, BLUE, "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"]
SPLIT_STYLE = {"train": "-", "test": "--", "val": ":"}


def new_figure(width: float = 4.0, height: float = 3.2, dpi: int = 90) -> Figure:
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def to_png(fig: Figure) -> bytes:
    """PNG bytes; compress_level 1 is ~3x faster to write than the default and barely larger."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def save_png(fig: Figure, path) -> None:
    with open(path, "wb") as f:
        f.write(to_png(fig))


def _grid(raw: np.ndarray, resolution: int, margin: float = 0.1):
    """A resolution x resolution grid over the raw 2-D plane covering ``raw`` (n, 2)."""
    lo, hi = raw.min(axis=0), raw.max(axis=0)
    pad = margin * np.where(hi > lo, hi - lo, 1.0)
    x1 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    x2 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    g1, g2 = np.meshgrid(x1, x2)
    return x1, x2, np.column_stack([g1.ravel(), g2.ravel()])  # (resolution², 2)


def decision_boundary(predict_proba, data, *, title: str = "", resolution: int = 120,
                      predict=None) -> Figure:
    """Probability heatmap over the raw 2-D input plane, train points filled, test hollow.

    predict_proba: features (m, d) -> (m, k) class probabilities (classifiers); for regression
    pass ``predict`` (features -> values) instead. ``data`` is an ``nnfs.data.Dataset`` whose
    raw inputs have 2 columns; grid points go through ``data.transform`` (crosses and
    standardisation) exactly as the training inputs did.
    """
    raw_all = np.vstack([data.raw_train, data.raw_test])  # (n, 2)
    x1, x2, grid = _grid(raw_all, resolution)
    features = data.transform(grid)  # (resolution², d)
    fig = new_figure(3.6, 3.4)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.88))
    extent = (x1[0], x1[-1], x2[0], x2[-1])
    k = max(int(getattr(data, "n_classes", 0)), 0)
    if data.task == "regression":
        f = predict if predict is not None else predict_proba
        z = np.asarray(f(features), dtype=float).reshape(resolution, resolution)
        ax.imshow(z, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        points = [(data.raw_train, None, "train"), (data.raw_test, None, "test")]
        for raw, _, split in points:
            ax.scatter(raw[:, 0], raw[:, 1], s=8, c="white" if split == "train" else "none",
                       edgecolors="black", linewidths=0.4)
    else:
        p = np.asarray(predict_proba(features), dtype=float)  # (resolution², k)
        if k <= 2:
            # P(class 1) from orange (0) through white (0.5) to blue (1), as the Playground
            z = p[:, -1].reshape(resolution, resolution)
            ax.imshow(z, origin="lower", extent=extent, aspect="auto", cmap=PLAYGROUND,
                      vmin=0.0, vmax=1.0, interpolation="bilinear")
        else:
            # the winning class's colour, fading to white where the net is unsure
            colors = np.array([_rgb(CLASS_COLORS[i % len(CLASS_COLORS)]) for i in range(k)])
            win, conf = p.argmax(axis=1), p.max(axis=1)
            alpha = ((conf - 1.0 / k) / (1.0 - 1.0 / k)).clip(0, 1)[:, None]
            rgb = alpha * colors[win] + (1 - alpha) * np.array(_rgb(WHITE))
            ax.imshow(rgb.reshape(resolution, resolution, 3), origin="lower", extent=extent,
                      aspect="auto", interpolation="bilinear")
        cmap = ListedColormap(CLASS_COLORS[: max(k, 2)])
        ax.scatter(data.raw_train[:, 0], data.raw_train[:, 1], c=data.y_train, cmap=cmap,
                   vmin=0, vmax=max(k, 2) - 1, s=9, edgecolors="white", linewidths=0.4)
        ax.scatter(data.raw_test[:, 0], data.raw_test[:, 1], c=data.y_test, cmap=cmap,
                   vmin=0, vmax=max(k, 2) - 1, s=11, edgecolors="black", linewidths=0.6)
    ax.set_xlim(x1[0], x1[-1])
    ax.set_ylim(x2[0], x2[-1])
    ax.set_xticks([])
    ax.set_yticks([])
    fig.text(0.5, 0.985, title or "decision boundary", ha="center", va="top", fontsize=7)
    fig.text(0.5, 0.925, "train: white edge, test: black edge", ha="center", va="top",
             fontsize=6, color="#555555")
    return fig


def _style(ax, title: str, xlabel: str = "epoch", log: bool = False) -> None:
    """Few ticks, titles as plain text: tick and title layout are most of matplotlib's time
    (Axes.set_title and set_xlabel trigger a tight-bbox pass each); this keeps a figure at a
    few tens of milliseconds."""
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(numticks=4))
        ax.yaxis.set_minor_locator(NullLocator())
    else:
        ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
    ax.tick_params(labelsize=6, length=2, pad=1)
    ax.grid(alpha=0.3)
    ax.text(0.5, 1.02, title, transform=ax.transAxes, ha="center", va="bottom", fontsize=8)
    if xlabel:
        ax.text(1.0, -0.13, xlabel, transform=ax.transAxes, ha="right", va="top", fontsize=6)


def _rgb(hex_color: str) -> tuple[float, float, float]:
    h = hex_color.lstrip("#")
    return tuple(int(h[i: i + 2], 16) / 255 for i in (0, 2, 4))


def learning_curves(epochs: Sequence[int], metrics: Mapping[str, Sequence[float]], *,
                    title: str = "") -> Figure:
    """Loss (left) and accuracy or RMSE (right) per epoch, train solid, test dashed."""
    fig = new_figure(6.0, 2.6)
    ax_loss = fig.add_axes((0.08, 0.17, 0.39, 0.70))
    ax_acc = fig.add_axes((0.58, 0.17, 0.39, 0.70))
    x = np.asarray(epochs)
    for split in ("train", "val", "test"):
        y = metrics.get(f"{split}/loss")
        if y is not None:
            ax_loss.plot(x, y, SPLIT_STYLE[split], label=split, lw=1.2)
    second = "acc" if any(f"{s}/acc" in metrics for s in ("train", "test")) else "rmse"
    for split in ("train", "test"):
        y = metrics.get(f"{split}/{second}")
        if y is not None:
            ax_acc.plot(x, y, SPLIT_STYLE[split], label=split, lw=1.2)
    loss = np.asarray(metrics.get("train/loss", [1.0]), dtype=float)
    finite = loss[np.isfinite(loss)]
    _style(ax_loss, "loss", log=finite.size > 0 and bool(np.all(finite > 0)))
    _style(ax_acc, second)
    ax_acc.legend(fontsize=6, frameon=False)
    if title:
        fig.text(0.5, 0.995, title, ha="center", va="top", fontsize=7)
    return fig


def grad_norms(epochs: Sequence[int], metrics: Mapping[str, Sequence[float]], *,
               title: str = "", prefix: str = "grad_norm/layer_") -> Figure:
    """Norm of each layer's gradient per epoch, log scale: vanishing gradients show as a gap
    between the first layers (light) and the last (dark)."""
    layers = sorted(int(k[len(prefix):]) for k in metrics if k.startswith(prefix))
    fig = new_figure(4.0, 2.6)
    ax = fig.add_axes((0.13, 0.17, 0.62, 0.70))
    x = np.asarray(epochs)
    n = max(len(layers), 1)
    positive = False
    for i in layers:
        y = np.asarray(metrics[f"{prefix}{i}"], dtype=float)
        positive |= bool(np.any(y > 0))
        shade = 0.25 + 0.75 * (i + 1) / n
        ax.plot(x, y, color=(0.03 * shade, 0.47 * shade, 0.74 * shade), lw=1.2,
                label=f"layer {i}" + (" (out)" if i == n - 1 else ""))
    _style(ax, title or "gradient norm per layer", log=positive)
    ax.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig
