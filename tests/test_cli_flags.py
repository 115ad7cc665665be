"""``landclass classify`` flags of issue 9: ``--help`` lists the classifiers and their parameters from the registry,
and ``--indices`` / ``--pairwise`` / ``--pairwise-bands`` / ``--sensor`` / ``--role`` fill the recipe's ``derived``
section (as the dashboard's IMG panel does) so a derived-band run needs no hand-written recipe.

The derived-band runs use three bundled scenes that differ in sensor, CRS and layout: Sentinel-2 JPEG2000 band files
(``tests/data/s2_t11upt``, 60 m, EPSG:32611, polygons), Landsat 8 Collection 2 GeoTIFF band files
(``tests/data/l8_t11upt``, 30 m, EPSG:32611, points) and the bundled Sentinel-2 ``.SAFE`` sample (10 m, EPSG:32631).
"""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from landclass_ui.classifiers import CLASSIFIERS
from landclass_ui.cli import _derived_vocabulary, _recipe_from_classify, build_parser, main
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
LANDCLASS = [sys.executable, "-m", "landclass_ui.cli"]

S2_FILES = [DATA / "s2_t11upt" / f"T11UPT_20200804T183919_{b}_60m.jp2"
            for b in ("B02", "B03", "B04", "B8A", "B11", "B12")]
L8_FILES = [DATA / "l8_t11upt" / f"LC08_L2SP_043024_20200802_20200914_02_T1_SR_{b}.tif"
            for b in ("B2", "B3", "B4", "B5")]


def run_cli(*args):
    return subprocess.run([*LANDCLASS, *map(str, args)], capture_output=True, text=True)


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# --- --help: the classifier table -------------------------------------------------------------------------------


def classify_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["classify", "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def default_text(param):
    """A default as given with ``--param name=value``."""
    return "none" if param.default is None else str(param.default).lower() if isinstance(param.default, bool) \
        else str(param.default)


def test_help_lists_every_classifier_with_its_parameters_and_defaults(capsys):
    out = classify_help(capsys)
    table = out.split("classifiers (--classifier NAME)")[1]
    lines = table.splitlines()
    for spec in CLASSIFIERS.values():
        assert any(line.startswith(f"  {spec.name}: {spec.label}") for line in lines), spec.name
        for param in spec.params:
            assert f"    {param.name}={default_text(param)} " in table, (spec.name, param.name)
    rf = CLASSIFIERS["random-forest"]
    n_trees = next(p for p in rf.params if p.name == "n_trees")
    assert f"n_trees={n_trees.default}" in table and "number of trees" in table
    assert "random-forest: Random forest (default;" in table


def test_help_lists_the_derived_band_choices(capsys):
    out = classify_help(capsys)
    section = " ".join(out.split("derived bands (")[1].split())  # unwrapped
    vocabulary = _derived_vocabulary()
    for name in vocabulary.index_names:
        assert name in section, name
    for op, prefix in vocabulary.operations.items():
        assert f"{op} ({prefix}_<b1>_<b2>)" in section
    for sensor in vocabulary.sensors:
        assert sensor in section
    for role in vocabulary.roles:
        assert role in section
    for flag in ("--indices", "--pairwise", "--pairwise-bands", "--sensor", "--role"):
        assert flag in out


def test_help_tables_fit_a_terminal(capsys):
    out = classify_help(capsys)
    epilog = out[out.index("classifiers (--classifier NAME)"):]
    assert max(len(line) for line in epilog.splitlines()) <= 79


# --- the recipe's derived section from the flags (no image is read) ---------------------------------------------


def recipe_of(*flags, images=(str(L8_FILES[0]),)):
    args = build_parser().parse_args(["classify", *images, "-t", "t.geojson", "-o", "m.tif", *flags])
    return _recipe_from_classify(args)


def test_no_derived_flag_leaves_the_recipe_without_a_derived_section():
    assert "derived" not in recipe_of().to_dict()


def test_flags_fill_the_derived_section():
    recipe = recipe_of("--indices", "ndvi,ndwi", "--indices", "NDVI", "--pairwise", "nd,ratio",
                       "--pairwise-bands", "B4,B5", "--sensor", "Landsat-8-9", "--role", "nir=B5")
    assert recipe.to_dict()["derived"] == {
        "pairwise": {"operations": ["nd", "ratio"], "bands": ["B4", "B5"]},
        "indices": ["ndvi", "ndwi"], "sensor": "landsat-8-9", "roles": {"nir": "B5"}}


@pytest.mark.parametrize("images, sensor", [([str(p) for p in L8_FILES], "landsat-8-9"),
                                            ([str(p) for p in S2_FILES], "sentinel-2"),
                                            ([SAMPLE.safe], "sentinel-2")])
def test_sensor_defaults_to_the_product_names(images, sensor):
    assert recipe_of("--indices", "ndvi", images=images).derived.sensor == sensor


# --- real scenes: the derived bands reach the pixel table and the saved recipe ---------------------------------

SCENES = {
    # name: (images, training, class field, extra flags, expected derived section, red, nir)
    "s2_t11upt": (S2_FILES, DATA / "s2_t11upt" / "landcover.shp", "MC_name", [],
                  {"pairwise": {"operations": ["nd"], "bands": []}, "indices": ["ndvi"], "sensor": "sentinel-2",
                   "roles": {}}, "B04", "B8A"),
    "l8_t11upt": (L8_FILES, DATA / "l8_t11upt" / "training_points.shp", "MC_name", ["--pairwise-bands", "B4,B5"],
                  {"pairwise": {"operations": ["nd"], "bands": ["B4", "B5"]}, "indices": ["ndvi"],
                   "sensor": "landsat-8-9", "roles": {}}, "B4", "B5"),
    "sample": ([SAMPLE.safe], SAMPLE.polygons, SAMPLE.class_field,
               ["--pairwise-bands", "B04,B8A", "--param", "n_trees=10"],
               {"pairwise": {"operations": ["nd"], "bands": ["B04", "B8A"]}, "indices": ["ndvi"],
                "sensor": "sentinel-2", "roles": {}}, "B04", "B8A"),
}
VEGETATION = {"s2_t11upt": "Vegetation", "l8_t11upt": "Vegetation", "sample": "FOREST"}


@pytest.fixture(scope="module", params=list(SCENES))
def derived_run(request, tmp_path_factory):
    name = request.param
    images, training, class_field, extra, *_ = SCENES[name]
    out = tmp_path_factory.mktemp(f"derived_{name}")
    result = run_cli("classify", *images, "--training", training, "--class-field", class_field, "-o", out / "map.tif",
                     "--indices", "ndvi", "--pairwise", "nd", *extra, "--samples-out", out / "samples.csv",
                     "--recipe-out", out / "recipe.json")
    assert result.returncode == 0, result.stderr
    return name, out


def test_recipe_lists_the_derived_section(derived_run):
    name, out = derived_run
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["derived"] == SCENES[name][4]


def test_pixel_table_has_ndvi_and_the_normalized_differences(derived_run):
    name, out = derived_run
    _, _, _, _, derived, red, nir = SCENES[name]
    rows = read_rows(out / "samples.csv")
    columns = list(rows[0])
    pair_bands = derived["pairwise"]["bands"] or [c for c in columns[columns.index("label") + 1:]
                                                  if not c.startswith("nd_") and c != "ndvi"]
    expected_nd = [f"nd_{a}_{b}" for i, a in enumerate(pair_bands) for b in pair_bands[i + 1:]]
    assert columns[-len(expected_nd) - 1:] == [*expected_nd, "ndvi"]  # pairwise, then indices, after the bands
    values = {c: np.array([float(r[c]) for r in rows]) for c in (red, nir, "ndvi", f"nd_{red}_{nir}")}
    ndvi = (values[nir] - values[red]) / (values[nir] + values[red])
    np.testing.assert_allclose(values["ndvi"], ndvi, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(values[f"nd_{red}_{nir}"], -ndvi, rtol=1e-4, atol=1e-5)  # nd(red, nir) = -NDVI
    labels = np.array([r["label"] for r in rows])
    median = {label: float(np.median(values["ndvi"][labels == label])) for label in set(labels.tolist())}
    print(f"\n{name}: median NDVI by class", {k: round(v, 3) for k, v in sorted(median.items())})
    # the vegetation class is the greenest (holds for DN and reflectance alike: the files' scaling may change)
    assert max(median, key=median.get) == VEGETATION[name]


def test_saved_recipe_reruns_to_the_same_map(derived_run, tmp_path):
    _, out = derived_run
    result = run_cli("run", out / "recipe.json", "-o", tmp_path / "again.tif", "-q")
    assert result.returncode == 0, result.stderr
    with rasterio.open(out / "map.tif") as a, rasterio.open(tmp_path / "again.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


# --- bad flags: exit status 2, one line naming the valid choices, nothing written --------------------------------

BAD = {
    "unknown index": (["--indices", "ndvi,nvdi"], "unknown index 'nvdi'", lambda v: v.index_names),
    "unknown operation": (["--pairwise", "nd,sum"], "unknown band operation 'sum'", lambda v: list(v.operations)),
    "unknown sensor": (["--indices", "ndvi", "--sensor", "landsat-4"], "unknown sensor 'landsat-4'",
                       lambda v: v.sensors),
    "unknown role": (["--indices", "ndvi", "--role", "infrared=B5"], "unknown band role 'infrared'",
                     lambda v: v.roles),
    "malformed role": (["--indices", "ndvi", "--role", "nir"], "ROLE=BAND", lambda v: []),
    "pairwise bands alone": (["--pairwise-bands", "B4,B5"], "--pairwise-bands needs --pairwise",
                             lambda v: list(v.operations)),
    "index without its bands": (["--indices", "ndmi"], "swir1", lambda v: []),  # L8 crop has B2-B5 only
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_derived_flag_gives_one_line_naming_the_choices(case, tmp_path):
    flags, expected, choices = BAD[case]
    result = run_cli("classify", *L8_FILES, "--training", DATA / "l8_t11upt" / "training_points.shp",
                     "--class-field", "MC_name", "-o", tmp_path / "map.tif", *flags)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("landclass: error: ") and expected in lines[0], lines[0]
    for choice in choices(_derived_vocabulary()):
        assert choice in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_scale_flag_lets_a_dn_image_compute_evi(tmp_path):
    """Landsat 5 Level-1 DN: EVI is refused with one line naming --scale; with --scale it runs and the recipe
    keeps the stated scale."""
    l5 = sorted((DATA / "l5_amazon").glob("LT5*_B[123457].TIF"))
    training = DATA / "l5_amazon" / "training_polygons.gpkg"
    args = ["classify", *map(str, l5), "--training", str(training), "--class-field", "class",
            "--indices", "evi", "--sensor", "landsat-5"]
    refused = run_cli(*args, "-o", str(tmp_path / "a.tif"))
    assert refused.returncode == 2 and "--scale" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a.tif").exists()
    done = run_cli(*args, "--scale", "0.002", "-o", str(tmp_path / "b.tif"), "--recipe-out", str(tmp_path / "r.json"))
    assert done.returncode == 0, done.stderr
    recipe = json.loads((tmp_path / "r.json").read_text())
    assert [i["scale"] for i in recipe["images"]] == [0.002] * 6 and recipe["derived"]["indices"] == ["evi"]
