"""Accuracy outputs written beside a class map: the confusion matrix as CSV and PNG, and a results report.

``<stem>_confusion.csv``: sample counts, rows = map class, columns = reference class.
``<stem>_confusion.png``: the same matrix drawn with matplotlib, classes named, counts and row percentages.
``<stem>_RESULTS.md``: overall accuracy with its 95% interval, kappa, per-class user's/producer's accuracy and
F1 with intervals, the area table (hectares when the map's CRS is in metres), cross-validation, band
importance, and the recipe that made the map (as iota2 closes a run with its results report).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import atomic_write_text, replacing
from .accuracy import AccuracyReport

__all__ = ["AssessmentPaths", "write_assessment", "plot_confusion", "mapped_areas"]


@dataclass
class AssessmentPaths:
    """Files written by :func:`write_assessment`."""

    confusion_csv: str
    confusion_png: str
    results_md: str


def mapped_areas(class_map: str | os.PathLike, legend) -> tuple[pd.Series, str]:
    """Mapped area of each legend class in a class map, and its unit.

    Counts pixels window by window; converted to hectares when the CRS unit is the metre (pixel area =
    ``res_x * res_y / 10000``), else left as pixels. Returns ``(Series indexed by class name, unit)``.
    """
    import rasterio

    counts = np.zeros(256, np.int64)
    with rasterio.open(class_map) as src:
        for _, window in src.block_windows(1):
            counts += np.bincount(src.read(1, window=window).ravel(), minlength=256)
        res_x, res_y = src.res
        metres = src.crs is not None and src.crs.is_projected and (src.crs.linear_units or "").startswith("met")
    factor, unit = (res_x * res_y / 10000.0, "ha") if metres else (1.0, "pixels")
    return pd.Series({e.name: counts[e.value] * factor for e in legend}, dtype=float), unit


def plot_confusion(report: AccuracyReport, path: str | os.PathLike, title: str = "") -> str:
    """Draw the confusion matrix (counts and the share of each map class's row) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = report.confusion_matrix
    counts = cm.to_numpy(dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(cm)
    fig, ax = plt.subplots(figsize=(2.2 + 1.1 * n, 1.8 + 1.0 * n), dpi=120)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), [str(c) for c in cm.columns], rotation=30, ha="right")
    ax.set_yticks(range(n), [str(c) for c in cm.index])
    ax.set_xlabel("reference class")
    ax.set_ylabel("map class")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(counts[i, j])}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_title(title or f"Overall accuracy {report.overall_accuracy:.1%} (n = {report.n})", fontsize=10)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return str(path)


def write_assessment(output: str | os.PathLike, report: AccuracyReport, *, recipe=None, how: str = "",
                     area_unit: str = "", importance: pd.Series | None = None,
                     cross_validation=None, sections: list[str] | None = None) -> AssessmentPaths:
    """Write ``<stem>_confusion.csv``, ``<stem>_confusion.png`` and ``<stem>_RESULTS.md`` beside ``output``.

    Parameters
    ----------
    report : AccuracyReport
    recipe : Recipe, optional
        Embedded in the report as JSON.
    how : str
        One sentence on where the validation sample came from.
    area_unit : str
        Unit of the areas in ``report`` (e.g. ``"ha"``).
    importance : pandas.Series, optional
        Band importance (sums to 1).
    cross_validation : CrossValidation, optional
    sections : list of str, optional
        Markdown lines put before the recipe (e.g. how the map was made, band importance per region).
    """
    out = Path(output)
    stem = out.with_name(out.stem)
    csv_path = f"{stem}_confusion.csv"
    png_path = f"{stem}_confusion.png"
    md_path = f"{stem}_RESULTS.md"
    cm = report.confusion_matrix.copy()
    cm.index.name = "map \\ reference"
    atomic_write_text(csv_path, cm.to_csv())
    plot_confusion(report, png_path)
    lines = [f"# Results: {out.name}", ""]
    if how:
        lines += [how, ""]
    lines += [report.to_markdown(area_format=",.1f" if area_unit == "ha" else ",.0f").rstrip(), ""]
    if report.stratified and area_unit:
        lines += [f"Areas are in {area_unit}; mapped areas are the pixel counts of the map.", ""]
    lines += [f"![confusion matrix]({Path(png_path).name})", ""]
    if cross_validation is not None:
        lines += ["## Cross-validation", "", cross_validation.summary(), ""]
        lines += ["| fold | overall accuracy | validation pixels |", "|---|---|---|"]
        lines += [f"| {i + 1} | {oa:.3f} | {n} |" for i, (oa, n) in
                  enumerate(zip(cross_validation.overall_accuracy, cross_validation.n_validation))]
        lines.append("")
    if importance is not None:
        lines += ["## Band importance", "", "| band | importance |", "|---|---|"]
        lines += [f"| {band} | {value:.1%} |" for band, value in importance.items()]
        lines.append("")
    lines += list(sections or [])
    if recipe is not None:
        lines += ["## Recipe", "", "```json", json.dumps(recipe.to_dict(), indent=2, ensure_ascii=False), "```", ""]
    atomic_write_text(md_path, "\n".join(lines))
    return AssessmentPaths(csv_path, png_path, md_path)
