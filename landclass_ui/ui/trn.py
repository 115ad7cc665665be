"""TRN panel: class chooser, points per class, load a training file (CSV columns, row filter), sample a
classification map, import another recipe's training data, a summary of each import, relabel/delete, undo,
clear, export."""
from __future__ import annotations

import csv
import html
import io
import os
from pathlib import Path
from typing import Callable

import ipywidgets as W

from .._files import atomic_write_text
from ..errors import RecipeError, TrainingDataError
from ..legend import LabelMatch, Legend, match_labels, normalize_name
from ..recipe import Recipe, TrainingRef
from ..store import RecipeStore, safe_file_name
from ..training import (
    apply_remap,
    check_usable,
    class_map_legend,
    csv_layout,
    is_csv,
    legend_colors,
    points_frame,
    points_records,
    read_ref,
    read_training,
    recipe_training,
    sample_class_map,
    summarize_training,
    summary_text,
)
from .common import Message, guarded

__all__ = ["TrainingPanel", "collected_points", "add_point", "summary_html"]

#: Choices of the class-matching dialog besides "map to <legend class>" (which holds the class name).
_ADD, _IGNORE = "\x00add", "\x00ignore"

#: Points asked per class when a classification map is sampled (SEPAL's default).
DEFAULT_SAMPLES_PER_CLASS = 1000


def collected_points(recipe: Recipe) -> list[dict]:
    """The points collected on the map (the recipe's first ``points`` training set without a ``source``: sets
    sampled from a map or imported from a recipe are not edited by clicks), in click order."""
    for t in recipe.training:
        if t.kind == "points" and not t.source:
            return t.points
    return []


def _points_ref(recipe: Recipe) -> TrainingRef:
    for t in recipe.training:
        if t.kind == "points" and not t.source:
            return t
    ref = TrainingRef("points", points=[])
    recipe.training.insert(0, ref)
    return ref


def _listed(recipe: Recipe) -> list[TrainingRef]:
    """The training sets the panel lists with a Remove button: files, and points sampled or imported."""
    return [t for t in recipe.training if t.kind == "file" or (t.kind == "points" and t.source)]


def _describe(ref: TrainingRef) -> str:
    if ref.kind == "points":
        return f"{ref.source} ({len(ref.points)} points)"
    extra = [f"field {ref.class_field}"]
    if ref.x:
        extra.append(f"X/Y {ref.x}/{ref.y}")
    if ref.geometry:
        extra.append(f"geometry {ref.geometry}")
    if ref.filter:
        extra.append(f"filter {ref.filter}")
    return f"{Path(ref.path).name} ({'; '.join(extra)})"


def summary_html(summary, title: str) -> str:
    """A :func:`landclass_ui.training.summarize_training` table as a small HTML table (one row per class:
    features, outside the image, on nodata, without pixel, used, training pixels), with a total row."""
    import pandas as pd

    checked = len(summary) and not summary["used"].isna().any()
    heads = ["Class", "Features"] + (["Outside image", "On nodata", "No pixel", "Used", "Pixels"] if checked else [])
    keys = ["features"] + (["outside", "nodata", "no_pixel", "used", "pixels"] if checked else [])

    def cells(values, tag="td"):
        return "".join(f"<{tag} style='text-align:right;padding:0 4px'>{v}</{tag}>" for v in values)

    rows = "".join(
        f"<tr class='landclass-summary-row' data-class='{html.escape(str(r['class']), quote=True)}'>"
        f"<td>{html.escape(str(r['class']))}</td>{cells(int(r[k]) for k in keys)}</tr>"
        for _, r in summary.iterrows())
    total = (f"<tr><td><i>total</i></td>{cells(int(pd.to_numeric(summary[k]).sum()) for k in keys)}</tr>"
             if len(summary) > 1 else "")
    note = "" if checked else "<div><small>No image open: not checked against the image.</small></div>"
    return (f"<div class='landclass-summary-title'><b>{html.escape(title)}</b></div>"
            f"<table class='landclass-summary'><tr>{''.join(f'<th>{h}</th>' for h in heads)}</tr>{rows}{total}"
            f"</table>{note}")


def add_point(recipe: Recipe, lon: float, lat: float, value: int) -> None:
    """Append a collected point (EPSG:4326 degrees, legend value)."""
    _points_ref(recipe).points.append({"x": round(float(lon), 7), "y": round(float(lat), 7), "class": int(value)})


class TrainingPanel:
    """Training data of the recipe: collected points, training files, points sampled from a classification map
    and training data imported from another recipe."""

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
        #: Training files the last training left out, ``{path: reason}``, and the pixels per class of those it
        #: used, ``{path: {class: pixels}}`` (see :meth:`flag_files`).
        self.broken: dict[str, str] = {}
        self.file_counts: dict[str, dict[str, int]] = {}
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
        # --- training file: path, class field, row filter; for a CSV, its coordinate columns
        self.file_path = W.Text(placeholder="polygons.geojson / points.csv", description="File",
                                layout=W.Layout(width="300px"))
        self.file_path.observe(lambda _: self._show_csv_columns(), "value")  # reads a CSV's header once it exists
        self.layer = W.Dropdown(description="Layer", options=[], layout=W.Layout(width="300px", display="none"),
                                tooltip="the layer of a GeoPackage (or other multi-layer file) holding the samples")
        self.layer.add_class("landclass-training-layer")
        self.file_path.observe(lambda _: self._show_layers(), "value")
        self.class_field = W.Text(value="class", description="Class field", layout=W.Layout(width="300px"))
        self.filter = W.Text(placeholder='e.g. confidence > 0.8 and editor != "bot"', description="Filter",
                             tooltip="keep only the rows for which this is true (pandas query syntax; names with "
                                     "spaces in `backquotes`); empty: every row",
                             layout=W.Layout(width="300px"))
        self.filter.add_class("landclass-training-filter")
        self.x_column = W.Text(placeholder="auto", description="X (lon)", layout=W.Layout(width="150px"))
        self.y_column = W.Text(placeholder="auto", description="Y (lat)", layout=W.Layout(width="150px"))
        self.geometry_column = W.Text(placeholder="auto", description="Geometry", layout=W.Layout(width="300px"),
                                      tooltip="a column of GeoJSON or WKT geometries (EPSG:4326) instead of X/Y")
        self.csv_columns = W.HTML()
        self.csv_box = W.VBox([self.csv_columns, W.HBox([self.x_column, self.y_column]), self.geometry_column],
                              layout=W.Layout(display="none"))
        self.csv_box.add_class("landclass-csv-columns")
        self.load_button = W.Button(description="Load training file", icon="upload")
        self.load_button.on_click(lambda _: guarded(self.message, self.load_file))
        # --- sample a classification map (SEPAL's "Sample classification")
        self.map_path = W.Text(placeholder="classification.tif", description="Map", layout=W.Layout(width="300px"))
        self.per_class = W.BoundedIntText(value=DEFAULT_SAMPLES_PER_CLASS, min=1, max=10_000_000,
                                          description="Per class", layout=W.Layout(width="180px"))
        self.map_scale = W.Text(placeholder="map's pixels", description="Scale (m)", layout=W.Layout(width="180px"),
                                tooltip="metres between sample points (SEPAL's scale to sample in); empty: every "
                                        "pixel of the map may be drawn")
        self.map_band = W.BoundedIntText(value=1, min=1, max=10_000, description="Band", layout=W.Layout(width="180px"))
        self.map_unknown = W.Dropdown(options=[("ignore", "ignore"), ("default class", "default")], value="ignore",
                                      description="Other values", layout=W.Layout(width="300px"),
                                      tooltip="map values that are no legend class: left out, or sampled as the "
                                              "default class")
        self.map_default = W.Dropdown(description="Default class", layout=W.Layout(width="300px"))
        self.preview_button = W.Button(description="Preview samples", icon="eye")
        self.preview_button.add_class("landclass-sample-preview")
        self.preview_button.on_click(lambda _: guarded(self.message, self.preview_samples))
        self.sample_preview = W.VBox()
        self.sample_preview.add_class("landclass-sample-table")
        self._preview: dict | None = None
        self._sample_counts: dict[int, W.BoundedIntText] = {}
        sample_box = W.VBox([self.map_path, W.HBox([self.per_class, self.map_scale]), self.map_band,
                             self.map_unknown, self.map_default, self.preview_button, self.sample_preview])
        # --- import the training data of another recipe
        self.recipe_choice = W.Dropdown(description="Recipe", layout=W.Layout(width="300px"))
        self.recipe_path = W.Text(placeholder="or a recipe .json path", description="Path",
                                  layout=W.Layout(width="300px"))
        self.import_button = W.Button(description="Import training", icon="download")
        self.import_button.add_class("landclass-import-recipe")
        self.import_button.on_click(lambda _: guarded(self.message, self.import_recipe))
        import_box = W.VBox([self.recipe_choice, self.recipe_path, self.import_button])
        self.sources = W.Accordion(children=[sample_box, import_box])
        self.sources.set_title(0, "Sample a classification map")
        self.sources.set_title(1, "Import training from recipe")
        self.sources.selected_index = None
        self.sources.add_class("landclass-training-sources")
        self.files = W.HTML()
        self.file_buttons = W.VBox()  # one "Remove" button per training file or sampled/imported set of points
        self.file_buttons.add_class("landclass-training-files")
        self.dialog = W.VBox()
        self.dialog.add_class("landclass-match-dialog")
        #: The summary of the last import: per class, features, outside the image, on nodata, used.
        self.summary = W.HTML()
        self.summary.add_class("landclass-training-summary")
        self.last_summary = None  #: the summary table (:func:`summarize_training`) of the last import
        self.message = Message()
        self.widget = W.VBox([
            self.chooser, self.counts,
            W.HBox([self.undo_button, self.export_button, self.clear_button]), self.confirm,
            self.selection, W.HBox([self.relabel_button, self.delete_button]),
            W.HTML("<b>Training files</b>"), self.file_path, self.layer, self.class_field, self.filter, self.csv_box,
            self.load_button, self.sources, self.dialog, self.summary,
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
        default = self.map_default.value
        if list(self.map_default.options) != options:
            self.map_default.options = options
        self.map_default.value = default if default in values else (values[0] if values else None)
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
        listed = _listed(recipe)
        self.files.value = "<br>".join(html.escape(_describe(t)) + self._flag(t) for t in listed)
        buttons = []
        for i, t in enumerate(listed):
            name = Path(t.path).name if t.kind == "file" else t.source
            b = W.Button(description=f"Remove {name}", icon="times", layout=W.Layout(width="300px"),
                         tooltip="take this training set out of the training data (Undo brings it back)")
            b.add_class("landclass-remove-file" if t.kind == "file" else "landclass-remove-set")
            b.on_click(lambda _, i=i: self.remove_set(i))
            buttons.append(b)
        self.file_buttons.children = tuple(buttons)
        self.undo_button.disabled = not self.store.can_undo
        self._list_recipes()

    def flag_files(self, broken: dict[str, str], counts: dict[str, dict[str, int]] | None = None) -> None:
        """Mark the training files the last training left out (``{path: reason}``, from
        :attr:`landclass_ui.live.LiveClassifier.broken`) in the list of files, and show beside each file the
        training pixels per class it gave (``{path: {class name: pixels}}``,
        :attr:`~landclass_ui.live.LiveClassifier.file_counts`)."""
        counts = dict(counts or {})
        if broken != self.broken or counts != self.file_counts:
            self.broken, self.file_counts = dict(broken), counts
            self.refresh()

    def _flag(self, ref: TrainingRef) -> str:
        """After a listed file: a red note when it is not found or was left out of training; else its training
        pixels per class, when known."""
        if ref.kind != "file":
            return ""
        why = self.broken.get(ref.path) or (None if os.path.exists(ref.path) else "not found")
        if not why:
            counts = self.file_counts.get(ref.path)
            if not counts:
                return ""
            text = ", ".join(f"{name} {n:,}" for name, n in counts.items())
            return (f"<div class='landclass-file-counts' style='margin-left:1em'><small>training pixels: "
                    f"{html.escape(text)}</small></div>")
        return (f" <span class='landclass-file-broken' style='color:#b00020'>&#9888; left out of training: "
                f"{html.escape(why)}</span>")

    def _list_recipes(self) -> None:
        """The saved recipes of the work folder (``<workdir>/recipes/*.json``) but the open one, newest first."""
        folder = self.workdir / "recipes"
        own = safe_file_name(self.store.recipe.name)
        files = sorted(folder.glob("*.json"), key=lambda q: q.stat().st_mtime, reverse=True) if folder.is_dir() else []
        options = [("saved recipes ...", "")] + [(q.stem, str(q)) for q in files if q.stem != own]
        if list(self.recipe_choice.options) != options:
            current = self.recipe_choice.value
            self.recipe_choice.options = options
            self.recipe_choice.value = current if current in [v for _, v in options] else ""

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

    def _show_csv_columns(self) -> None:
        """For a CSV path, show the X/Y and geometry column fields with the columns found (placeholders say what
        is detected); hide them for other files."""
        path = os.path.abspath(os.path.expanduser(self.file_path.value.strip()))
        if not is_csv(path):
            self.csv_box.layout.display = "none"
            return
        self.csv_box.layout.display = "flex"
        try:
            if not os.path.isfile(path):  # still being typed
                raise FileNotFoundError(path)
            layout = csv_layout(path)
        except Exception:  # not there yet, unreadable: Load says why
            self.csv_columns.value = ""
            for w in (self.x_column, self.y_column, self.geometry_column):
                w.placeholder = "auto"
            return
        self.csv_columns.value = (f"<small>{layout.rows} row(s); columns: "
                                  f"{html.escape(', '.join(layout.columns))}</small>")
        self.x_column.placeholder = f"auto: {layout.x}" if layout.x and not layout.geometry else "auto"
        self.y_column.placeholder = f"auto: {layout.y}" if layout.y and not layout.geometry else "auto"
        self.geometry_column.placeholder = f"auto: {layout.geometry}" if layout.geometry else "auto"
        if layout.class_field and self.class_field.value.strip() not in layout.columns:
            self.class_field.value = layout.class_field

    def _show_layers(self) -> None:
        """For a file with several layers (a GeoPackage), a layer dropdown (the first chosen); hidden else."""
        path = os.path.abspath(os.path.expanduser(self.file_path.value.strip()))
        layers = []
        if os.path.isfile(path) and not is_csv(path):
            try:
                import pyogrio

                layers = [str(name) for name, _ in pyogrio.list_layers(path)]
            except Exception:  # not a vector file (yet): Load says why
                layers = []
        self.layer.options = layers
        self.layer.layout.display = "flex" if len(layers) > 1 else "none"

    def _show_summary(self, frame, title: str) -> None:
        """The summary table of what was just imported (per class: features, outside the image, on nodata,
        used), against the open image when there is one."""
        legend = Legend.from_list(self.store.recipe.legend) if self.store.recipe.legend else None
        table = summarize_training(frame, self.image(), legend)
        self.summary.value = summary_html(table, title)
        self.last_summary = table
        return table

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

    # --- training files ------------------------------------------------------------------------------------

    def _file_spec(self) -> dict:
        """The training file as the panel describes it: path (absolute: the recipe outlives the cwd), class field,
        filter and, for a CSV, the coordinate columns given (empty fields: detected)."""
        path = os.path.abspath(os.path.expanduser(self.file_path.value.strip()))
        csv_file = is_csv(path)
        column = lambda w: (w.value.strip() or None) if csv_file else None
        layer = self.layer.value if len(self.layer.options) > 1 and not csv_file else None
        return {"path": path, "class_field": self.class_field.value.strip() or None, "layer": layer,
                "filter": self.filter.value.strip() or None, "x": column(self.x_column), "y": column(self.y_column),
                "geometry": column(self.geometry_column)}

    def load_file(self) -> None:
        """Load the training file named in the panel (with its row filter and, for a CSV, its coordinate
        columns).

        When the legend is empty or untouched (the first-run legend, used by no training data), the legend is
        built from the file's classes (:meth:`Legend.from_labels`: sorted names, values 1..n, the file's
        ``color`` column or a qualitative palette). When the file has classes the legend lacks, a dialog lists
        them and offers, for each, *add to legend*, *map to* a legend class or *ignore*. After the import, a
        summary lists per class the features and those outside the image or on nodata (not used); a file none of
        whose features reaches a valid pixel of the image is refused (:func:`landclass_ui.training.check_usable`).
        """
        self.dialog.children = ()
        spec = self._file_spec()
        path, field = spec["path"], spec["class_field"]
        frame = read_training(path, field, layer=spec["layer"], filter=spec["filter"], x=spec["x"], y=spec["y"],
                              geometry=spec["geometry"])  # raises a clear error for a bad file, field or filter
        stack = self.image()
        if stack is not None:  # a file of another area, or all on nodata, is not taken into the recipe
            check_usable(frame, stack)
        labels = list(frame["label"])
        recipe = self.store.recipe
        if not recipe.legend:
            self._use_file_legend(spec, frame)
            return
        legend = Legend.from_list(recipe.legend)
        name = Path(path).name
        if self._untouched(recipe) and not match_labels(labels, legend).complete:
            self._use_file_legend(spec, frame)
            return
        match = match_labels(labels, legend)
        if match.complete:
            self.store.edit("load training file", lambda r: r.training.append(TrainingRef("file", **spec)))
            note = f"; legend classes not in the file: {', '.join(match.absent)}" if match.absent else ""
            classes = f"{len(match.known)} class{'' if len(match.known) == 1 else 'es'}"
            self._loaded(frame, name, f"loaded {len(frame)} features of {classes} from {name}{note}")
            return
        self._ask(name, match, legend, lambda choices: self._apply(spec, frame, choices),
                  (lambda: self._use_file_legend(spec, frame)) if not self._legend_in_use() else None,
                  what="file", replace_label="Use the file's classes")

    def _loaded(self, frame, name: str, text: str) -> None:
        """After an import: the summary table, and the message with what is not used."""
        table = self._show_summary(frame, f"Summary of {name}")
        line = summary_text(table)
        unused = "not used" in line
        self.message.show(text + (f"; {line.split('; ', 1)[1]}" if unused else ""), "info" if unused else "ok")

    def remove_file(self, index: int) -> None:
        """Take the ``index``-th training file (in the order listed) out of the recipe; the legend stays."""
        files = [t for t in self.store.recipe.training if t.kind == "file"]
        if not 0 <= index < len(files):
            return
        self.remove_set(_listed(self.store.recipe).index(files[index]))

    def remove_set(self, index: int) -> None:
        """Take the ``index``-th listed training set (a file, or points sampled or imported) out of the recipe;
        the legend stays."""
        listed = _listed(self.store.recipe)
        if not 0 <= index < len(listed):
            return
        ref = listed[index]
        name = Path(ref.path).name if ref.kind == "file" else ref.source

        def change(r):
            r.training.remove(_listed(r)[index])
        self.store.edit("remove training file" if ref.kind == "file" else "remove training points", change)
        self.message.show(f"removed {name} from the training data (Undo brings it back)", "ok")

    def _untouched(self, recipe: Recipe) -> bool:
        """The first-run legend, used by no training data."""
        return not self._legend_in_use() and self.default_legend is not None and recipe.legend == self.default_legend

    def _legend_in_use(self) -> bool:
        return any(t.kind == "file" or t.points for t in self.store.recipe.training)

    def _use_file_legend(self, spec: dict, frame) -> None:
        legend = Legend.from_labels(list(frame["label"]), legend_colors(frame))

        def change(r):
            r.legend = legend.to_list()
            r.training.append(TrainingRef("file", **spec))
        replaced = bool(self.store.recipe.legend)
        self.store.edit("load training file", change)
        self.dialog.children = ()
        self._loaded(frame, Path(spec["path"]).name,
                     f"loaded {len(frame)} features from {Path(spec['path']).name}; the legend "
                     f"{'was replaced by' if replaced else 'was built from'} its {len(legend)} classes: "
                     f"{', '.join(legend.names)}" + (" (Undo brings the previous legend back)" if replaced else ""))

    def _ask(self, name: str, match: LabelMatch, legend: Legend, apply: Callable[[dict], None],
             replace: Callable[[], None] | None, *, what: str, replace_label: str) -> None:
        """The one dialog for training data whose classes are not all in the legend: for each, *add to legend*,
        *ignore* or *map to* a legend class; ``apply(choices)`` on Apply, ``replace()`` (when given) replaces the
        legend by the data's classes."""
        options = [("add to legend", _ADD), ("ignore", _IGNORE)] + [
            (f"map to {e.name}", e.name) for e in legend]
        choices = {}
        rows = []
        for i, label in enumerate(match.unknown):
            dd = W.Dropdown(options=options, value=_ADD, layout=W.Layout(width="200px"))
            dd.add_class(f"landclass-match-{i}")
            choices[label] = dd
            rows.append(W.HBox([W.HTML(f"<b>{html.escape(label)}</b>", layout=W.Layout(width="120px")), dd]))
        apply_button = W.Button(description="Apply", icon="check", button_style="primary")
        apply_button.add_class("landclass-match-apply")
        cancel = W.Button(description="Cancel")
        cancel.add_class("landclass-match-cancel")
        apply_button.on_click(lambda _: guarded(self.message, apply, {k: d.value for k, d in choices.items()}))
        cancel.on_click(lambda _: self._cancel(what))
        buttons = [apply_button]
        if replace is not None:
            button = W.Button(description=replace_label, icon="exchange",
                              tooltip=f"no training data use the current legend: replace it by the {what}'s classes")
            button.add_class("landclass-match-replace")
            button.on_click(lambda _: guarded(self.message, replace))
            buttons.append(button)
        buttons.append(cancel)
        absent = (f"<br><small>Legend classes not in the {what}: {html.escape(', '.join(match.absent))}</small>"
                  if match.absent else "")
        self.dialog.children = (
            W.HTML(f"{len(match.unknown)} class(es) of <b>{html.escape(name)}</b> are not in the "
                   f"legend; choose for each:{absent}"),
            *rows, W.HBox(buttons))
        self.message.show(f"{name}: classes not in the legend: {', '.join(match.unknown)}; choose "
                          "what to do with them above", "info")

    def _cancel(self, what: str = "file") -> None:
        self.dialog.children = ()
        self.message.show("training file not loaded" if what == "file" else f"training {what} not imported", "info")

    @staticmethod
    def _split_choices(choices: dict[str, str]) -> tuple[list[str], dict[str, str | None]]:
        add = [label for label, c in choices.items() if c == _ADD]
        remap = {label: (None if c == _IGNORE else c) for label, c in choices.items() if c != _ADD}
        return add, remap

    @staticmethod
    def _choice_note(add: list[str], remap: dict[str, str | None]) -> str:
        parts = [f"added to the legend: {', '.join(add)}"] if add else []
        parts += [f"{k} -> {v}" for k, v in remap.items() if v is not None]
        ignored = [k for k, v in remap.items() if v is None]
        if ignored:
            parts.append(f"ignored: {', '.join(ignored)}")
        return "; ".join(parts)

    def _apply(self, spec: dict, frame, choices: dict[str, str]) -> None:
        add, remap = self._split_choices(choices)
        mapped = apply_remap(frame, remap)  # the engine's check: TrainingDataError when every class is ignored
        colors = legend_colors(frame)

        def change(r):
            if add:
                r.legend = Legend.from_list(r.legend or []).with_classes(add, colors).to_list()
            r.training.append(TrainingRef("file", **spec, remap=remap))
        self.store.edit("load training file", change)
        self.dialog.children = ()
        self._loaded(mapped, Path(spec["path"]).name,
                     f"loaded {Path(spec['path']).name}; {self._choice_note(add, remap)}")

    # --- sample a classification map -------------------------------------------------------------------------

    def _sample_params(self) -> dict:
        path = os.path.abspath(os.path.expanduser(self.map_path.value.strip()))
        if not self.map_path.value.strip():
            raise TrainingDataError("type the path of the classification map to sample")
        text = self.map_scale.value.strip()
        try:
            scale = float(text) if text else None
        except ValueError:
            raise TrainingDataError(f"the scale is a number of metres (or empty: the map's pixels), not "
                                    f"{text!r}") from None
        unknown = self.map_unknown.value
        stack = self.image()  # points only where the image is (SEPAL samples within the recipe's area)
        within = None if stack is None else (*stack.grid.bounds, stack.grid.crs)
        return {"path": path, "scale": scale, "band": int(self.map_band.value), "unknown": unknown,
                "default_class": self.map_default.value if unknown == "default" else None, "seed": 0,
                "within": within}

    def _map_legend(self, path: str, band: int) -> tuple[Legend, bool]:
        """The legend the map is sampled with, and whether it replaces the recipe's (empty or untouched)."""
        recipe = self.store.recipe
        if recipe.legend and not self._untouched(recipe):
            return Legend.from_list(recipe.legend), False
        return class_map_legend(path, band), True

    def preview_samples(self) -> None:
        """Draw the samples of the map (SEPAL's sampling summary): per legend class, the map's pixels of that
        class and the points drawn, each count editable (- / + buttons or typed) before **Add samples**."""
        import pandas as pd

        params = self._sample_params()
        legend, replaces = self._map_legend(params["path"], params["band"])
        note = ""
        if params["unknown"] == "default" and replaces:
            params["default_class"] = None  # the recipe's default class is no class of the map's own legend
            params["unknown"] = "ignore"
            note = "; the legend is the map's own: values outside it are ignored"
        n = int(self.per_class.value)
        frame = sample_class_map(params["path"], legend, per_class=n, **{k: v for k, v in params.items()
                                                                            if k != "path"})
        counts = pd.DataFrame(frame.attrs["counts"])
        self._preview = {"params": params, "legend": legend, "replaces": replaces, "frame": frame, "per_class": n}
        step = max(1, n // 10)
        rows = []
        self._sample_counts = {}
        for r in counts.itertuples():
            box = W.BoundedIntText(value=int(r.sampled), min=0, max=int(r.cells), layout=W.Layout(width="90px"))
            box.add_class(f"landclass-sample-count-{r.value}")
            minus = W.Button(description="-", layout=W.Layout(width="32px"), tooltip=f"{step} fewer")
            plus = W.Button(description="+", layout=W.Layout(width="32px"), tooltip=f"{step} more")
            minus.on_click(lambda _, b=box: setattr(b, "value", max(b.min, b.value - step)))
            plus.on_click(lambda _, b=box: setattr(b, "value", min(b.max, b.value + step)))
            self._sample_counts[int(r.value)] = box
            rows.append(W.HBox([W.HTML(f"{html.escape(str(r[2]))}", layout=W.Layout(width="120px")),
                                W.HTML(f"<small>{int(r.cells)} px</small>", layout=W.Layout(width="80px")),
                                minus, box, plus]))
        add = W.Button(description="Add samples", icon="plus", button_style="primary")
        add.add_class("landclass-sample-add")
        add.on_click(lambda _: guarded(self.message, self.add_samples))
        cancel = W.Button(description="Cancel")
        cancel.on_click(lambda _: self._cancel_samples())
        notes = "".join(f"<div><small>{html.escape(m)}</small></div>" for m in frame.attrs["messages"])
        new_legend = (f"<div><small>The legend will be the map's: {html.escape(', '.join(legend.names))}</small></div>"
                      if replaces else "")
        self.sample_preview.children = (
            W.HTML(f"<b>{len(frame)} point(s) drawn from {html.escape(frame.attrs['source'])}</b> (class, pixels "
                   f"of the map, points){notes}{new_legend}"),
            *rows, W.HBox([add, cancel]))
        self.message.show(f"{len(frame)} sample point(s) drawn from {frame.attrs['source']}{note}; change the counts "
                          "per class if needed and click Add samples", "info")

    def _cancel_samples(self) -> None:
        self._preview = None
        self.sample_preview.children = ()
        self.message.show("no samples added", "info")

    def add_samples(self) -> None:
        """Add the previewed samples, with the counts per class as set, as one set of points of the recipe
        (``source`` says which map and how; the points are kept in the recipe, so they are the same when it is
        reopened, whatever becomes of the map)."""
        preview = self._preview
        if preview is None:
            return
        params, legend, frame = preview["params"], preview["legend"], preview["frame"]
        wanted = {v: int(box.value) for v, box in self._sample_counts.items()}
        drawn = frame.groupby("class").size().to_dict()
        if any(n > drawn.get(v, 0) for v, n in wanted.items()):  # more than drawn: draw again (a superset)
            frame = sample_class_map(params["path"], legend, per_class=wanted,
                                     **{k: v for k, v in params.items() if k != "path"})
        parts = [frame[frame["class"] == v].head(n) for v, n in wanted.items() if n]
        if not parts:
            raise TrainingDataError("every class is set to 0 samples; ask for at least one")
        import pandas as pd

        chosen = pd.concat(parts)
        points = points_records(chosen)
        scale = f"scale {params['scale']:g} m" if params["scale"] is not None else "map pixels"
        source = (f"sampled from {Path(params['path']).name} (band {params['band']}, {scale}, "
                  f"{preview['per_class']} per class, seed {params['seed']})")
        replaces = preview["replaces"]

        def change(r):
            if replaces:
                r.legend = legend.to_list()
            r.training.append(TrainingRef("points", points=points, source=source))
        self.store.edit("add sampled points", change)
        self._preview = None
        self.sample_preview.children = ()
        counts = ", ".join(f"{legend.name_of(v)} {n}" for v, n in wanted.items() if n)
        self._loaded(points_frame(points), Path(params["path"]).name,
                     f"added {len(points)} points sampled from {Path(params['path']).name}: {counts}")

    # --- training data of another recipe -------------------------------------------------------------------

    def import_recipe(self) -> None:
        """Import the training sets of another saved recipe (the path typed, else the recipe chosen in the list
        of the work folder's ``recipes/``): its files and points, its classes matched to the legend by name, the
        unknown ones through the same dialog as a file's."""
        typed = self.recipe_path.value.strip()
        path = os.path.abspath(os.path.expanduser(typed)) if typed else self.recipe_choice.value
        if not path:
            raise RecipeError("choose a saved recipe or type the path of a recipe .json file")
        self.dialog.children = ()
        imported = recipe_training(path)
        recipe = self.store.recipe
        name = f"recipe {imported.name}"
        if not recipe.legend or self._untouched(recipe):
            self._use_recipe_legend(imported)
            return
        legend = Legend.from_list(recipe.legend)
        match = match_labels(imported.classes, legend)
        if match.complete:
            self._add_imported(imported, legend.to_list(), imported.adopt(legend), f"imported the training data of "
                               f"{name}")
            return
        self._ask(name, match, legend, lambda choices: self._apply_recipe(imported, choices),
                  (lambda: self._use_recipe_legend(imported)) if not self._legend_in_use() else None,
                  what="recipe", replace_label="Use the recipe's classes")

    def _use_recipe_legend(self, imported) -> None:
        legend = imported.legend
        if legend is None or not all(legend.contains(c) for c in imported.classes):
            legend = Legend.from_labels(imported.classes)
        replaced = bool(self.store.recipe.legend)
        self._add_imported(imported, legend.to_list(), imported.adopt(legend),
                           f"imported the training data of recipe {imported.name}; the legend "
                           f"{'was replaced by' if replaced else 'is'} its {len(legend)} classes: "
                           f"{', '.join(legend.names)}")

    def _apply_recipe(self, imported, choices: dict[str, str]) -> None:
        add, remap = self._split_choices(choices)
        legend = Legend.from_list(self.store.recipe.legend)
        if add:
            colors = {normalize_name(e.name): e.color for e in imported.legend} if imported.legend else {}
            legend = legend.with_classes(add, colors)
        refs = imported.adopt(legend, remap)  # TrainingDataError when every class is ignored
        self._add_imported(imported, legend.to_list(), refs, f"imported the training data of recipe "
                           f"{imported.name}; {self._choice_note(add, remap)}")

    def _add_imported(self, imported, legend: list[dict], refs: list[TrainingRef], text: str) -> None:
        import geopandas as gpd
        import pandas as pd

        def change(r):
            r.legend = legend
            r.training.extend(refs)
        self.store.edit("import training from recipe", change)
        self.dialog.children = ()
        frames = [read_ref(ref, crs="EPSG:4326") for ref in refs]
        frame = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs="EPSG:4326")
        self._loaded(frame, f"recipe {imported.name}", f"{text} ({len(refs)} training set(s), {len(frame)} features)")
