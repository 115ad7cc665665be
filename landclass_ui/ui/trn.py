"""TRN panel: class chooser, points per class, load a training file, relabel/delete, undo, clear, export."""
from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import Callable

import ipywidgets as W

from .._files import atomic_write_text
from ..legend import LabelMatch, Legend, match_labels
from ..recipe import Recipe, TrainingRef
from ..store import RecipeStore
from ..training import apply_remap, check_overlap, legend_colors, read_training
from .common import Message, guarded

__all__ = ["TrainingPanel", "collected_points", "add_point"]

#: Choices of the class-matching dialog besides "map to <legend class>" (which holds the class name).
_ADD, _IGNORE = "\x00add", "\x00ignore"


def collected_points(recipe: Recipe) -> list[dict]:
    """The points collected on the map (the recipe's first ``points`` training set), in click order."""
    for t in recipe.training:
        if t.kind == "points":
            return t.points
    return []


def _points_ref(recipe: Recipe) -> TrainingRef:
    for t in recipe.training:
        if t.kind == "points":
            return t
    ref = TrainingRef("points", points=[])
    recipe.training.insert(0, ref)
    return ref


def add_point(recipe: Recipe, lon: float, lat: float, value: int) -> None:
    """Append a collected point (EPSG:4326 degrees, legend value)."""
    _points_ref(recipe).points.append({"x": round(float(lon), 7), "y": round(float(lat), 7), "class": int(value)})


class TrainingPanel:
    """Training data of the recipe: collected points and training files."""

    def __init__(self, store: RecipeStore, workdir: str, *, default_legend: list[dict] | None = None,
                 image: Callable[[], object] | None = None):
        self.store = store
        #: The recipe's image as the app has it open (an ImageStack, or None): a training file must reach it
        self.image = image or (lambda: None)
        #: A legend that counts as untouched (the first-run sample's): replaced by a file's classes when no
        #: training data use it.
        self.default_legend = default_legend
        self.workdir = Path(workdir)
        self.selected: int | None = None
        self.chooser = W.Dropdown(description="Class", layout=W.Layout(width="300px"))
        self.chooser.add_class("landclass-class-chooser")
        self.counts = W.HTML()
        self.counts.add_class("landclass-counts")
        self.selection = W.HTML()
        self.relabel_button = W.Button(description="Relabel", icon="tag", tooltip="give the selected point the "
                                       "class chosen above", layout=W.Layout(width="100px"))
        self.delete_button = W.Button(description="Delete", icon="trash", layout=W.Layout(width="90px"))
        self.relabel_button.on_click(lambda _: guarded(self.message, self.relabel_selected))
        self.delete_button.on_click(lambda _: guarded(self.message, self.delete_selected))
        self.undo_button = W.Button(description="Undo", icon="undo", layout=W.Layout(width="90px"))
        self.undo_button.add_class("landclass-undo")
        self.undo_button.on_click(lambda _: guarded(self.message, self.undo))
        self.clear_button = W.Button(description="Clear all", icon="eraser", button_style="warning",
                                     layout=W.Layout(width="100px"))
        self.clear_button.on_click(lambda _: self._ask_clear())
        self.confirm = W.HBox()
        self.export_button = W.Button(description="Export CSV", icon="download", layout=W.Layout(width="110px"))
        self.export_button.on_click(lambda _: guarded(self.message, self.export_csv))
        self.file_path = W.Text(placeholder="polygons.geojson / points.csv", description="File",
                                layout=W.Layout(width="300px"))
        self.class_field = W.Text(value="class", description="Class field", layout=W.Layout(width="300px"))
        self.load_button = W.Button(description="Load training file", icon="upload")
        self.load_button.on_click(lambda _: guarded(self.message, self.load_file))
        self.files = W.HTML()
        self.file_buttons = W.VBox()  # one "Remove" button per training file
        self.file_buttons.add_class("landclass-training-files")
        self.dialog = W.VBox()
        self.dialog.add_class("landclass-match-dialog")
        self.message = Message()
        self.widget = W.VBox([
            self.chooser, self.counts,
            W.HBox([self.undo_button, self.export_button, self.clear_button]), self.confirm,
            self.selection, W.HBox([self.relabel_button, self.delete_button]),
            W.HTML("<b>Training files</b>"), self.file_path, self.class_field, self.load_button, self.dialog,
            self.files, self.file_buttons, self.message,
        ])
        self.widget.add_class("landclass-trn")
        store.observe(lambda label: self.refresh())
        self.refresh()

    # --- model -> view -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        recipe = self.store.recipe
        legend = recipe.legend or []
        options = [(f"{e['name']} ({e['value']})", int(e["value"])) for e in legend]
        current = self.chooser.value
        values = [v for _, v in options]
        if list(self.chooser.options) != options:
            self.chooser.options = options
        # keep the class the user chose; otherwise the first class (a first click must add a point)
        self.chooser.value = current if current in values else (values[0] if values else None)
        points = collected_points(recipe)
        rows = "".join(
            f"<tr><td><span style='display:inline-block;width:10px;height:10px;background:{e['color']}'></span> "
            f"{html.escape(str(e['name']))}</td>"
            f"<td class='landclass-count' data-value='{e['value']}' style='text-align:right'>"
            f"{sum(int(p['class']) == int(e['value']) for p in points)}</td></tr>"
            for e in legend)
        self.counts.value = (f"<table style='width:280px'><tr><th align=left>Class</th><th>Points</th></tr>"
                             f"{rows}</table><div>{len(points)} point(s)</div>")
        if self.selected is not None and self.selected >= len(points):
            self.selected = None
        self._show_selection()
        files = [t for t in recipe.training if t.kind == "file"]
        self.files.value = "<br>".join(html.escape(f"{Path(t.path).name} (field {t.class_field})") for t in files)
        buttons = []
        for i, t in enumerate(files):
            b = W.Button(description=f"Remove {Path(t.path).name}", icon="times", layout=W.Layout(width="300px"),
                         tooltip="take this file out of the training data (Undo brings it back)")
            b.add_class("landclass-remove-file")
            b.on_click(lambda _, i=i: self.remove_file(i))
            buttons.append(b)
        self.file_buttons.children = tuple(buttons)
        self.undo_button.disabled = not self.store.can_undo

    def _show_selection(self) -> None:
        points = collected_points(self.store.recipe)
        has = self.selected is not None
        self.relabel_button.disabled = self.delete_button.disabled = not has
        if has:
            p = points[self.selected]
            self.selection.value = (f"Selected point {self.selected + 1}: class {p['class']} at {p['y']:.5f}, "
                                    f"{p['x']:.5f}")
        else:
            self.selection.value = "<i>Click a point on the map (training mode) to select it.</i>"

    # --- actions -----------------------------------------------------------------------------------------

    def click(self, lat: float, lon: float, nearest: int | None) -> None:
        """A click on the map in training mode: select the point under it, or add one of the chosen class."""
        if nearest is not None:
            self.selected = nearest
            self._show_selection()
            return
        if self.chooser.value is None:
            self.message.show("the legend has no class: add classes in LEG first", "error")
            return
        value = int(self.chooser.value)
        self.selected = None
        self.store.edit("add point", lambda r: add_point(r, lon, lat, value))

    def relabel_selected(self) -> None:
        if self.selected is None or self.chooser.value is None:
            return
        i, value = self.selected, int(self.chooser.value)

        def change(r):
            _points_ref(r).points[i]["class"] = value
        self.store.edit("relabel point", change, rebase=False)  # the i-th point of this page's list

    def delete_selected(self) -> None:
        if self.selected is None:
            return
        i = self.selected
        self.selected = None
        self.store.edit("delete point", lambda r: _points_ref(r).points.pop(i), rebase=False)

    def undo(self) -> None:
        self.selected = None
        label = self.store.undo()
        self.message.show(f"undone: {label}" if label else "nothing to undo", "info")

    def _ask_clear(self) -> None:
        n = len(collected_points(self.store.recipe))
        yes = W.Button(description=f"Delete {n} points", button_style="danger")
        yes.add_class("landclass-confirm-clear")
        no = W.Button(description="Cancel")
        yes.on_click(lambda _: self._clear())
        no.on_click(lambda _: setattr(self.confirm, "children", ()))
        self.confirm.children = (yes, no)

    def _clear(self) -> None:
        self.confirm.children = ()
        self.selected = None
        self.store.edit("clear points", lambda r: _points_ref(r).points.clear())
        self.message.show("all collected points deleted (Undo brings them back)", "info")

    def export_csv(self) -> str:
        """Write the collected points as ``<recipe>_reference_data.csv`` (``XCoordinate,YCoordinate,class``)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["XCoordinate", "YCoordinate", "class"])
        for p in collected_points(self.store.recipe):
            writer.writerow([p["x"], p["y"], p["class"]])
        path = self.workdir / f"{self.store.recipe.name}_reference_data.csv"
        atomic_write_text(path, buf.getvalue())
        self.message.show(f"wrote {path}", "ok")
        return str(path)

    def load_file(self) -> None:
        """Load the training file named in the panel.

        When the legend is empty or untouched (the first-run legend, used by no training data), the legend is
        built from the file's classes (:meth:`Legend.from_labels`: sorted names, values 1..n, the file's
        ``color`` column or a qualitative palette). When the file has classes the legend lacks, a dialog lists
        them and offers, for each, *add to legend*, *map to* a legend class or *ignore*.
        """
        self.dialog.children = ()
        path = os.path.abspath(os.path.expanduser(self.file_path.value.strip()))  # the recipe outlives the cwd
        field = self.class_field.value.strip() or None
        frame = read_training(path, field)  # raises a clear error for a bad file or field
        stack = self.image()
        if stack is not None:  # a file of another area is not taken into the recipe (every retrain would fail)
            check_overlap(frame, stack.grid)
        labels = list(frame["label"])
        recipe = self.store.recipe
        if not recipe.legend:
            self._use_file_legend(path, field, frame)
            return
        legend = Legend.from_list(recipe.legend)
        name = Path(path).name
        if self._untouched(recipe) and not match_labels(labels, legend).complete:
            self._use_file_legend(path, field, frame)
            return
        match = match_labels(labels, legend)
        if match.complete:
            self.store.edit("load training file",
                            lambda r: r.training.append(TrainingRef("file", path=path, class_field=field)))
            note = f"; legend classes not in the file: {', '.join(match.absent)}" if match.absent else ""
            self.message.show(f"loaded {len(frame)} features of {len(match.known)} classes from {name}{note}", "ok")
            return
        self._ask(path, field, frame, legend, match)

    def remove_file(self, index: int) -> None:
        """Take the ``index``-th training file (in the order listed) out of the recipe; the legend stays."""
        files = [t for t in self.store.recipe.training if t.kind == "file"]
        if not 0 <= index < len(files):
            return
        name = Path(files[index].path).name

        def change(r):
            refs = [t for t in r.training if t.kind == "file"]
            r.training.remove(refs[index])
        self.store.edit("remove training file", change)
        self.message.show(f"removed {name} from the training data (Undo brings it back)", "ok")

    def _untouched(self, recipe: Recipe) -> bool:
        """The first-run legend, used by no training data."""
        return not self._legend_in_use() and self.default_legend is not None and recipe.legend == self.default_legend

    def _legend_in_use(self) -> bool:
        return any(t.kind == "file" or t.points for t in self.store.recipe.training)

    def _use_file_legend(self, path: str, field: str | None, frame) -> None:
        legend = Legend.from_labels(list(frame["label"]), legend_colors(frame))

        def change(r):
            r.legend = legend.to_list()
            r.training.append(TrainingRef("file", path=path, class_field=field))
        replaced = bool(self.store.recipe.legend)
        self.store.edit("load training file", change)
        self.dialog.children = ()
        self.message.show(f"loaded {len(frame)} features from {Path(path).name}; the legend "
                          f"{'was replaced by' if replaced else 'was built from'} its {len(legend)} classes: "
                          f"{', '.join(legend.names)}" + (" (Undo brings the previous legend back)" if replaced
                                                          else ""), "ok")

    def _ask(self, path: str, field: str | None, frame, legend: Legend, match: LabelMatch) -> None:
        """The one dialog for a file whose classes are not all in the legend."""
        options = [("add to legend", _ADD), ("ignore", _IGNORE)] + [
            (f"map to {e.name}", e.name) for e in legend]
        choices = {}
        rows = []
        for i, label in enumerate(match.unknown):
            dd = W.Dropdown(options=options, value=_ADD, layout=W.Layout(width="200px"))
            dd.add_class(f"landclass-match-{i}")
            choices[label] = dd
            rows.append(W.HBox([W.HTML(f"<b>{html.escape(label)}</b>", layout=W.Layout(width="120px")), dd]))
        apply = W.Button(description="Apply", icon="check", button_style="primary")
        apply.add_class("landclass-match-apply")
        cancel = W.Button(description="Cancel")
        cancel.add_class("landclass-match-cancel")
        apply.on_click(lambda _: guarded(self.message, self._apply, path, field, frame,
                                         {k: d.value for k, d in choices.items()}))
        cancel.on_click(lambda _: self._cancel())
        buttons = [apply]
        if not self._legend_in_use():
            replace = W.Button(description="Use the file's classes", icon="exchange",
                               tooltip="no training data use the current legend: replace it by the file's classes")
            replace.add_class("landclass-match-replace")
            replace.on_click(lambda _: guarded(self.message, self._use_file_legend, path, field, frame))
            buttons.append(replace)
        buttons.append(cancel)
        absent = (f"<br><small>Legend classes not in the file: {html.escape(', '.join(match.absent))}</small>"
                  if match.absent else "")
        self.dialog.children = (
            W.HTML(f"{len(match.unknown)} class(es) of <b>{html.escape(Path(path).name)}</b> are not in the "
                   f"legend; choose for each:{absent}"),
            *rows, W.HBox(buttons))
        self.message.show(f"{Path(path).name}: classes not in the legend: {', '.join(match.unknown)}; choose "
                          "what to do with them above", "info")

    def _cancel(self) -> None:
        self.dialog.children = ()
        self.message.show("training file not loaded", "info")

    def _apply(self, path: str, field: str | None, frame, choices: dict[str, str]) -> None:
        add = [label for label, c in choices.items() if c == _ADD]
        remap = {label: (None if c == _IGNORE else c) for label, c in choices.items() if c != _ADD}
        apply_remap(frame, remap)  # the engine's check: TrainingDataError when every class is ignored
        colors = legend_colors(frame)

        def change(r):
            if add:
                r.legend = Legend.from_list(r.legend or []).with_classes(add, colors).to_list()
            r.training.append(TrainingRef("file", path=path, class_field=field, remap=remap))
        self.store.edit("load training file", change)
        self.dialog.children = ()
        parts = [f"added to the legend: {', '.join(add)}"] if add else []
        parts += [f"{k} -> {v}" for k, v in remap.items() if v is not None]
        ignored = [k for k, v in remap.items() if v is None]
        if ignored:
            parts.append(f"ignored: {', '.join(ignored)}")
        self.message.show(f"loaded {Path(path).name}; {'; '.join(parts)}", "ok")
