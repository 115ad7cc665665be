"""The legend: one integer value, one name and one colour per class.

Class values are the pixel values of the output map (uint8), so they lie in 0..254; 255 is the map's nodata.
Names are matched to training labels case-insensitively, ignoring surrounding spaces (:func:`normalize_name`).

CSV files follow SEPAL (the Classification recipe's LEG tab, "Import from CSV" and "Export as CSV":
https://docs.sepal.io/en/latest/cookbook/classification.html): export header ``color,value,label`` (hex
colours); import takes a value, a name and a colour given as one hex column or as three red, green, blue
columns (0-255), whatever the header calls them. As in SEPAL, the header only helps to guess the columns
(:func:`guess_columns`); the roles can be given instead (:func:`parse_columns`, :meth:`Legend.from_table`) and
the LEG panel shows the guess for confirmation. A legend also travels as a QGIS style (``.qml``, paletted
renderer) and as iota2's ``colorFile``/``nomenclature`` pair, both ways (:meth:`Legend.read` takes any of them).
Colours can be set all at once from a matplotlib colormap (:func:`palette_colors`, :meth:`Legend.with_palette`).
"""
from __future__ import annotations

import codecs
import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ._files import atomic_write_text
from .errors import LegendError

__all__ = ["LegendEntry", "Legend", "normalize_name", "NODATA_CLASS", "DEFAULT_COLORS", "CLASS_COLORS",
           "conventional_color", "LabelMatch", "match_labels", "ROLES", "LegendColumns", "LegendTable", "read_table",
           "guess_columns", "parse_columns", "check_rows", "ROWS_HINT", "color_of", "legend_kind", "PALETTES",
           "palette_colors", "palette_size"]

#: Value written in the class map where there is no classification (nodata, outside the image).
NODATA_CLASS = 255

#: Distinct colours handed out to classes in turn (matplotlib's "tab10", then "Dark2").
DEFAULT_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
)  # fmt: skip

#: Conventional colours for common land-cover class names, so that a legend built from a training file shows
#: water blue and forest green. Colours of ESA WorldCover 2021 (v200 Product User Manual, table of classes):
#: tree cover, shrubland, grassland, cropland, built-up, bare/sparse vegetation, snow and ice, permanent water
#: bodies, herbaceous wetland, mangroves, moss and lichen. A class name matches when one of its words begins with
#: a keyword.
CLASS_COLORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("water", "lake", "river", "sea", "ocean", "reservoir", "pond"), "#0064c8"),
    (("forest", "tree", "wood", "vegetation"), "#006400"),
    (("mangrove",), "#00cf75"),
    (("shrub", "bush", "scrub"), "#ffbb22"),
    (("grass", "pasture", "meadow", "savanna", "herb"), "#ffff4c"),
    (("crop", "farm", "agri", "arable", "field"), "#f096ff"),
    (("built", "urban", "village", "city", "settlement", "building", "road", "town", "artificial",
      "impervious"), "#fa0000"),
    (("bare", "soil", "sand", "rock", "desert", "cleared"), "#b4b4b4"),
    (("snow", "ice", "glacier"), "#f0f0f0"),
    (("wetland", "marsh", "swamp", "bog"), "#0096a0"),
    (("moss", "lichen"), "#fae6a0"),
)


def conventional_color(name: object) -> str | None:
    """The conventional colour (:data:`CLASS_COLORS`) of a class name, or None.

    >>> conventional_color("Lake"), conventional_color("Built Up"), conventional_color("fallen_dry")
    ('#0064c8', '#fa0000', None)
    """
    words = [w for w in re.split(r"[^a-z]+", str(name).lower()) if w]
    for keywords, color in CLASS_COLORS:
        if any(w.startswith(k) for w in words for k in keywords):
            return color
    return None


_HEX_RE = re.compile(r"^#?([0-9a-fA-F]{6})$")


def normalize_name(name: object) -> str:
    """The key a class name is matched by: text stripped of surrounding spaces and case-folded.

    >>> normalize_name(" Farm ") == normalize_name("FARM")
    True
    """
    return str(name).strip().casefold()


def normalize_color(color: object) -> str:
    """``'#RRGGBB'`` (lower case) from a hex string (with or without ``#``), a CSS/matplotlib colour name, or
    an ``(r, g, b)`` tuple of 0-255 integers.

    Raises
    ------
    LegendError
        If the colour cannot be understood.
    """
    if isinstance(color, (tuple, list)) and len(color) >= 3:
        try:
            r, g, b = (int(round(float(c))) for c in color[:3])
        except (TypeError, ValueError, OverflowError):
            raise LegendError(f"colour {list(color[:3])} is not three numbers 0-255 (r, g, b)") from None
        if not all(0 <= c <= 255 for c in (r, g, b)):
            raise LegendError(f"colour {tuple(color)} has a component outside 0-255")
        return f"#{r:02x}{g:02x}{b:02x}"
    text = str(color).strip()
    match = _HEX_RE.match(text)
    if match:
        return "#" + match.group(1).lower()
    import matplotlib.colors as mcolors

    try:
        return mcolors.to_hex(text.lower())
    except ValueError:
        raise LegendError(f"colour {text!r} is not a hex colour (#RRGGBB) or a colour name") from None


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``'#RRGGBB'`` -> ``(r, g, b)`` with 0-255 integers."""
    c = normalize_color(color)
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


@dataclass(frozen=True)
class LegendEntry:
    """One class: ``value`` (0-254, the pixel value in the map), ``name``, ``color`` (``'#rrggbb'``)."""

    value: int
    name: str
    color: str

    def to_dict(self) -> dict:
        return {"value": self.value, "name": self.name, "color": self.color}


class Legend:
    """An ordered, validated list of :class:`LegendEntry`.

    Raises
    ------
    LegendError
        On construction, for a duplicate value, duplicate colour, duplicate or empty name, a value outside
        0-254, or an unreadable colour.

    Examples
    --------
    >>> legend = Legend([LegendEntry(1, "water", "#0000ff"), LegendEntry(2, "forest", "#007f46")])
    >>> legend.value_of("Water ")
    1
    """

    def __init__(self, entries: Iterable[LegendEntry]):
        entries = [
            LegendEntry(int(e.value), str(e.name).strip(), normalize_color(e.color)) for e in entries
        ]
        problems = validate(entries)
        if problems:
            raise LegendError("; ".join(problems))
        self.entries: list[LegendEntry] = entries

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __eq__(self, other) -> bool:
        return isinstance(other, Legend) and self.entries == other.entries

    def __repr__(self) -> str:
        return f"Legend({self.entries!r})"

    @property
    def values(self) -> list[int]:
        return [e.value for e in self.entries]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def name_of(self, value: int) -> str:
        for e in self.entries:
            if e.value == value:
                return e.name
        raise LegendError(f"no class with value {value} in the legend ({self._summary()})")

    def value_of(self, label: object) -> int:
        """The value of a class given by name (matched by :func:`normalize_name`) or by value.

        Raises
        ------
        LegendError
            If no class matches (the message lists the legend).
        """
        key = normalize_name(label)
        for e in self.entries:
            if normalize_name(e.name) == key:
                return e.value
        if _is_int(label):
            value = int(float(label))
            if value in self.values:
                return value
        raise LegendError(
            f"class {str(label).strip()!r} of the training data is not in the legend ({self._summary()}); "
            "add it to the legend or fix the label"
        )

    def contains(self, label: object) -> bool:
        """True when :meth:`value_of` finds ``label``."""
        try:
            self.value_of(label)
        except LegendError:
            return False
        return True

    def with_classes(self, names: Sequence[str], colors: dict[str, str] | None = None) -> "Legend":
        """This legend plus classes ``names`` (values after the largest one, in the given order; colours from
        ``colors`` (normalized name -> colour) when free, else unused ones of :data:`DEFAULT_COLORS`)."""
        first = max(self.values, default=0) + 1
        chosen = _assign_colors(list(names), colors, {e.color for e in self.entries})
        return Legend([*self.entries, *(LegendEntry(first + i, str(n).strip(), c)
                                        for i, (n, c) in enumerate(zip(names, chosen)))])

    def colormap(self) -> dict[int, tuple[int, int, int, int]]:
        """``{value: (r, g, b, 255)}`` for GDAL colour tables."""
        return {e.value: (*hex_to_rgb(e.color), 255) for e in self.entries}

    def _summary(self) -> str:
        return ", ".join(f"{e.value} {e.name}" for e in self.entries)

    # --- serialization ---------------------------------------------------------------------------------

    def to_list(self) -> list[dict]:
        return [e.to_dict() for e in self.entries]

    @classmethod
    def from_list(cls, items: Sequence[dict]) -> "Legend":
        try:
            return cls(LegendEntry(int(d["value"]), d["name"], d["color"]) for d in items)
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise LegendError(f"legend entries need value, name and color ({exc})") from None

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """Write SEPAL's legend export layout ``color,value,label``; returns the text. Written atomically."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["color", "value", "label"])
        for e in self.entries:
            writer.writerow([e.color, e.value, e.name])
        text = buf.getvalue()
        if path is not None:
            atomic_write_text(path, text)
        return text

    def to_qml(self, path: str | os.PathLike | None = None) -> str:
        """A QGIS style for a class map of this legend: the paletted raster renderer (band 1) with one
        ``paletteEntry`` (value, colour, class name as label) per class, as QGIS writes it ("Save Style" of a
        paletted raster). Saved as ``<map stem>.qml`` beside the map, QGIS applies it when it opens the map.
        Returns the text; written atomically.

        >>> print(Legend([LegendEntry(1, "Forest & co", "#006400")]).to_qml().splitlines()[-9])
                <paletteEntry value="1" color="#006400" alpha="255" label="Forest &amp; co"/>
        """
        from xml.sax.saxutils import quoteattr

        entries = "\n".join(f'        <paletteEntry value="{e.value}" color="{e.color}" alpha="255" '
                             f'label={quoteattr(e.name)}/>' for e in self.entries)
        text = (
            "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            '<qgis version="3.28.0" styleCategories="AllStyleCategories" hasScaleBasedVisibilityFlag="0" '
            'minScale="1e+08" maxScale="0">\n'
            "  <pipe>\n"
            '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">\n'
            "      <rasterTransparency/>\n"
            "      <colorPalette>\n"
            f"{entries}\n"
            "      </colorPalette>\n"
            "    </rasterrenderer>\n"
            '    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>\n'
            '    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" '
            'colorizeGreen="128" colorizeBlue="128" colorizeStrength="100"/>\n'
            '    <rasterresampler maxOversampling="2"/>\n'
            "  </pipe>\n"
            "  <blendMode>0</blendMode>\n"
            "</qgis>\n"
        )
        if path is not None:
            atomic_write_text(path, text)
        return text

    @classmethod
    def from_qml(cls, path: str | os.PathLike) -> "Legend":
        """The legend of a QGIS paletted raster style (``.qml``): one class per ``paletteEntry`` (value,
        colour, label; a missing label becomes the value).

        Raises
        ------
        LegendError
            Not a QGIS style of a paletted raster, or unreadable; a ``paletteEntry`` whose value is not a whole
            number, or entries that do not make a legend (the file is named).
        """
        import xml.etree.ElementTree as ET

        try:
            root = ET.parse(path).getroot()
        except FileNotFoundError:
            raise LegendError(f"legend file not found: {path}") from None
        except (ET.ParseError, OSError) as exc:
            raise LegendError(f"cannot read QGIS style {path}: {exc}") from None
        palette = root.findall(".//rasterrenderer[@type='paletted']/colorPalette/paletteEntry")
        if root.tag != "qgis" or not palette:
            raise LegendError(f"{path} is not the QGIS style of a paletted (classified) raster: no paletteEntry; "
                              "in QGIS, style the map as 'Paletted/Unique values' and save the style again")
        entries = []
        for i, e in enumerate(palette, start=1):
            value = e.get("value")
            if not _is_int(value):
                raise LegendError(f"QGIS style {path}: paletteEntry {i} has the value {value!r}, not a whole number; "
                                  "fix it, or style the map in QGIS and save the style again")
            entries.append(LegendEntry(int(float(value)), e.get("label") or value, e.get("color")))
        try:
            return cls(entries)
        except LegendError as exc:
            raise LegendError(f"QGIS style {path}: {exc}") from None

    def to_iota2(self, color_path: str | os.PathLike, nomenclature_path: str | os.PathLike) -> None:
        """iota2's pair: ``colorFile`` lines ``value R G B`` and ``nomenclature`` lines ``name:value``
        (iota2's ``data/references/running_iota2/color.txt`` and ``nomenclature.txt``). Written atomically."""
        atomic_write_text(color_path, "".join(f"{e.value} {' '.join(map(str, hex_to_rgb(e.color)))}\n"
                                              for e in self.entries))
        atomic_write_text(nomenclature_path, "".join(f"{e.name}:{e.value}\n" for e in self.entries))

    @classmethod
    def from_iota2(cls, nomenclature_path: str | os.PathLike,
                   color_path: str | os.PathLike | None = None) -> "Legend":
        """The legend of iota2's ``nomenclature.txt`` (``name:value`` lines), with the colours of its
        ``colorFile`` (``value R G B`` lines; values not in the nomenclature are ignored). Classes without a
        colour get one (:meth:`from_labels`'s rule).

        Raises
        ------
        LegendError
            A line that is not ``name:value``, or a colour line that is not four integers (the line named).
        """
        names: list[tuple[int, str]] = []
        for i, line in enumerate(_read_text(nomenclature_path).splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.rpartition(":")
            if not sep or not name.strip() or not _is_int(value.strip()):
                raise LegendError(f"{nomenclature_path}, line {i}: {line.strip()!r} is not 'name:value' as in "
                                  "iota2's nomenclature file")
            names.append((int(value), name.strip()))
        colors: dict[int, str] = {}
        if color_path is not None:
            for i, line in enumerate(_read_text(color_path).splitlines(), start=1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 4 or not all(_is_int(x) for x in parts):
                    raise LegendError(f"{color_path}, line {i}: {line.strip()!r} is not 'value R G B' as in "
                                      "iota2's colour file")
                colors[int(parts[0])] = "#%02x%02x%02x" % tuple(int(x) for x in parts[1:])
        given = {name: colors[value] for value, name in names if value in colors}
        assigned = _assign_colors([n for _, n in names], {normalize_name(k): v for k, v in given.items()}, set())
        return cls(LegendEntry(value, name, color) for (value, name), color in zip(names, assigned))

    @classmethod
    def read(cls, path: str | os.PathLike, columns: "LegendColumns | str | None" = None) -> "Legend":
        """A legend from any file it is kept in: a QGIS style (``.qml``), iota2's nomenclature (``name:value``
        lines; its colour file is taken from beside it: ``colorFile.txt``, ``color.txt`` or
        ``<stem>_colorFile.txt``) or a CSV (:meth:`from_table`: the columns guessed, or ``columns``, the roles
        as :func:`parse_columns` reads them, e.g. ``"value,name,r,g,b"``).

        Raises
        ------
        LegendError
            Also when ``columns`` are given for a file that is not a CSV.
        """
        p = Path(path)
        kind = legend_kind(p)
        if kind != "csv" and columns is not None:
            what = "a QGIS style" if kind == "qml" else "iota2's nomenclature"
            raise LegendError(f"column roles ({columns}) apply to a legend CSV; {path} is {what}")
        if kind == "qml":
            return cls.from_qml(p)
        if kind == "iota2":
            stem = p.stem.removesuffix("nomenclature").rstrip("_")
            candidates = [p.with_name(n) for n in (f"{stem}_colorFile.txt" if stem else "", "colorFile.txt",
                                                    "color.txt", "colorfile.txt") if n]
            return cls.from_iota2(p, next((c for c in candidates if c.exists()), None))
        return cls.from_table(p, columns)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> "Legend":
        """Read a legend CSV, guessing the columns as SEPAL does (:func:`guess_columns`).

        Understood: SEPAL's ``code,class,color`` import and ``color,value,label`` export layouts, other
        headers naming a value (``value``, ``code``, ``class_value``, ``id``), a name (``label``, ``name``,
        ``class``, ``class_name``) and a colour (``color``, ``colour``, ``hex``) or three ``R,G,B`` /
        ``red,green,blue`` columns (0-255) in any order, or no header at all (the columns told by their
        content). Separated by commas, semicolons (as spreadsheets write CSV in many European locales) or
        tabs; UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark, Windows-1252 or Latin-1
        (:func:`read_table`).

        Raises
        ------
        LegendError
            If the file is missing, empty or the columns cannot be told apart, or a row is wrong (named by its
            spreadsheet row number, the header being row 1).
        """
        return cls.from_table(path)

    @classmethod
    def from_table(cls, source: "str | os.PathLike | LegendTable",
                   columns: "LegendColumns | str | None" = None) -> "Legend":
        """A legend from a CSV (a path, or a :class:`LegendTable` already read) with the columns' roles
        ``columns`` (a :class:`LegendColumns`, or text for :func:`parse_columns` such as ``"value,name,r,g,b"``);
        guessed by :func:`guess_columns` when None. Without a name column, a class is named by its value.

        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "sepal.csv"
        >>> _ = path.write_text("code,class,red,blue,green\\n10,Tree cover,0,100,0\\n")
        >>> [e.color for e in Legend.from_table(path)]  # the header's order: blue = 100
        ['#000064']
        >>> [e.color for e in Legend.from_table(path, "value,name,r,g,b")]  # the values' real order
        ['#006400']

        Raises
        ------
        LegendError
            Roles that do not make a legend (no value column, a colour missing, a role given twice), or rows
            that are wrong: every problem named by its spreadsheet row (the header being row 1), e.g.
            ``row 3: value 10 is used twice (rows 2 and 3)``.
        """
        table = source if isinstance(source, LegendTable) else read_table(source)
        guessed = columns is None
        if guessed:
            columns = guess_columns(table)
        elif not isinstance(columns, LegendColumns):
            columns = parse_columns(str(columns))
        problems = columns.problems(table.ncols)
        if problems and guessed:
            raise LegendError(
                f"cannot find the columns of legend {table.path} ({'; '.join(problems)}): expected a header like "
                f"'color,value,label' (hex colours) or 'value,label,R,G,B'; found {', '.join(table.columns)}"
            )
        if problems:
            raise LegendError(f"legend {table.path}, columns {', '.join(table.columns)} as {columns}: "
                              + "; ".join(problems))
        entries, row_problems = check_rows(table.raw_rows(columns), table.numbers)
        if row_problems:
            raise LegendError(f"legend {table.path}, " + _join_problems([text for _, text in row_problems])
                              + f"; {ROWS_HINT}")
        return cls(entries)

    def with_palette(self, name: str) -> "Legend":
        """This legend with the colours of palette ``name`` (:func:`palette_colors`), handed out in value order.

        >>> Legend([LegendEntry(5, "b", "#000000"), LegendEntry(1, "a", "#ffffff")]).with_palette("tab10").to_list()
        [{'value': 5, 'name': 'b', 'color': '#ff7f0e'}, {'value': 1, 'name': 'a', 'color': '#1f77b4'}]

        Raises
        ------
        LegendError
            An unknown palette, or one with fewer distinct colours than the legend has classes.
        """
        colors = palette_colors(name, len(self.entries))
        order = sorted(range(len(self.entries)), key=lambda i: self.entries[i].value)
        new = list(self.entries)
        for i, color in zip(order, colors):
            new[i] = LegendEntry(new[i].value, new[i].name, color)
        return Legend(new)

    @classmethod
    def from_labels(cls, labels: Sequence[object], colors: dict[str, str] | None = None) -> "Legend":
        """Derive a legend from training labels.

        Integer labels keep their value and are named by it; names get values 1, 2, ... in sorted order of their
        normalized key (so the order is stable whatever the order of the file). ``colors`` optionally maps a
        normalized name to a colour (e.g. a ``color`` column of the training file); other classes take
        the conventional colour of their name (:func:`conventional_color`, e.g. water blue) when still free,
        else :data:`DEFAULT_COLORS` in turn, skipping colours already used.
        """
        colors = dict(colors or {})
        unique: dict[str, object] = {}
        for label in labels:
            unique.setdefault(normalize_name(label), label)
        if all(_is_int(v) for v in unique.values()):
            # one class per value: 1, "1" and "1.0" are the same class
            items = sorted({int(float(v)): str(int(float(v))) for v in unique.values()}.items())
        else:
            items = [(i + 1, str(unique[k]).strip()) for i, k in enumerate(sorted(unique))]
        chosen = _assign_colors([name for _, name in items], colors, set())
        return cls(LegendEntry(value, name, c) for (value, name), c in zip(items, chosen))


def _assign_colors(names: list[str], colors: dict[str, str] | None, used: set[str]) -> list[str]:
    """One distinct colour per class name, none of ``used``: first the colour given in ``colors`` (normalized
    name -> colour; the first class keeps a colour given twice), then the name's conventional colour
    (:func:`conventional_color`) when still free, then :data:`DEFAULT_COLORS` and further hues."""
    colors, used = colors or {}, set(used)
    chosen: list[str | None] = [None] * len(names)
    for i, name in enumerate(names):
        c = colors.get(normalize_name(name))
        try:
            c = normalize_color(c) if c else None
        except LegendError:
            c = None
        if c is not None and c not in used:
            chosen[i] = c
            used.add(c)
    for i, name in enumerate(names):
        c = conventional_color(name)
        if chosen[i] is None and c is not None and c not in used:
            chosen[i] = c
            used.add(c)
    for i in range(len(names)):
        if chosen[i] is None:
            chosen[i] = next(x for x in _spare_colors() if x not in used)
            used.add(chosen[i])
    return chosen


def _spare_colors():
    """:data:`DEFAULT_COLORS`, then endless further colours (golden-ratio hues), for legends of many classes."""
    import colorsys
    import itertools

    yield from DEFAULT_COLORS
    for i in itertools.count():
        s, v = (0.65, 0.9) if i % 2 == 0 else (0.9, 0.6)
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, s, v)
        yield normalize_color((r * 255, g * 255, b * 255))


def validate(entries: Sequence[LegendEntry]) -> list[str]:
    """Problems with a list of entries, as sentences (empty when valid). Used by the legend panel too."""
    problems = []
    if not entries:
        problems.append("the legend has no class; add at least two")
    seen_values, seen_colors, seen_names = {}, {}, {}
    for e in entries:
        if not 0 <= e.value < NODATA_CLASS:
            problems.append(f"class value {e.value} is outside 0-{NODATA_CLASS - 1} ({NODATA_CLASS} is nodata)")
        if not e.name.strip():
            problems.append(f"class {e.value} has no name")
        if e.value in seen_values:
            problems.append(f"value {e.value} is used twice ({seen_values[e.value]!r} and {e.name!r})")
        if e.color in seen_colors:
            problems.append(f"colour {e.color} is used twice ({seen_colors[e.color]!r} and {e.name!r})")
        key = normalize_name(e.name)
        if key and key in seen_names:
            problems.append(f"name {e.name!r} is used twice")
        seen_values[e.value], seen_colors[e.color], seen_names[key] = e.name, e.name, e.name
    return problems


def _is_int(value: object) -> bool:
    try:
        f = float(str(value).strip())
    except (TypeError, ValueError):
        return False
    return f.is_integer()


@dataclass(frozen=True)
class LabelMatch:
    """How the classes of a training file meet a legend: ``known`` (file classes the legend has), ``unknown``
    (file classes it lacks) and ``absent`` (legend class names the file does not use)."""

    known: list[str]
    unknown: list[str]
    absent: list[str]

    @property
    def complete(self) -> bool:
        """True when every class of the file is in the legend."""
        return not self.unknown


def match_labels(labels: Iterable[object], legend: "Legend") -> LabelMatch:
    """Compare training labels (names or integer values) with ``legend``.

    >>> legend = Legend.from_list([{"value": 1, "name": "Water", "color": "#0000ff"},
    ...                            {"value": 2, "name": "Forest", "color": "#00aa00"}])
    >>> match_labels(["water", "village", "Water "], legend)
    LabelMatch(known=['water'], unknown=['village'], absent=['Forest'])
    """
    seen: dict[str, str] = {}
    for label in labels:
        seen.setdefault(normalize_name(label), str(label).strip())
    known = [v for v in seen.values() if legend.contains(v)]
    unknown = [v for v in seen.values() if not legend.contains(v)]
    used = {legend.value_of(v) for v in known}
    absent = [e.name for e in legend if e.value not in used]
    return LabelMatch(sorted(known, key=normalize_name), sorted(unknown, key=normalize_name), absent)


def _decode(data: bytes) -> tuple[str, str]:
    """Text of a file and the encoding it was read with: UTF-8 (a byte-order mark dropped), UTF-16 with a
    byte-order mark (Excel's "Unicode text"), else Windows-1252 (what Excel writes on Western Windows; Latin-1
    but for 0x80-0x9f), else Latin-1 (which reads any bytes).

    >>> _decode("Forêt".encode("utf-8-sig")), _decode("Forêt".encode("latin-1")), _decode(b"\\x80 \\x81")
    (('Forêt', 'utf-8-sig'), ('Forêt', 'cp1252'), ('\\x80 \\x81', 'latin-1'))
    """
    if data.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig", "cp1252", "latin-1")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ("utf-16", "utf-8", "cp1252", "latin-1")
    else:
        candidates = ("utf-8", "cp1252", "latin-1")
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")  # pragma: no cover


def _read_text(path: str | os.PathLike) -> str:
    """A text file decoded as :func:`_decode` does."""
    return _decode(Path(path).read_bytes())[0]


def legend_kind(path: str | os.PathLike) -> str:
    """How :meth:`Legend.read` reads ``path``: ``"qml"`` (a QGIS style), ``"iota2"`` (a ``.txt`` of
    ``name:value`` lines, iota2's nomenclature) or ``"csv"`` (anything else)."""
    p = Path(path)
    if p.suffix.lower() == ".qml":
        return "qml"
    try:
        if p.is_file() and p.suffix.lower() == ".txt" and _looks_like_nomenclature(_read_text(p)):
            return "iota2"
    except OSError:
        pass
    return "csv"


def _looks_like_nomenclature(text: str) -> bool:
    """Every non-empty line is ``name:integer``: iota2's nomenclature file.

    >>> _looks_like_nomenclature("batis denses:1\\nglaciers ou neiges: 22\\n"), _looks_like_nomenclature("a,b\\n")
    (True, False)
    """
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(":" in line and _is_int(line.rpartition(":")[2].strip()) for line in lines)


# --- legend tables: the columns of a CSV and their roles ---------------------------------------------------

#: The roles a column of a legend CSV can take (:class:`LegendColumns`), as the LEG panel offers them: the class
#: value, its name, its colour as one hex column (``#rrggbb``, ``rrggbb`` or a colour name), or as three columns
#: of 0-255 components; ``ignore`` for any other column.
ROLES = ("value", "name", "color", "red", "green", "blue", "ignore")

_RGB = ("red", "green", "blue")

#: The words :func:`parse_columns` takes for each role.
_ROLE_WORDS = {
    "value": "value", "v": "value", "code": "value",
    "name": "name", "n": "name", "label": "name", "class": "name",
    "color": "color", "colour": "color", "hex": "color", "c": "color",
    "red": "red", "r": "red", "green": "green", "g": "green", "blue": "blue", "b": "blue",
    "ignore": "ignore", "skip": "ignore", "-": "ignore", "": "ignore",
}  # fmt: skip

#: Header names telling a column's role (:func:`guess_columns`), best first: "value" wins over "code" and
#: "class" names the class unless it holds integers and nothing else holds the values.
_HEADER_WORDS = {
    "value": ("value", "code", "class_value", "classvalue", "class_code", "pixel_value", "val", "id", "class_id",
              "classid", "class"),
    "name": ("label", "name", "class_name", "classname", "description", "class", "legend", "nom", "libelle"),
    "color": ("color", "colour", "hex", "hex_color", "hex_colour", "html", "couleur", "rgb"),
    "red": ("red", "r", "rouge"),
    "green": ("green", "g", "vert"),
    "blue": ("blue", "b", "bleu"),
}


@dataclass(frozen=True)
class LegendColumns:
    """The role (one of :data:`ROLES`) of each column of a legend CSV, in file order; columns past the end of
    ``roles`` are ignored. ``str()`` gives the text :func:`parse_columns` reads back.

    >>> columns = LegendColumns(("value", "name", "red", "blue", "green"))
    >>> columns.value, columns.name, columns.rgb, str(columns)
    (0, 1, (2, 4, 3), 'value,name,red,blue,green')
    """

    roles: tuple[str, ...]

    def __post_init__(self):
        roles = tuple(str(r) for r in self.roles)
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise LegendError(f"unknown column role(s) {', '.join(map(repr, unknown))}: use {', '.join(ROLES)}")
        object.__setattr__(self, "roles", roles)

    def index(self, role: str) -> int | None:
        """The (0-based) column of ``role``, or None."""
        return self.roles.index(role) if role in self.roles else None

    @property
    def value(self) -> int | None:
        return self.index("value")

    @property
    def name(self) -> int | None:
        return self.index("name")

    @property
    def color(self) -> int | None:
        return self.index("color")

    @property
    def rgb(self) -> tuple[int, int, int] | None:
        """The columns of red, green and blue, or None unless all three have one."""
        found = tuple(self.index(r) for r in _RGB)
        return None if None in found else found  # type: ignore[return-value]

    def role(self, column: int) -> str:
        return self.roles[column] if column < len(self.roles) else "ignore"

    def problems(self, ncols: int | None = None) -> list[str]:
        """Why these roles do not make a legend (of a file of ``ncols`` columns), as sentences; empty when
        they do."""
        out = []
        for role in ROLES[:-1]:
            at = [i + 1 for i, r in enumerate(self.roles) if r == role]
            if len(at) > 1:
                out.append(f"columns {' and '.join(map(str, at))} are all {_ROLE_TEXT[role]}: give it to one")
        if self.value is None:
            out.append("no column holds the class values")
        has_rgb = any(r in self.roles for r in _RGB)
        if self.color is not None and has_rgb:
            out.append("the colour is given both as a hex column and as red/green/blue columns: keep one")
        elif self.color is None and not has_rgb:
            out.append("no column holds the colours (one hex column, or red, green and blue columns)")
        elif self.color is None and self.rgb is None:
            out.append(f"no column holds the {' and '.join(r for r in _RGB if r not in self.roles)} components")
        if ncols is not None and any(r != "ignore" for r in self.roles[ncols:]):
            out.append(f"roles are given for {len(self.roles)} columns but the file has {ncols}")
        return out

    def __str__(self) -> str:
        roles = list(self.roles)
        while roles and roles[-1] == "ignore":
            roles.pop()
        return ",".join("-" if r == "ignore" else r for r in roles)


_ROLE_TEXT = {"value": "the value", "name": "the name", "color": "the hex colour", "red": "red",
              "green": "green", "blue": "blue"}


def parse_columns(text: str) -> LegendColumns:
    """The roles of a legend CSV's columns from text such as ``value,name,r,g,b``: one word per column, in file
    order (``value``/``code``, ``name``/``label``/``class``, ``color``/``colour``/``hex``, ``r``/``red``,
    ``g``/``green``, ``b``/``blue``, ``-`` or ``ignore`` to skip a column); columns past the last word are
    ignored. The command line's ``--legend-columns``.

    >>> parse_columns("value,name,r,g,b").rgb
    (2, 3, 4)
    >>> str(parse_columns("hex, -, Code, label"))
    'color,-,value,name'

    Raises
    ------
    LegendError
        An unknown word (named with its position), or roles that do not make a legend.
    """
    roles = []
    for i, word in enumerate(str(text).split(","), start=1):
        key = word.strip().casefold()
        if key not in _ROLE_WORDS:
            raise LegendError(f"legend columns {text!r}: {word.strip()!r} (column {i}) is not a role; use value, "
                              "name, color (one hex column), r, g, b, or - to skip a column")
        roles.append(_ROLE_WORDS[key])
    columns = LegendColumns(tuple(roles))
    problems = columns.problems()
    if problems:
        raise LegendError(f"legend columns {text!r}: {'; '.join(problems)}")
    return columns


@dataclass(frozen=True)
class LegendTable:
    """The cells of a legend CSV (:func:`read_table`): ``header`` (None when the first row is already data),
    ``rows`` of stripped cells padded to the same width, ``numbers`` (each row's spreadsheet row number, the
    first row of the file being 1), and how the file was read (``delimiter``, ``encoding``)."""

    path: str
    header: tuple[str, ...] | None
    rows: tuple[tuple[str, ...], ...]
    numbers: tuple[int, ...]
    delimiter: str
    encoding: str

    @property
    def ncols(self) -> int:
        return len(self.columns)

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names: the header's, else ``column 1``, ``column 2``, ..."""
        width = max([len(self.header or ())] + [len(r) for r in self.rows])
        header = tuple(self.header or ())
        return tuple(header[i] if i < len(header) and header[i] else f"column {i + 1}" for i in range(width))

    def column(self, index: int) -> list[str]:
        return [r[index] if index < len(r) else "" for r in self.rows]

    def raw_rows(self, columns: LegendColumns) -> list[dict]:
        """Each row as :func:`check_rows` takes it: ``value``, ``name`` (None without a name column) and
        ``color`` (the hex column's cell, or the ``(red, green, blue)`` cells)."""
        def cell(row, index):
            return row[index] if index is not None and index < len(row) else ""

        rgb = columns.rgb
        return [{"value": cell(r, columns.value),
                 "name": None if columns.name is None else cell(r, columns.name),
                 "color": cell(r, columns.color) if rgb is None else tuple(cell(r, i) for i in rgb)}
                for r in self.rows]


def read_table(path: str | os.PathLike) -> LegendTable:
    """The cells of a legend CSV as spreadsheets and SEPAL write it: separated by commas, semicolons (as
    spreadsheets write CSV in many European locales) or tabs (the separator that splits the first row in
    the most columns and the other rows alike), quoted with ``"``, encoded as :func:`_decode` reads it
    (UTF-8 with or without a byte-order mark, UTF-16, Windows-1252, Latin-1). The first row is the header unless
    one of its cells is an integer or a hex colour (a file without header). Empty rows are skipped.

    Raises
    ------
    LegendError
        A missing, unreadable or empty file, a binary one (not text), or one without rows under its header.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise LegendError(f"legend file not found: {path}") from None
    except OSError as exc:
        raise LegendError(f"cannot read legend CSV {path}: {exc}") from None
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LegendError(f"{path} is not a text file; a legend is a CSV (value,name,color), a QGIS style (.qml) "
                          "or iota2's nomenclature.txt")
    text, encoding = _decode(data)
    if not text.strip():
        raise LegendError(f"cannot read legend CSV {path}: the file is empty")
    delimiter = _sniff_delimiter(text)
    records: list[tuple[int, list[str]]] = []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
        for number, cells in enumerate(reader, start=1):
            cells = [c.strip() for c in cells]
            if any(cells):
                records.append((number, cells))
    except csv.Error as exc:
        raise LegendError(f"cannot read legend CSV {path}: {exc}") from None
    if not records:
        raise LegendError(f"cannot read legend CSV {path}: the file is empty")
    header = None
    if not any(_is_int(c) or _HEX_RE.match(c) for c in records[0][1]):
        header, records = tuple(records[0][1]), records[1:]
    if not records:
        raise LegendError(f"legend file {path} has no rows")
    width = max([len(header or ())] + [len(c) for _, c in records])
    return LegendTable(str(path), header, tuple(tuple(c + [""] * (width - len(c))) for _, c in records),
                       tuple(n for n, _ in records), delimiter, encoding)


def _sniff_delimiter(text: str) -> str:
    """``,``, ``;`` or a tab: the one that splits the first row into the most columns (at least two) with the
    most other rows split alike (csv.Sniffer guesses wrong on names holding the other separators).

    >>> _sniff_delimiter('value;name;color\\n1;"Forest; dense";#006400\\n2;a, b;#0000ff\\n')
    ';'
    """
    best, best_score = ",", (-1.0, 0)
    for delimiter in (",", ";", "\t"):
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
                    if any(c.strip() for c in r)]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(r) == width for r in rows) / len(rows), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().casefold())


def _is_number(value: object) -> bool:
    try:
        float(str(value).strip())
    except (TypeError, ValueError):
        return False
    return True


def guess_columns(source: "str | os.PathLike | LegendTable") -> LegendColumns:
    """The roles of the columns of a legend CSV (a path, or a :class:`LegendTable` already read), guessed as
    SEPAL does ("the column names will help SEPAL predict information, but are not compulsory").

    First the header names (:data:`_HEADER_WORDS`: ``value``/``code``/``id``, ``label``/``name``/``class``,
    ``color``/``colour``/``hex``, ``r``/``red``, ``g``/``green``, ``b``/``blue``, in whatever order the header
    gives them), each kept only when the content fits (numbers for a value or a component; ``class`` is the
    value only when it holds integers). Then the content, for roles still missing: a column of hex colours is
    the colour; a column of unique integers 0-254 the value; three columns of integers 0-255 the red, green and
    blue components, in file order; the first column of text the name.

    The guess follows the header: SEPAL's documented example ``code,class,red,blue,green`` has its components
    in R,G,B order, so its colours come out wrong until the roles are corrected (the LEG panel's preview, or
    :func:`parse_columns`). The result may lack roles (:meth:`LegendColumns.problems` says which).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "legend.csv"
    >>> _ = path.write_text("Blue;Code;Red;Class;Green\\n0;10;0;Tree cover;100\\n")
    >>> str(guess_columns(path))
    'blue,value,red,name,green'
    >>> _ = path.write_text("10,Tree cover,0,100,0\\n20,Shrubland,255,187,34\\n")  # no header: the content
    >>> str(guess_columns(path))
    'value,name,red,green,blue'

    Raises
    ------
    LegendError
        The file cannot be read (:func:`read_table`).
    """
    table = source if isinstance(source, LegendTable) else read_table(source)
    n = table.ncols
    full = [table.column(i) for i in range(n)]
    cells = [[c for c in col if c] for col in full]
    numbers = [bool(c) and all(_is_number(x) for x in c) for c in cells]
    ints = [bool(c) and all(_is_int(x) for x in c) for c in cells]
    components = [ints[i] and all(0 <= float(x) <= 255 for x in c) for i, c in enumerate(cells)]
    complete = [len(c) == len(full[i]) for i, c in enumerate(cells)]
    values = [ints[i] and complete[i] and all(0 <= float(x) < NODATA_CLASS for x in c)
              and len({int(float(x)) for x in c}) == len(c) for i, c in enumerate(cells)]
    hexes = [bool(c) and all(_HEX_RE.match(x) for x in c) and not values[i] for i, c in enumerate(cells)]

    roles = ["ignore"] * n
    keys = [_header_key(h) for h in table.header] + [""] * n if table.header else [""] * n

    def by_header(role, fits) -> None:
        for word in _HEADER_WORDS[role]:
            for i in range(n):
                if keys[i] == word and roles[i] == "ignore" and fits(i, word):
                    roles[i] = role
                    return

    by_header("value", lambda i, word: ints[i] if word == "class" else numbers[i])
    by_header("color", lambda i, word: bool(cells[i]) and not numbers[i])
    for role in _RGB:
        by_header(role, lambda i, word: numbers[i])
    if "color" in roles or not all(r in roles for r in _RGB):  # a lone "R" or "G" column is no colour
        roles = ["ignore" if r in _RGB else r for r in roles]
    by_header("name", lambda i, word: bool(cells[i]))

    def free(i: int) -> bool:
        return roles[i] == "ignore" and bool(cells[i])

    if "color" not in roles and "red" not in roles:
        i = next((i for i in range(n) if free(i) and hexes[i]), None)
        if i is not None:
            roles[i] = "color"
    if "value" not in roles:
        i = next((i for i in range(n) if free(i) and values[i]), None)
        if i is not None:
            roles[i] = "value"
    if "color" not in roles and "red" not in roles:
        found = [i for i in range(n) if free(i) and components[i]][:3]
        if len(found) == 3:
            for i, role in zip(found, _RGB):
                roles[i] = role
    if "name" not in roles:
        i = next((i for i in range(n) if free(i) and not ints[i] and not hexes[i]), None)
        if i is not None:
            roles[i] = "name"
    return LegendColumns(tuple(roles))


#: What every row of a legend needs: said after the problems :func:`check_rows` names.
ROWS_HINT = "each class needs its own whole-number value (0-254), a name and its own colour"


def check_rows(rows: Sequence[dict], numbers: Sequence[int] | None = None
               ) -> tuple[list[LegendEntry], list[tuple[int, str]]]:
    """Legend entries of raw rows, and what is wrong with them, each problem naming its row.

    ``rows`` hold ``value`` (an integer, as text or a number), ``name`` (None: named by the value) and
    ``color`` (a colour :func:`normalize_color` reads, or a ``(red, green, blue)`` triple of 0-255 integers as
    text or numbers); ``numbers`` are the rows' numbers as the user sees them (default 1, 2, ...). Returns the
    entries of the rows without problems, and ``(row number, sentence)`` for each problem: a value that is not
    an integer 0-254, an empty name, an unreadable colour or component, a value, colour or name used twice.

    >>> entries, problems = check_rows([{"value": "1", "name": "a", "color": ("0", "100", "0")},
    ...                                 {"value": "1", "name": "b", "color": "#0000ff"},
    ...                                 {"value": "x", "name": "", "color": "#zz0000"}], numbers=[2, 3, 4])
    >>> [e.color for e in entries], [text for _, text in problems]  # doctest: +NORMALIZE_WHITESPACE
    (['#006400'], ['row 3: value 1 is used twice (rows 2 and 3)', "row 4: value 'x' is not an integer",
     "row 4: colour '#zz0000' is not a hex colour (#RRGGBB) or a colour name"])
    """
    numbers = list(range(1, len(rows) + 1)) if numbers is None else list(numbers)
    entries: list[LegendEntry] = []
    problems: list[tuple[int, str]] = []
    first: dict[str, dict] = {"value": {}, "color": {}, "name": {}}

    def twice(kind: str, key, number: int, text: str) -> bool:
        if key in first[kind]:
            problems.append((number, f"row {number}: {text} is used twice (rows {first[kind][key]} and {number})"))
            return True
        first[kind][key] = number
        return False

    for number, row in zip(numbers, rows):
        here = f"row {number}"
        raw = row.get("value")
        value = None
        if raw is None or str(raw).strip() == "":
            problems.append((number, f"{here}: no class value"))
        elif not _is_int(raw):
            problems.append((number, f"{here}: value {str(raw).strip()!r} is not an integer"))
        else:
            value = int(float(str(raw).strip()))
            if not 0 <= value < NODATA_CLASS:
                problems.append((number, f"{here}: class value {value} is outside 0-{NODATA_CLASS - 1} "
                                         f"({NODATA_CLASS} is nodata)"))
                value = None
        ok = value is not None
        name = row.get("name")
        name = (str(value) if value is not None else "") if name is None else str(name).strip()
        if value is not None and not name:
            problems.append((number, f"{here}: class {value} has no name"))
            ok = False
        color = _row_color(row.get("color"), here, problems, number)
        ok = ok and color is not None
        if value is not None and twice("value", value, number, f"value {value}"):
            ok = False
        if color is not None and twice("color", color, number, f"colour {color}"):
            ok = False
        if name and twice("name", normalize_name(name), number, f"name {name!r}"):
            ok = False
        if ok:
            entries.append(LegendEntry(value, name, color))  # type: ignore[arg-type]
    return entries, problems


def color_of(raw) -> str | None:
    """The colour of a raw row's ``color`` (:func:`check_rows`: a colour, or ``(red, green, blue)`` cells), or
    None when it cannot be read.

    >>> color_of(("0", "100", "0")), color_of("0064C8"), color_of(("0", "300", "0"))
    ('#006400', '#0064c8', None)
    """
    return _row_color(raw, "", [], 0)


def _row_color(raw, here: str, problems: list, number: int) -> str | None:
    """The colour of a raw row (:func:`check_rows`), or None with the problem appended."""
    if isinstance(raw, (tuple, list)):
        components = []
        for word, cell in zip(_RGB, raw):
            text = str(cell).strip()
            if not text:
                problems.append((number, f"{here}: no {word} component"))
            elif not _is_int(text):
                problems.append((number, f"{here}: {word} {text!r} is not an integer 0-255"))
            elif not 0 <= float(text) <= 255:
                problems.append((number, f"{here}: {word} {int(float(text))} is outside 0-255"))
            else:
                components.append(int(float(text)))
        return normalize_color(tuple(components)) if len(components) == 3 else None
    if raw is None or str(raw).strip() == "":
        problems.append((number, f"{here}: no colour"))
        return None
    try:
        return normalize_color(raw)
    except LegendError as exc:
        problems.append((number, f"{here}: {exc}"))
        return None


def _join_problems(problems: Sequence[str], limit: int = 6) -> str:
    """Problems joined by "; ", the first ``limit`` of them and how many more."""
    text = "; ".join(problems[:limit])
    return text + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")


# --- palettes ---------------------------------------------------------------------------------------------

#: The palettes the LEG panel offers: matplotlib's colormaps (https://matplotlib.org/stable/users/explain/
#: colors/colormaps.html), qualitative ones (a list of distinct colours, handed out in turn) and sequential
#: ones (sampled evenly from one end to the other). :func:`palette_colors` takes any other matplotlib name too.
PALETTES = {
    "tab10": "qualitative", "tab20": "qualitative", "Set1": "qualitative", "Set2": "qualitative",
    "Set3": "qualitative", "Paired": "qualitative", "Dark2": "qualitative", "Accent": "qualitative",
    "viridis": "sequential", "cividis": "sequential", "YlGn": "sequential", "Greens": "sequential",
    "YlOrBr": "sequential", "Blues": "sequential",
}  # fmt: skip


def _colormap(name: str):
    import matplotlib

    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise LegendError(f"unknown palette {name!r}: use one of {', '.join(PALETTES)} or another matplotlib "
                          "colormap name") from None


def palette_size(name: str) -> int | None:
    """How many colours a qualitative palette has; None for a sequential one (any number).

    >>> palette_size("tab10"), palette_size("Set3"), palette_size("viridis")
    (10, 12, None)
    """
    from matplotlib.colors import ListedColormap

    cmap = _colormap(name)
    return len(cmap.colors) if isinstance(cmap, ListedColormap) and cmap.N < 256 else None


def palette_colors(name: str, n: int) -> list[str]:
    """``n`` distinct ``'#rrggbb'`` colours of the matplotlib colormap ``name``: the first ``n`` colours of a
    qualitative one (``tab10``, ``Set3``, ``Paired``, ...), ``n`` evenly spaced ones from end to end of a
    sequential one (``viridis``, ``YlGn``, ...).

    >>> palette_colors("tab10", 3), palette_colors("viridis", 2)
    (['#1f77b4', '#ff7f0e', '#2ca02c'], ['#440154', '#fde725'])

    Raises
    ------
    LegendError
        An unknown name, a qualitative palette with fewer colours than ``n``, or a sequential one whose
        colours would repeat (too many classes for its 8-bit colours).
    """
    from matplotlib.colors import to_hex

    cmap = _colormap(name)
    size = palette_size(name)
    if n <= 0:
        return []
    if size is not None:
        if n > size:
            raise LegendError(f"palette {name} has {size} colours and the legend {n} classes: choose one with more "
                              "colours (tab20 has 20) or a sequential palette (viridis)")
        colors = [to_hex(c) for c in cmap.colors[:n]]
    else:
        colors = [to_hex(cmap(i / (n - 1) if n > 1 else 0.5)) for i in range(n)]
    if len(set(colors)) < n:
        raise LegendError(f"palette {name} gives only {len(set(colors))} distinct colours for the legend's {n} "
                          "classes: choose another palette")
    return colors
