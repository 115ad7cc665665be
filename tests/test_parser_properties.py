"""Property-based tests (hypothesis) of the parsers of recipe JSON, training/reference CSV points and a band
folder's STAC item (issue "Reliability: every bad input gets a clear message").

* Recipe JSON: ``Recipe.from_dict`` of any JSON-like value (a recipe's keys holding random types, keys missing or
  added, sections nested wrongly, another schema version) returns a Recipe or raises RecipeError, nothing else;
  what it accepts validates with a LandclassError or not at all and saves and loads back to the same JSON; a
  valid recipe round-trips equal (``from_dict(to_dict())``, and through ``save``/``load``); ``Recipe.load`` of
  any bytes (text, JSON, binary, UTF-16, deep nesting) returns a Recipe or raises one RecipeError naming the file.
* CSV points (``read_training`` of a ``.csv``, and the reference sample reader ``pipeline.read_reference``):
  points written with any X/Y and class column names the reader knows, in any column order, among other
  columns, quoted any way, with either line end, as UTF-8 with or without a byte-order mark, read back as the
  same points and classes; written with another separator or encoding they read back the same or give one
  LandclassError; text in a coordinate column, missing columns, a header alone or random bytes give one
  LandclassError naming the file.
* A STAC item (``<item>.json`` beside ``B02.tif``...) holding any JSON opens as a stack or gives one
  LandclassError.
"""
from __future__ import annotations

import csv
import io
import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from landclass_ui.classifiers import CLASSIFIERS
from landclass_ui.errors import LandclassError, LegendError, RecipeError
from landclass_ui.legend import Legend, LegendEntry, normalize_name
from landclass_ui.recipe import (
    SCHEMA_VERSION,
    ClassifierRef,
    CloudMaskRef,
    DerivedRef,
    ImageRef,
    PairwiseRef,
    Recipe,
    RegionsRef,
    RegularizationRef,
    TrainingRef,
)
from landclass_ui.sensors import SENSORS
from landclass_ui.training import DEFAULT_CLASS_FIELDS, XY_COLUMN_PAIRS, read_training

# derandomized: every run tries the same examples (seeded from each test), so the runtime is the same on every run
# of this shared machine and a failure is reproduced by running the test again; no example database is written
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True,
                    database=None)
DATA = Path(__file__).parent / "data"


def assert_one_clear_line(exc: LandclassError, *names: str) -> None:
    """The message is one line and names one of ``names`` (a file)."""
    message = str(exc)
    assert message.strip() and "\n" not in message.strip(), repr(message)
    assert any(n in message for n in names), f"{message!r} names none of {names}"


# --- recipe JSON ------------------------------------------------------------------------------------------

# text of any script, control characters and quotes included (no lone surrogates: not text)
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
names = st.text(st.characters(exclude_categories=("Cs", "Cc", "Co", "Cn", "Zl", "Zp")), min_size=1,
                max_size=12).filter(lambda s: s.strip() != "")
paths = st.from_regex(r"/[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}\.(tif|jp2|gpkg|geojson|csv)", fullmatch=True)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), any_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                 st.dictionaries(any_text, inner, max_size=3)),
                           max_leaves=8)


@st.composite
def legend_lists(draw) -> list[dict]:
    n = draw(st.integers(1, 5))
    values = draw(st.lists(st.integers(0, 254), min_size=n, max_size=n, unique=True))
    colors = draw(st.lists(st.integers(0, 0xFFFFFF), min_size=n, max_size=n, unique=True))
    labels = draw(st.lists(names, min_size=n, max_size=n, unique_by=normalize_name))
    return Legend(LegendEntry(v, s, f"#{c:06x}") for v, s, c in zip(values, labels, colors)).to_list()


optional_names = st.none() | names
points = st.lists(st.fixed_dictionaries({"x": st.floats(-180, 180), "y": st.floats(-90, 90),
                                         "class": st.integers(0, 254)}), min_size=1, max_size=4)
file_refs = st.builds(TrainingRef, kind=st.just("file"), path=paths, class_field=optional_names,
                      layer=optional_names, remap=st.dictionaries(names, optional_names, max_size=3),
                      filter=optional_names, x=optional_names, y=optional_names, geometry=optional_names)
point_refs = st.builds(TrainingRef, kind=st.just("points"), points=points, source=optional_names)


@st.composite
def image_refs(draw) -> ImageRef:
    scale = draw(st.none() | st.floats(1e-6, 10))
    return ImageRef(draw(paths), draw(st.none() | st.lists(names, min_size=1, max_size=3)),
                    draw(st.none() | st.sampled_from([10, 20, 60, 10.0])), scale,
                    0.0 if scale is None else draw(st.floats(-1, 1)))


@st.composite
def classifier_refs(draw) -> ClassifierRef:
    name = draw(st.sampled_from(sorted(CLASSIFIERS)))
    params = [p for p in CLASSIFIERS[name].params if p.default is not None]
    chosen = draw(st.lists(st.sampled_from(params), unique_by=lambda p: p.name) if params else st.just([]))
    return ClassifierRef(name, {p.name: p.default for p in chosen})


aux_entries = st.one_of(st.sampled_from(["latitude", "longitude"]),
                        st.fixed_dictionaries({"layer": st.sampled_from(["terrain", "water"]), "path": paths,
                                               "bands": st.none() | st.lists(names, max_size=2)}))
# pairwise bands without an operation derive nothing, and are not saved (the recipe layout leaves an empty
# ``derived`` out)
pairwise_refs = st.one_of(
    st.just(PairwiseRef()),
    st.builds(PairwiseRef, st.lists(st.sampled_from(["nd", "ratio", "difference"]), min_size=1, max_size=2),
              st.lists(names, max_size=3)))
derived_refs = st.builds(DerivedRef,
                         pairwise=pairwise_refs,
                         indices=st.lists(st.sampled_from(["ndvi", "ndwi", "evi"]), max_size=2),
                         sensor=st.none() | st.sampled_from(list(SENSORS)),
                         roles=st.dictionaries(st.sampled_from(["red", "nir", "swir1"]), names, max_size=2))


@st.composite
def regularizations(draw) -> RegularizationRef:
    """A majority window and/or a minimum mapping unit; the unit is saved with the unit it measures, so it is
    "px" (the default) when there is none."""
    mmu = draw(st.none() | st.floats(0.01, 100))
    unit = draw(st.sampled_from(["px", "ha"])) if mmu is not None else "px"
    return RegularizationRef(draw(st.none() | st.sampled_from([3, 5, 7, 9])), mmu, unit)


@st.composite
def recipes(draw) -> Recipe:
    """A valid recipe, every section used (absolute paths, so that loading does not change them)."""
    return Recipe(
        name=draw(names),
        images=draw(st.lists(image_refs(), min_size=1, max_size=3)),
        legend=draw(st.none() | legend_lists()),
        training=draw(st.lists(st.one_of(file_refs, point_refs), min_size=1, max_size=3)),
        classifier=draw(classifier_refs()),
        auxiliary=draw(st.lists(aux_entries, max_size=2)),
        derived=draw(derived_refs),
        cloud_mask=draw(st.builds(CloudMaskRef, st.booleans(), st.booleans(), st.none() | paths, st.booleans())),
        regularization=draw(regularizations()),
        regions=draw(st.none() | st.builds(RegionsRef, paths, names, optional_names)),
    )


@SETTINGS
@given(recipe=recipes())
def test_a_valid_recipe_round_trips(recipe):
    recipe.validate()
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert Recipe.from_dict(json.loads(recipe.to_json())) == recipe
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipe.json"
        recipe.save(path)
        assert Recipe.load(path) == recipe


@st.composite
def mangled(draw, value):
    """``value`` (a recipe's JSON, or a part of it) with keys removed, added, set to random JSON, or wrapped in
    a list or an object; the same mangling one level down inside dicts and lists."""
    if isinstance(value, dict):
        out = {}
        for key, v in value.items():
            action = draw(st.sampled_from(["keep", "keep", "recurse", "drop", "random", "wrap"]))
            if action == "keep":
                out[key] = v
            elif action == "recurse":
                out[key] = draw(mangled(v))
            elif action == "random":
                out[key] = draw(json_values)
            elif action == "wrap":
                out[key] = draw(st.sampled_from([[v], {"value": v}]))
        out.update(draw(st.dictionaries(any_text, json_values, max_size=2)))  # extra keys
        return out
    if isinstance(value, list) and value:
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], draw(mangled(value[i])), *value[i + 1:]]
    return draw(st.one_of(st.just(value), json_values))


versions = st.one_of(st.just(SCHEMA_VERSION), st.sampled_from([0, 2, 99, "1", None, 1.5]), json_values)


@st.composite
def recipe_like(draw) -> object:
    """A recipe's JSON mangled (mostly version 1, so that the sections are read), or any JSON value."""
    d = draw(mangled(draw(recipes()).to_dict()))
    if isinstance(d, dict) and draw(st.integers(0, 4)) == 0:
        d["schema_version"] = draw(versions)
    elif isinstance(d, dict):
        d["schema_version"] = SCHEMA_VERSION
    return draw(st.one_of(st.just(d), st.just(d), st.just(d), json_values))


@settings(SETTINGS, max_examples=250)
@given(d=recipe_like())
@example(d={"schema_version": 1, "classifier": {"params": "ab"}})
@example(d={"schema_version": 1, "images": [{"path": "a.tif", "scale": "x"}]})
@example(d={"schema_version": 1, "images": [{"path": "a.tif", "scale": 10**400}]})
@example(d={"schema_version": 1, "images": [{"path": "a.tif"}], "training": [{"kind": "points", "points": []}],
            "legend": [{"value": float("inf"), "name": "a", "color": "#000000"}]})
@example(d={"schema_version": 1, "images": [{"path": "a.tif"}], "training": [{"kind": "points", "points": []}],
            "legend": [{"value": 1, "name": "a", "color": [float("inf"), 0, 0]}]})
@example(d={"schema_version": 1, "images": [{"path": "a.tif"}], "training": [{"kind": "points", "points": []}],
            "classifier": {"name": "random-forest", "params": {"n_trees": 10**400}}})
def test_from_dict_returns_a_recipe_or_raises_recipe_error(d):
    try:
        recipe = Recipe.from_dict(d)
    except RecipeError as exc:
        assert_one_clear_line(exc, "recipe")
        return
    assert isinstance(recipe, Recipe)
    try:
        recipe.validate()  # what the pipeline does next
    except LandclassError as exc:
        assert_one_clear_line(exc, "")
    again = Recipe.from_dict(json.loads(recipe.to_json()))  # what it accepts saves and loads back
    assert again.to_json() == recipe.to_json()


def _load_bytes(data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "my recipe.json"
        path.write_bytes(data)
        try:
            return Recipe.load(path)
        except RecipeError as exc:
            assert_one_clear_line(exc, "my recipe.json")
            return exc


def _encodable(d, enc):
    try:
        return json.dumps(d, ensure_ascii=False).encode(enc)
    except UnicodeEncodeError:
        return json.dumps(d).encode(enc)


@settings(SETTINGS, max_examples=150)
@given(data=st.one_of(st.binary(max_size=200), st.text(max_size=80).map(lambda t: t.encode("utf-8")),
                      st.builds(_encodable, recipe_like(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16",
                                                                           "latin-1"]))))
@example(data=b"[" * 100_000)  # nesting deeper than Python's recursion limit
@example(data=b'{"schema_version": 1, "name": ' + b"7" * 5000 + b"}")  # more digits than Python converts
@example(data=b'{"schema_version": 1, "images": [{"path": "a.tif", "scale": "x"}]}')
@example(data=b'{"schema_version": 2}')
@example(data=b"\xef\xbb\xbf{}")
def test_load_of_any_bytes_gives_a_recipe_or_one_recipe_error(data):
    result = _load_bytes(data)
    assert isinstance(result, (Recipe, RecipeError))


# --- CSV points: training data and reference samples -------------------------------------------------------

#: cells pandas' CSV reader takes for a missing value (its default ``na_values``) or a boolean, in any column
PANDAS_NA = {"#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
             "NULL", "NaN", "None", "n/a", "nan", "null"}
PANDAS_BOOL = {"True", "False", "TRUE", "FALSE", "true", "false"}


def _number_like(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: class names as people write them: letters of any script, digits, spaces, punctuation, separators, quotes; not
#: the words pandas reads as missing or boolean, nor numbers (a class column of numbers is read as numbers: the
#: integer classes are drawn separately)
class_names = st.text(st.one_of(st.characters(categories=("L", "N", "P", "S", "Zs")),
                                st.sampled_from(list(",;\t\"' #éçø"))), min_size=1, max_size=10)
class_names = class_names.map(str.strip).filter(lambda s: s and s not in PANDAS_NA | PANDAS_BOOL
                                                and not _number_like(s))


def _case(draw, word: str) -> str:
    return draw(st.sampled_from([word, word.upper(), word.capitalize()]))


@st.composite
def point_tables(draw) -> dict:
    """Points (lon/lat degrees) with their classes (all integers or all names), the column names and order, other
    columns, and how the CSV is written."""
    n = draw(st.integers(1, 8))
    xs = draw(st.lists(st.floats(-180, 180), min_size=n, max_size=n))
    ys = draw(st.lists(st.floats(-90, 90), min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, 254), min_size=n, max_size=n) | st.lists(class_names, min_size=n,
                                                                                     max_size=n))
    xname, yname = draw(st.sampled_from(XY_COLUMN_PAIRS))
    columns = {"x": _case(draw, xname), "y": _case(draw, yname), "class": _case(draw, draw(
        st.sampled_from(DEFAULT_CLASS_FIELDS)))}
    extra = draw(st.lists(st.sampled_from(["note", "id", "editor", "confidence"]), unique=True, max_size=2))
    order = draw(st.permutations(["x", "y", "class", *extra]))
    cells = {"x": xs, "y": ys, "class": classes}
    for e in extra:
        cells[e] = draw(st.lists(class_names | st.integers(0, 99).map(str), min_size=n, max_size=n))
        columns[e] = e
    return {"n": n, "cells": cells, "columns": columns, "order": order,
            "sep": draw(st.sampled_from([",", ";", "\t"])),
            "encoding": draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"])),
            "quoting": draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])),
            "eol": draw(st.sampled_from(["\n", "\r\n"]))}


def csv_text(table: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=table["sep"], quoting=table["quoting"], lineterminator=table["eol"])
    writer.writerow([table["columns"][c] for c in table["order"]])
    for i in range(table["n"]):
        writer.writerow([repr(v) if isinstance(v, float) else v
                         for v in (table["cells"][c][i] for c in table["order"])])
    return buf.getvalue()


def encoded(table: dict) -> bytes | None:
    try:
        return csv_text(table).encode(table["encoding"])
    except UnicodeEncodeError:
        return None


def standard(table: dict) -> bool:
    """Comma-separated UTF-8 (a byte-order mark allowed), or bytes that read the same as such a file."""
    if table["sep"] != ",":
        return False
    return table["encoding"] in ("utf-8", "utf-8-sig") or (table["encoding"] != "utf-16"
                                                            and csv_text(table).isascii())


def expected_labels(table: dict) -> list[str]:
    return [str(c).strip() for c in table["cells"]["class"]]


def read_csv_points(data: bytes, reader):
    """``reader(path)`` on the CSV bytes: its frame, or the LandclassError (one line naming the file)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.csv"
        path.write_bytes(data)
        try:
            return reader(path)
        except LandclassError as exc:
            assert_one_clear_line(exc, "points.csv")
            return exc


def assert_same_points(frame, table: dict) -> None:
    assert len(frame) == table["n"]
    assert np.allclose(frame.geometry.x, table["cells"]["x"], rtol=0, atol=1e-9)
    assert np.allclose(frame.geometry.y, table["cells"]["y"], rtol=0, atol=1e-9)
    assert list(frame["label"]) == expected_labels(table)
    assert frame.crs.to_epsg() == 4326


@SETTINGS
@given(table=point_tables())
def test_training_csv_reads_back_or_gives_one_error(table):
    data = encoded(table)
    assume(data is not None)
    result = read_csv_points(data, lambda p: read_training(p))
    if standard(table):
        assert not isinstance(result, LandclassError), f"{result}\n{csv_text(table)}"
    if not isinstance(result, LandclassError):
        assert_same_points(result, table)


def _reference(path, legend: Legend):
    from landclass_ui.pipeline import read_reference

    prepared = SimpleNamespace(stack=SimpleNamespace(crs="EPSG:4326"), legend=legend)
    return read_reference(TrainingRef("file", path=str(path)), prepared).frame


@SETTINGS
@given(table=point_tables(), drop_one=st.booleans())
def test_reference_csv_reads_back_or_names_the_class_missing_from_the_legend(table, drop_one):
    """The reference sample's classes are looked up in the legend; a class it lacks is one LegendError naming
    the class and the reference file."""
    table["columns"]["class"] = "class"  # read_reference takes the class field 'class' by default
    table["sep"], table["encoding"] = ",", "utf-8"
    labels = list(dict.fromkeys(expected_labels(table)))
    kept = labels[1:] if drop_one else labels
    assume(kept)
    legend = Legend.from_labels(kept)
    result = read_csv_points(encoded(table), lambda p: _reference(p, legend))
    if drop_one and normalize_name(labels[0]) not in {normalize_name(k) for k in kept}:
        assert isinstance(result, LegendError), result
        assert repr(labels[0]) in str(result)
    else:
        assert not isinstance(result, LandclassError), f"{result}\n{csv_text(table)}"
        assert_same_points(result, table)


def test_csv_classes_that_pandas_reads_as_missing_or_boolean():
    """What pandas' type inference does to such class cells, as the reader passes it on: True/False keep their
    words (not 1/0), a cell "NA" is a missing class whose point is left out with a message."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "points.csv"
        path.write_text("lon,lat,class\n1.5,2.5,True\n1.5,2.6,false\n1.5,2.7,NA\n")
        frame = read_training(path)
    assert list(frame["label"]) == ["True", "False"]
    assert frame.attrs["messages"] == [f"1 feature(s) of {path} without class or geometry ignored"]


@st.composite
def broken_tables(draw) -> bytes:
    """A valid table broken: a coordinate cell holding text, a coordinate or the class column dropped, the
    header alone, or nothing."""
    table = draw(point_tables())
    table["sep"], table["encoding"] = ",", "utf-8"
    how = draw(st.sampled_from(["text in x", "text in y", "no x", "no class", "header only", "empty", "blank"]))
    if how in ("text in x", "text in y"):
        col = how[-1]
        i = draw(st.integers(0, table["n"] - 1))
        word = draw(st.text(st.characters(categories=("L", "P", "Zs")), min_size=1, max_size=8).filter(
            lambda s: s.strip() and s.strip().lower() not in ("inf", "nan", "infinity")))
        table["cells"][col] = [*table["cells"][col][:i], word, *table["cells"][col][i + 1:]]
    elif how in ("no x", "no class"):
        table["order"] = [c for c in table["order"] if c != how[3:]]
    elif how == "header only":
        table["n"] = 0
    text = csv_text(table)
    return {"empty": b"", "blank": b" \n\n"}.get(how, text.encode("utf-8"))


@SETTINGS
@given(data=st.one_of(broken_tables(), st.binary(max_size=120)))
@example(data=b"lon,lat,class\n")
@example(data=b"lon,lat,class\n1,2\n")
@example(data=b"lon,lat,class\n1,2,3,4,5\n")
@example(data=b"lon,lat,class\n\"1,2,forest\n")
@example(data=b"\xff\xfel\x00o\x00n\x00")
def test_broken_csv_points_give_one_clear_error(data):
    result = read_csv_points(data, lambda p: read_training(p))
    if data.startswith(b"lon,lat,class\n") or not data.strip():
        assert isinstance(result, LandclassError)
    if not isinstance(result, LandclassError):  # random bytes may happen to be a table of points
        assert len(result) and result.crs.to_epsg() == 4326


@SETTINGS
@given(table=broken_tables())
def test_a_broken_table_is_never_read_as_points(table):
    """Every way :func:`broken_tables` breaks a table is an error, never points read without a column."""
    result = read_csv_points(table, lambda p: read_training(p))
    assert isinstance(result, LandclassError), result


# --- the STAC item of a band folder ------------------------------------------------------------------------

STAC = DATA / "s2_t33twl/S2A_33TWL_20230815_0_L2A"


@st.composite
def stac_items(draw) -> object:
    """The real item with its properties and assets mangled, or any JSON value."""
    item = json.loads((STAC / f"{STAC.name}.json").read_text())
    return draw(st.one_of(mangled(item), json_values))


@settings(SETTINGS, max_examples=40)
@given(item=stac_items())
def test_any_stac_item_opens_or_gives_one_clear_error(item):
    from landclass_ui.imagery import open_image

    with tempfile.TemporaryDirectory() as folder:
        band_folder = Path(folder) / STAC.name
        band_folder.mkdir()
        shutil.copyfile(STAC / "B02.tif", band_folder / "B02.tif")
        (band_folder / f"{STAC.name}.json").write_text(json.dumps(item))
        try:
            stack = open_image(band_folder, cloud_mask=False)
        except LandclassError as exc:
            assert_one_clear_line(exc, STAC.name)
            return
        values = stack.read()
        assert values.shape == (1, 150, 150)
        scale = stack.bands[0].scale
        assert np.isfinite(scale) and np.isfinite(stack.bands[0].offset) and scale != 0
