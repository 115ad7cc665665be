"""Moved files found again (landclass_ui.relocate), in the engine, the CLI (``--relocate``) and the dashboard
(the bar above the map, and a training file that stops working left out without blocking the others).

Real scenes of two layouts: the T11UPT Sentinel-2 JP2 band files (UTM 11N) with the shapefile of
polygons, and the Landsat 5 band GeoTIFFs (UTM 22S) with a GeoPackage. The data folder is copied into tmp_path,
a recipe is made on the copy, and the copy is moved: as a user moves a project folder or copies it to another
machine.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from landclass_ui.errors import RecipeError
from landclass_ui.legend import Legend
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.relocate import missing_files, recipe_files, relocate
from landclass_ui.training import read_training

DATA = Path(__file__).parent / "data"
LANDCLASS = [sys.executable, "-m", "landclass_ui.cli"]

SCENES = {
    # name: (data folder, images relative to it, training file, class field)
    "s2-t11upt-jp2": ("s2_t11upt", [f"T11UPT_20200804T183919_{b}_60m.jp2" for b in ("B02", "B03", "B04", "B8A")],
                      "landcover.shp", "MC_name"),
    "l5-band-files": ("l5_amazon", [f"LT52240631988227CUB02_B{i}.TIF" for i in (1, 2, 3, 4, 5, 7)],
                      "training_polygons.gpkg", "class"),
}


def project(tmp_path: Path, scene: str) -> tuple[Recipe, Path]:
    """A copy of the scene's folder as ``<tmp>/old/project/<scene>/`` and a recipe (saved beside the work, not in
    the project) on it; returns the recipe and the project folder."""
    folder, images, training, field = SCENES[scene]
    root = tmp_path / "old" / "project"
    shutil.copytree(DATA / folder, root / folder)
    labels = read_training(root / folder / training, field)["label"]
    recipe = Recipe(name=scene, images=[ImageRef(str(root / folder / i)) for i in images],
                    legend=Legend.from_labels(sorted(set(labels))).to_list(),
                    training=[TrainingRef("file", path=str(root / folder / training), class_field=field)])
    return recipe, root


def move(root: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(root), str(to))
    return to


@pytest.mark.parametrize("scene", list(SCENES))
def test_a_moved_project_is_found_again_from_its_new_folder_or_one_above(tmp_path, scene):
    recipe, root = project(tmp_path, scene)
    assert missing_files(recipe) == []
    new_root = move(root, tmp_path / "new" / "disk" / "project")
    missing = missing_files(recipe)
    assert [u.section for u in missing] == ["image"] * len(recipe.images) + ["training"]
    # the folder the project is in now, or any folder above it: same result
    for folder in (new_root, new_root.parent, tmp_path / "new"):
        moved = Recipe.from_dict(recipe.to_dict())
        result = relocate(moved, folder)
        assert result.missing == [] and len(result.found) == len(missing)
        assert missing_files(moved) == []
        for use in recipe_files(moved):
            assert use.path.startswith(str(new_root)), use
    # the relocated recipe runs: the CLI reads every band and the training file from the new place
    moved.save(tmp_path / "recipe.json")
    out = tmp_path / "map.tif"
    done = subprocess.run([*LANDCLASS, "run", str(tmp_path / "recipe.json"), "-o", str(out), "-q"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with rasterio.open(out) as src:
        assert src.count == 1 and (src.read(1) != src.nodata).mean() > 0.9


def test_same_name_in_two_folders_follows_the_old_parent_folders(tmp_path):
    """Two copies named the same: the one under the folder named as before is taken; a true tie is reported,
    never guessed."""
    recipe, root = project(tmp_path, "l5-band-files")
    new_root = move(root, tmp_path / "new" / "project")
    decoy = tmp_path / "new" / "other" / "l5_amazon_old"
    decoy.mkdir(parents=True)
    shutil.copy(new_root / "l5_amazon" / "training_polygons.gpkg", decoy)
    # the parent folder "l5_amazon" decides (the walk finds both; the suffix step finds none from tmp/new)
    result = relocate(Recipe.from_dict(recipe.to_dict()), tmp_path / "new")
    assert result.missing == [] and all("/project/l5_amazon/" in p for p in result.found.values())
    # a tie: the same name under two folders that match the old parent folders equally well
    for copy in ("a", "b"):
        twin = tmp_path / "ties" / copy / "l5_amazon"
        twin.mkdir(parents=True)
        shutil.copy(new_root / "l5_amazon" / "training_polygons.gpkg", twin)
    tied = Recipe.from_dict(recipe.to_dict())
    result = relocate(tied, tmp_path / "ties")
    gpkg = recipe.training[0].path
    assert gpkg in result.missing and len(result.ambiguous[gpkg]) == 2
    assert tied.training[0].path == gpkg  # left as it was
    assert len(result.missing) == 1 + len(recipe.images)  # the bands are not under that folder at all
    assert "several files of that name" in result.message(str(tmp_path / "ties"))


def test_relocate_refuses_a_folder_that_is_not_one(tmp_path):
    recipe, _ = project(tmp_path, "s2-t11upt-jp2")
    with pytest.raises(RecipeError, match="not a folder"):
        relocate(recipe, tmp_path / "nowhere")


@pytest.mark.parametrize("scene", list(SCENES))
def test_cli_run_names_the_missing_files_and_finds_them_with_relocate(tmp_path, scene):
    recipe, root = project(tmp_path, scene)
    recipe.save(tmp_path / "recipe.json")
    new_root = move(root, tmp_path / "elsewhere")
    out = tmp_path / "map.tif"
    bad = subprocess.run([*LANDCLASS, "run", str(tmp_path / "recipe.json"), "-o", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "not found" in bad.stderr and "--relocate FOLDER" in bad.stderr and not out.exists()
    wrong = subprocess.run([*LANDCLASS, "run", str(tmp_path / "recipe.json"), "-o", str(out),
                            "--relocate", str(tmp_path / "old")], capture_output=True, text=True)
    assert wrong.returncode == 2 and "not under" in wrong.stderr and not out.exists()
    good = subprocess.run([*LANDCLASS, "run", str(tmp_path / "recipe.json"), "-o", str(out),
                           "--relocate", str(new_root)], capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "--relocate: found" in good.stderr and out.exists()
    assert Recipe.load(tmp_path / "recipe.json").to_dict() == recipe.to_dict()  # the recipe file is untouched


# --- the dashboard -------------------------------------------------------------------------------------------


def _app(workdir):
    from landclass_ui.ui.app import LandclassApp

    app = LandclassApp(workdir=workdir, routing="proxy")
    app.wait_idle()
    return app


@pytest.mark.parametrize("scene", list(SCENES))
def test_dashboard_shows_the_missing_files_and_finds_them(tmp_path, scene):
    """A work folder whose recipe's data folder was moved: the page names the missing files above the map; the
    user types the new folder and presses Find files; the recipe points there, the image opens and the map is
    classified, and the bar goes away."""
    recipe, root = project(tmp_path, scene)
    work = tmp_path / "work"
    work.mkdir()
    recipe.save(work / "recipe.json")
    new_root = move(root, tmp_path / "moved" / "project")
    app = _app(work)
    box = app.relocate
    assert box.panel.layout.display == "flex"
    assert f"{len(recipe.images) + 1} file(s) of this recipe are not found" in box.missing.value
    assert "not found" in app.message.value and "classified with" not in app.status.value
    before = app.store.recipe.to_dict()

    box.find_button.click()  # nothing typed
    assert "type the folder" in box.message.value and app.store.recipe.to_dict() == before
    box.folder.value = str(tmp_path / "old")  # a folder that does not hold them: nothing changes
    box.find_button.click()
    assert "landclass-msg-error" in box.message.value and "found 0 of" in box.message.value
    assert app.store.recipe.to_dict() == before

    box.folder.value = str(new_root.parent)
    box.find_button.click()
    app.wait_idle()
    assert "landclass-msg-ok" in box.message.value, box.message.value
    assert box.panel.layout.display == "none"
    assert all(u.path.startswith(str(new_root)) for u in recipe_files(app.store.recipe))
    assert Recipe.load(work / "recipe.json").images[0].path.startswith(str(new_root))  # saved
    assert "classified with" in app.status.value, (app.status.value, app.message.value)
    assert app.live is not None and len(app.store.recipe.legend) >= 2


def test_dashboard_leaves_out_a_training_file_that_stopped_working(tmp_path):
    """Two training files, one then deleted: the page keeps training on the other one, says which file was left
    out and why, flags it in TRN's list; removing it in TRN clears the flag and the message."""
    recipe, root = project(tmp_path, "s2-t11upt-jp2")
    folder = root / "s2_t11upt"
    for part in ("shp", "shx", "dbf", "prj"):
        shutil.copy(folder / f"landcover.{part}", folder / f"second.{part}")
    recipe.training.append(TrainingRef("file", path=str(folder / "second.shp"), class_field="MC_name"))
    work = tmp_path / "work"
    work.mkdir()
    recipe.save(work / "recipe.json")
    app = _app(work)
    assert "classified with" in app.status.value, app.message.value
    both = app.live.samples_used.frame.shape[0]
    # TRN lists each file with the training pixels per class it gave: the same for the two copies, half each
    counts = app.trn.file_counts
    assert counts[str(folder / "landcover.shp")] == counts[str(folder / "second.shp")]
    assert sum(counts[str(folder / "second.shp")].values()) == both // 2
    name, n = next(iter(counts[str(folder / "second.shp")].items()))
    assert app.trn.files.value.count(f"training pixels: {name} {n:,}") == 2
    for part in ("shp", "shx", "dbf", "prj"):
        (folder / f"second.{part}").unlink()
    app = _app(work)  # a new page (kernel restart) on the work folder
    assert "classified with" in app.status.value, app.message.value
    assert app.live.samples_used.frame.shape[0] == both // 2
    assert "training file second.shp left out (not found)" in app.message.value
    assert "landclass-file-broken" in app.trn.files.value and "second.shp" in app.trn.files.value
    assert app.trn.files.value.count("training pixels:") == 1  # only the file still used
    assert app.relocate.panel.layout.display == "flex" and "second.shp" in app.relocate.missing.value
    # TRN: remove the broken file (its button); the rest stays
    buttons = [b for b in app.trn.file_buttons.children if "second.shp" in b.description]
    buttons[0].click()
    app.wait_idle()
    assert [Path(t.path).name for t in app.store.recipe.training if t.kind == "file"] == ["landcover.shp"]
    assert "landclass-file-broken" not in app.trn.files.value
    assert app.relocate.panel.layout.display == "none"
    assert "left out" not in app.message.value and "classified with" in app.status.value


def test_a_recipe_without_legend_gets_one_from_its_training_file(tmp_path):
    """A recipe written by hand or by a script, with images and a training file but no legend: the page makes the
    legend from the file's classes, as ``landclass run`` does, and classifies (was: 'the legend has no class')."""
    recipe, root = project(tmp_path, "l5-band-files")
    recipe.legend = None
    work = tmp_path / "work"
    work.mkdir()
    recipe.save(work / "recipe.json")
    app = _app(work)
    assert [e["name"] for e in app.store.recipe.legend] == ["cleared", "fallen_dry", "forest", "water"]
    assert "classified with" in app.status.value, (app.status.value, app.message.value)
    assert Recipe.load(work / "recipe.json").legend == app.store.recipe.legend  # saved


def test_an_unreadable_recipe_is_kept_aside_and_said_in_red(tmp_path):
    """Two damaged recipe files in turn: each is kept (recipe.json.corrupt, then .corrupt2), the page says in red
    what was wrong and where the file went, and starts on the default recipe."""
    work = tmp_path / "work"
    work.mkdir()
    texts = ['{"schema_version": 99, "name": "from the future"}', '{"schema_version": 1, "images": [']
    shown = []
    for text in texts:
        (work / "recipe.json").write_text(text)
        app = _app(work)
        assert "landclass-msg-error" in app.message.value
        shown.append(app.message.value)
    assert (work / "recipe.json.corrupt").read_text() == texts[0]
    assert (work / "recipe.json.corrupt2").read_text() == texts[1]
    assert "update landclass" in shown[0] and "recipe.json.corrupt " in shown[0]
    assert "not valid JSON" in shown[1] and "recipe.json.corrupt2" in shown[1]
    assert app.store.recipe.images and "classified" not in app.message.value  # the default recipe, usable


def test_a_new_recipe_with_an_image_and_no_class_yet_shows_no_error(tmp_path):
    """A new recipe (no legend yet) whose image is opened while the page's first pass is still queued: drawing
    the (absent) training files must not fail with 'the legend has no class' (seen in the browser after New and
    Open on the Landsat 8 crop)."""
    recipe, _ = project(tmp_path, "l5-band-files")
    recipe.legend, recipe.training = None, [TrainingRef("points", points=[])]
    work = tmp_path / "work"
    work.mkdir()
    recipe.save(work / "recipe.json")
    app = _app(work)
    app._schedule("image", "polygons")
    app.wait_idle()
    assert "landclass-msg-error" not in app.message.value, app.message.value
    assert "at least two classes" in app.status.value
