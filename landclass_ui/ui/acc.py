"""ACC panel: accuracy of the live classification (cross-validation of the training data), the confusion
matrix, and where to add points next (least-confident places, a click zooms there).

The panel only shows what the app computes in its worker (:mod:`landclass_ui.guidance`).
"""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Callable

import ipywidgets as W

from ..guidance import UNCERTAIN_THRESHOLD, LiveAccuracy, Suggestion
from ..report import plot_confusion

__all__ = ["AccuracyPanel"]

_EXPLAIN = (
    "<div class='landclass-acc-help' style='font-size:90%;line-height:1.3'>"
    "<b>Cross-validation of the training data</b> (spatial k-fold: each polygon or block of points is predicted "
    "by a model trained without it). Training data are not a random sample of the map, so these figures are "
    "<b>optimistic</b>: an indication while collecting points, not the map's accuracy (for that, export with an "
    "independent reference sample). Updated after every retrain (at most 1500 training pixels are used).<br>"
    "The class probability of the live map: show the <b>Probability</b> layer in the layer control (top right)."
    "</div>"
)


def _pct(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.0f} %"


class AccuracyPanel:
    """Accuracy figures, confusion matrix image and suggested locations.

    Parameters
    ----------
    workdir : str
        Where the confusion-matrix PNG is written.
    on_go : callable, optional
        ``on_go(suggestion)`` when a suggested location is clicked (the app zooms the map there).
    """

    def __init__(self, workdir: str, on_go: Callable[[Suggestion], None] | None = None):
        self.workdir = Path(workdir)
        self.on_go = on_go
        self.summary = W.HTML("<i>no classification yet</i>")
        self.summary.add_class("landclass-acc-summary")
        self.table = W.HTML()
        self.table.add_class("landclass-acc-table")
        self.image = W.Image(format="png", layout=W.Layout(max_width="380px"))
        self.image.add_class("landclass-acc-confusion")
        self.show_uncertain = W.ToggleButton(
            value=False, description=f"Show least-confident areas (< {UNCERTAIN_THRESHOLD} %)", icon="eye",
            layout=W.Layout(width="auto"),
            tooltip="Magenta on the map: pixels whose winning-class probability is below "
                    f"{UNCERTAIN_THRESHOLD} % (also in the layer control)")
        self.show_uncertain.add_class("landclass-acc-show-uncertain")
        self.suggestion_note = W.HTML()
        self.suggestions = W.VBox()
        self.suggestions.add_class("landclass-acc-suggestions")
        self.items: list[Suggestion] = []
        self.result: LiveAccuracy | None = None
        self.widget = W.VBox([
            W.HTML("<b>Accuracy of the live classification</b>"), W.HTML(_EXPLAIN), self.summary, self.table,
            self.image,
            W.HTML("<b>Where to add points next</b>"), self.show_uncertain, self.suggestion_note, self.suggestions,
        ])

    # --- accuracy ------------------------------------------------------------------------------------------

    def clear(self, text: str = "add training points of at least two classes") -> None:
        self.result = None
        self.summary.value = f"<i>{html.escape(text)}</i>"
        self.table.value = ""
        self.image.value = b""

    def show(self, result: LiveAccuracy) -> None:
        """Show a :class:`~landclass_ui.guidance.LiveAccuracy` (or its message when there is no report)."""
        self.result = result
        if result.report is None:
            self.clear(result.message)
            return
        report, cv = result.report, result.cross_validation
        sub = f" of {result.n_total}" if result.n_pixels < result.n_total else ""
        self.summary.value = (
            f"<div><b>Overall accuracy {100 * cv.mean:.1f} % ± {100 * cv.std:.1f}</b> "
            f"(mean ± sd over {result.k} folds), <b>kappa {report.kappa:.2f}</b><br>"
            f"<span style='font-size:90%'>pooled folds: {report.n} pixels{sub}; unit: "
            f"{html.escape(result.unit)}; {result.seconds:.1f} s</span></div>")
        frame = report.to_frame()
        rows = "".join(
            f"<tr><td>{html.escape(str(c))}</td><td>{int(r.n_reference)}</td><td>{_pct(r.users_accuracy)}</td>"
            f"<td>{_pct(r.producers_accuracy)}</td><td>{_pct(r.f1)}</td></tr>" for c, r in frame.iterrows())
        self.table.value = (
            "<table class='landclass-acc-classes' style='border-collapse:collapse'>"
            "<tr><th>class</th><th>n</th><th title='user&#39;s accuracy'>UA</th>"
            "<th title='producer&#39;s accuracy'>PA</th><th>F1</th></tr>" + rows + "</table>")
        path = plot_confusion(report, self.workdir / "live_confusion.png",
                              title=f"Cross-validation, pooled folds (n = {report.n})")
        self.image.value = Path(path).read_bytes()

    # --- suggestions ---------------------------------------------------------------------------------------

    def show_suggestions(self, items: list[Suggestion], where: str = "the scene") -> None:
        """One button per suggestion (``"FOREST? 43.61, 1.44 (52 %)"``); a click calls ``on_go``."""
        self.items = list(items)
        if not items:
            self.suggestion_note.value = (f"<i>no pixel below {UNCERTAIN_THRESHOLD} % probability in "
                                          f"{html.escape(where)}</i>")
            self.suggestions.children = []
            return
        self.suggestion_note.value = (
            f"<span style='font-size:90%'>Least-confident places in {html.escape(where)} (predicted class?, "
            f"lat, lon, probability); click to zoom there, then add a point of the right class.</span>")
        buttons = []
        for s in items:
            b = W.Button(description=s.label(), layout=W.Layout(width="auto"),
                         tooltip=f"zoom to {s.lat:.5f}, {s.lon:.5f}")
            b.add_class("landclass-acc-suggestion")
            b.on_click(lambda _, s=s: self.on_go and self.on_go(s))
            buttons.append(b)
        self.suggestions.children = buttons
