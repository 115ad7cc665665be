"""The CLS panel's settings beyond the classifier: regularization of the class map after classification (recipe
``regularization``: a majority filter window and a minimum mapping unit in pixels or hectares, applied to
exported maps, :mod:`landclass_ui.regularize`) and regions for one model per region (recipe ``regions``)."""
from __future__ import annotations

import html

import ipywidgets as W

from ..errors import RecipeError
from ..recipe import RegularizationRef
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["RegularizationBox", "RegionsBox", "PresetBox"]

MAJORITY_CHOICES = [("off", 0), ("3 x 3", 3), ("5 x 5", 5), ("7 x 7", 7), ("9 x 9", 9)]


class PresetBox:
    """Starts the recipe over from a preset (:data:`landclass_ui.pipeline.PRESETS`): the recommended one (NDVI
    and NDWI, a 3 x 3 majority filter, random forest) or SEPAL's defaults (random forest on the bands alone).
    Image, legend and training data are kept."""

    def __init__(self, store: RecipeStore):
        from ..pipeline import PRESETS

        self.store = store
        labels = {"recommended": "recommended: NDVI, NDWI, majority 3 x 3", "sepal": "SEPAL's defaults"}
        self.choice = W.Dropdown(options=[(labels.get(p.name, p.name), p.name) for p in PRESETS.values()],
                                 value="recommended", description="Preset", layout=W.Layout(width="330px"))
        self.choice.add_class("landclass-preset")
        self.apply = W.Button(description="Apply", layout=W.Layout(width="90px"),
                              tooltip="set the classifier, indices and regularization as the preset says")
        self.apply.add_class("landclass-apply-preset")
        self.message = Message()
        self.apply.on_click(lambda _: guarded(self.message, self.set, self.choice.value))
        self.widget = W.VBox([W.HBox([self.choice, self.apply]), self.message])

    def set(self, name: str) -> None:
        """Apply the preset ``name``: random forest with SEPAL's parameters, its indices (those the image's
        bands can make) and its regularization; one undoable edit."""
        from ..classifiers import DEFAULT_CLASSIFIER
        from ..pipeline import apply_preset
        from ..recipe import ClassifierRef

        notes: list[str] = []

        def change(r):
            r.classifier = ClassifierRef(DEFAULT_CLASSIFIER, {})
            notes[:] = apply_preset(r, name, hint=False)
        self.store.edit(f"preset {name}", change)
        self.message.show("; ".join(notes), "ok")


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
        self.widget = W.VBox([W.HTML("<b>Regularization</b> <small>of the map, after classification (the live "
                                     "map shows it at the image's pixels)</small>"),
                              self.majority, W.HBox([self.mmu, self.unit]), self.message])
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


class RegionsBox:
    """Edits ``recipe.regions``: a polygon file and its region field for one model per region (iota2's
    eco-regions; :mod:`landclass_ui.regions`). Exported maps use one model per region; the live map, which is
    refitted at every click, keeps one model for the whole image (the panel says so)."""

    def __init__(self, store: RecipeStore):
        self.store = store
        style = {"description_width": "150px"}
        self.path = W.Text(description="Regions file", placeholder="none: one model", style=style,
                           layout=W.Layout(width="360px"),
                           tooltip="polygons (GeoPackage, shapefile, GeoJSON; any CRS), one model per region")
        self.path.add_class("landclass-regions-path")
        self.field = W.Text(description="Region field", value="region", style=style, layout=W.Layout(width="300px"))
        self.field.add_class("landclass-regions-field")
        self.apply = W.Button(description="Use regions", icon="check", layout=W.Layout(width="130px"))
        self.apply.add_class("landclass-regions-apply")
        self.remove = W.Button(description="One model", icon="times", layout=W.Layout(width="130px"),
                               tooltip="no regions: one model for the whole image")
        self.remove.add_class("landclass-regions-remove")
        self.info = W.HTML()
        self.info.add_class("landclass-regions-info")
        self.message = Message()
        self.apply.on_click(lambda _: guarded(self.message, self.set, self.path.value, self.field.value))
        self.remove.on_click(lambda _: guarded(self.message, self.set, "", self.field.value))
        self.widget = W.VBox([W.HTML("<b>Regions</b> <small>one model per region in exported maps (iota2's "
                                     "eco-regions)</small>"), self.path, self.field,
                              W.HBox([self.apply, self.remove]), self.info, self.message])
        self.widget.add_class("landclass-regions")
        store.observe(lambda label: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        ref = self.store.recipe.regions
        if ref is None:
            self.info.value = "<small>one model for the whole image</small>"
            return
        self.path.value, self.field.value = ref.path, ref.field
        self.info.value = (f"<small>one model per region of {html.escape(ref.path)} (field "
                           f"{html.escape(ref.field)}) in exported maps; the live map uses one model</small>")

    def set(self, path: str, field: str) -> None:
        """Use the regions of the polygon file at ``path`` (its ``field`` names each region); empty: none.

        Raises
        ------
        RecipeError
            A missing or unreadable file, a missing field, regions that do not reach the image or overlap
            (:func:`landclass_ui.regions.read_regions`); the recipe is left as it was.
        """
        import os

        from ..pipeline import open_recipe_images
        from ..recipe import RegionsRef
        from ..regions import read_regions

        path = os.path.expanduser(path.strip())
        if not path:
            if self.store.recipe.regions is not None:
                self.store.edit("one model", lambda r: setattr(r, "regions", None))
            self.message.show("one model for the whole image", "ok")
            return
        ref = RegionsRef(path, field.strip() or "region")
        ref.validate()
        grid = open_recipe_images(self.store.recipe).grid if self.store.recipe.images else None
        names, _, _ = read_regions(ref.path, ref.field, grid)
        self.store.edit("regions", lambda r: setattr(r, "regions", ref))
        self.message.show(f"{len(names)} region(s) on the image: {', '.join(names)}; one model each in exported "
                          "maps", "ok")
