"""Auxiliary layers: terrain from a DEM, water from an occurrence raster (landclass_ui.auxiliary), in the recipe,
the CLI, a classification run and the AUX panel. Expected values are worked out by hand in the comments."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.windows import Window

from landclass_ui.auxiliary import add_auxiliary, coverage, parse_cli, terrain
from landclass_ui.errors import CRSError, ImageError, NoOverlapError
from landclass_ui.imagery import Grid, open_image
from landclass_ui.recipe import ImageRef, Recipe, TrainingRef
from landclass_ui.store import RecipeStore

DATA = Path(__file__).parent / "data"
L5_DIR = DATA / "l5_amazon"
L5_BANDS = [str(L5_DIR / f"LT52240631988227CUB02_B{i}.TIF") for i in (3, 4)]
L5_POLYGONS = str(L5_DIR / "training_polygons.gpkg")
UTM22N = CRS.from_epsg(32622)
WGS84 = CRS.from_epsg(4326)


def write(path, data, crs, transform, nodata=None, descriptions=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=data.dtype.name, transform=transform)
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or []):
            dst.set_band_description(i + 1, d)
    return str(path)


def plane_dem(path, a, b, *, x0=500000.0, y0=1000000.0, res=30.0, shape=(50, 60), crs=UTM22N):
    """z = 100 + a*(x - x0) + b*(y - y0) at every pixel centre of a grid whose top-left corner is (x0, y0)."""
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w]
    x = x0 + (cols + 0.5) * res
    y = y0 - (rows + 0.5) * res
    z = 100 + a * (x - x0) + b * (y - y0)
    return write(path, z.astype(np.float64), crs, Affine(res, 0, x0, 0, -res, y0))


def whole(grid):
    return Window(0, 0, grid.width, grid.height)


# ---------------------------------------------------------------------------------------------------------
# terrain on a tilted plane


# (a, b) of z = a*east + b*north and the aspect by hand: the slope faces downslope, i.e. along (-a, -b)
# (east, north), and aspect = atan2(east, north) clockwise from north.
@pytest.mark.parametrize("a, b, aspect", [
    (1.0, 0.0, 270.0),     # rises eastwards: faces west
    (-1.0, 0.0, 90.0),     # rises westwards: faces east
    (0.0, 1.0, 180.0),     # rises northwards: faces south
    (0.0, -1.0, 0.0),      # rises southwards: faces north
    (0.1, -0.2, 333.4349),  # downslope (-0.1, +0.2): 360 - atan(0.1/0.2) = 360 - 26.5651
    (-0.3, -0.3, 45.0),    # downslope (+0.3, +0.3): north-east
])
def test_plane_slope_and_aspect_projected(tmp_path, a, b, aspect):
    dem = plane_dem(tmp_path / "dem.tif", a, b)
    with rasterio.open(dem) as src:
        grid = Grid.of(src)
    t = terrain(dem, grid, whole(grid))
    inner = (slice(1, -1), slice(1, -1))
    # The grid is at the zone's central meridian (x = 500000), where UTM's scale factor is k0 = 0.9996: one
    # grid metre is 1/0.9996 ground metres, so the ground gradient is hypot(a, b) * 0.9996.
    expected_slope = math.degrees(math.atan(math.hypot(a, b) * 0.9996))
    np.testing.assert_allclose(t["slope"][inner], expected_slope, atol=2e-3)
    np.testing.assert_allclose(t["aspect"][inner], aspect, atol=1e-3)
    np.testing.assert_allclose(t["eastness"][inner], math.sin(math.radians(aspect)), atol=1e-5)
    np.testing.assert_allclose(t["northness"][inner], math.cos(math.radians(aspect)), atol=1e-5)
    # elevation is the plane at the pixel centres (the DEM grid is the image grid here)
    with rasterio.open(dem) as src:
        np.testing.assert_allclose(t["elevation"], src.read(1), atol=1e-3)
    # the outermost ring needs neighbours outside the DEM: nodata
    assert np.isnan(t["slope"][0]).all() and np.isnan(t["aspect"][:, -1]).all()


def test_flat_dem_has_zero_slope_and_aspect(tmp_path):
    dem = plane_dem(tmp_path / "dem.tif", 0.0, 0.0)
    with rasterio.open(dem) as src:
        grid = Grid.of(src)
    t = terrain(dem, grid, whole(grid))
    inner = (slice(1, -1), slice(1, -1))
    for band in ("slope", "aspect", "eastness", "northness"):
        assert (t[band][inner] == 0).all(), band  # flat: aspect 0, eastness = northness = 0, not nodata


@pytest.mark.parametrize("lat0", [0.0, 60.0])
def test_plane_in_geographic_crs(tmp_path, lat0):
    # z = a*E + b*N with E, N in metres from (lon0, lat0), E = (lon - lon0) * 111320 cos(lat0) and
    # N = (lat - lat0) * 110574: the textbook metres per degree. The code uses the WGS 84 series (110574 ->
    # 111412 m at 60 deg N), so the slopes agree to within ~1 % of the gradient: 0.15 deg at ~14 deg.
    a, b = 0.2, -0.15
    lon0, res, n = -50.0, 0.0005, 80
    mlon, mlat = 111320 * math.cos(math.radians(lat0)), 110574.0
    rows, cols = np.mgrid[0:n, 0:n]
    lon = lon0 + (cols + 0.5) * res
    lat = lat0 + 0.02 - (rows + 0.5) * res
    z = 100 + a * (lon - lon0) * mlon + b * (lat - lat0) * mlat
    dem = write(tmp_path / "dem.tif", z, WGS84, Affine(res, 0, lon0, 0, -res, lat0 + 0.02))
    with rasterio.open(dem) as src:
        grid = Grid.of(src)
    t = terrain(dem, grid, whole(grid))
    inner = (slice(1, -1), slice(1, -1))
    expected = math.degrees(math.atan(math.hypot(a, b)))  # 14.04 deg
    np.testing.assert_allclose(t["slope"][inner], expected, atol=0.15)
    # downslope (-0.2, +0.15): aspect = 360 - atan(0.2/0.15) = 306.87 deg
    np.testing.assert_allclose(t["aspect"][inner], 306.87, atol=0.5)
    # without the metres-per-degree conversion the slope would be ~90 deg: make sure it is not close
    assert np.nanmax(t["slope"]) < expected + 0.2


def test_dem_on_another_crs_is_reprojected_onto_the_image_grid(tmp_path):
    # DEM in EPSG:4326, z linear in lon/lat (bilinear resampling reproduces it exactly); image grid in
    # UTM 22N. The elevation at each image pixel is the plane at that pixel centre's lon/lat.
    lon0, lat0, res, n = -51.05, -3.75, 0.0005, 200
    zf = lambda lon, lat: 200 + 20000 * (lon - lon0) - 10000 * (lat - lat0)  # ~10 m and 5 m per DEM pixel
    rows, cols = np.mgrid[0:n, 0:n]
    dem = write(tmp_path / "dem.tif", zf(lon0 + (cols + 0.5) * res, lat0 - (rows + 0.5) * res), WGS84,
                Affine(res, 0, lon0, 0, -res, lat0))
    to_utm = Transformer.from_crs(WGS84, UTM22N, always_xy=True)
    x0, y0 = to_utm.transform(lon0 + 0.02, lat0 - 0.02)
    grid = Grid(UTM22N, Affine(30, 0, round(x0), 0, -30, round(y0)), 100, 100)  # 3 km, inside the DEM
    t = terrain(dem, grid, whole(grid))
    xs = grid.transform.c + 30 * (np.arange(100) + 0.5)
    ys = grid.transform.f - 30 * (np.arange(100) + 0.5)
    X, Y = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(UTM22N, WGS84, always_xy=True).transform(X, Y)
    # GDAL's approximate transformer errs by up to 0.125 DEM pixel: 0.125 * hypot(10, 5) = 1.4 m at most
    np.testing.assert_allclose(t["elevation"], zf(lon, lat), atol=1.5)
    assert np.isfinite(t["slope"]).all()  # the DEM covers the padding ring too
    # ground gradient at 3.75 deg S: 20000 m per degree of longitude / 111083 m = 0.18004, 10000 / 110579 m per
    # degree of latitude = 0.09043, so slope = atan(hypot(0.18004, 0.09043)) = atan(0.20148) = 11.39 deg (the
    # UTM scale factor 0.9996 near the central meridian, 51 W, changes it by 0.004 deg)
    np.testing.assert_allclose(np.nanmedian(t["slope"]), 11.39, atol=0.02)


def test_partial_coverage_is_nodata_and_coverage_counts_it(tmp_path):
    dem = plane_dem(tmp_path / "dem.tif", 0.1, 0.1, shape=(50, 60))
    # image grid shifted 10 pixels east: its last 10 of 60 columns are outside the DEM
    grid = Grid(UTM22N, Affine(30, 0, 500000 + 300, 0, -30, 1000000), 60, 50)
    t = terrain(dem, grid, whole(grid))
    assert np.isnan(t["elevation"][:, 50:]).all() and np.isfinite(t["elevation"][:, :50]).all()
    assert np.isnan(t["slope"][:, 49:]).all() and np.isfinite(t["slope"][1:-1, :49]).all()
    entry = {"layer": "terrain", "path": dem}
    assert coverage(grid, entry) == pytest.approx(50 / 60)
    # windows and the stack give the same values as the whole grid at once
    stack = add_auxiliary(open_image(write(tmp_path / "img.tif", np.ones((50, 60), np.float32), UTM22N,
                                           grid.transform)), [entry])
    assert stack.band_names == ["img", "elevation", "slope", "aspect", "eastness", "northness"]
    assert coverage(stack, entry) == pytest.approx(50 / 60)
    with stack.reader() as read:
        part = read(Window(20, 10, 25, 30))
    np.testing.assert_array_equal(part[2], t["slope"][10:40, 20:45])
    # no overlap at all: a clear error
    far = Grid(UTM22N, Affine(30, 0, 700000, 0, -30, 1000000), 60, 50)
    with pytest.raises(NoOverlapError, match="does not overlap the image"):
        add_auxiliary(open_image(write(tmp_path / "far.tif", np.ones((50, 60), np.float32), UTM22N,
                                       far.transform)), [entry])


def test_geographic_dem_on_utm_image_matches_the_dem_own_grid(tmp_path):
    """A real DEM (USGS 3 arc-second, Jacksboro fault, Tennessee; shipped with matplotlib): slopes computed on
    its own geographic grid and after warping it onto a UTM grid of about the same pixel size agree."""
    from matplotlib.cbook import get_sample_data

    d = get_sample_data("jacksboro_fault_dem.npz")
    z = d["elevation"].astype(np.float32)
    res = float(d["dx"])
    west, north = float(d["xmin"]), max(float(d["ymin"]), float(d["ymax"]))
    dem = write(tmp_path / "jacksboro.tif", z, WGS84, Affine(res, 0, west, 0, -res, north))
    with rasterio.open(dem) as src:
        geo = Grid.of(src)
    s_geo = terrain(dem, geo, whole(geo))["slope"]
    utm = CRS.from_epsg(32616)
    x0, y0 = Transformer.from_crs(WGS84, utm, always_xy=True).transform(west + 0.05, north - 0.05)
    grid = Grid(utm, Affine(75, 0, x0, 0, -75, y0), 300, 250)  # 22.5 x 18.8 km inside the DEM
    s_utm = terrain(dem, grid, whole(grid))["slope"]
    assert np.isfinite(s_utm).all()
    # sample the geographic slope at the UTM pixel centres
    xs = x0 + 75 * (np.arange(300) + 0.5)
    ys = y0 - 75 * (np.arange(250) + 0.5)
    X, Y = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(utm, WGS84, always_xy=True).transform(X, Y)
    r, c = rasterio.transform.rowcol(geo.transform, lon.ravel(), lat.ravel())
    s_at = s_geo[np.asarray(r), np.asarray(c)].reshape(s_utm.shape)
    # a real, rugged DEM: Appalachian ridges, slopes of 0-40 deg
    assert 5 < np.nanmean(s_at) < 25 and np.nanmax(s_at) > 20
    # same terrain, other grid: means within 5 %, pixels well correlated
    assert np.nanmean(s_utm) == pytest.approx(np.nanmean(s_at), rel=0.05)
    assert np.corrcoef(s_utm.ravel(), s_at.ravel())[0, 1] > 0.8
    # had the degrees not been converted to metres the slopes would be ~90 deg
    assert np.nanmax(s_geo) < 60


# ---------------------------------------------------------------------------------------------------------
# water


def test_water_raster_nodata_and_names(tmp_path):
    occ = np.full((40, 40), 255, np.uint8)  # JRC GSW: 255 = no data, 0-100 = occurrence (%)
    occ[:, :30] = np.arange(30, dtype=np.uint8) * 3
    transform = Affine(30, 0, 500000, 0, -30, 1000000)
    path = write(tmp_path / "occurrence_60W_0Nv1_4_2021.tif", occ, UTM22N, transform)  # no declared nodata
    img = write(tmp_path / "img.tif", np.ones((40, 40), np.float32), UTM22N, transform)
    entry = {"layer": "water", "path": path}
    stack = add_auxiliary(open_image(img), [entry])
    assert stack.band_names == ["img", "water_occurrence"]
    values = stack.read()[1]
    assert np.isnan(values[:, 30:]).all()
    np.testing.assert_array_equal(values[:, :30], np.broadcast_to(np.arange(30) * 3.0, (40, 30)))
    assert coverage(stack, entry) == pytest.approx(30 / 40)
    # a multi-band file: names from the band descriptions, declared nodata honoured, nearest neighbour
    both = np.stack([occ, np.where(occ == 255, 0, 12).astype(np.uint8)])
    path2 = write(tmp_path / "gsw.tif", both, UTM22N, transform, nodata=0,
                  descriptions=["occurrence", "seasonality"])
    stack2 = add_auxiliary(open_image(img), [{"layer": "water", "path": path2, "bands": None}])
    assert stack2.band_names == ["img", "water_occurrence", "water_seasonality"]
    v = stack2.read()
    assert np.isnan(v[1][:, 0]).all()  # occurrence 0 is the declared nodata here
    assert (v[2][:, :30] == 12).all() and np.isnan(v[2][:, 30:]).all()
    # a coarser image grid: nearest neighbour keeps the stored values (no 1.5, 4.5 ... from averaging)
    coarse = write(tmp_path / "coarse.tif", np.ones((20, 20), np.float32), UTM22N,
                   Affine(60, 0, 500000, 0, -60, 1000000))
    v3 = add_auxiliary(open_image(coarse), [entry]).read()[1]
    assert set(np.unique(v3[np.isfinite(v3)])) <= set(range(0, 90, 3))


def test_missing_file_no_crs_and_unknown_layer(tmp_path):
    img = open_image(write(tmp_path / "img.tif", np.ones((10, 10), np.float32), UTM22N,
                           Affine(30, 0, 500000, 0, -30, 1000000)))
    with pytest.raises(ImageError, match="DEM file not found"):
        add_auxiliary(img, [{"layer": "terrain", "path": str(tmp_path / "nope.tif")}])
    nocrs = write(tmp_path / "nocrs.tif", np.ones((10, 10), np.float32), None, Affine(30, 0, 0, 0, -30, 0))
    with pytest.raises(CRSError, match="no coordinate reference system"):
        add_auxiliary(img, [{"layer": "water", "path": nocrs}])
    with pytest.raises(ImageError, match="unknown auxiliary layer 'slope'"):
        add_auxiliary(img, ["slope"])
    with pytest.raises(ImageError, match="unknown terrain band"):
        add_auxiliary(img, [{"layer": "terrain", "path": nocrs, "bands": ["curvature"]}])


# ---------------------------------------------------------------------------------------------------------
# recipe, CLI, classification


def test_recipe_round_trip_with_dict_and_string_entries(tmp_path):
    aux = ["latitude", {"layer": "terrain", "path": "/abs/dem.tif", "bands": ["elevation", "slope"]},
           {"layer": "water", "path": "/abs/occ.tif", "bands": None}]
    recipe = Recipe(name="r", images=[ImageRef("/abs/img.tif")], auxiliary=aux)
    recipe.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["auxiliary"] == aux
    assert Recipe.load(tmp_path / "r.json").auxiliary == aux
    # an old recipe with strings only loads and saves the same
    old = {"schema_version": 1, "name": "old", "images": [{"path": "/abs/img.tif", "bands": None,
                                                          "resolution": None}],
           "legend": None, "training": [], "classifier": {"name": "random-forest", "params": {}},
           "auxiliary": ["latitude"]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = Recipe.load(tmp_path / "old.json")
    assert loaded.auxiliary == ["latitude"] and loaded.to_dict()["auxiliary"] == ["latitude"]
    # relative DEM paths are resolved against the recipe's folder
    rel = dict(old, auxiliary=[{"layer": "terrain", "path": "dem/srtm.tif", "bands": None}])
    (tmp_path / "rel.json").write_text(json.dumps(rel))
    assert Recipe.load(tmp_path / "rel.json").auxiliary[0]["path"] == str(tmp_path / "dem" / "srtm.tif")


def test_cli_aux_parsing(tmp_path):
    from landclass_ui.cli import _recipe_from_classify, build_parser

    args = build_parser().parse_args(["classify", L5_BANDS[0], "-t", L5_POLYGONS, "-o", "m.tif", "--aux", "latitude",
                                      "--aux", "terrain=dem.tif", "--aux", f"water={tmp_path}/occ.tif"])
    recipe = _recipe_from_classify(args)
    assert recipe.auxiliary == [
        "latitude",
        {"layer": "terrain", "path": str(Path("dem.tif").resolve()),
         "bands": ["elevation", "slope", "aspect", "eastness", "northness"]},
        {"layer": "water", "path": f"{tmp_path}/occ.tif", "bands": None},
    ]
    assert parse_cli("slope") == "slope"  # reported as unknown when the recipe runs
    with pytest.raises(ImageError, match="needs a file path"):
        parse_cli("terrain=")
    help_text = build_parser()._subparsers._group_actions[0].choices["classify"].format_help()
    assert "terrain=DEM.tif" in help_text and "water=OCCURRENCE.tif" in help_text


def l5_dem(tmp_path):
    """A synthetic DEM over the Landsat 5 test scene (EPSG:32622, 60 m): z = 50 + 0.01*(x - x0) + 0.02*(y0 - y)."""
    with rasterio.open(L5_BANDS[0]) as src:
        left, bottom, right, top = src.bounds
    w, h = int((right - left) / 60) + 4, int((top - bottom) / 60) + 4
    rows, cols = np.mgrid[0:h, 0:w]
    x0, y0 = left - 120, top + 120
    z = 50 + 0.01 * (cols + 0.5) * 60 + 0.02 * (rows + 0.5) * 60
    return write(tmp_path / "dem.tif", z.astype(np.float32), UTM22N, Affine(60, 0, x0, 0, -60, y0)), x0, y0


def test_classification_run_with_terrain(tmp_path):
    from landclass_ui.pipeline import run

    dem, x0, y0 = l5_dem(tmp_path)
    recipe = Recipe(name="terrain", images=[ImageRef(p) for p in L5_BANDS],
                    training=[TrainingRef("file", path=L5_POLYGONS)],
                    auxiliary=[{"layer": "terrain", "path": dem, "bands": ["elevation", "slope", "aspect"]}])
    result = run(recipe, str(tmp_path / "map.tif"), samples_out=str(tmp_path / "s.csv"), progress=False)
    assert Path(result.classification).exists()
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert rows and {"elevation", "slope", "aspect"} <= set(rows[0])
    # plane: ground gradient hypot(0.01, 0.02) * k (UTM scale at ~119 km from the central meridian: 0.99977),
    # slope 1.281 deg; it faces north-west-ish: downslope (-0.01, +0.02) -> 360 - atan(0.5) = 333.43 deg
    for row in rows[:: max(1, len(rows) // 40)]:
        x, y = float(row["x"]), float(row["y"])
        assert float(row["elevation"]) == pytest.approx(50 + 0.01 * (x - x0) + 0.02 * (y0 - y), abs=0.01)
        assert float(row["slope"]) == pytest.approx(1.281, abs=0.005)
        assert float(row["aspect"]) == pytest.approx(333.43, abs=0.05)
    with rasterio.open(result.classification) as src:
        assert (src.read(1) != 255).mean() > 0.99  # the DEM covers the scene: (almost) everything classified


# ---------------------------------------------------------------------------------------------------------
# AUX panel


def panel_store(tmp_path):
    recipe = Recipe(name="aux", images=[ImageRef(p) for p in L5_BANDS],
                    training=[TrainingRef("file", path=L5_POLYGONS)])
    store = RecipeStore(recipe, tmp_path / "work" / "recipe.json")
    store.save()
    return store


def test_aux_panel_adds_a_dem_and_shows_coverage(tmp_path):
    from landclass_ui.ui.auxiliary_panel import AuxPanel

    store = panel_store(tmp_path)
    panel = AuxPanel(store)
    assert "No DEM" in panel.dem_status.value
    # a DEM covering the western 2/3 of the image columns
    with rasterio.open(L5_BANDS[0]) as src:
        grid = Grid.of(src)
    half = write(tmp_path / "half.tif", np.full((grid.height, 191), 10, np.float32), UTM22N, grid.transform)
    panel.terrain_boxes["aspect"].value = False
    panel.dem_path.value = half
    panel.dem_add.click()
    assert "error" not in panel.message.value, panel.message.value
    entry = {"layer": "terrain", "path": half, "bands": ["elevation", "slope", "eastness", "northness"]}
    assert store.recipe.auxiliary == [entry]
    assert json.loads(Path(store.path).read_text())["auxiliary"] == [entry]
    share = f"{191 / 287:.0%}"  # 67 %
    assert f"covers {share} of the image" in panel.message.value
    assert f"covers {share} of the image" in panel.dem_status.value
    # a bad path: an error in the panel, nothing changed
    before = list(store.recipe.auxiliary)
    panel.dem_path.value = str(tmp_path / "missing.tif")
    panel.dem_add.click()
    assert "landclass-msg-error" in panel.message.value and "not found" in panel.message.value
    assert store.recipe.auxiliary == before
    # no CRS, and no overlap: errors too
    nocrs = write(tmp_path / "nocrs.tif", np.ones((5, 5), np.float32), None, Affine(30, 0, 0, 0, -30, 0))
    panel.dem_path.value = nocrs
    panel.dem_add.click()
    assert "no coordinate reference system" in panel.message.value and store.recipe.auxiliary == before
    far = write(tmp_path / "far.tif", np.ones((5, 5), np.float32), UTM22N, Affine(30, 0, 100000, 0, -30, 0))
    panel.water_path.value = far
    panel.water_add.click()
    assert "does not overlap the image" in panel.message.value and store.recipe.auxiliary == before
    # water raster over the whole image, then remove the DEM; undo brings it back
    occ = write(tmp_path / "occurrence.tif", np.full((grid.height, grid.width), 40, np.uint8), UTM22N,
                grid.transform)
    panel.water_path.value = occ
    panel.water_add.click()
    assert "covers 100% of the image" in panel.water_status.value
    assert store.recipe.auxiliary[-1] == {"layer": "water", "path": occ, "bands": None}
    panel.dem_remove.click()
    assert [a["layer"] for a in store.recipe.auxiliary] == ["water"] and "No DEM" in panel.dem_status.value
    store.undo()
    assert store.recipe.auxiliary[0] == entry and f"covers {share}" in panel.dem_status.value
    assert panel.terrain_boxes["aspect"].value is False
    # ticking a band updates the entry; the latitude checkbox still works beside the files
    panel.terrain_boxes["aspect"].value = True
    assert store.recipe.auxiliary[0]["bands"] == ["elevation", "slope", "aspect", "eastness", "northness"]
    panel.boxes["latitude"].value = True
    assert store.recipe.auxiliary[-1] == "latitude" and len(store.recipe.auxiliary) == 3
