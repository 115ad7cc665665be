"""LEG panel: the legend table (value, name, colour), add/remove class, CSV import/export, validation."""
from __future__ import annotations

from pathlib import Path

import ipywidgets as W

from ..legend import DEFAULT_COLORS, Legend, LegendEntry, normalize_color, validate
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["LegendPanel"]


class LegendPanel:
    """Edits ``recipe.legend``. Edits are kept as a draft while invalid (the problems are listed) and reach
    the recipe as soon as the draft is valid."""

    def __init__(self, store: RecipeStore, workdir: str):
        self.store = store
        self.workdir = Path(workdir)
        self.rows = W.VBox()
        self.message = Message()
        self.add_button = W.Button(description="Add class", icon="plus")
        self.add_button.on_click(lambda _: self.add_class())
        self.csv_path = W.Text(placeholder="legend.csv / style.qml / nomenclature.txt", description="File",
                               layout=W.Layout(width="240px"),
                               tooltip="a legend CSV (SEPAL), a QGIS style (.qml) or iota2's nomenclature.txt")
        self.import_button = W.Button(description="Import", icon="upload", layout=W.Layout(width="90px"))
        self.import_button.on_click(lambda _: guarded(self.message, self.import_csv, self.csv_path.value))
        self.export_button = W.Button(description="Export CSV", icon="download")
        self.export_button.on_click(lambda _: guarded(self.message, self.export_csv))
        header = W.HTML("<b>Value &nbsp; Name &nbsp; Colour</b>")
        self.widget = W.VBox([header, self.rows, W.HBox([self.add_button, self.export_button]),
                              W.HBox([self.csv_path, self.import_button]), self.message])
        self.widget.add_class("landclass-leg")
        self.draft: list[dict] = []
        store.observe(lambda label: self.refresh())
        self.refresh()

    # --- model -> view -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.draft = [dict(e) for e in (self.store.recipe.legend or [])]
        self._build_rows()

    def _build_rows(self) -> None:
        rows = []
        for i, entry in enumerate(self.draft):
            value = W.IntText(value=int(entry["value"]), layout=W.Layout(width="60px"))
            name = W.Text(value=str(entry["name"]), continuous_update=False, layout=W.Layout(width="150px"))
            color = W.ColorPicker(value=normalize_color(entry["color"]), concise=True,
                                  layout=W.Layout(width="40px"))
            remove = W.Button(icon="trash", tooltip="remove this class", layout=W.Layout(width="36px"))
            value.observe(lambda ch, i=i: self._set(i, "value", ch["new"]), "value")
            name.observe(lambda ch, i=i: self._set(i, "name", ch["new"]), "value")
            color.observe(lambda ch, i=i: self._set(i, "color", ch["new"]), "value")
            remove.on_click(lambda _, i=i: self.remove_class(i))
            row = W.HBox([value, name, color, remove])
            row.add_class("landclass-leg-row")
            rows.append(row)
        self.rows.children = rows

    # --- view -> model -----------------------------------------------------------------------------------

    def _set(self, index: int, key: str, value) -> None:
        self.draft[index][key] = value
        self._apply("edit legend")

    def _apply(self, label: str) -> bool:
        try:
            entries = [LegendEntry(int(d["value"]), str(d["name"]).strip(), normalize_color(d["color"]))
                       for d in self.draft]
            problems = validate(entries)
        except Exception as exc:
            problems = [str(exc)]
        if problems:
            self.message.show("; ".join(problems), "error")
            return False
        used = self._used_values()
        missing = sorted(used - {e.value for e in entries})
        if missing:
            self.message.show(f"class value(s) {', '.join(map(str, missing))} have training points: relabel or "
                              "delete those points first", "error")
            return False
        legend = Legend(entries).to_list()
        self.message.clear()
        self.store.edit(label, lambda r: setattr(r, "legend", legend))
        return True

    def _used_values(self) -> set[int]:
        return {int(p["class"]) for t in self.store.recipe.training if t.kind == "points" for p in t.points}

    def add_class(self) -> None:
        values = [int(d["value"]) for d in self.draft]
        colors = {normalize_color(d["color"]) for d in self.draft}
        value = max(values, default=0) + 1
        color = next((c for c in DEFAULT_COLORS if c not in colors), "#000000")
        self.draft.append({"value": value, "name": f"Class {value}", "color": color})
        if not self._apply("add class"):
            self._build_rows()

    def remove_class(self, index: int) -> None:
        removed = self.draft.pop(index)
        if not self._apply(f"remove class {removed['name']}"):
            self.draft.insert(index, removed)

    def import_csv(self, path: str) -> None:
        legend = Legend.read(path.strip())
        missing = sorted(self._used_values() - set(legend.values))
        if missing:
            self.message.show(f"{path} has no class {', '.join(map(str, missing))}, which training points use: "
                              "relabel or delete those points first, or add the class to the CSV", "error")
            return
        self.store.edit("import legend", lambda r: setattr(r, "legend", legend.to_list()))
        self.message.show(f"imported {len(legend)} classes from {path}", "ok")

    def export_csv(self) -> str:
        legend = Legend.from_list(self.store.recipe.legend or [])
        path = self.workdir / f"{self.store.recipe.name}_legend.csv"
        legend.to_csv(path)
        self.message.show(f"wrote {path}", "ok")
        return str(path)
