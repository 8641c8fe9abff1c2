"""seaborn/matplotlib figures of a sweep, each with a title and a one-line reading from the data.

Every builder returns a `Figure` (PNG bytes) or None when the sweep has nothing to show for it
(an axis with one value, no baselines, no 2-D datasets, ...). Agg backend: no display needed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from nnfs.report import analysis  # noqa: E402

DPI = 96
MAX_COLS = 3


@dataclass(frozen=True)
class Figure:
    name: str  # file stem, unique in a report
    title: str
    reading: str  # one line computed from the data
    png: bytes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _grid(n: int, w: float = 4.0, h: float = 3.4, max_cols: int = MAX_COLS):
    cols = min(n, max_cols)
    rows = int(np.ceil(n / cols))
    fig, axs = plt.subplots(rows, cols, figsize=(w * cols, h * rows), squeeze=False)
    for ax in axs.flat[n:]:
        ax.set_visible(False)
    return fig, list(axs.flat[:n])


def _fmt(v: float) -> str:
    return f"{v:.3f}" if np.isfinite(v) else "n/a"


def outcomes(runs: pd.DataFrame) -> Figure | None:
    """Runs per dataset and implementation, stacked by outcome."""
    if runs.empty:
        return None
    key = runs["impl"].astype(str) + (
        " · " + runs["dataset"].astype(str) if "dataset" in runs else "")
    table = pd.crosstab(key, runs["outcome"])
    colors = {"finished": "#4c9a2a", "running": "#f0ad4e", "diverged": "#d9534f",
              "failed": "#8b0000"}
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(table) + 1.4))
    left = np.zeros(len(table))
    for outcome in [c for c in colors if c in table] + [c for c in table if c not in colors]:
        ax.barh(table.index, table[outcome], left=left, label=outcome,
                color=colors.get(outcome, "grey"))
        left += table[outcome].to_numpy()
    ax.set_xlabel("runs")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("Runs by outcome")
    counts = runs["outcome"].value_counts()
    reading = ", ".join(f"{counts[k]} {k}" for k in counts.index) + f" of {len(runs)} runs."
    return Figure("outcomes", "Runs by outcome", reading, _png(fig))


def leaderboard(board: pd.DataFrame) -> Figure | None:
    """Mean ± std over seeds of the final metric, per dataset and model."""
    if board.empty:
        return None
    sets = list(dict.fromkeys(board["dataset"]))
    fig, axs = _grid(len(sets), 5.0, 2.6, max_cols=2)
    palette = {"nnfs (best config)": "#1f77b4", "sklearn MLP (same config)": "#ff7f0e",
               "sklearn MLP (its best config)": "#ffbb78", "LogisticRegression": "#7f7f7f"}
    gaps = []
    for ax, ds in zip(axs, sets, strict=True):
        part = board[board["dataset"] == ds]
        ax.barh(part["model"], part["mean"], xerr=part["std"].fillna(0),
                color=[palette.get(m, "#2ca02c") for m in part["model"]])
        ax.invert_yaxis()
        ax.set_xlim(0, float((part["mean"] + part["std"].fillna(0)).max()) * 1.35)
        ax.set_title(f"{ds}", fontsize=10)
        ax.set_xlabel(part["metric"].iloc[0])
        for y, (m, s) in enumerate(zip(part["mean"], part["std"], strict=True)):
            ax.text(m, y, f" {m:.3f}±{s:.3f}", va="center", fontsize=7)
        nn = part[part["model"] == "nnfs (best config)"]
        lr = part[part["model"] == "LogisticRegression"]
        if len(nn) and len(lr):
            gaps.append(f"{ds}: nnfs {nn['mean'].iloc[0] - lr['mean'].iloc[0]:+.3f} vs logreg")
    fig.suptitle("Leaderboard: best nnfs configuration vs scikit-learn (mean ± std over seeds)")
    fig.tight_layout()
    reading = "; ".join(gaps) if gaps else (
        "Best nnfs mean: " + ", ".join(f"{r.dataset}: {r.mean:.3f}"
                                       for r in board[board["model"].str.startswith("nnfs")]
                                       .itertuples()))
    return Figure("leaderboard", "Leaderboard per dataset", reading + ".", _png(fig))


def heatmap(runs: pd.DataFrame, axes: dict[str, list], rows: str, cols: str) -> Figure | None:
    """Mean final metric of finished nnfs runs, `rows` x `cols`, one panel per dataset."""
    if rows not in axes or cols not in axes or max(len(axes[rows]), len(axes[cols])) < 2:
        return None
    nnfs = runs[(runs["impl"] == "nnfs") & (runs["outcome"] == "finished")]
    panels = []
    for ds in analysis.datasets(nnfs):
        part = analysis.by_dataset(nnfs, ds)
        m = analysis.metric_of(part)
        if m is None:
            continue
        table = part.pivot_table(index=rows, columns=cols, values=m[0], aggfunc="mean")
        panels.append((ds, m, table.reindex(index=axes[rows], columns=axes[cols])))
    if not panels:
        return None
    fig, axs = _grid(len(panels), 1.1 * len(axes[cols]) + 2.2, 0.5 * len(axes[rows]) + 1.6,
                     max_cols=2)
    best = []
    for ax, (ds, (metric, higher), table) in zip(axs, panels, strict=True):
        sns.heatmap(table, annot=True, fmt=".2f", cmap="viridis" if higher else "viridis_r",
                    ax=ax, cbar=False, annot_kws={"fontsize": 8})
        ax.set_title(f"{ds} ({metric.removeprefix('final/')})", fontsize=10)
        ax.tick_params(axis="y", rotation=0)
        flat = table.stack().dropna()
        if len(flat):
            (r, c), v = (flat.idxmax(), flat.max()) if higher else (flat.idxmin(), flat.min())
            best.append(f"{ds}: {rows}={r} × {cols}={c} ({v:.3f})")
    title = f"Test metric: {rows} × {cols}"
    fig.suptitle(title + " (mean over the other axes and seeds)")
    fig.tight_layout()
    return Figure(f"heatmap_{rows}_{cols}".replace(".", "_"), title,
                  "Best cell — " + "; ".join(best) + ".", _png(fig))


def learning_curves(runs: pd.DataFrame, hist: pd.DataFrame, axes: dict[str, list]) -> Figure | None:
    """Median test curve per optimizer × schedule (band: 25-75 % over seeds and other axes)."""
    if hist.empty:
        return None
    group = [a for a in ("optimizer", "schedule") if a in axes and len(axes[a]) > 1]
    nnfs = runs[(runs["impl"] == "nnfs") & (runs["outcome"] == "finished")].copy()
    # the label per run, not per history point (100k rows on 1,000 runs)
    nnfs["group"] = analysis.labels(nnfs, group, sep=" / ", named=False) if group else "all runs"
    cols = ["run_id", "dataset", "group"] if "dataset" in nnfs else ["run_id", "group"]
    data = hist.merge(nnfs[cols], on="run_id")
    if data.empty:
        return None
    sets = analysis.datasets(nnfs)
    fig, axs = _grid(len(sets), 4.2, 3.2)
    finals = []
    for ax, ds in zip(axs, sets, strict=True):
        part = data if ds is None else data[data["dataset"] == ds]
        for key in part["key"].unique()[:1]:  # one metric per dataset (acc, else rmse)
            q = (part[part["key"] == key].groupby(["group", "step"])["value"]
                 .quantile([0.25, 0.5, 0.75]).unstack())
            for name, g in q.groupby(level="group"):
                steps = g.index.get_level_values("step")
                line, = ax.plot(steps, g[0.5], label=name)
                ax.fill_between(steps, g[0.25], g[0.75], alpha=0.2, color=line.get_color())
                finals.append((ds, name, float(g[0.5].iloc[-1]), key))
            ax.set_ylabel(key)
        ax.set_xlabel("epoch")
        ax.set_title(str(ds), fontsize=10)
        ax.legend(fontsize=7)
    title = ("Learning curves by " + " × ".join(group) if group
             else "Learning curves (optimizer and schedule fixed)")
    fig.suptitle(f"{title}: median, band 25-75 %")
    fig.tight_layout()
    parts = {}
    for ds, name, v, key in finals:
        parts.setdefault((ds, key), []).append(f"{name} {v:.3f}" if group else f"{v:.3f}")
    reading = "Median final value — " + "; ".join(
        f"{ds} {key}: " + ", ".join(v) for (ds, key), v in parts.items()) + "."
    return Figure("learning_curves", title, reading, _png(fig))


def gradients(runs: pd.DataFrame, hist: pd.DataFrame, axes: dict[str, list]) -> Figure | None:
    """Gradient norm of each layer relative to the output layer, at the first logged epoch, for
    the deepest networks: a vanishing gradient shows as a line falling towards layer 0."""
    if hist.empty or "model.depth" not in runs:
        return None
    nnfs = runs[(runs["impl"] == "nnfs") & runs["model.depth"].notna()]
    if nnfs.empty:
        return None
    depth = max(nnfs["model.depth"])
    deep = nnfs[nnfs["model.depth"] == depth]
    data = hist[hist["run_id"].isin(deep["run_id"]) & hist["key"].str.startswith("grad_norm/")]
    if data.empty or depth < 1:  # one layer: nothing to compare it with
        return None
    data = data[data["step"] == data.groupby("run_id")["step"].transform("min")].copy()
    data["layer"] = data["key"].str.extract(r"(\d+)$")[0].astype(int)
    top = data.groupby("run_id")["layer"].transform("max")
    out_norm = data[data["layer"] == top].set_index("run_id")["value"]
    data["relative"] = data["value"] / data["run_id"].map(out_norm)
    act = "activation" if "activation" in deep else None
    data = data.merge(deep[["run_id", act]] if act else deep[["run_id"]], on="run_id")
    med = data.groupby([act, "layer"] if act else ["layer"])["relative"].median().reset_index()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(med, x="layer", y="relative", hue=act, marker="o", ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("layer index (0 = input side)")
    ax.set_ylabel("‖grad‖ / ‖grad of output layer‖")
    n_layers = int(med["layer"].max()) + 1
    ax.set_xticks(range(n_layers))
    title = f"Gradient norm by layer, depth {depth} (first epoch, median over runs)"
    ax.set_title(title)
    first = med[med["layer"] == 0]
    reading = "Layer 0 receives " + ", ".join(
        f"{r[act] if act else 'all'} {r['relative']:.2g}×" for _, r in first.iterrows()
    ) + " of the output layer's gradient norm."
    return Figure("gradients", title, reading, _png(fig))


def boundaries(panels: list[tuple]) -> Figure | None:
    """A grid of logged decision-boundary PNGs: rows = datasets, columns = best / worst / logreg.
    `panels`: (dataset, column, panel title, png path or None)."""
    present = [p for p in panels if p[3] is not None]
    if not present:
        return None
    sets = list(dict.fromkeys(p[0] for p in present))
    columns = list(dict.fromkeys(p[1] for p in present))
    fig, axs = plt.subplots(len(sets), len(columns), figsize=(3.6 * len(columns), 3.8 * len(sets)),
                            squeeze=False)
    for ax in axs.flat:
        ax.axis("off")
    for ds, column, title, path in present:
        ax = axs[sets.index(ds), columns.index(column)]
        ax.imshow(plt.imread(path))
        ax.set_title(f"{ds} — {title}", fontsize=7, wrap=True)
    fig.tight_layout()
    reading = (f"{len(present)} boundaries over {len(sets)} datasets ("
               + ", ".join(columns) + ").")
    return Figure("decision_boundaries", "Decision boundaries: best, worst, LogisticRegression",
                  reading, _png(fig))


def speed(pairs: pd.DataFrame) -> Figure | None:
    """nnfs vs sklearn MLP ms/epoch, one point per (dataset, configuration)."""
    both = pairs.dropna(subset=["nnfs_ms", "sklearn_ms"])
    if both.empty:
        only = pairs.dropna(subset=["nnfs_ms"]).sort_values("nnfs_ms").tail(30)
        if only.empty:
            return None
        fig, ax = plt.subplots(figsize=(7, 0.25 * len(only) + 1.2))
        ax.barh(only["config"].astype(str) + " · " + only["dataset"].astype(str), only["nnfs_ms"])
        ax.set_xlabel("nnfs ms/epoch (median over seeds)")
        ax.set_title("Speed of nnfs per configuration (no scikit-learn baselines in this sweep)")
        slow = only.iloc[-1]
        return Figure("speed", "Speed per configuration",
                      f"Slowest: {slow['config']} on {slow['dataset']} at "
                      f"{slow['nnfs_ms']:.2f} ms/epoch.", _png(fig))
    fig, ax = plt.subplots(figsize=(6, 5))
    hue = "dataset" if both["dataset"].notna().any() else None
    sns.scatterplot(both, x="sklearn_ms", y="nnfs_ms", hue=hue, ax=ax)
    lo = float(min(both["nnfs_ms"].min(), both["sklearn_ms"].min())) * 0.8
    hi = float(max(both["nnfs_ms"].max(), both["sklearn_ms"].max())) * 1.2
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="same speed")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("scikit-learn MLP ms/epoch")
    ax.set_ylabel("nnfs ms/epoch")
    ax.set_title("Speed per configuration (below the line: nnfs faster)")
    faster = int((both["ratio"] < 1).sum())
    reading = (f"nnfs is faster in {faster} of {len(both)} configurations; median time ratio "
               f"nnfs/sklearn {both['ratio'].median():.2f}.")
    return Figure("speed", "Speed: nnfs vs scikit-learn", reading, _png(fig))


def sensitivity(eta: pd.DataFrame) -> Figure | None:
    """η² of each axis (rows) per dataset (columns), annotated as percentages."""
    if eta.empty:
        return None
    fig, ax = plt.subplots(figsize=(1.3 * eta.shape[1] + 3, 0.45 * eta.shape[0] + 1.5))
    sns.heatmap(eta * 100, annot=True, fmt=".0f", cmap="rocket_r", vmin=0, vmax=100, ax=ax,
                cbar_kws={"label": "% of variance"})
    ax.set_title("Sensitivity: share of test-metric variance explained by each axis (η²)")
    main = eta.drop(index="interactions + noise", errors="ignore")
    reading = "Largest share — " + "; ".join(
        f"{ds}: {main[ds].idxmax()} ({main[ds].max():.0%})" for ds in main.columns
        if main[ds].notna().any()) + "."
    return Figure("sensitivity", "Sensitivity (η² per axis)", reading, _png(fig))
