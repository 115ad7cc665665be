"""``landclass apply``: a recipe made on one real scene (Sentinel-2 T11UPT loose band files, Canada, EPSG:32611)
classifies another (the bundled Sentinel-2 .SAFE, France, EPSG:32631) that has the same bands; an image without
them is refused with the missing bands named."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import rasterio

from landclass_ui.pipeline import apply_recipe
from landclass_ui.recipe import ImageRef, Recipe
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
T11 = [str(DATA / "s2_t11upt" / f"T11UPT_20200804T183919_{b}_60m.jp2") for b in ("B02", "B03", "B04", "B8A")]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", *map(str, args)], capture_output=True,
                          text=True)


def test_apply_a_recipe_to_another_scene(tmp_path):
    made = run_cli("classify", *T11, "-t", DATA / "s2_t11upt" / "landcover.shp", "--class-field", "MC_name",
                   "-o", tmp_path / "t11.tif", "--recipe-out", tmp_path / "t11.json")
    assert made.returncode == 0, made.stderr
    safe = sample_paths().safe
    result = run_cli("apply", tmp_path / "t11.json", safe, "-o", tmp_path / "applied.tif", "--probability")
    assert result.returncode == 0, result.stderr
    assert "regularization: majority 3x3 changed" in result.stderr  # the recipe's preset came along
    with rasterio.open(tmp_path / "applied.tif") as out, rasterio.open(tmp_path / "t11.tif") as src, \
            rasterio.open(next(Path(safe).glob("GRANULE/*/IMG_DATA/R60m/*_B04_60m.jp2"))) as band:
        assert out.crs == band.crs and out.transform == band.transform  # the new scene's grid
        assert out.colormap(1) == src.colormap(1)  # the recipe's legend
        classes = out.read(1)
    present = set(np.unique(classes).tolist()) - {255}
    assert len(present) >= 3 and present <= {1, 2, 3, 4}
    # the same as the Python API
    python = apply_recipe(Recipe.load(tmp_path / "t11.json"), [ImageRef(safe)], str(tmp_path / "py.tif"),
                          progress=False)
    with rasterio.open(python.classification) as py:
        assert np.array_equal(py.read(1), classes)
    assert (tmp_path / "applied_probability.tif").exists()


def test_an_image_without_the_models_bands_is_refused(tmp_path):
    made = run_cli("classify", *T11, "-t", DATA / "s2_t11upt" / "landcover.shp", "--class-field", "MC_name",
                   "-o", tmp_path / "t11.tif", "--recipe-out", tmp_path / "t11.json")
    assert made.returncode == 0, made.stderr
    folder = DATA / "s2_t33twl" / "S2B_33TWL_20230813_0_L2A"  # B02 B03 B04 B08: no B8A
    result = run_cli("apply", tmp_path / "t11.json", folder, "-o", tmp_path / "x.tif")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "lacks the band(s) B8A" in result.stderr and not (tmp_path / "x.tif").exists()


def test_export_panel_applies_another_recipes_model(tmp_path):
    """The dashboard's Export with "Model of": the T11UPT recipe's classifier on the bundled scene, as a task; a
    recipe whose bands this image lacks is refused before anything starts."""
    import json

    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.tasks import ExportPanel

    made = run_cli("classify", *T11, "-t", DATA / "s2_t11upt" / "landcover.shp", "--class-field", "MC_name",
                   "-o", tmp_path / "t11.tif", "--recipe-out", tmp_path / "t11.json")
    assert made.returncode == 0, made.stderr
    safe = sample_paths().safe
    store = RecipeStore(Recipe(name="here", images=[ImageRef(safe)]), tmp_path / "work" / "recipe.json")
    panel = ExportPanel(store, str(tmp_path / "work"))
    panel.model_recipe.value = str(tmp_path / "t11.json")
    task = panel.start()
    assert task is not None, panel.message.value
    done = panel.wait(300)
    assert done.state == "done", done.message
    out = tmp_path / "work" / "downloads" / "here" / "here.tif"
    with rasterio.open(out) as src, rasterio.open(tmp_path / "t11.tif") as ref:
        assert src.colormap(1) == ref.colormap(1)  # T11UPT's four macroclasses
        assert len(set(np.unique(src.read(1)).tolist()) - {255}) >= 3
    options = json.loads(next((tmp_path / "work" / "tasks").glob("*/options.json")).read_text())
    assert options["model_recipe"] == str(tmp_path / "t11.json")
    # a recipe of images with other bands: refused, with the bands named, no task
    other = Recipe.load(tmp_path / "t11.json")
    other.images = [ImageRef(str(DATA / "s2_t33twl" / "S2B_33TWL_20230813_0_L2A"))]
    other.derived.indices = []
    other.save(tmp_path / "t33.json")
    panel.model_recipe.value = str(tmp_path / "t33.json")
    assert panel.start() is None and "lacks the band(s) B08" in panel.message.value
