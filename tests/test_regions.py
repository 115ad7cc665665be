"""One model per region (iota2's eco-regions) through the engine, the recipe and the command line, on two real
scenes that differ in sensor and CRS: the bundled Sentinel-2 L2A sample (JPEG2000 bands, EPSG:32631, 60 m) with
its training polygons, and the Landsat 5 TM Amazon band files (GeoTIFF, EPSG:32622, 30 m) with theirs.

No real eco-region file comes with the test data, so the regions are drawn here: two rectangles splitting the
scene at a pixel column (west / east), leaving a strip of rows in no region, written in another CRS than the
image's (Sentinel-2: EPSG:4326 GeoPackage, text field ``zone``; Landsat: EPSG:3857 GeoJSON, integer field
``region``) with their edges densified, so the run must reproject them. Seams (chosen so that each region has
training pixels of two classes or more): Sentinel-2 at column 965 (x = 357900 m, through the FOREST polygon:
west has WATER and FOREST, east all three; west lacks FARM), no region from row 1700 down; Landsat at column 150
(x = 623895 m: east has no fallen_dry polygon), no region in the top 10 rows (which cut a forest polygon).
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.windows import Window
from shapely.geometry import box

from landclass_ui.cli import main
from landclass_ui.errors import CRSError, NoOverlapError, RecipeError, TrainingDataError
from landclass_ui.export import write_classification
from landclass_ui.model import TrainedModel, fit, predict_block
from landclass_ui.pipeline import fit_model, hold_out, prepare, run
from landclass_ui.recipe import ImageRef, Recipe, RegionsRef, TrainingRef
from landclass_ui.regional import OneClass, RegionalModel
from landclass_ui.regions import region_names
from landclass_ui.sample import sample_paths
from landclass_ui.training import SampleTable

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
L5 = [str(DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7)]
L5_POLYGONS = str(DATA / "l5_amazon/training_polygons.gpkg")

#: Per scene: images, training file, the seam column, the rows inside the regions, the regions file's CRS,
#: format, field and the region values west / east.
SCENES = {
    "s2-safe": SimpleNamespace(images=[SAMPLE.safe], training=SAMPLE.polygons, seam=965, rows=(0, 1700),
                               crs="EPSG:4326", suffix=".gpkg", field="zone", values=("west", "east")),
    "l5-bands": SimpleNamespace(images=L5, training=L5_POLYGONS, seam=150, rows=(10, 310),
                                crs="EPSG:3857", suffix=".geojson", field="region", values=(1, 2)),
}


def grid_of(scene):
    return prepare_plain(scene).stack.grid


_PLAIN = {}


def prepare_plain(scene):
    """The scene prepared without regions (cached): its stack and samples, to compare with."""
    if scene not in _PLAIN:
        _PLAIN[scene] = prepare(recipe_for(scene))
    return _PLAIN[scene]


def recipe_for(scene, regions: RegionsRef | None = None) -> Recipe:
    s = SCENES[scene]
    return Recipe(images=[ImageRef(p) for p in s.images], training=[TrainingRef("file", s.training, "class")],
                  regions=regions)


def write_regions(path, grid, parts, crs, field="zone"):
    """Rectangles of pixels ``(value, col0, row0, col1, row1)`` of ``grid`` as polygons in ``crs`` (edges
    densified to 5 pixels, so they stay straight lines on the image grid once reprojected back)."""
    values, geometries = [], []
    for value, c0, r0, c1, r1 in parts:
        (x0, y0), (x1, y1) = grid.transform * (c0, r0), grid.transform * (c1, r1)
        geometries.append(shapely.segmentize(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)),
                                             5 * grid.res[0]))
        values.append(value)
    frame = gpd.GeoDataFrame({field: values}, geometry=geometries, crs=grid.crs).to_crs(crs)
    frame.to_file(path)
    return str(path)


def two_regions(scene, folder) -> str:
    s = SCENES[scene]
    grid = grid_of(scene)
    r0, r1 = s.rows
    west, east = s.values
    return write_regions(Path(folder) / f"regions{s.suffix}", grid,
                         [(west, 0, r0, s.seam, r1), (east, s.seam, r0, grid.width, r1)], s.crs, s.field)


def side(scene, grid, which: str) -> np.ndarray:
    """Pixels of the west or east region, or in no region (``"none"``), by their row and column."""
    s = SCENES[scene]
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    inside = (rows >= s.rows[0]) & (rows < s.rows[1])
    return {"west": inside & (cols < s.seam), "east": inside & (cols >= s.seam), "none": ~inside}[which]


def read(path, band=None):
    with rasterio.open(path) as src:
        return src.read(band) if band else src.read()


@pytest.fixture(scope="module", params=list(SCENES))
def regional_run(request, tmp_path_factory):
    """The scene classified with its two regions (``run``, probabilities and class probabilities), and the
    log of the run."""
    scene = request.param
    s = SCENES[scene]
    folder = tmp_path_factory.mktemp(scene)
    path = two_regions(scene, folder)
    log = []
    result = run(recipe_for(scene, RegionsRef(path, s.field)), str(folder / "map.tif"), probability=True,
                 class_probabilities=True, progress=False, log=log.append)
    names = {str(v): w for v, w in zip(s.values, ("west", "east"))}  # region name -> side
    return SimpleNamespace(scene=scene, folder=folder, regions=path, result=result, log=log, names=names)


# --- training: one model per region, on its own samples -------------------------------------------------


def test_two_regions_give_two_models_each_fitted_on_its_own_samples(regional_run):
    r = regional_run
    model = r.result.model
    assert isinstance(model, RegionalModel) and set(model.models) == set(r.names)
    plain = prepare_plain(r.scene)
    rows, cols = plain.samples.frame["row"].to_numpy(), plain.samples.frame["col"].to_numpy()
    grid = plain.stack.grid
    for name, region_model in model.models.items():
        mask = side(r.scene, grid, r.names[name])[rows, cols]
        assert 0 < mask.sum() < len(mask)
        assert region_model.n_samples == int(mask.sum()), name  # the region's training pixels, all of them
        assert region_model.band_names == plain.stack.band_names  # the region band is not a feature
        assert "region" not in region_model.band_names and "region" in model.band_names
        # the same classifier fitted on exactly those pixels alone predicts exactly the same
        alone = fit(SampleTable(plain.samples.frame[mask].reset_index(drop=True), plain.stack.band_names),
                    plain.legend, model.classifier, model.params)
        features = plain.samples.features
        np.testing.assert_array_equal(region_model.estimator.predict_proba(features),
                                      alone.estimator.predict_proba(features))
        assert f"region {name}: random-forest fitted on {int(mask.sum())} training pixels" in " ".join(r.log)
    outside = side(r.scene, grid, "none")[rows, cols]
    assert model.n_samples == int((~outside).sum())
    if outside.any():  # Landsat: the top strip cuts a forest polygon
        assert f"{int(outside.sum())} training pixel(s) in no region" in " ".join(r.log)


# --- prediction: the map is each region's model on its side, nodata outside ------------------------------


def test_the_map_is_each_region_model_alone_on_its_side_and_nodata_outside(regional_run, tmp_path):
    r = regional_run
    res = r.result
    grid = res.prepared.stack.grid
    plain = res.prepared.stack.select([b for b in res.prepared.stack.band_names if b != "region"])
    mosaic = read(res.classification, 1), read(res.probability, 1), read(res.class_probability)
    alone = {}
    for name, model in res.model.models.items():
        out = write_classification(tmp_path / f"{name}.tif", plain, model, probability=True,
                                   class_probabilities=True, progress=False)
        alone[r.names[name]] = read(out.classification, 1), read(out.probability, 1), read(out.class_probability)
    for which in ("west", "east"):
        mask = side(r.scene, grid, which)
        for got, expected in zip(mosaic, alone[which]):
            np.testing.assert_array_equal(got[..., mask], expected[..., mask])  # identical pixels, band by band
        other = alone["east" if which == "west" else "west"][0]
        assert (mosaic[0][mask] != other[mask]).any()  # the two models differ: the seam is where they meet
    none = side(r.scene, grid, "none")
    assert (mosaic[0][none] == 255).all() and (mosaic[1][none] == 255).all() and (mosaic[2][:, none] == 255).all()
    assert (mosaic[0][~none] != 255).mean() > 0.9  # the regions are classified
    # the region band itself: the id of the region on each side of the seam, NaN in no region
    band = res.prepared.stack.select(["region"]).read()[0]
    regions = res.prepared.regions
    for which in ("west", "east"):
        name = next(n for n, w in r.names.items() if w == which)
        assert (band[side(r.scene, grid, which)] == regions.names.index(name) + 1).all()
    assert np.isnan(band[none]).all()


def test_a_region_lacking_a_class_never_maps_it(regional_run):
    r = regional_run
    res = r.result
    legend = res.prepared.legend
    union = set(int(v) for v in res.model.class_values)
    cube = read(res.class_probability)
    classes = read(res.classification, 1)
    lacking_seen = 0
    for name, model in res.model.models.items():
        lacking = union - set(int(v) for v in model.class_values)
        mask = side(r.scene, res.prepared.stack.grid, r.names[name]) & (classes != 255)
        for value in lacking:
            lacking_seen += 1
            assert not (classes[mask] == value).any()
            assert (cube[legend.values.index(value)][mask] == 0).all()  # probability 0 in legend order
            assert any(m.startswith(f"region {name} has no training pixel of {legend.name_of(value)}")
                       for m in r.log)
    assert lacking_seen >= 1  # both scenes' seams leave a class out of one region (module docstring)


def test_one_class_region_maps_its_class_everywhere(tmp_path):
    """Sentinel-2 split at the image centre (column 915): the west region has WATER pixels only."""
    grid = grid_of("s2-safe")
    path = write_regions(tmp_path / "halves.gpkg", grid, [("west", 0, 0, 915, grid.height),
                                                          ("east", 915, 0, grid.width, grid.height)], "EPSG:4326")
    prepared = prepare(recipe_for("s2-safe", RegionsRef(path, "zone")))
    model = fit_model(prepared, prepared.samples)
    west = model.models["west"]
    assert isinstance(west.estimator, OneClass) and west.class_values.tolist() == [prepared.legend.value_of("WATER")]
    n = int((prepared.samples.frame["col"] < 915).sum())
    expected = f"region west: {n} training pixels, all WATER: every pixel of the region is mapped WATER"
    assert expected in " ".join(model.messages)
    classes, prob = predict_block(model, prepared.stack.read(Window(815, 300, 200, 200)))
    valid = classes[:, :100] != 255
    assert valid.mean() > 0.9
    assert (classes[:, :100][valid] == prepared.legend.value_of("WATER")).all() and (prob[:, :100][valid] == 100).all()
    assert len(np.unique(classes[:, 100:])) > 1  # east: its forest predicts several classes


# --- errors ----------------------------------------------------------------------------------------------


def test_a_region_without_samples_is_a_clear_error(tmp_path):
    grid = grid_of("s2-safe")
    path = write_regions(tmp_path / "three.gpkg", grid, [("west", 0, 0, 965, 1700), ("east", 965, 0, grid.width, 1700),
                                                         ("south", 0, 1700, grid.width, grid.height)], "EPSG:4326")
    with pytest.raises(TrainingDataError) as err:
        run(recipe_for("s2-safe", RegionsRef(path, "zone")), str(tmp_path / "map.tif"), progress=False)
    message = str(err.value)
    assert "'south'" in message and "no training pixel" in message and "merge" in message
    assert "\n" not in message and not (tmp_path / "map.tif").exists()


def run_main(args, capsys):
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


def test_cli_exits_2_for_a_region_without_samples(tmp_path, capsys):
    grid = grid_of("s2-safe")
    path = write_regions(tmp_path / "three.gpkg", grid, [("west", 0, 0, 965, 1700), ("east", 965, 0, grid.width, 1700),
                                                         ("south", 0, 1700, grid.width, grid.height)], "EPSG:4326")
    status, err = run_main(["classify", SAMPLE.safe, "-t", SAMPLE.polygons, "--regions", path, "--region-field", "zone",
                            "-o", tmp_path / "map.tif", "-q"], capsys)
    assert status == 2 and err.count("\n") == 1 and err.startswith("landclass: error: region(s) 'south'")
    assert not (tmp_path / "map.tif").exists()


def bad_regions(kind, tmp_path):
    """A regions file (and field) that cannot be used with the Landsat scene: the CLI arguments."""
    grid = grid_of("l5-bands")
    if kind == "missing file":
        return ["--regions", tmp_path / "nowhere.gpkg"], "regions file not found"
    if kind == "missing field":
        path = write_regions(tmp_path / "r.geojson", grid, [(1, 0, 0, 150, 310), (2, 150, 0, 287, 310)], "EPSG:3857",
                             "region")
        return ["--regions", path, "--region-field", "zone"], "region field 'zone' is not in"
    if kind == "no overlap":
        far = gpd.GeoDataFrame({"region": ["a"]}, geometry=[box(10, 45, 11, 46)], crs="EPSG:4326")
        far.to_file(tmp_path / "far.gpkg")
        return ["--regions", tmp_path / "far.gpkg"], "no region of"
    if kind == "overlap":
        path = write_regions(tmp_path / "o.gpkg", grid, [("a", 0, 0, 160, 310), ("b", 140, 0, 287, 310)], "EPSG:4326",
                             "region")
        return ["--regions", path], "regions 'a' and 'b' of"
    if kind == "points":
        pts = gpd.GeoDataFrame({"region": ["a"]}, geometry=[shapely.Point(623000, -412000)], crs="EPSG:32622")
        pts.to_file(tmp_path / "pts.gpkg")
        return ["--regions", tmp_path / "pts.gpkg"], "must hold polygons"
    if kind == "field without file":
        return ["--region-field", "zone"], "--region-field and --region-layer need --regions"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing file", "missing field", "no overlap", "overlap", "points",
                                  "field without file"])
def test_cli_exits_2_with_one_line_for_bad_regions(kind, tmp_path, capsys):
    extra, expected = bad_regions(kind, tmp_path)
    status, err = run_main(["classify", *L5, "-t", L5_POLYGONS, "--class-field", "class", *extra,
                            "-o", tmp_path / "map.tif", "-q"], capsys)
    assert status == 2, err
    assert err.count("\n") == 1 and err.startswith("landclass: error: ") and expected in err, err
    assert not (tmp_path / "map.tif").exists()


def test_errors_are_the_documented_exceptions(tmp_path):
    grid = grid_of("l5-bands")
    far = gpd.GeoDataFrame({"region": ["a"]}, geometry=[box(10, 45, 11, 46)], crs="EPSG:4326")
    far.to_file(tmp_path / "far.gpkg")
    with pytest.raises(NoOverlapError):
        prepare(recipe_for("l5-bands", RegionsRef(str(tmp_path / "far.gpkg"), "region")))
    path = write_regions(tmp_path / "r.geojson", grid, [(1, 0, 0, 150, 310)], "EPSG:4326", "region")
    shp = tmp_path / "r.shp"
    gpd.read_file(path).to_file(shp)
    shp.with_suffix(".prj").unlink()
    with pytest.raises(CRSError):
        prepare(recipe_for("l5-bands", RegionsRef(str(shp), "region")))
    with pytest.raises(RecipeError):
        Recipe(images=[ImageRef(L5[0])], training=[TrainingRef("file", L5_POLYGONS)],
               regions=RegionsRef("", "region")).validate()


# --- assessment -----------------------------------------------------------------------------------------


def test_hold_out_and_cross_validation_with_regions(tmp_path):
    path = two_regions("l5-bands", tmp_path)
    log = []
    res = run(recipe_for("l5-bands", RegionsRef(path, "region")), str(tmp_path / "map.tif"), progress=False,
              validation_ratio=0.5, cv_folds=3, log=log.append)
    assert res.accuracy is not None and res.cross_validation is not None
    assert len(res.cross_validation.reports) == 3
    # the hold-out pixels are predicted by their region's model exactly as the map has them
    held = hold_out(res.prepared.samples, 0.5, seed=0)
    at = held.validation.frame
    mapped = read(res.classification, 1)[at["row"].to_numpy(), at["col"].to_numpy()]
    np.testing.assert_array_equal(res.model.estimator.predict(held.validation.features), mapped)
    truth = held.validation.classes
    assert res.accuracy.overall_accuracy == pytest.approx(float((truth == mapped).mean()))
    text = Path(res.assessment.results_md).read_text()
    assert "## Band importance per region" in text and "- region 1: " in text and "- region 2: " in text
    assert "## Band importance\n" not in text  # no pooled importance: per region only


def test_reference_accuracy_reads_the_mosaic(tmp_path):
    """An independent reference sample (every other Landsat polygon; the map trained on the others)."""
    frame = gpd.read_file(L5_POLYGONS)
    order = frame.groupby("class").cumcount()
    frame[order % 2 == 0].to_file(tmp_path / "train.gpkg")
    frame[order % 2 == 1].to_file(tmp_path / "test.gpkg")
    path = two_regions("l5-bands", tmp_path)
    recipe = Recipe(images=[ImageRef(p) for p in L5], training=[TrainingRef("file", str(tmp_path / "train.gpkg"),
                                                                            "class")],
                    regions=RegionsRef(path, "region"))
    res = run(recipe, str(tmp_path / "map.tif"), progress=False,
              reference=TrainingRef("file", str(tmp_path / "test.gpkg"), "class"))
    assert res.accuracy is not None and res.accuracy.stratified
    assert 0.5 < res.accuracy.overall_accuracy <= 1


# --- recipe and command line ----------------------------------------------------------------------------


def test_recipe_round_trip(tmp_path):
    (tmp_path / "sub").mkdir()
    recipe = Recipe(name="r", images=[ImageRef("/data/scene.tif")], training=[TrainingRef("file", "/data/t.gpkg")],
                    regions=RegionsRef("/data/eco.gpkg", "zone", "regions"))
    recipe.save(tmp_path / "sub" / "recipe.json")
    again = Recipe.load(tmp_path / "sub" / "recipe.json")
    assert again.regions == RegionsRef("/data/eco.gpkg", "zone", "regions") and again == recipe
    d = json.loads((tmp_path / "sub" / "recipe.json").read_text())
    assert d["regions"] == {"path": "/data/eco.gpkg", "field": "zone", "layer": "regions"}
    d["regions"] = {"path": "eco.gpkg", "field": "region", "layer": None}  # relative: to the recipe's folder
    (tmp_path / "sub" / "rel.json").write_text(json.dumps(d))
    assert Recipe.load(tmp_path / "sub" / "rel.json").regions.path == str(tmp_path / "sub" / "eco.gpkg")
    assert "regions" not in Recipe(name="r").to_dict()  # left out when unset
    assert Recipe.from_dict({k: v for k, v in d.items() if k != "regions"}).regions is None
    for bad in ({"field": "zone"}, "eco.gpkg", {"path": 3}):
        with pytest.raises(RecipeError):
            Recipe.from_dict({**d, "regions": bad})
    for ref in (RegionsRef("", "zone"), RegionsRef("eco.gpkg", ""), RegionsRef("eco.gpkg", "zone", "")):
        with pytest.raises(RecipeError):
            ref.validate()


def test_classify_and_run_with_regions_make_the_python_map(regional_run, tmp_path, capsys):
    r = regional_run
    s = SCENES[r.scene]
    status, err = run_main(["classify", *s.images, "-t", s.training, "--class-field", "class", "--preset", "sepal",
                            "--regions", r.regions,
                            "--region-field", s.field, "-o", tmp_path / "cli.tif", "--recipe-out",
                            tmp_path / "recipe.json", "-q"], capsys)
    assert status == 0, err
    expected = read(r.result.classification, 1)
    np.testing.assert_array_equal(read(tmp_path / "cli.tif", 1), expected)
    saved = json.loads((tmp_path / "recipe.json").read_text())
    assert saved["regions"] == {"path": r.regions, "field": s.field, "layer": None}
    # `landclass run` on a recipe of its own folder, the regions file named relative to it
    folder = tmp_path / "job"
    folder.mkdir()
    copy = folder / Path(r.regions).name
    copy.write_bytes(Path(r.regions).read_bytes())
    saved["regions"]["path"] = copy.name
    (folder / "recipe.json").write_text(json.dumps(saved))
    status, err = run_main(["run", folder / "recipe.json", "-o", tmp_path / "run.tif", "-q"], capsys)
    assert status == 0, err
    np.testing.assert_array_equal(read(tmp_path / "run.tif", 1), expected)


# --- the pieces ----------------------------------------------------------------------------------------------


def test_region_names_sort_numbers_by_value_then_text():
    assert region_names([10, 2, "2", 1.0, None, float("nan"), " b", "a"]) == ["1", "2", "10", "a", "b"]


def test_regional_model_goes_to_dask_workers_compiled(tmp_path):
    """The compiled region models travel to worker processes (pickled with their libraries) and give the map
    of this machine's threads."""
    from distributed import Client, LocalCluster

    from landclass_ui.compiled import CompiledEstimator, compile_model

    path = two_regions("l5-bands", tmp_path)
    prepared = prepare(recipe_for("l5-bands", RegionsRef(path, "region")))
    model = fit_model(prepared, prepared.samples)
    compiled = compile_model(model, prepared.samples.features)
    assert all(isinstance(m.estimator, CompiledEstimator) for m in compiled.models.values())
    again = pickle.loads(pickle.dumps(compiled))
    pixels = prepared.samples.features
    np.testing.assert_array_equal(again.estimator.predict_proba(pixels), model.estimator.predict_proba(pixels))
    local = write_classification(tmp_path / "local.tif", prepared.stack, model, probability=True, progress=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = write_classification(tmp_path / "dask.tif", prepared.stack, model, probability=True,
                                      progress=False, client=client, block=128)
    np.testing.assert_array_equal(read(local.classification, 1), read(remote.classification, 1))
    np.testing.assert_array_equal(read(local.probability, 1), read(remote.probability, 1))


def test_without_regions_nothing_changes():
    prepared = prepare_plain("l5-bands")
    assert prepared.regions is None and "region" not in prepared.stack.band_names
    model = fit_model(prepared, prepared.samples)
    assert type(model) is TrainedModel


def test_a_region_off_the_image_is_left_out_with_a_message(tmp_path):
    grid = grid_of("l5-bands")
    path = write_regions(tmp_path / "r.gpkg", grid, [("a", 0, 0, 150, 310), ("b", 150, 0, 287, 310),
                                                     ("far", 1000, 1000, 1100, 1100)], "EPSG:4326", "region")
    prepared = prepare(recipe_for("l5-bands", RegionsRef(path, "region")))
    assert prepared.regions.names == ("a", "b")
    assert any("region(s) far of r.gpkg lie outside the image and are left out" in m for m in prepared.messages)
    share = next(m for m in prepared.messages if m.startswith("regions of r.gpkg (field 'region')"))
    assert "in no region" not in share  # the two regions cover the whole image


@pytest.mark.parametrize("scene", list(SCENES))
def test_cls_regions_box_sets_and_refuses(scene, tmp_path):
    """The CLS panel's regions box, driven as a person does: a good file is taken (the recipe on disk has it),
    a file whose field is missing or that is off the image is refused and the recipe left as it was."""
    import json

    from landclass_ui.store import RecipeStore
    from landclass_ui.ui.postprocess import RegionsBox

    s = SCENES[scene]
    store = RecipeStore(recipe_for(scene), tmp_path / "work" / "recipe.json")
    box = RegionsBox(store)
    assert "one model for the whole image" in box.info.value
    box.path.value = two_regions(scene, tmp_path)
    box.field.value = "nonexistent"
    box.apply.click()
    assert "landclass-msg-error" in box.message.value and s.field in box.message.value  # lists the columns
    assert store.recipe.regions is None
    box.field.value = s.field
    box.apply.click()
    assert "2 region(s) on the image" in box.message.value, box.message.value
    saved = json.loads((tmp_path / "work" / "recipe.json").read_text())
    assert saved["regions"]["field"] == s.field and saved["regions"]["path"].endswith(Path(box.path.value).name)
    grid = grid_of(scene)
    far = write_regions(tmp_path / f"far{s.suffix}", grid, [(s.values[0], 0, 0, 5, 5)], s.crs, s.field)
    import geopandas as gpd
    from shapely.affinity import translate

    frame = gpd.read_file(far)
    frame.geometry = frame.geometry.apply(lambda g: translate(g, 20, 20) if frame.crs.is_geographic
                                          else translate(g, 5e6, 5e6))
    frame.to_file(far)
    box.path.value = far
    box.apply.click()
    assert "landclass-msg-error" in box.message.value
    assert store.recipe.regions is not None and store.recipe.regions.path != far  # unchanged
    box.remove.click()
    assert store.recipe.regions is None and "regions" not in json.loads((tmp_path / "work" / "recipe.json")
                                                                         .read_text())
