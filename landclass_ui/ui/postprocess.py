"""Regularization of the class map after classification (recipe ``regularization``; shown in the CLS panel):
a majority filter window and a minimum mapping unit in pixels or hectares, applied to exported maps
(:mod:`landclass_ui.regularize`)."""
from __future__ import annotations

import ipywidgets as W

from ..errors import RecipeError
from ..recipe import RegularizationRef
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["RegularizationBox"]

MAJORITY_CHOICES = [("off", 0), ("3 x 3", 3), ("5 x 5", 5), ("7 x 7", 7), ("9 x 9", 9)]


class RegularizationBox:
    """Edits ``recipe.regularization``: the majority filter (off, 3x3 ... 9x9) and the minimum mapping unit."""

    def __init__(self, store: RecipeStore):
        self.store = store
        style = {"description_width": "150px"}
        self.majority = W.Dropdown(options=MAJORITY_CHOICES, value=0, description="Majority filter", style=style,
                                   layout=W.Layout(width="300px"),
                                   tooltip="each pixel takes the most frequent class of its window (iota2)")
        self.majority.add_class("landclass-majority")
        self.mmu = W.Text(description="Min. mapping unit", placeholder="none", continuous_update=False,
                          style=style, layout=W.Layout(width="240px"),
                          tooltip="patches smaller than this are merged into their largest neighbour (GDAL sieve)")
        self.mmu.add_class("landclass-mmu")
        self.unit = W.Dropdown(options=[("pixels", "px"), ("hectares", "ha")], value="px",
                               layout=W.Layout(width="100px"))
        self.unit.add_class("landclass-mmu-unit")
        self.message = Message()
        self.widget = W.VBox([W.HTML("<b>Regularization</b> <small>of the exported map, after classification"
                                     "</small>"), self.majority, W.HBox([self.mmu, self.unit]), self.message])
        self.widget.add_class("landclass-regularization")
        self._showing = False
        for w in (self.majority, self.mmu, self.unit):
            w.observe(lambda ch: self._changed(), "value")
        store.observe(lambda label: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        reg = self.store.recipe.regularization
        self._showing = True
        try:
            self.majority.value = reg.majority or 0
            self.mmu.value = "" if reg.mmu is None else f"{reg.mmu:g}"
            self.unit.value = reg.mmu_unit
        finally:
            self._showing = False

    def _changed(self) -> None:
        if not self._showing:
            guarded(self.message, self.set, self.majority.value or None, self.mmu.value, self.unit.value)

    def set(self, majority: int | None, mmu: str | float | None, unit: str = "px") -> None:
        """Store the regularization; ``mmu`` empty or None: no sieve.

        Raises
        ------
        RecipeError
            A minimum mapping unit that is not a positive number (the recipe is left as it was).
        """
        text = "" if mmu is None else str(mmu).strip()
        try:
            value = float(text) if text else None
        except ValueError:
            raise RecipeError(f"the minimum mapping unit must be a number of {'hectares' if unit == 'ha' else 'pixels'}"
                              f", e.g. {'0.5' if unit == 'ha' else '12'}, not {text!r}") from None
        reg = RegularizationRef(majority, value, unit)
        reg.validate()
        self.message.clear()
        if reg != self.store.recipe.regularization:
            self.store.edit("regularization", lambda r: setattr(r, "regularization", reg))
            self.message.show(f"regularization: {reg.describe()}", "ok")
