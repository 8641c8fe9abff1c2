"""Sections -> index.html (figures embedded as base64 PNG), report.md (figures beside it),
runs.csv."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2
import pandas as pd

from nnfs.report import templates
from nnfs.report.sections import Section

OWN_FIGURES = ("outcomes", "leaderboard", "heatmap_", "learning_curves", "gradients",
               "decision_boundaries", "speed", "sensitivity")


def cell(value) -> str:
    """Table cell text: floats to 4 significant digits, missing values empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def rows(frame: pd.DataFrame):
    for rec in frame.itertuples(index=False):
        values = list(rec)
        cls = ""
        if "outcome" in frame.columns:
            cls = str(values[list(frame.columns).index("outcome")])
        yield {"cls": cls, "cells": [cell(v) for v in values]}


def md_table(frame: pd.DataFrame) -> str:
    """A GitHub pipe table (no tabulate dependency)."""
    if frame.empty:
        return "_(empty)_"

    def esc(text: str) -> str:
        return text.replace("|", r"\|").replace("\n", " ")

    head = "| " + " | ".join(esc(str(c)) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(esc(c) for c in r["cells"]) + " |" for r in rows(frame)]
    return "\n".join([head, rule, *body])


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=autoescape, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals.update(rows=rows, md_table=md_table)
    return env


def render_html(title: str, sections: list[Section], generated: str) -> str:
    images = {f.name: base64.b64encode(f.png).decode("ascii")
              for s in sections for f in s.figures}
    return _env(True).from_string(templates.HTML).render(
        title=title, sections=sections, generated=generated, images=images)


def render_markdown(title: str, sections: list[Section], generated: str) -> str:
    return _env(False).from_string(templates.MARKDOWN).render(
        title=title, sections=sections, generated=generated)


def write(out: Path, title: str, sections: list[Section], runs: pd.DataFrame,
          generated: str) -> dict[str, Path]:
    """Write index.html, report.md, figures/*.png and runs.csv into `out` (created)."""
    html = render_html(title, sections, generated)
    md = render_markdown(title, sections, generated)
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(exist_ok=True)
    names = {f"{f.name}.png" for s in sections for f in s.figures}
    for old in (out / "figures").glob("*.png"):  # a figure an earlier report had, this one not
        if old.name not in names and old.stem.startswith(OWN_FIGURES):
            old.unlink()
    for s in sections:
        for f in s.figures:
            (out / "figures" / f"{f.name}.png").write_bytes(f.png)
    paths = {"html": out / "index.html", "markdown": out / "report.md", "csv": out / "runs.csv"}
    paths["html"].write_text(html, encoding="utf-8")
    paths["markdown"].write_text(md, encoding="utf-8")
    runs.to_csv(paths["csv"], index=False)
    return paths
