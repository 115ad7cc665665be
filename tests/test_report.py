"""Accuracy outputs of a run: the confusion matrix (CSV, PNG) and RESULTS.md, from an independent reference
sample (stratified by mapped area) or a hold-out of the training polygons."""
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.features

from landclass_ui.legend import normalize_name
from landclass_ui.sample import sample_paths

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def referenced(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    result = run_cli("classify", SAMPLE.safe, "-t", SAMPLE.polygons, "-o", out / "map.tif", "--preset", "sepal",
                     "--reference", DATA / "s2_t31tcj/polygons_emunaibari.geojson",
                     "--reference-remap", "farmland=FARM")
    assert result.returncode == 0, result.stderr
    return out, result


def test_reference_confusion_matrix_counts_the_reference_pixels(referenced):
    out, result = referenced
    cm = pd.read_csv(out / "map_confusion.csv", index_col=0)
    # independent count: rasterize the reference polygons on the map's grid and cross-tabulate
    with rasterio.open(out / "map.tif") as src:
        mapped = src.read(1)
        ref = gpd.read_file(DATA / "s2_t31tcj/polygons_emunaibari.geojson").to_crs(src.crs)
    value = {"farm": 1, "farmland": 1, "forest": 2, "water": 3}
    truth = rasterio.features.rasterize(
        zip(ref.geometry, ref["class"].map(lambda c: value[normalize_name(c)])),
        out_shape=mapped.shape, transform=src.transform, fill=0, dtype="uint8")
    names = {1: "FARM", 2: "FOREST", 3: "WATER"}
    for m in (1, 2, 3):
        for r in (1, 2, 3):
            expected = int(((mapped == m) & (truth == r)).sum())
            assert cm.loc[names[m], names[r]] == expected, (m, r)
    assert int(cm.to_numpy().sum()) == 84655


def test_reference_report_is_stratified_with_areas_in_hectares(referenced):
    out, result = referenced
    text = (out / "map_RESULTS.md").read_text()
    assert "stratified by map class (Olofsson et al. 2014)" in text and "Areas are in ha" in text
    assert "Overall accuracy: 0.8" in text and "![confusion matrix](map_confusion.png)" in text
    assert '"name": "random-forest"' in text  # the recipe used
    assert "## Band importance" in text and "B8A" in text
    # the estimated areas of a stratified estimator add up to the mapped area: every classified pixel is 0.36 ha
    with rasterio.open(out / "map.tif") as src:
        classified = int((src.read(1) != 255).sum())
    rows = [line for line in text.splitlines() if line.startswith("| FARM") or line.startswith("| FOREST")
            or line.startswith("| WATER")][:3]
    areas = [float(row.split("|")[7].split("[")[0].replace(",", "")) for row in rows]
    assert sum(areas) == pytest.approx(classified * 0.36, rel=1e-3)
    assert "overall accuracy 0.8" in result.stderr


def test_confusion_png_is_a_picture(referenced):
    out, _ = referenced
    from matplotlib.image import imread

    image = imread(out / "map_confusion.png")
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_holdout_validation_on_landsat(tmp_path):
    bands = [DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF" for i in (1, 2, 3, 4, 5, 7)]
    result = run_cli("classify", *bands, "-t", DATA / "l5_amazon/training_polygons.gpkg", "-o", tmp_path / "l5.tif",
                     "--validation-ratio", "0.5", "--seed", "3", "--samples-out", tmp_path / "samples.csv")
    assert result.returncode == 0, result.stderr
    cm = pd.read_csv(tmp_path / "l5_confusion.csv", index_col=0)
    text = (tmp_path / "l5_RESULTS.md").read_text()
    n = int(cm.to_numpy().sum())
    samples = pd.read_csv(tmp_path / "samples.csv")
    # about half of each class's polygons are validation pixels; all of them are counted once
    assert 0.2 * len(samples) < n < 0.8 * len(samples)
    assert f"{n} sample units, simple random sample" in text
    oa = np.trace(cm.to_numpy()) / n
    assert oa > 0.95 and f"Overall accuracy: {oa:.3f}" in text


@pytest.mark.parametrize("args, expected", [
    (["--validation-ratio", "1.5"], "between 0 and 1"),
    (["--reference-remap", "farmland"], "NAME=CLASS"),
    (["--cv", "1"], "at least 2 folds"),
    (["--reference", "missing.geojson"], "not found"),
    (["--reference", DATA / "s2_t31tcj/polygons_nbertaud.geojson"], "not in the legend"),
])
def test_bad_assessment_options(tmp_path, args, expected):
    result = run_cli("classify", DATA / "l5_amazon/LT52240631988227CUB02_B3.TIF",
                     DATA / "l5_amazon/LT52240631988227CUB02_B4.TIF", "-t", DATA / "l5_amazon/training_polygons.gpkg",
                     "-o", tmp_path / "out.tif", *args)
    assert result.returncode == 2 and expected in result.stderr.strip().splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cross_validation_alone_reports_every_training_pixel_once(tmp_path):
    bands = [DATA / f"l5_amazon/LT52240631988227CUB02_B{i}.TIF" for i in (2, 3, 4, 5)]
    result = run_cli("classify", *bands, "-t", DATA / "l5_amazon/training_polygons.gpkg", "-o", tmp_path / "cv.tif",
                     "--cv", "3", "--samples-out", tmp_path / "samples.csv")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "cv_RESULTS.md").read_text()
    assert "3-fold spatial cross-validation" in text and "| 3 |" in text
    cm = pd.read_csv(tmp_path / "cv_confusion.csv", index_col=0)
    assert int(cm.to_numpy().sum()) == len(pd.read_csv(tmp_path / "samples.csv"))
