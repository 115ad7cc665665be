"""LEG panel: the legend table (value, name, colour), add/remove class, a palette for all colours at once, CSV
import (with a preview of the columns' roles, as SEPAL's "Import from CSV" asks for them) and export, QGIS style
and iota2 import, validation that names the row at fault."""
from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as W

from ..errors import LegendError
from ..legend import (
    DEFAULT_COLORS,
    PALETTES,
    ROWS_HINT,
    Legend,
    LegendColumns,
    LegendTable,
    check_rows,
    color_of,
    guess_columns,
    legend_kind,
    normalize_color,
    palette_colors,
    palette_size,
    read_table,
)
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["LegendPanel", "ROLE_OPTIONS"]

#: The choices of a column's role in the import preview: (label, role of :data:`landclass_ui.legend.ROLES`).
ROLE_OPTIONS = [("value", "value"), ("name", "name"), ("colour (hex)", "color"), ("red", "red"),
                ("green", "green"), ("blue", "blue"), ("ignore", "ignore")]

_ROLE_LABELS = {role: label for label, role in ROLE_OPTIONS}

#: Rows of the file shown in the import preview.
PREVIEW_ROWS = 8

_BAD_ROW = "1px solid #b00020"
_TABLE_STYLE = ("<style>.landclass-leg-preview-table{border-collapse:collapse}"
                ".landclass-leg-preview-table td,.landclass-leg-preview-table th"
                "{padding:1px 6px;text-align:left;border-bottom:1px solid #eee}</style>")


def _swatch(color: str | None) -> str:
    if color is None:
        return '<span style="color:#b00020">?</span>'
    return (f'<span class="landclass-swatch" style="display:inline-block;width:14px;height:14px;'
            f'vertical-align:middle;border:1px solid #888;background:{color}"></span> {color}')


class LegendPanel:
    """Edits ``recipe.legend``. Edits are kept as a draft while invalid (the problems are listed, each naming its
    row, and the rows at fault are outlined; rows are numbered) and reach the recipe as soon as the draft is valid.

    Importing a CSV: entering its path shows a preview: one dropdown per column of the file with its guessed role
    (:func:`~landclass_ui.legend.guess_columns`), the first rows with the colour each would get, and Accept /
    Cancel. Giving a column a role another column has swaps the two. *Accept* (or *Import*) replaces the legend
    with the roles shown; *Cancel* changes nothing. QGIS styles and iota2's nomenclature are imported as they
    are (*Import*)."""

    def __init__(self, store: RecipeStore, workdir: str):
        self.store = store
        self.workdir = Path(workdir)
        self.rows = W.VBox()
        self.message = Message()
        self.add_button = W.Button(description="Add class", icon="plus")
        self.add_button.on_click(lambda _: self.add_class())
        self.export_button = W.Button(description="Export CSV", icon="download")
        self.export_button.on_click(lambda _: guarded(self.message, self.export_csv))
        # palettes: every class coloured at once, in value order
        self.palette = W.Dropdown(options=self._palette_options(), value="tab10", description="Palette",
                                  layout=W.Layout(width="240px"))
        self.palette_button = W.Button(description="Apply palette", icon="paint-brush",
                                       tooltip="colour all classes, in value order, with this matplotlib palette")
        self.palette_button.on_click(lambda _: guarded(self.message, self.apply_palette))
        # import: a CSV is previewed once its path is entered (Enter or leaving the field)
        self.csv_path = W.Text(placeholder="legend.csv / style.qml / nomenclature.txt", description="File",
                               continuous_update=False, layout=W.Layout(width="240px"),
                               tooltip="a legend CSV (SEPAL), a QGIS style (.qml) or iota2's nomenclature.txt; "
                                       "a CSV's columns are shown for checking once the path is entered")
        self.csv_path.observe(self._path_changed, "value")
        self.import_button = W.Button(description="Import", icon="upload", layout=W.Layout(width="90px"),
                                      tooltip="replace the legend with the file's (a CSV: with the roles shown)")
        self.import_button.on_click(lambda _: guarded(self.message, self.import_csv, self.csv_path.value))
        # the preview of a CSV import
        self.preview_title = W.HTML()
        self.role_choices: list[W.Dropdown] = []
        self.roles_box = W.HBox(layout=W.Layout(flex_flow="row wrap"))
        self.preview_table = W.HTML()
        self.accept_button = W.Button(description="Accept", icon="check", button_style="success",
                                      tooltip="replace the legend with the classes shown")
        self.accept_button.on_click(lambda _: guarded(self.message, self.accept_preview))
        self.cancel_button = W.Button(description="Cancel", icon="times", tooltip="keep the legend as it is")
        self.cancel_button.on_click(lambda _: self.cancel_preview())
        self.preview = W.VBox([self.preview_title, self.roles_box, self.preview_table,
                               W.HBox([self.accept_button, self.cancel_button])],
                              layout=W.Layout(display="none", border="1px solid #ccc", padding="4px"))
        self.preview.add_class("landclass-leg-preview")
        self._table: LegendTable | None = None
        self._preview_path: str | None = None
        self._syncing = False

        header = W.HTML("<b>Row &nbsp; Value &nbsp; Name &nbsp; Colour</b>")
        self.widget = W.VBox([header, self.rows, W.HBox([self.add_button, self.export_button]),
                              W.HBox([self.palette, self.palette_button]),
                              W.HBox([self.csv_path, self.import_button]), self.preview, self.message])
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
            # the row's number, as the messages name rows
            value = W.IntText(value=int(entry["value"]), description=str(i + 1), style={"description_width": "22px"},
                              layout=W.Layout(width="86px"))
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

    def _mark_rows(self, bad: set[int]) -> None:
        """Outline the rows (numbered from 1) at fault, and only those."""
        for i, row in enumerate(self.rows.children, start=1):
            row.layout.border = _BAD_ROW if i in bad else None

    # --- view -> model -----------------------------------------------------------------------------------

    def _set(self, index: int, key: str, value) -> None:
        self.draft[index][key] = value
        self._apply("edit legend")

    def _apply(self, label: str) -> bool:
        """Save the draft when it makes a legend; else show its problems (each naming its row), change nothing."""
        entries, problems = check_rows(self.draft)
        if problems:
            self.message.show("; ".join(text for _, text in problems) + f"; {ROWS_HINT}", "error")
            self._mark_rows({number for number, _ in problems})
            return False
        if not entries:
            self.message.show("the legend has no class; add at least two", "error")
            return False
        used = self._used_values()
        missing = sorted(used - {e.value for e in entries})
        if missing:
            self.message.show(f"class value(s) {', '.join(map(str, missing))} have training points: relabel or "
                              "delete those points first", "error")
            self._mark_rows(set())
            return False
        legend = Legend(entries).to_list()
        self.message.clear()
        self._mark_rows(set())
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

    # --- palettes ----------------------------------------------------------------------------------------

    @staticmethod
    def _palette_options() -> list[tuple[str, str]]:
        options = []
        for name, kind in PALETTES.items():
            size = palette_size(name)
            options.append((f"{name} ({kind}, {size} colours)" if size else f"{name} ({kind})", name))
        return options

    def apply_palette(self, name: str | None = None) -> bool:
        """Colour every class of the draft with palette ``name`` (default: the one chosen), in value order.

        Raises
        ------
        LegendError
            The palette has fewer distinct colours than the legend has classes.
        """
        name = name or self.palette.value
        order = sorted(range(len(self.draft)), key=lambda i: int(self.draft[i]["value"]))
        colors = palette_colors(name, len(self.draft))
        before = [dict(d) for d in self.draft]
        for i, color in zip(order, colors):
            self.draft[i]["color"] = color
        if not self._apply(f"palette {name}"):
            self.draft = before
            return False
        self.message.show(f"coloured {len(colors)} classes with {name}", "ok")
        return True

    # --- import / export ---------------------------------------------------------------------------------

    def _path_changed(self, change) -> None:
        """A path entered: preview a CSV's columns; anything else waits for Import."""
        if self._table is not None:
            self.message.clear()
        self.close_preview()
        path = str(change["new"]).strip()
        p = Path(path)
        if not path or not p.is_file() or legend_kind(p) != "csv":
            return
        guarded(self.message, self.preview_csv, path)

    def preview_csv(self, path: str) -> None:
        """Show the columns of the CSV ``path`` with their guessed roles and its first rows.

        Raises
        ------
        LegendError
            The file cannot be read as a table.
        """
        table = read_table(path)
        columns = guess_columns(table)
        self._table, self._preview_path = table, path
        self.role_choices = []
        for i, name in enumerate(table.columns):
            choice = W.Dropdown(options=ROLE_OPTIONS, value=columns.role(i), description=name,
                                tooltip=f"column {i + 1} of {Path(path).name}",
                                style={"description_width": "initial"}, layout=W.Layout(width="auto"))
            choice.observe(lambda ch, i=i: self._role_changed(i, ch["old"], ch["new"]), "value")
            choice.add_class("landclass-leg-role")
            self.role_choices.append(choice)
        self.roles_box.children = self.role_choices
        header = "its header" if table.header else "no header: the columns told by their content"
        self.preview_title.value = (f"<b>{html.escape(Path(path).name)}</b> ({len(table.rows)} rows, {header}): "
                                    "check the role of each column and the colours, then Accept")
        self.preview.layout.display = "flex"
        self._render_preview()

    def preview_columns(self) -> LegendColumns:
        """The roles chosen in the preview."""
        return LegendColumns(tuple(c.value for c in self.role_choices))

    def _role_changed(self, index: int, old: str, new: str) -> None:
        if self._syncing:
            return
        if new != "ignore":  # one column per role: the column that had it takes this one's former role
            self._syncing = True
            try:
                for j, choice in enumerate(self.role_choices):
                    if j != index and choice.value == new:
                        choice.value = old
            finally:
                self._syncing = False
        self._render_preview()

    def _render_preview(self) -> None:
        """The first rows with the colour each gets under the chosen roles; the problems of the whole file in
        the message line, naming the rows (shaded in the table when shown)."""
        table = self._table
        if table is None:
            return
        columns = self.preview_columns()
        problems = columns.problems(table.ncols)
        raw = table.raw_rows(columns) if not problems else []
        row_problems = check_rows(raw, table.numbers)[1] if raw else []
        bad = {n for n, _ in row_problems}
        head = "".join(f"<th>{html.escape(c)}<br><i>{html.escape(_ROLE_LABELS[columns.role(i)])}</i></th>"
                       for i, c in enumerate(table.columns))
        lines = [f"<tr><th>row</th>{head}<th>colour</th></tr>"]
        for k, (number, cells) in enumerate(zip(table.numbers, table.rows)):
            if k >= PREVIEW_ROWS:
                break
            color = color_of(raw[k]["color"]) if raw else None
            style = ' style="background:#fde7ea"' if number in bad else ""
            tds = "".join(f'<td style="color:{"#999" if columns.role(i) == "ignore" else "inherit"}">'
                          f"{html.escape(c)}</td>" for i, c in enumerate(cells))
            lines.append(f"<tr{style}><td>{number}</td>{tds}<td>{_swatch(color)}</td></tr>")
        more = len(table.rows) - PREVIEW_ROWS
        foot = f"<div><i>and {more} more rows</i></div>" if more > 0 else ""
        self.preview_table.value = (_TABLE_STYLE + '<table class="landclass-leg-preview-table">' + "".join(lines)
                                    + "</table>" + foot)
        if problems:
            self.message.show(f"{Path(table.path).name}: {'; '.join(problems)}", "error")
        elif row_problems:
            shown = "; ".join(text for _, text in row_problems[:6])
            rest = f"; and {len(row_problems) - 6} more" if len(row_problems) > 6 else ""
            self.message.show(f"{Path(table.path).name}: {shown}{rest}; {ROWS_HINT}", "error")
        else:
            self.message.show(f"{len(table.rows)} classes with the roles {columns}; if a colour looks wrong, give "
                              "its columns other roles. Accept replaces the legend", "info")

    def close_preview(self) -> None:
        self._table, self._preview_path = None, None
        self.role_choices = []
        self.roles_box.children = ()
        self.preview_table.value = self.preview_title.value = ""
        self.preview.layout.display = "none"

    def cancel_preview(self) -> None:
        """Close the preview; the legend stays as it is."""
        self.close_preview()
        self.message.show("import cancelled: the legend is unchanged", "info")

    def accept_preview(self) -> bool:
        """Replace the legend with the previewed CSV read with the roles chosen (refused when a class with training
        points would go).

        Raises
        ------
        LegendError
            No preview, or roles or rows that do not make a legend (the rows named).
        """
        if self._table is None:
            raise LegendError("no legend CSV to accept: enter its path first")
        columns = self.preview_columns()
        legend = Legend.from_table(self._table, columns)
        if self._replace(legend, self._preview_path or self._table.path, f" (columns {columns})"):
            self.close_preview()
            return True
        return False

    def import_csv(self, path: str) -> None:
        """Import the legend file ``path``: a previewed CSV with the roles shown (:meth:`accept_preview`), any
        other file (QGIS style, iota2 nomenclature, a CSV not previewed) as :meth:`Legend.read` reads it."""
        path = path.strip()
        if self._table is not None and path == self._preview_path:
            self.accept_preview()
            return
        if not path:
            raise LegendError("enter the path of a legend file (CSV, QGIS style .qml or iota2 nomenclature.txt)")
        self._replace(Legend.read(path), path)

    def _replace(self, legend: Legend, path: str, how: str = "") -> bool:
        missing = sorted(self._used_values() - set(legend.values))
        if missing:
            self.message.show(f"{path} has no class {', '.join(map(str, missing))}, which training points use: "
                              "relabel or delete those points first, or add the class to the CSV", "error")
            return False
        self.store.edit("import legend", lambda r: setattr(r, "legend", legend.to_list()))
        self.message.show(f"imported {len(legend)} classes from {path}{how}", "ok")
        return True

    def export_csv(self) -> str:
        legend = Legend.from_list(self.store.recipe.legend or [])
        path = self.workdir / f"{self.store.recipe.name}_legend.csv"
        legend.to_csv(path)
        self.message.show(f"wrote {path}", "ok")
        return str(path)

