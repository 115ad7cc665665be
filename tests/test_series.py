"""Several dates as one feature stack, with gap filling of the cloud-masked pixels, on two real series of
different layouts and CRSs: five Sentinel-2 L2A dates of tile 33TWL as STAC item folders (B02.tif ... SCL.tif,
120 m, EPSG:32633) and two sen2r outputs of Lake Barbellino (one 11-band BOA file per date, SCL at 20 m, 10 m,
EPSG:32632). Expected values are computed by hand from the files (see tests/data/SOURCE.md)."""
import json
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from landclass_ui.errors import ImageError
from landclass_ui.pipeline import mask_summary, open_recipe_image, open_recipe_images
from landclass_ui.recipe import CloudMaskRef, DerivedRef, ImageRef, Recipe

DATA = Path(__file__).parent / "data"
T33 = DATA / "s2_t33twl"
FOLDERS = sorted(str(p) for p in T33.glob("S2*_L2A"))  # 08-15 (S2A) sorts before 08-10 (S2B): not date order
DATES = [date(2023, 8, d) for d in (10, 13, 15, 18, 20)]
BARBELLINO = sorted(str(p) for p in (DATA / "s2_barbellino").glob("*_BOA_10.tif"))


def dn(folder_date: str, band: str) -> np.ndarray:
    folder = next(p for p in FOLDERS if f"_{folder_date}_" in p)
    with rasterio.open(Path(folder) / f"{band}.tif") as src:
        return src.read(1).astype(np.float64)


def recipe(paths, **cloud) -> Recipe:
    return Recipe(name="series", images=[ImageRef(p) for p in paths], cloud_mask=CloudMaskRef(**cloud))


def test_dates_in_time_order_bands_named_by_date_masks_per_date():
    stack = open_recipe_images(recipe(FOLDERS))
    assert stack.series.dates == tuple(DATES)
    assert stack.band_names[:5] == ["20230810_B02", "20230810_B03", "20230810_B04", "20230810_B08", "20230813_B02"]
    assert len(stack.band_names) == 20
    for mask in stack.masks:  # each date's SCL masks that date's bands only
        day = Path(mask.path).parent.name.split("_")[2]
        assert mask.bands == tuple(f"{day}_{b}" for b in ("B02", "B03", "B04", "B08"))


def test_masked_pixels_are_interpolated_in_time():
    stack = open_recipe_images(recipe(FOLDERS))
    values = stack.read()
    b04 = stack.band_names.index("20230818_B04")
    # pixel (row 4, col 27): cloud shadow on 08-18, clear on 08-15 and 08-20
    scl = {d: int(dn(d, "SCL")[4, 27]) for d in ("20230815", "20230818", "20230820")}
    assert scl["20230818"] == 3 and scl["20230815"] in (4, 5, 6) and scl["20230820"] in (4, 5, 6)
    before, after = dn("20230815", "B04")[4, 27], dn("20230820", "B04")[4, 27]
    expected = (before + (after - before) * 3 / 5) / 10000  # 3 of the 5 days from 08-15 to 08-20
    assert values[b04, 4, 27] == pytest.approx(expected, abs=1e-6)
    assert values[b04, 4, 27] != pytest.approx(dn("20230818", "B04")[4, 27] / 10000, abs=1e-3)  # not the shadow
    # valid pixels are the files' own values (DN / 10000: the STAC item says the offset is already applied)
    clear = dn("20230818", "SCL") == 4
    assert np.allclose(values[b04][clear], dn("20230818", "B04")[clear] / 10000, atol=1e-6)
    # only pixels masked on every date stay nodata
    masked_everywhere = np.logical_and.reduce([np.isin(dn(d.strftime("%Y%m%d"), "SCL"), [0, 1, 3, 8, 9, 10])
                                               for d in DATES])
    assert masked_everywhere.sum() == 4
    assert np.array_equal(np.isnan(values).any(axis=0), masked_everywhere)


def test_gap_filling_off_leaves_each_dates_clouds_nodata():
    stack = open_recipe_images(recipe(FOLDERS, gap_fill=False))
    values = stack.read()
    for i, d in enumerate(DATES):
        masked = np.isin(dn(d.strftime("%Y%m%d"), "SCL"), [0, 1, 3, 8, 9, 10])
        assert np.array_equal(np.isnan(values[4 * i]), masked)
    assert "gap filling off" in mask_summary(stack)


def test_summary_reports_masked_and_filled_share_per_date():
    text = mask_summary(open_recipe_images(recipe(FOLDERS)))
    for d in DATES:
        masked = np.isin(dn(d.strftime("%Y%m%d"), "SCL"), [0, 1, 3, 8, 9, 10])
        assert f"{d.isoformat()} {100 * masked.mean():.1f} %" in text
    assert "(50.3 % filled)" in text  # 08-10: 11323 of 22500 px filled (4 px masked on every date are not)


def test_indices_per_date_from_the_filled_bands():
    r = recipe(FOLDERS)
    r.derived = DerivedRef(indices=["ndvi"], sensor="sentinel-2")
    stack = open_recipe_image(r)
    assert stack.band_names[-5:] == [f"{d.strftime('%Y%m%d')}_ndvi" for d in DATES]
    values = stack.read()
    names = stack.band_names
    red, nir = values[names.index("20230818_B04")], values[names.index("20230818_B08")]
    assert np.allclose(values[names.index("20230818_ndvi")], (nir - red) / (nir + red), equal_nan=True, atol=1e-6)


def test_dates_with_different_bands_are_refused():
    r = recipe(FOLDERS)
    r.images[0].bands = ["B04", "B08"]
    with pytest.raises(ImageError, match="give every date the same bands"):
        open_recipe_images(r)


def test_two_sen2r_dates_with_scl_at_20_m():
    stack = open_recipe_images(recipe(BARBELLINO))
    assert stack.series.dates == (date(2017, 7, 3), date(2019, 7, 23))
    assert len(stack.band_names) == 22 and stack.band_names[11] == "20190723_B1"
    values = stack.read()
    with rasterio.open(BARBELLINO[0]) as src2017, rasterio.open(BARBELLINO[1]) as src2019:
        b2017, b2019 = src2017.read(1).astype(np.float64), src2019.read(1).astype(np.float64)
    scale, offset = stack.bands[0].scale, stack.bands[0].offset  # as the reader found it (stored values)
    clouds = np.isnan(open_recipe_images(recipe(BARBELLINO, gap_fill=False)).read()[0])
    assert clouds.sum() == 4 * 33  # SCL 8 and 9 of 2017, 20 m pixels on the 10 m grid
    # a 2017 cloud pixel takes the 2019 value: the only valid date (no interpolation possible, copied)
    assert np.allclose(values[0][clouds], b2019[clouds] * scale + offset)
    assert np.allclose(values[0][~clouds], b2017[~clouds] * scale + offset)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "landclass_ui.cli", *map(str, args)], capture_output=True,
                          text=True)


def test_cli_classifies_a_series_and_fills_the_clouds(tmp_path):
    """Training points of three classes taken from the clear date's SCL (vegetation, not vegetated, water):
    labels from ESA's own scene classification, so the map can be compared with it where it is clear."""
    scl = dn("20230815", "SCL").astype(int)
    with rasterio.open(Path(FOLDERS[0]) / "SCL.tif") as src:
        transform, crs = src.transform, src.crs
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    rng = random.Random(1)
    features = []
    for value, name in ((4, "vegetation"), (5, "not vegetated"), (6, "water")):
        rows, cols = np.nonzero(scl == value)
        for k in rng.sample(range(len(rows)), 40):
            x, y = transform * (cols[k] + 0.5, rows[k] + 0.5)
            lon, lat = to_lonlat.transform(x, y)
            features.append({"type": "Feature", "properties": {"class": name},
                             "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    points = tmp_path / "points.geojson"
    points.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = run_cli("classify", *FOLDERS, "-t", points, "-o", tmp_path / "map.tif")
    assert result.returncode == 0, result.stderr
    assert "time series of 5 dates" in result.stderr and "cloud mask per date" in result.stderr
    with rasterio.open(tmp_path / "map.tif") as src:
        classes = src.read(1)
    assert (classes == 255).sum() == 4  # only the pixels masked on every date
    off = run_cli("classify", *FOLDERS, "-t", points, "-o", tmp_path / "off.tif", "--no-gap-fill")
    assert off.returncode == 0, off.stderr
    with rasterio.open(tmp_path / "off.tif") as src:
        assert (src.read(1) == 255).sum() > 0.7 * 22500  # a pixel masked on any date has no complete vector
    legend = {row.split(",")[2].strip(): int(row.split(",")[1]) for row in
              (tmp_path / "map_legend.csv").read_text().splitlines()[1:]}
    clear = np.isin(scl, [4, 5, 6])
    agree = np.mean([classes[r, c] == legend[{4: "vegetation", 5: "not vegetated", 6: "water"}[scl[r, c]]]
                     for r, c in zip(*np.nonzero(clear))])
    assert agree > 0.75, agree  # 0.83 measured with 40 points a class; SCL itself is approximate (lossy)


def test_a_selection_of_bands_is_filled_from_the_other_dates_too():
    """The map's composite reads three bands of one date: they are filled as in the whole stack."""
    stack = open_recipe_images(recipe(FOLDERS))
    whole = stack.read()
    names = ["20230818_B04", "20230818_B03", "20230818_B02"]
    part = stack.select(names).read()
    assert np.array_equal(part, whole[[stack.band_names.index(n) for n in names]], equal_nan=True)
    small = stack.select(names).read(out_shape=(50, 50))
    assert np.isnan(small).mean() < 0.01  # the screen-resolution view is filled too
