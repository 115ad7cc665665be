"""Tests of landclass_ui.recipe: default name, JSON round trip, loading errors, validation, atomic writes."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat

import pytest

from landclass_ui import _files as files_mod
from landclass_ui._files import atomic_write_text
from landclass_ui.errors import ClassifierError, LandclassError, LegendError, RecipeError
from landclass_ui.recipe import (
    SCHEMA_VERSION,
    ClassifierRef,
    ImageRef,
    Recipe,
    TrainingRef,
    default_name,
)


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_(mask):
        os.umask(mask)

    yield set_
    os.umask(saved)


def full_recipe(base) -> Recipe:
    return Recipe(
        name="Classification_2026-11-22_10-31-05",
        images=[
            ImageRef(str(base / "S2A_MSIL2A.SAFE"), ["B02", "B03", "B04", "B08"], 10.0),
            ImageRef(str(base / "dem.tif"), None, None),
        ],
        legend=[
            {"value": 1, "name": "FARM", "color": "#94ff00"},
            {"value": 2, "name": "forêt", "color": "#007f46"},
        ],
        training=[
            TrainingRef(kind="file", path=str(base / "polygons.geojson"), class_field="class", layer="plots"),
            TrainingRef(kind="points", points=[{"x": 1.44, "y": 43.6, "class": 1}, {"x": 1.5, "y": 43.7, "class": 2}]),
        ],
        classifier=ClassifierRef("random-forest", {"n_trees": 50, "seed": 3}),
    )


def tmp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".")]


# --- default name ---------------------------------------------------------------------------------------


def test_default_name_format_for_given_time():
    assert default_name(dt.datetime(2026, 3, 4, 5, 6, 7)) == "Classification_2026-03-04_05-06-07"
    assert default_name(dt.datetime(1999, 12, 31, 23, 59, 58)) == "Classification_1999-12-31_23-59-58"


def test_default_name_uses_now():
    before = dt.datetime.now().replace(microsecond=0)
    name = default_name()
    after = dt.datetime.now()
    match = re.fullmatch(r"Classification_(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})", name)
    assert match, name
    stamp = dt.datetime.strptime(match.group(1), "%Y-%m-%d_%H-%M-%S")
    assert before <= stamp <= after


def test_new_recipe_has_default_name_and_classifier():
    r = Recipe()
    assert re.fullmatch(r"Classification_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}", r.name)
    assert r.classifier.name == "random-forest"
    assert r.schema_version == SCHEMA_VERSION == 1


# --- JSON round trip -------------------------------------------------------------------------------------


def test_to_json_layout(tmp_path):
    d = json.loads(full_recipe(tmp_path).to_json())
    assert list(d)[0] == "schema_version"
    assert d["schema_version"] == 1
    assert set(d) == {"schema_version", "name", "images", "legend", "training", "classifier", "auxiliary"}
    assert d["auxiliary"] == []
    assert d["images"][0] == {
        "path": str(tmp_path / "S2A_MSIL2A.SAFE"),
        "bands": ["B02", "B03", "B04", "B08"],
        "resolution": 10.0,
    }
    assert d["training"][1]["kind"] == "points"
    assert d["training"][1]["points"][0] == {"x": 1.44, "y": 43.6, "class": 1}
    assert d["classifier"] == {"name": "random-forest", "params": {"n_trees": 50, "seed": 3}}
    assert "forêt" in full_recipe(tmp_path).to_json()  # not escaped


def test_save_load_round_trip(tmp_path):
    original = full_recipe(tmp_path)
    path = tmp_path / "recipe.json"
    original.save(path)
    loaded = Recipe.load(path)
    assert loaded == original
    assert loaded.legend_object().value_of("farm") == 1
    assert loaded.training[1].points == [{"x": 1.44, "y": 43.6, "class": 1}, {"x": 1.5, "y": 43.7, "class": 2}]


def test_round_trip_without_legend(tmp_path):
    original = full_recipe(tmp_path)
    original.legend = None
    path = tmp_path / "recipe.json"
    original.save(path)
    loaded = Recipe.load(path)
    assert loaded == original
    assert loaded.legend_object() is None


def test_relative_paths_resolved_against_recipe_folder(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    d = {
        "schema_version": 1,
        "name": "r",
        "images": [{"path": "images/stack.tif"}, {"path": "../shared/dem.tif"}],
        "training": [
            {"kind": "file", "path": "train.gpkg", "class_field": "lc"},
            {"kind": "points", "points": [{"x": 0.0, "y": 0.0, "class": 1}]},
        ],
    }
    (folder / "recipe.json").write_text(json.dumps(d), encoding="utf-8")
    loaded = Recipe.load(folder / "recipe.json")
    base = folder.resolve()
    assert loaded.images[0].path == str(base / "images" / "stack.tif")
    assert loaded.images[1].path == str(tmp_path.resolve() / "shared" / "dem.tif")
    assert loaded.training[0].path == str(base / "train.gpkg")
    assert loaded.training[1].path is None
    # defaults filled in for missing sections
    assert loaded.images[0].bands is None
    assert loaded.legend is None
    assert loaded.classifier == ClassifierRef("random-forest", {})


def test_load_with_relative_recipe_path(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    d = {"schema_version": 1, "images": [{"path": "a.tif"}], "training": []}
    (tmp_path / "sub" / "r.json").write_text(json.dumps(d), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    loaded = Recipe.load("sub/r.json")
    assert loaded.images[0].path == str(tmp_path.resolve() / "sub" / "a.tif")


def test_absolute_paths_kept(tmp_path):
    absolute = str(tmp_path.resolve() / "elsewhere" / "x.tif")
    d = {"schema_version": 1, "images": [{"path": absolute}]}
    assert Recipe.from_dict(d, base="/some/other/folder").images[0].path == absolute


def test_missing_name_gets_default(tmp_path):
    loaded = Recipe.from_dict({"schema_version": 1})
    assert loaded.name.startswith("Classification_")


# --- load errors -----------------------------------------------------------------------------------------


def test_recipe_error_is_a_landclass_error():
    assert issubclass(RecipeError, LandclassError)


def test_load_missing_file(tmp_path):
    with pytest.raises(RecipeError, match="not found"):
        Recipe.load(tmp_path / "nope.json")


@pytest.mark.parametrize("text", ["", "   \n\n"])
def test_load_empty_file(tmp_path, text):
    path = tmp_path / "r.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError, match="empty"):
        Recipe.load(path)


def test_load_corrupt_json(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{\n  "schema_version": 1,\n  "name": "x"\n', encoding="utf-8")  # truncated
    with pytest.raises(RecipeError, match=r"not valid JSON \(line \d+"):
        Recipe.load(path)


def test_load_directory(tmp_path):
    with pytest.raises(RecipeError, match="cannot read recipe"):
        Recipe.load(tmp_path)


def test_load_not_utf8(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(b'{"name": "\xff\xfe"}')
    with pytest.raises(RecipeError, match="cannot read recipe"):
        Recipe.load(path)


@pytest.mark.parametrize("version", [2, 0, None, "1"])
def test_load_wrong_schema_version(tmp_path, version):
    path = tmp_path / "r.json"
    d = {"name": "x", "images": []}
    if version is not None:
        d["schema_version"] = version
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(RecipeError, match=r"schema version .* is not supported .*reads 1"):
        Recipe.load(path)


def test_load_json_not_an_object(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(RecipeError, match="JSON object"):
        Recipe.load(path)


@pytest.mark.parametrize(
    "d",
    [
        {"schema_version": 1, "images": [{"bands": ["B02"]}]},  # image without path
        {"schema_version": 1, "images": None},
        {"schema_version": 1, "training": ["polygons.geojson"]},
        {"schema_version": 1, "classifier": "random-forest"},
    ],
)
def test_malformed_sections(d):
    with pytest.raises(RecipeError, match="malformed recipe"):
        Recipe.from_dict(d)


# --- validate --------------------------------------------------------------------------------------------


def valid_recipe() -> Recipe:
    return Recipe(
        name="r",
        images=[ImageRef("/data/stack.tif")],
        training=[TrainingRef(kind="points", points=[{"x": 0, "y": 0, "class": 1}])],
    )


def test_validate_accepts_valid_recipe(tmp_path):
    valid_recipe().validate()
    full_recipe(tmp_path).validate()


def test_validate_no_image():
    r = valid_recipe()
    r.images = []
    with pytest.raises(RecipeError, match="no image"):
        r.validate()


def test_validate_no_training():
    r = valid_recipe()
    r.training = []
    with pytest.raises(RecipeError, match="no training data"):
        r.validate()


def test_validate_training_file_without_path():
    r = valid_recipe()
    r.training = [TrainingRef(kind="file", path=None)]
    with pytest.raises(RecipeError, match="no path"):
        r.validate()


def test_validate_unknown_training_kind():
    r = valid_recipe()
    r.training = [TrainingRef(kind="raster", path="x.tif")]
    with pytest.raises(RecipeError, match="unknown training data kind 'raster'"):
        r.validate()


def test_validate_bad_classifier_param():
    r = valid_recipe()
    r.classifier = ClassifierRef("random-forest", {"n_trees": 0})
    with pytest.raises(ClassifierError, match="n_trees"):
        r.validate()


def test_validate_unknown_classifier_param():
    r = valid_recipe()
    r.classifier = ClassifierRef("random-forest", {"depth": 3})
    with pytest.raises(ClassifierError, match="depth"):
        r.validate()


def test_validate_unknown_classifier():
    r = valid_recipe()
    r.classifier = ClassifierRef("k-nearest-neighbours", {})
    with pytest.raises(ClassifierError, match="unknown classifier 'k-nearest-neighbours'"):
        r.validate()


def test_validate_bad_legend():
    r = valid_recipe()
    r.legend = [{"value": 1, "name": "a", "color": "#000000"}, {"value": 1, "name": "b", "color": "#ffffff"}]
    with pytest.raises(LegendError, match="used twice"):
        r.validate()


# --- atomic_write_text -----------------------------------------------------------------------------------


def test_atomic_write_creates_file_and_folders(tmp_path):
    path = tmp_path / "a" / "b" / "recipe.json"
    atomic_write_text(path, "héllo\n")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    assert tmp_files(path.parent) == []


def test_atomic_write_replaces_content(tmp_path):
    path = tmp_path / "recipe.json"
    path.write_text("old content that is longer than the new one\n", encoding="utf-8")
    atomic_write_text(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.json"]


def test_atomic_write_keeps_newlines_verbatim(tmp_path):
    path = tmp_path / "x.csv"
    atomic_write_text(path, "a\r\nb\n")
    assert path.read_bytes() == b"a\r\nb\n"


@pytest.mark.parametrize("step, error", [("replace", "disk full"), ("fsync", "I/O error")])
def test_failed_write_keeps_previous_file(tmp_path, monkeypatch, step, error):
    path = tmp_path / "recipe.json"
    path.write_text("previous\n", encoding="utf-8")

    def broken(*args):
        raise OSError(error)

    monkeypatch.setattr(files_mod.os, step, broken)
    with pytest.raises(OSError, match=error):
        atomic_write_text(path, "new content\n")
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.json"]


def test_failed_save_keeps_previous_recipe(tmp_path, monkeypatch):
    path = tmp_path / "recipe.json"
    first = full_recipe(tmp_path)
    first.save(path)
    second = full_recipe(tmp_path)
    second.name = "changed"
    monkeypatch.setattr(files_mod.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        second.save(path)
    monkeypatch.undo()
    assert Recipe.load(path) == first


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_file_mode_follows_umask(tmp_path, umask, mask, expected):
    umask(mask)
    path = tmp_path / "recipe.json"
    atomic_write_text(path, "{}\n")
    assert stat.S_IMODE(path.stat().st_mode) == expected


def test_saved_recipe_not_private(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "recipe.json"
    valid_recipe().save(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode != 0o600
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH


def test_umask_restored_after_write(tmp_path, umask):
    umask(0o027)
    atomic_write_text(tmp_path / "x.txt", "x")
    current = os.umask(0o027)
    assert current == 0o027
