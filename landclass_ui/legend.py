"""The legend: one integer value, one name and one colour per class.

Class values are the pixel values of the output map (uint8), so they lie in 0..254; 255 is the map's nodata.
Names are matched to training labels case-insensitively, ignoring surrounding spaces (:func:`normalize_name`).

CSV files follow SEPAL: export header ``color,value,label`` (hex colours); import guesses the columns, taking
hex colours or three R,G,B columns (0-255). A legend also travels as a QGIS style (``.qml``, paletted renderer)
and as iota2's ``colorFile``/``nomenclature`` pair, both ways (:meth:`Legend.read` takes any of them).
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from ._files import atomic_write_text
from .errors import LegendError

__all__ = ["LegendEntry", "Legend", "normalize_name", "NODATA_CLASS", "DEFAULT_COLORS", "CLASS_COLORS",
           "conventional_color", "LabelMatch", "match_labels"]

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
        r, g, b = (int(round(float(c))) for c in color[:3])
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
        except (KeyError, TypeError, ValueError) as exc:
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
            Not a QGIS style of a paletted raster, or unreadable.
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
        return cls(LegendEntry(int(float(e.get("value"))), e.get("label") or e.get("value"), e.get("color"))
                   for e in palette)

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
    def read(cls, path: str | os.PathLike) -> "Legend":
        """A legend from any file it is kept in: a QGIS style (``.qml``), iota2's nomenclature (``name:value``
        lines; its colour file is taken from beside it: ``colorFile.txt``, ``color.txt`` or
        ``<stem>_colorFile.txt``) or a CSV (:meth:`from_csv`).

        Raises
        ------
        LegendError
        """
        p = Path(path)
        if p.suffix.lower() == ".qml":
            return cls.from_qml(p)
        if p.exists() and p.suffix.lower() == ".txt" and _looks_like_nomenclature(_read_text(p)):
            stem = p.stem.removesuffix("nomenclature").rstrip("_")
            candidates = [p.with_name(n) for n in (f"{stem}_colorFile.txt" if stem else "", "colorFile.txt",
                                                    "color.txt", "colorfile.txt") if n]
            return cls.from_iota2(p, next((c for c in candidates if c.exists()), None))
        return cls.from_csv(p)

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> "Legend":
        """Read a legend CSV, guessing the columns as SEPAL does.

        Understood: SEPAL's ``code,class,color`` import and ``color,value,label`` export layouts, other
        headers naming a value (``value``, ``code``, ``class_value``, ``id``), a name (``label``, ``name``,
        ``class``, ``class_name``) and a colour (``color``, ``colour``, ``hex``) or three ``R,G,B`` /
        ``red,green,blue`` columns (0-255). Separated by commas, semicolons (as spreadsheets write CSV in
        many European locales) or tabs; UTF-8 (with or without a byte-order mark) or Latin-1.

        Raises
        ------
        LegendError
            If the file is missing, empty or the columns cannot be told apart.
        """
        try:
            text = _read_text(path)
            # the separator as spreadsheets write it: ",", ";" (European locales) or a tab (csv.Sniffer)
            try:
                sep = csv.Sniffer().sniff(text[:4096], delimiters=",;\t").delimiter
            except csv.Error:
                sep = ","
            # only empty cells are missing: class names like "None" or "NA" must stay names
            table = pd.read_csv(
                io.StringIO(text), sep=sep, dtype=str, skipinitialspace=True, keep_default_na=False,
                na_values=[""]
            ).dropna(how="all")
        except FileNotFoundError:
            raise LegendError(f"legend file not found: {path}") from None
        except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError) as exc:
            raise LegendError(f"cannot read legend CSV {path}: {exc}") from None
        if table.empty:
            raise LegendError(f"legend file {path} has no rows")
        cols = {c.strip().lower(): c for c in table.columns}

        def pick(*names):
            return next((cols[n] for n in names if n in cols), None)

        rgb = [pick("r", "red"), pick("g", "green"), pick("b", "blue")]
        color_col = pick("color", "colour", "hex", "rgb")
        value_col = pick("value", "code", "class_value", "classvalue", "id", "class_id")
        name_col = pick("label", "name", "class_name", "classname", "description", "class")
        if value_col is None and name_col is not None and name_col.lower() == "class":
            # "class" holding integers and no other value column
            if table[name_col].map(_is_int).all():
                value_col, name_col = name_col, pick("label", "name", "class_name", "description")
        if value_col is None:
            int_cols = [c for c in table.columns if table[c].map(_is_int).all() and c not in rgb]
            value_col = next((c for c in int_cols if table[c].is_unique), None)
        if value_col is None or (color_col is None and None in rgb):
            raise LegendError(
                f"cannot find the columns of legend {path}: expected a header like 'color,value,label' "
                f"(hex colours) or 'value,label,R,G,B'; found {', '.join(map(str, table.columns))}"
            )
        entries = []
        for i, row in table.iterrows():
            color = row[color_col] if color_col is not None else tuple(row[c] for c in rgb)
            name = row[name_col] if name_col is not None and pd.notna(row[name_col]) else ""
            if not _is_int(row[value_col]):
                raise LegendError(f"legend {path}, row {i + 2}: value {row[value_col]!r} is not an integer")
            entries.append(LegendEntry(int(float(row[value_col])), str(name), color))
        return cls(entries)

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


def _read_text(path: str | os.PathLike) -> str:
    """A text file as UTF-8 (a byte-order mark dropped), else Latin-1 (which reads any bytes)."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _looks_like_nomenclature(text: str) -> bool:
    """Every non-empty line is ``name:integer``: iota2's nomenclature file.

    >>> _looks_like_nomenclature("batis denses:1\\nglaciers ou neiges: 22\\n"), _looks_like_nomenclature("a,b\\n")
    (True, False)
    """
    lines = [line for line in text.splitlines() if line.strip()]
    return bool(lines) and all(":" in line and _is_int(line.rpartition(":")[2].strip()) for line in lines)
