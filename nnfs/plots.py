"""Figures of one run: decision boundary, learning curves, gradient norms per layer.

Plain matplotlib ``Figure`` objects on the Agg canvas (no pyplot: no global state, safe in
workers, no display needed). Small, fast and self-explaining: each figure is logged for every
run of a sweep, so it must cost milliseconds. The report reuses these functions.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

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
    """PNG bytes of a figure: one Agg draw, then PIL at compress_level 1 (savefig draws
    through more machinery; level 1 is ~3x faster than the default and barely larger)."""
    fig.canvas.draw()
    w, h = fig.canvas.get_width_height()
    rgba = np.asarray(fig.canvas.buffer_rgba()).reshape(h, w, 4)
    return rgb_to_png(rgba[:, :, :3])


def rgb_to_png(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").save(
        buf, format="PNG", compress_level=1)
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


def _disc(radius: float) -> tuple[np.ndarray, np.ndarray]:
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r: r + 1, -r: r + 1]
    inside = dx ** 2 + dy ** 2 <= radius ** 2
    return dy[inside], dx[inside]


def _paint(img: np.ndarray, rows: np.ndarray, cols: np.ndarray, colors: np.ndarray,
           radius: float) -> None:
    """Discs of ``radius`` pixels centred at (rows, cols), colors (n, 3) or (3,); in place."""
    dy, dx = _disc(radius)
    h, w = img.shape[:2]
    r = np.clip(rows[:, None] + dy[None, :], 0, h - 1)  # (n, disc)
    c = np.clip(cols[:, None] + dx[None, :], 0, w - 1)
    col = np.broadcast_to(np.asarray(colors, dtype=np.uint8).reshape(-1, 1, 3),
                          (len(rows), len(dy), 3)) if np.ndim(colors) == 2 else colors
    img[r, c] = col


def decision_boundary_rgb(predict_proba, data, *, resolution: int = 150, upscale: int = 2,
                          predict=None) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The decision boundary as an image, in the manner of TensorFlow Playground: the model's
    probability over the raw 2-D input plane (orange = class 0, white = unsure, blue =
    class 1; k > 2 classes: the winner's colour fading to white), train points with a white
    edge, test points with a black edge. Pure NumPy (milliseconds, for every run of a sweep).

    predict_proba: features (m, d) -> (m, k) probabilities (classifiers); for regression pass
    ``predict`` (features -> values), drawn with viridis. ``data`` is an ``nnfs.data.Dataset``
    with 2-D raw inputs; grid points go through ``data.transform`` (crosses, standardisation)
    exactly as the training inputs did. Returns (rgb (H, W, 3) uint8, extent
    (x1_min, x1_max, x2_min, x2_max)); row 0 is the top (largest x2).
    """
    raw_all = np.vstack([data.raw_train, data.raw_test])  # (n, 2)
    x1, x2, grid = _grid(raw_all, resolution)
    features = data.transform(grid)  # (resolution², d)
    k = int(getattr(data, "n_classes", 0) or 0)
    if data.task == "regression":
        f = predict if predict is not None else predict_proba
        z = np.asarray(f(features), dtype=float).reshape(resolution, resolution)
        lo, hi = np.nanmin(z), np.nanmax(z)
        norm = (z - lo) / (hi - lo) if hi > lo else np.zeros_like(z)
        rgb = matplotlib.colormaps["viridis"](np.nan_to_num(norm))[..., :3]
    else:
        p = np.asarray(predict_proba(features), dtype=float)  # (resolution², k)
        if k <= 2:
            z = np.nan_to_num(p[:, -1], nan=0.5).reshape(resolution, resolution)
            rgb = PLAYGROUND(z)[..., :3]
        else:
            colors = np.array([_rgb(CLASS_COLORS[i % len(CLASS_COLORS)]) for i in range(k)])
            p = np.nan_to_num(p, nan=1.0 / k)
            win, conf = p.argmax(axis=1), p.max(axis=1)
            alpha = ((conf - 1.0 / k) / (1.0 - 1.0 / k)).clip(0, 1)[:, None]
            rgb = (alpha * colors[win] + (1 - alpha) * np.array(_rgb(WHITE))).reshape(
                resolution, resolution, 3)
    img = (255 * np.asarray(rgb)[::-1]).astype(np.uint8)  # row 0 = top = largest x2
    img = img.repeat(upscale, axis=0).repeat(upscale, axis=1)
    h, w = img.shape[:2]
    extent = (float(x1[0]), float(x1[-1]), float(x2[0]), float(x2[-1]))

    def pixels(raw):
        cols = np.round((raw[:, 0] - x1[0]) / (x1[-1] - x1[0]) * (w - 1)).astype(int)
        rows = np.round((x2[-1] - raw[:, 1]) / (x2[-1] - x2[0]) * (h - 1)).astype(int)
        return rows, cols

    palette = (255 * np.array([_rgb(c) for c in CLASS_COLORS])).astype(np.uint8)
    for raw, y, edge in ((data.raw_train, data.y_train, 255), (data.raw_test, data.y_test, 0)):
        rows, cols = pixels(raw)
        if data.task == "regression":
            fill = np.full((len(rows), 3), 255 - edge, dtype=np.uint8)
        else:
            fill = palette[np.asarray(y, dtype=int) % len(palette)]
        _paint(img, rows, cols, np.array([edge] * 3, dtype=np.uint8), 3.2)
        _paint(img, rows, cols, fill, 2.2)
    return img, extent


def decision_boundary_png(predict_proba, data, **kw) -> bytes:
    """``decision_boundary_rgb`` as PNG bytes (what each tracked run logs)."""
    return rgb_to_png(decision_boundary_rgb(predict_proba, data, **kw)[0])


def decision_boundary(predict_proba, data, *, title: str = "", ax=None, **kw) -> Figure:
    """The same picture in a matplotlib Figure with a title (reports: pass ``ax`` to draw
    into a grid of panels; the Figure of ``ax`` is returned)."""
    img, extent = decision_boundary_rgb(predict_proba, data, **kw)
    if ax is None:
        fig = new_figure(3.4, 3.5)
        ax = fig.add_axes((0.02, 0.02, 0.96, 0.86))
    else:
        fig = ax.figure
    ax.imshow(img, extent=extent, aspect="auto", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 1.01, title or "decision boundary", transform=ax.transAxes, ha="center",
            va="bottom", fontsize=7)
    return fig


def _style(ax, title: str, xlabel: str = "epoch", log: bool = False):
    """Few ticks, no grid, no legend box, titles as plain text (returned): ticks (five
    artists each), legends and Axes.set_title/set_xlabel (a tight-bbox pass each) are most of
    matplotlib's time; this keeps a panel at ~15 ms, small enough to log one per run."""
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(numticks=4))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext
    else:
        ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
    ax.tick_params(labelsize=6, length=2, pad=1)
    text = ax.text(0.5, 1.02, title, transform=ax.transAxes, ha="center", va="bottom",
                   fontsize=8)
    if xlabel:
        ax.text(1.0, -0.13, xlabel, transform=ax.transAxes, ha="right", va="top", fontsize=6)
    return text


def _rgb(hex_color: str) -> tuple[float, float, float]:
    h = hex_color.lstrip("#")
    return tuple(int(h[i: i + 2], 16) / 255 for i in (0, 2, 4))


# figures kept per process for reuse, by layout: building the Axes and their ticks is half
# the cost of a figure; re-drawing one with new data is the other half
_TEMPLATES: dict[tuple, tuple[Figure, dict]] = {}


def _reuse(key: tuple, x: np.ndarray, series: Mapping[str, Sequence[float]], title: str):
    """The cached figure of layout ``key`` with new data, or None."""
    if key not in _TEMPLATES:
        return None
    fig, parts = _TEMPLATES[key]
    for name, line in parts["lines"].items():
        line.set_data(x, np.asarray(series[name], dtype=float))
    for name, label in parts.get("labels", {}).items():
        label.set_position(_line_end(x, series[name]))
    for ax in fig.axes:
        ax.relim()
        ax.autoscale_view()
    parts["title"].set_text(title)
    return fig


def _line_end(x: np.ndarray, y) -> tuple[float, float]:
    y = np.asarray(y, dtype=float)
    finite = np.flatnonzero(np.isfinite(y))
    j = finite[-1] if finite.size else len(y) - 1
    return float(x[j]), float(y[j]) if finite.size else 0.0


def learning_curves(epochs: Sequence[int], metrics: Mapping[str, Sequence[float]], *,
                    title: str = "", reuse: bool = False) -> Figure:
    """Loss (left, log scale when positive) and accuracy or RMSE (right) per epoch; train
    solid, test dashed, validation dotted.

    reuse: return this process's figure of the same layout, redrawn with the new data (about
    twice as fast; the previous figure returned with reuse is changed, so render it first).
    """
    x = np.asarray(epochs)
    second = "acc" if any(f"{s}/acc" in metrics for s in ("train", "test")) else "rmse"
    left = [f"{s}/loss" for s in ("train", "val", "test") if f"{s}/loss" in metrics]
    right = [f"{s}/{second}" for s in ("train", "test") if f"{s}/{second}" in metrics]
    loss = np.asarray(metrics.get("train/loss", [1.0]), dtype=float)
    finite = loss[np.isfinite(loss)]
    log = finite.size > 0 and bool(np.all(finite > 0))
    key = ("learning_curves", tuple(left), tuple(right), log)
    if reuse and (fig := _reuse(key, x, metrics, title)) is not None:
        return fig
    fig = new_figure(6.0, 2.6)
    ax_loss = fig.add_axes((0.08, 0.17, 0.39, 0.70))
    ax_acc = fig.add_axes((0.58, 0.17, 0.39, 0.70))
    lines = {}
    for ax, names in ((ax_loss, left), (ax_acc, right)):
        for name in names:
            (lines[name],) = ax.plot(x, np.asarray(metrics[name], dtype=float),
                                     SPLIT_STYLE[name.split("/")[0]], lw=1.2)
    _style(ax_loss, "loss (train solid, test dashed)", log=log)
    _style(ax_acc, second)
    text = fig.text(0.5, 0.995, title, ha="center", va="top", fontsize=7)
    if reuse:
        _TEMPLATES[key] = (fig, {"lines": lines, "title": text})
    return fig


def grad_norms(epochs: Sequence[int], metrics: Mapping[str, Sequence[float]], *,
               title: str = "", prefix: str = "grad_norm/layer_", reuse: bool = False) -> Figure:
    """Norm of each layer's gradient per epoch, log scale: vanishing gradients show as a gap
    between the first layers (light) and the last (dark). ``reuse``: as learning_curves."""
    layers = sorted(int(k[len(prefix):]) for k in metrics if k.startswith(prefix))
    names = [f"{prefix}{i}" for i in layers]
    x = np.asarray(epochs)
    positive = any(bool(np.any(np.asarray(metrics[k], dtype=float) > 0)) for k in names)
    title = title or "gradient norm per layer"
    key = ("grad_norms", tuple(names), positive)
    if reuse and (fig := _reuse(key, x, metrics, title)) is not None:
        if positive:
            _clamp_log(fig.axes[0], [metrics[k] for k in names])
        return fig
    fig = new_figure(4.0, 2.6)
    ax = fig.add_axes((0.13, 0.17, 0.70, 0.70))
    n = max(len(layers), 1)
    lines, labels = {}, {}
    for i, name in zip(layers, names, strict=True):
        shade = 0.25 + 0.75 * (i + 1) / n
        color = (0.03 * shade, 0.47 * shade, 0.74 * shade)
        (lines[name],) = ax.plot(x, np.asarray(metrics[name], dtype=float), color=color,
                                 lw=1.2)
        # the layer's name at the end of its line (a legend box costs more)
        labels[name] = ax.text(*_line_end(x, metrics[name]),
                               f" L{i}" + (" out" if i == n - 1 else ""), fontsize=6,
                               color=color, va="center", clip_on=False)
    text = _style(ax, title, log=positive)
    if positive:
        _clamp_log(ax, [metrics[k] for k in names])
    if reuse:
        _TEMPLATES[key] = (fig, {"lines": lines, "labels": labels, "title": text})
    return fig


def _clamp_log(ax, series, decades: float = 16.0) -> None:
    """Show at most ``decades`` orders of magnitude below the largest value: one exactly
    vanished step (a 1e-150 norm) would otherwise squash every other line into one."""
    values = np.concatenate([np.asarray(v, dtype=float).ravel() for v in series])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size:
        top = values.max()
        ax.set_ylim(max(values.min(), top * 10.0 ** -decades) / 2, top * 2)
