"""The catalogue of bad inputs, through the dashboard's panels as a person uses them (widget values set, buttons
clicked on a :class:`LandclassApp`), on two real scenes that differ in sensor, CRS and file layout: the bundled
Sentinel-2 L2A sample (a ``.SAFE`` of JPEG 2000 bands, EPSG:32631) and the Landsat 5 TM band GeoTIFFs of
``tests/data/l5_amazon`` (one uint8 file per band, nodata 255, EPSG:32622).

Every case is one row of :data:`CASES`: an id, the panel, what the bad input is, how it is made (from the real
files of ``tests/data`` and the bundled sample; synthetic rasters only for huge dimensions), the action, and the
words its message must hold: what is wrong and what to do. One parametrized test runs each case and checks

1. the message: in the panel that caused it (the header's line for a recipe opened there), red, one line, no
   traceback, no Python exception class name, the words expected (for the legend mismatch: the dialog that asks,
   then Cancel); the few inputs that should work (mixed geometry types, a bow-tie polygon, a band file of another
   pixel size...) work and say what was done;
2. the recipe on disk and in the store is unchanged by a refused input, and the training points clicked before are
   all still there (points lost: 0);
3. the app is still usable: a click on the map right after adds a point and the map is classified again.

Nothing may crash: no exception escaping a click, no traceback in the page, on stderr or in ``landclass.log``.
A session collector writes the catalogue to ``test-artifacts/bad_inputs.md`` (panel | bad input | message shown |
test id) with the counts: bad inputs tried, crashes, points lost.

One app per scene is reused (module fixture); before each case the recipe is put back to the scene's baseline
(image, legend, clicked points) and the panels' fields are emptied.
"""
from __future__ import annotations

import html
import json
import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.warp import calculate_default_transform, reproject
from shapely.geometry import Point, Polygon

from landclass_ui.jobs import list_tasks
from landclass_ui.legend import Legend
from landclass_ui.recipe import Recipe
from landclass_ui.sample import sample_paths
from landclass_ui.training import legend_colors, read_training
from landclass_ui.ui.app import LandclassApp
from landclass_ui.ui.trn import collected_points

DATA = Path(__file__).parent / "data"
SAMPLE = sample_paths()
L5 = DATA / "l5_amazon"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


# ---------------------------------------------------------------------------------------------------------
# the scenes


@dataclass(frozen=True)
class Scene:
    key: str
    image: str             # what is typed in IMG (a .SAFE folder, a pattern of band files)
    band_files: tuple      # its band files, in band order
    band_names: tuple
    nodata: int            # the DN that is nodata in its band files
    training: str          # its training polygons, and their class field
    field: str
    other: str             # an image of another area (for "does not overlap")

    @property
    def band(self) -> str:
        """One band file of the scene (the red band)."""
        return self.band_files[self.band_names.index("B04" if "B04" in self.band_names else "B3")]


S2_BANDS = tuple(sorted(str(p) for p in Path(SAMPLE.safe).glob("GRANULE/*/IMG_DATA/R60m/*_B*.jp2")))
L5_BANDS = tuple(str(L5 / f"LT52240631988227CUB02_B{i}.TIF") for i in (1, 2, 3, 4, 5, 7))

SCENES = {
    "s2-safe": Scene("s2-safe", SAMPLE.safe, S2_BANDS,
                     tuple(re.search(r"_(B\w\w)_60m", p).group(1) for p in S2_BANDS), 0,
                     SAMPLE.polygons, SAMPLE.class_field, L5_BANDS[0]),
    "l5-tif": Scene("l5-tif", str(L5 / "LT52240631988227CUB02_B[123457].TIF"), L5_BANDS,
                    ("B1", "B2", "B3", "B4", "B5", "B7"), 255, str(L5 / "training_polygons.gpkg"), "class",
                    SAMPLE.safe),
}


def polygons(scene: Scene) -> gpd.GeoDataFrame:
    return gpd.read_file(scene.training)


def lattice_points(app, scene: Scene, n: int) -> list[tuple[float, float]]:
    """``n`` (lat, lon) places spread over the image, away from the training polygons (whose pixels one case
    makes nodata), so that the clicked points stay on valid pixels in every case."""
    from pyproj import Transformer

    grid = app.image_stack.grid
    shapes = polygons(scene).to_crs(grid.crs).buffer(3 * grid.res[0]).union_all()
    to_lonlat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)
    spots = []
    for f in np.linspace(0.15, 0.85, 7):
        for g in np.linspace(0.2, 0.8, 5):
            x, y = grid.transform * (grid.width * f, grid.height * g)
            if not shapes.contains(Point(x, y)):
                lon, lat = to_lonlat.transform(x, y)
                spots.append((lat, lon))
    assert len(spots) >= n
    return spots[:: max(1, len(spots) // n)][:n]


@dataclass
class Baseline:
    recipe: dict
    click: tuple           # (lat, lon, class value) of the good action's click


def build_app(scene: Scene, workdir: Path) -> tuple[LandclassApp, Baseline]:
    """The app on ``scene``: its image opened in IMG, the legend of its training polygons, and points of every
    class clicked on the map (the baseline every case starts from)."""
    app = LandclassApp(workdir=workdir, routing="proxy")
    app.assessor.delay = 0.0  # the accuracy's 2 s pause after a retrain: a catalogue of 40 cases need not wait
    app.wait_idle()
    if scene.image != SAMPLE.safe:
        app.img.path.value = scene.image
        app.img.open_button.click()
        assert "error" not in app.img.message.value, app.img.message.value
        frame = read_training(scene.training, scene.field)
        legend = Legend.from_labels(list(frame["label"]), legend_colors(frame)).to_list()
        app.store.edit("legend", lambda r: setattr(r, "legend", legend))
    app.wait_idle()
    values = [e["value"] for e in app.store.recipe.legend]
    spots = lattice_points(app, scene, 2 * len(values) + 1)
    for i, (lat, lon) in enumerate(spots[:-1]):
        app.trn.chooser.value = values[i % len(values)]
        app._on_click(lat, lon, None)
    app.wait_idle()
    assert "classified with" in app.status.value, app.status.value
    return app, Baseline(app.store.recipe.to_dict(), (*spots[-1], values[0]))


# ---------------------------------------------------------------------------------------------------------
# making bad files from real ones


def rewrite(src: str, dst: Path, *, crs="keep", transform="keep", fill=None, nodata="keep", factor=1,
            window=None) -> Path:
    """Band 1 of the real raster ``src`` written as a GeoTIFF ``dst``, with its CRS or geotransform left out
    (None), every pixel set to ``fill``, or read ``factor`` times coarser."""
    with rasterio.open(src) as s:
        h, w = s.height // factor, s.width // factor
        data = s.read(1, out_shape=(h, w)) if factor > 1 else s.read(1)
        profile = dict(driver="GTiff", width=w, height=h, count=1, dtype=s.dtypes[0], crs=s.crs,
                       transform=s.transform * s.transform.scale(s.width / w, s.height / h), nodata=s.nodata)
    if crs != "keep":
        profile["crs"] = crs
    if transform != "keep":
        profile["transform"] = transform
    if nodata != "keep":
        profile["nodata"] = nodata
    if fill is not None:
        data = np.full_like(data, fill)
    profile = {k: v for k, v in profile.items() if v is not None}
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data, 1)
    return dst


def warped(src: str, dst: Path, crs: str) -> Path:
    """The real raster ``src`` reprojected to ``crs`` (the same area in another CRS)."""
    with rasterio.open(src) as s:
        transform, w, h = calculate_default_transform(s.crs, crs, s.width, s.height, *s.bounds)
        out = np.zeros((h, w), s.dtypes[0])
        reproject(s.read(1), out, src_transform=s.transform, src_crs=s.crs, dst_transform=transform, dst_crs=crs)
        profile = dict(driver="GTiff", width=w, height=h, count=1, dtype=s.dtypes[0], crs=crs, transform=transform,
                       nodata=s.nodata if s.nodata is not None else 0)
    with rasterio.open(dst, "w", **profile) as o:
        o.write(out, 1)
    return dst


def written(dst: Path, text: str) -> Path:
    dst.write_text(text, encoding="utf-8")
    return dst


def truncated(src: str, dst: Path, share: float = 0.6) -> Path:
    data = Path(src).read_bytes()
    dst.write_bytes(data[: int(len(data) * share)])
    return dst


def huge_sparse(scene: Scene, dst: Path, size: int = 200_000) -> Path:
    """A GeoTIFF header declaring ``size`` x ``size`` pixels over the scene (its CRS, its top-left corner) and
    no data block written: a file of some kilobytes."""
    with rasterio.open(scene.band) as s:
        crs, left, top = s.crs, s.bounds.left, s.bounds.top
    with rasterio.open(dst, "w", driver="GTiff", width=size, height=size, count=1, dtype="uint16", crs=crs,
                       transform=from_origin(left, top, 0.5, 0.5), tiled=True, blockxsize=4096, blockysize=4096,
                       compress="deflate", sparse_ok=True, nodata=0):
        pass
    assert dst.stat().st_size < 100_000
    return dst


def nodata_under_polygons(scene: Scene, dst: Path) -> Path:
    """The scene's bands (real values) as one GeoTIFF, with every pixel its training polygons touch set to
    nodata."""
    with rasterio.open(scene.band_files[0]) as s:
        profile = dict(driver="GTiff", width=s.width, height=s.height, count=len(scene.band_files),
                       dtype=s.dtypes[0], crs=s.crs, transform=s.transform, nodata=scene.nodata,
                       compress="deflate")
        shapes = polygons(scene).to_crs(s.crs).geometry
        under = rasterize(((g, 1) for g in shapes), out_shape=(s.height, s.width), transform=s.transform,
                          all_touched=True, dtype="uint8").astype(bool)
    with rasterio.open(dst, "w", **profile) as out:
        for i, (path, name) in enumerate(zip(scene.band_files, scene.band_names), start=1):
            with rasterio.open(path) as s:
                data = s.read(1)
            data[under] = scene.nodata
            out.write(data, i)
            out.set_band_description(i, name)
    return dst


def safe_copy(dst: Path, keep: tuple = ()) -> Path:
    """A copy of the bundled .SAFE with its band files deleted but those named in ``keep``."""
    shutil.copytree(SAMPLE.safe, dst)
    for f in dst.glob("GRANULE/*/IMG_DATA/R*m/*.jp2"):
        if not any(f"_{b}_" in f.name for b in keep):
            f.unlink()
    return dst


def training_variant(scene: Scene, dst: Path, change: Callable) -> Path:
    frame = change(polygons(scene))
    frame.to_file(dst)
    return dst


def shifted(frame):
    """Moved 5 degrees east (4326) or 500 km (projected): the same shapes elsewhere."""
    return frame.set_geometry(frame.geometry.translate(xoff=5.0 if frame.crs.is_geographic else 500_000.0))


def one_class(frame, scene: Scene):
    first = sorted(frame[scene.field].unique())[-1]
    return frame[frame[scene.field] == first]


def renamed_class(frame, scene: Scene):
    frame = frame.copy()
    first = sorted(frame[scene.field].unique())[0]
    frame[scene.field] = frame[scene.field].replace({first: "Mangrove"})
    return frame


def mixed_geometries(frame):
    """Every other feature replaced by a point inside it: points and polygons in one file."""
    frame = frame.copy()
    geoms = list(frame.geometry)
    for i in range(0, len(geoms), 2):
        geoms[i] = geoms[i].representative_point()
    return frame.set_geometry(geoms, crs=frame.crs)


def bow_tie(frame):
    """The first polygon replaced by a self-intersecting bow-tie over its bounding box."""
    frame = frame.copy()
    x0, y0, x1, y1 = frame.geometry.iloc[0].bounds
    geoms = list(frame.geometry)
    geoms[0] = Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])
    assert not geoms[0].is_valid
    return frame.set_geometry(geoms, crs=frame.crs)


def empty_classes(frame, scene: Scene):
    frame = frame.copy()
    frame[scene.field] = None
    return frame


def renamed_field(frame, scene: Scene):
    return frame.rename(columns={scene.field: "landuse"})


def points_csv(scene: Scene, dst: Path, *, swap=False, text_row=None, source=None, field=None) -> Path:
    """The scene's polygons (or those of the file ``source``) as points (one inside each) in a CSV of lon, lat,
    class: with longitude and latitude swapped, or text in one row's coordinates."""
    frame = gpd.read_file(source or scene.training).to_crs("EPSG:4326")
    inside = frame.geometry.representative_point()
    lines = ["lon,lat,class"]
    for i, (p, label) in enumerate(zip(inside, frame[field or scene.field])):
        x, y = (p.y, p.x) if swap else (p.x, p.y)
        if i == text_row:
            x = "n/a"
        lines.append(f"{x},{y},{label}")
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst


def legend_csv(app, dst: Path, change: Callable[[list[list[str]]], None], encoding="utf-8") -> Path:
    """The app's legend as a SEPAL legend CSV (value, name, color), rows edited by ``change``."""
    rows = [[str(e["value"]), e["name"], e["color"]] for e in app.store.recipe.legend]
    change(rows)
    dst.write_bytes(("value,name,color\n" + "".join(",".join(r) + "\n" for r in rows)).encode(encoding))
    return dst


def recipe_file(app, dst: Path, change: Callable[[dict], None] | None = None, text: Callable | None = None) -> Path:
    """The app's recipe saved under another name, edited by hand (``change`` on its dict, or ``text`` on its
    JSON)."""
    d = json.loads(json.dumps(app.store.recipe.to_dict()))
    d["name"] = dst.stem
    if change:
        change(d)
    body = json.dumps(d, indent=2)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text(body) if text else body, encoding="utf-8")
    return dst


# ---------------------------------------------------------------------------------------------------------
# actions, as a person does them


def img_open(app, path):
    app.img.path.value = str(path)
    app.img.open_button.click()


def img_add(app, path):
    app.img.path.value = str(path)
    app.img.add_button.click()


def trn_load(app, path, class_field):
    app.trn.file_path.value = str(path)
    app.trn.class_field.value = class_field
    app.trn.load_button.click()


def leg_import(app, path):
    app.leg.csv_path.value = str(path)  # a CSV is previewed (its problems shown) once the path is entered
    app.leg.import_button.click()


def leg_row(app, row: int, column: int, value):
    """Type ``value`` in a cell of the legend table (column 0: value, 1: name)."""
    app.leg.rows.children[row].children[column].value = value


def open_saved(app, path: Path):
    """The header's Open of a recipe kept in ``<workdir>/recipes/`` (listed as the page lists them)."""
    app._list_saved()
    app.saved.value = path.stem
    app.open_button.click()


def trn_import_recipe(app, path):
    app.trn.recipe_path.value = str(path)
    app.trn.import_button.click()


def cls_param(app, name, value):
    app.cls._fields[name].value = value


def aux_add(app, layer, path):
    if layer == "terrain":
        app.aux.dem_path.value = str(path)
        app.aux.dem_add.click()
    else:
        app.aux.water_path.value = str(path)
        app.aux.water_add.click()


def export_start(app, **fields):
    for name, value in fields.items():
        getattr(app.export, name).value = value
    app.export.button.click()


# ---------------------------------------------------------------------------------------------------------
# the catalogue


@dataclass
class Case:
    id: str
    panel: str             # IMG, TRN, LEG, recipe (header), CLS, AUX, Export
    what: str              # the bad input, in words
    make: Callable         # (ctx) -> the input (a path...), made from the real files
    act: Callable          # (app, made, ctx) -> None: what the person does
    words: tuple           # lowercase words the message must hold: what is wrong
    todo: tuple            # any one of these says what to do
    scenes: tuple = ("s2-safe", "l5-tif")
    outcome: str = "error"  # "error" (refused, red), "works" (accepted, says what it did), "dialog" (asks)
    setup: Callable | None = None   # (app, ctx) -> None before the bad input (its changes are not the case's)


@dataclass
class Ctx:
    scene: Scene
    tmp: Path
    app: LandclassApp


C = Case
CASES = [
    # --- IMG: path field + Open / Add ------------------------------------------------------------------------
    C("img-not-a-raster", "IMG", "a vector file (the scene's training polygons) typed as the image",
      lambda c: c.scene.training, lambda a, p, c: img_open(a, p),
      ("cannot read",), ("geotiff",)),
    C("img-text-file", "IMG", "a text file renamed .tif (tests/data/SOURCE.md)",
      lambda c: shutil.copy(DATA / "SOURCE.md", c.tmp / "scene.tif"), lambda a, p, c: img_open(a, p),
      ("cannot read",), ("geotiff",)),
    C("img-truncated", "IMG", "the scene's band file (JP2 / GeoTIFF) cut to 60 % of its bytes",
      lambda c: truncated(c.scene.band, c.tmp / Path(c.scene.band).name), lambda a, p, c: img_open(a, p),
      ("truncated",), ("again",)),
    C("img-truncated-in-stack", "IMG", "a truncated band file added to the image",
      lambda c: truncated(c.scene.band, c.tmp / ("cut_" + Path(c.scene.band).name), 0.3),
      lambda a, p, c: img_add(a, p), ("truncated",), ("again",)),
    C("img-no-crs", "IMG", "the scene's band written without CRS",
      lambda c: rewrite(c.scene.band, c.tmp / "nocrs.tif", crs=None), lambda a, p, c: img_open(a, p),
      ("no coordinate reference system",), ("assign", "gdal_edit")),
    C("img-no-geotransform", "IMG", "the scene's band written without geotransform (CRS kept)",
      lambda c: rewrite(c.scene.band, c.tmp / "nogt.tif", transform=None), lambda a, p, c: img_open(a, p),
      ("geotransform",), ("georeference", "gdal_edit")),
    C("img-safe-no-bands", "IMG", "a copy of the sample .SAFE with its band files deleted",
      lambda c: safe_copy(c.tmp / Path(SAMPLE.safe).name), lambda a, p, c: img_open(a, p),
      ("no level-2a band files",), ("download", "complete")),
    C("img-safe-missing-bands", "IMG", "a copy of the sample .SAFE without its B04 and B8A files (NDVI wanted)",
      lambda c: safe_copy(c.tmp / Path(SAMPLE.safe).name, keep=("B02", "B03")), lambda a, p, c: img_open(a, p),
      ("2 band", "ndvi"), ("nir", "red"), scenes=("s2-safe",), outcome="works"),
    C("img-band-other-size", "IMG", "a band file of another pixel size (the scene's band at 2x the pixel) added",
      lambda c: rewrite(c.scene.band, c.tmp / "coarser.tif", factor=2), lambda a, p, c: img_add(a, p),
      ("resampled",), ("grid",), outcome="works"),
    C("img-all-nodata", "IMG", "the scene's band with every pixel set to its nodata value",
      lambda c: rewrite(c.scene.band, c.tmp / "empty.tif", fill=c.scene.nodata, nodata=c.scene.nodata),
      lambda a, p, c: img_open(a, p), ("nodata",), ("check",)),
    C("img-one-band-ndvi", "IMG", "a 1-band image (the scene's red band) while NDVI/NDWI are chosen",
      lambda c: c.scene.band, lambda a, p, c: img_open(a, p),
      ("1 band", "ndvi"), ("nir",), outcome="works"),
    C("img-huge", "IMG", "a sparse GeoTIFF header declaring 200000 x 200000 px over the scene",
      lambda c: huge_sparse(c.scene, c.tmp / "huge.tif"), lambda a, p, c: img_open(a, p),
      ("200000 x 200000",), ("crop",)),
    C("img-no-overlap", "IMG", "an image of another area added (the other scene)",
      lambda c: c.scene.other, lambda a, p, c: img_add(a, p), ("does not overlap",), ("same area",)),
    C("img-other-crs", "IMG", "the scene's band reprojected to EPSG:4326 added",
      lambda c: warped(c.scene.band, c.tmp / "geographic.tif", "EPSG:4326"), lambda a, p, c: img_add(a, p),
      ("resampled",), ("grid",), outcome="works"),
    C("img-missing", "IMG", "a path to no file", lambda c: c.tmp / "nothing.tif", lambda a, p, c: img_open(a, p),
      ("not found",), ("check the path",)),

    # --- TRN: file path + class field + Load -----------------------------------------------------------------
    C("trn-missing-file", "TRN", "a path to no file", lambda c: c.tmp / "nothing.geojson",
      lambda a, p, c: trn_load(a, p, c.scene.field), ("not found",), ("check the path",)),
    C("trn-empty-file", "TRN", "an empty (0 byte) .geojson", lambda c: written(c.tmp / "empty.geojson", ""),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("empty",), ("choose",)),
    C("trn-no-features", "TRN", "a GeoJSON FeatureCollection without features",
      lambda c: written(c.tmp / "none.geojson", '{"type": "FeatureCollection", "features": []}'),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("no features",), ("choose",)),
    C("trn-outside-image", "TRN", "the scene's polygons moved 5 degrees / 500 km away",
      lambda c: training_variant(c.scene, c.tmp / "moved.gpkg", shifted),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("does not overlap",), ("check",)),
    C("trn-all-on-nodata", "TRN", "the scene's polygons on an image whose pixels under them are nodata",
      lambda c: c.scene.training, lambda a, p, c: trn_load(a, p, c.scene.field), ("nodata",), ("draw", "choose"),
      setup=lambda a, c: img_open(a, nodata_under_polygons(c.scene, c.tmp / "holes.tif"))),
    C("trn-mixed-geometries", "TRN", "points and polygons in one file (every other polygon made a point)",
      lambda c: training_variant(c.scene, c.tmp / "mixed.gpkg", mixed_geometries),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("loaded",), ("",), outcome="works"),
    C("trn-bow-tie", "TRN", "a self-intersecting (bow-tie) polygon among the scene's polygons",
      lambda c: training_variant(c.scene, c.tmp / "bowtie.gpkg", bow_tie),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("loaded",), ("",), outcome="works"),
    C("trn-class-field-missing", "TRN", "a class field the file does not have ('landcover')",
      lambda c: c.scene.training, lambda a, p, c: trn_load(a, p, "landcover"), ("landcover", "not in"),
      ("class field",)),
    C("trn-class-field-blank", "TRN", "the class field left empty, the file's class column named 'landuse'",
      lambda c: training_variant(c.scene, c.tmp / "landuse.gpkg", lambda f: renamed_field(f, c.scene)),
      lambda a, p, c: trn_load(a, p, ""), ("no class column",), ("class field",)),
    C("trn-class-values-empty", "TRN", "the class field present but empty in every feature",
      lambda c: training_variant(c.scene, c.tmp / "noclass.gpkg", lambda f: empty_classes(f, c.scene)),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("no feature",), ("fill in", "another class field")),
    C("trn-single-class", "TRN", "a file of a single class (with points of the others clicked)",
      lambda c: training_variant(c.scene, c.tmp / "single.gpkg", lambda f: one_class(f, c.scene)),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("1 class",), ("",), outcome="works"),
    C("trn-unknown-class", "TRN", "a file with a class the legend lacks ('Mangrove')",
      lambda c: training_variant(c.scene, c.tmp / "mangrove.gpkg", lambda f: renamed_class(f, c.scene)),
      lambda a, p, c: trn_load(a, p, c.scene.field), ("mangrove", "not in the legend"), ("choose",),
      outcome="dialog"),
    C("trn-csv-text-coordinates", "TRN", "a CSV of points with 'n/a' in a longitude",
      lambda c: points_csv(c.scene, c.tmp / "points.csv", text_row=1),
      lambda a, p, c: trn_load(a, p, "class"), ("line 3", "not a number"), ("fix",)),
    C("trn-csv-lat-lon-swapped", "TRN", "a CSV of points with longitude and latitude swapped",
      lambda c: points_csv(c.scene, c.tmp / "swapped.csv", swap=True),
      lambda a, p, c: trn_load(a, p, "class"), ("swapped",), ("x (lon)", "fix the file")),
    C("trn-csv-swapped-out-of-range", "TRN", "a CSV of points near 114 W, 51.7 N (tests/data/s2_t11upt polygons) with "
      "longitude and latitude swapped: latitudes beyond 90", lambda c: points_csv(
          c.scene, c.tmp / "swapped_far.csv", swap=True, source=DATA / "s2_t11upt" / "landcover.shp", field="MC_name"),
      lambda a, p, c: trn_load(a, p, "class"), ("swapped", "outside latitude range"), ("x (lon)",),
      scenes=("s2-safe",)),
    C("trn-import-broken-recipe", "TRN", "Import training from a recipe file that is not valid JSON",
      lambda c: recipe_file(c.app, c.tmp / "broken.json", text=lambda t: t[: len(t) // 2]),
      lambda a, p, c: trn_import_recipe(a, p), ("not valid json",), ("fix",)),

    # --- LEG: import and edits (one scene: the legend is the same code path on both) ---------------------
    C("leg-duplicate-value", "LEG", "a legend CSV giving two classes the same value",
      lambda c: legend_csv(c.app, c.tmp / "dup_value.csv", lambda r: r[1].__setitem__(0, r[0][0])),
      lambda a, p, c: leg_import(a, p), ("used twice",), ("needs its own",), scenes=("s2-safe",)),
    C("leg-duplicate-colour", "LEG", "a legend CSV giving two classes the same colour",
      lambda c: legend_csv(c.app, c.tmp / "dup_colour.csv", lambda r: r[1].__setitem__(2, r[0][2])),
      lambda a, p, c: leg_import(a, p), ("colour", "used twice"), ("needs its own",), scenes=("s2-safe",)),
    C("leg-empty-name", "LEG", "a legend CSV with an empty class name",
      lambda c: legend_csv(c.app, c.tmp / "no_name.csv", lambda r: r[1].__setitem__(1, "")),
      lambda a, p, c: leg_import(a, p), ("no name",), ("a name",), scenes=("s2-safe",)),
    C("leg-malformed-colour", "LEG", "a legend CSV with the colour '#12345G'",
      lambda c: legend_csv(c.app, c.tmp / "bad_colour.csv", lambda r: r[0].__setitem__(2, "#12345G")),
      lambda a, p, c: leg_import(a, p), ("#12345g",), ("#rrggbb", "e.g."), scenes=("s2-safe",)),
    C("leg-not-utf8", "LEG", "a legend CSV in Windows-1252 with accented names ('Forêt')",
      lambda c: legend_csv(c.app, c.tmp / "cp1252.csv", lambda r: r[1].__setitem__(1, "Forêt"), "cp1252"),
      lambda a, p, c: leg_import(a, p), ("imported",), ("",), scenes=("s2-safe",), outcome="works"),
    C("leg-binary-file", "LEG", "a binary file (a band .jp2 renamed .csv) imported as legend",
      lambda c: shutil.copy(c.scene.band, c.tmp / "legend.csv"), lambda a, p, c: leg_import(a, p),
      ("not a text file",), ("csv",), scenes=("s2-safe",)),
    C("leg-edit-duplicate-value", "LEG", "row 2's value typed as row 1's in the legend table",
      lambda c: None, lambda a, p, c: leg_row(a, 1, 0, int(a.store.recipe.legend[0]["value"])),
      ("used twice",), ("needs its own",), scenes=("s2-safe",)),
    C("leg-edit-empty-name", "LEG", "row 1's name erased in the legend table",
      lambda c: None, lambda a, p, c: leg_row(a, 0, 1, ""), ("no name",), ("a name",), scenes=("s2-safe",)),

    # --- the recipe: header Open of a file in <workdir>/recipes/ ---------------------------------------------
    C("recipe-newer-schema", "recipe", "a recipe saved by a newer landclass (schema_version 2)",
      lambda c: recipe_file(c.app, c.app.workdir / "recipes" / "from_the_future.json",
                            lambda d: d.update(schema_version=2)),
      lambda a, p, c: open_saved(a, p), ("schema version 2",), ("update landclass",), scenes=("s2-safe",)),
    C("recipe-missing-keys", "recipe", "a recipe edited by hand: its image has no 'path', a training set no 'kind'",
      lambda c: recipe_file(c.app, c.app.workdir / "recipes" / "hand_edited.json",
                            lambda d: (d["images"][0].pop("path"), d["training"][0].pop("kind"))),
      lambda a, p, c: open_saved(a, p), ("'path'", "missing"), ("fix",), scenes=("s2-safe",)),
    C("recipe-broken-json", "recipe", "a recipe file cut in the middle (not valid JSON)",
      lambda c: recipe_file(c.app, c.app.workdir / "recipes" / "cut.json", text=lambda t: t[: len(t) // 2]),
      lambda a, p, c: open_saved(a, p), ("not valid json",), ("fix",), scenes=("s2-safe",)),

    # --- CLS: parameters out of range -----------------------------------------------------------------------
    C("cls-bag-fraction-above-1", "CLS", "random forest bag fraction 1.5", lambda c: None,
      lambda a, p, c: cls_param(a, "bag_fraction", "1.5"), ("bag_fraction", "outside"), ("from 0.01 to 1",)),
    C("cls-bag-fraction-text", "CLS", "random forest bag fraction 'half'", lambda c: None,
      lambda a, p, c: cls_param(a, "bag_fraction", "half"), ("bag_fraction", "half"), ("give a number",),
      scenes=("s2-safe",)),
    C("cls-variables-per-split-0", "CLS", "random forest variables per split 0", lambda c: None,
      lambda a, p, c: cls_param(a, "variables_per_split", "0"), ("variables_per_split", "outside"),
      ("at least 1",), scenes=("s2-safe",)),

    # --- AUX: a bad DEM / water raster ------------------------------------------------------------------------
    C("aux-dem-not-a-raster", "AUX", "the scene's training polygons given as DEM",
      lambda c: c.scene.training, lambda a, p, c: aux_add(a, "terrain", p), ("cannot read",), ("geotiff",)),
    C("aux-dem-other-area", "AUX", "a raster of another area (the other scene's band) given as DEM",
      lambda c: c.scene.other if c.scene.other.endswith(".TIF") else S2_BANDS[0],
      lambda a, p, c: aux_add(a, "terrain", p), ("does not overlap",), ("covering",)),
    C("aux-water-no-crs", "AUX", "a water raster without CRS (the scene's band, CRS left out)",
      lambda c: rewrite(c.scene.band, c.tmp / "water_nocrs.tif", crs=None), lambda a, p, c: aux_add(a, "water", p),
      ("no coordinate reference system",), ("assign", "gdal_edit")),

    # --- Export (its Reference field is the dashboard's reference-file input; ACC only shows results) --------
    C("export-scale-text", "Export", "scale 'thirty'", lambda c: None,
      lambda a, p, c: export_start(a, scale="thirty"), ("scale",), ("e.g. 30",), scenes=("s2-safe",)),
    C("export-scale-negative", "Export", "scale -30", lambda c: None,
      lambda a, p, c: export_start(a, scale="-30"), ("scale",), ("positive",), scenes=("s2-safe",)),
    C("export-reference-missing", "Export", "a reference file that does not exist", lambda c: c.tmp / "ref.gpkg",
      lambda a, p, c: export_start(a, reference=str(p)), ("not found",), ("check the path",)),
    C("export-reference-field", "Export", "a reference file (the scene's polygons) without the field 'landcover'",
      lambda c: c.scene.training, lambda a, p, c: export_start(a, reference=str(p), reference_field="landcover"),
      ("landcover", "not in"), ("class field", "ref. field"), scenes=("s2-safe",)),
    C("export-reference-not-vector", "Export", "a raster given as reference file", lambda c: c.scene.band,
      lambda a, p, c: export_start(a, reference=str(p)), ("cannot read",), ("geopackage", "shapefile"),
      scenes=("s2-safe",)),
    C("export-model-of-broken", "Export", "'Model of' a recipe file that is not valid JSON",
      lambda c: recipe_file(c.app, c.tmp / "other.json", text=lambda t: t[:100]),
      lambda a, p, c: export_start(a, model_recipe=str(p)), ("not valid json",), ("fix",), scenes=("s2-safe",)),
]

PARAMS = [(s, case) for s in SCENES for case in CASES if s in case.scenes]
assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------------------------------------------------
# fixtures: the collector, one app per scene


@pytest.fixture(scope="session")
def catalogue():
    """Rows of the catalogue, written to ``test-artifacts/bad_inputs.md`` when the session ends."""
    rows: list[dict] = []
    yield rows
    if rows:
        write_catalogue(rows, ARTIFACTS / "bad_inputs.md")


def write_catalogue(rows: list[dict], path: Path) -> None:
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    lines = ["# Bad inputs through the dashboard's panels", "",
             "Made by `tests/test_bad_input_catalogue.py` (real scenes: the bundled Sentinel-2 .SAFE, EPSG:32631; "
             "the Landsat 5 band GeoTIFFs of tests/data/l5_amazon, EPSG:32622). Outcome: refused (red message, "
             "recipe unchanged), asked (the class dialog), or worked (the input is usable; the message says what "
             "was done). The ACC panel has no file input (it shows the live accuracy): the dashboard's "
             "reference-file input is the Export panel's Reference field. Paths shortened: <tmp> the test's folder, "
             "<workdir> the app's.", "",
             "| panel | bad input | message shown | test id |", "|---|---|---|---|"]
    for r in rows:
        outcome = {"error": "refused", "works": "worked", "dialog": "asked"}[r["outcome"]]
        panel = {"recipe": "header (recipe Open)", "Export": "Export (incl. Reference)"}.get(r["panel"], r["panel"])
        lines.append(f"| {cell(panel)} | {cell(r['scene'])}: {cell(r['what'])} | ({outcome}) "
                     f"{cell(r['message'])} | `{cell(r['test'])}` |")
    lines += ["", f"- bad inputs tried: {len(rows)}",
              f"- crashes (exceptions escaping, tracebacks shown or logged): {sum(r['crashes'] for r in rows)}",
              f"- points lost: {sum(r['points_lost'] for r in rows)}",
              f"- refused: {sum(r['outcome'] == 'error' for r in rows)}, asked: "
              f"{sum(r['outcome'] == 'dialog' for r in rows)}, worked: {sum(r['outcome'] == 'works' for r in rows)}",
              f"- failed checks: {sum(not r['passed'] for r in rows)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    made: dict[str, tuple[LandclassApp, Baseline]] = {}

    def get(key: str):
        if key not in made:
            made[key] = build_app(SCENES[key], tmp_path_factory.mktemp(key) / "work")
        return made[key]

    yield get
    for app, _ in made.values():
        app.wait_idle()


def reset(app: LandclassApp, scene: Scene, baseline: Baseline) -> None:
    """Back to the scene's baseline recipe, panels' fields empty, no message."""
    app.wait_idle()
    if app.store.recipe.to_dict() != baseline.recipe:
        app.store.replace(Recipe.from_dict(baseline.recipe), "back to the baseline")
        app.wait_idle()
    for task in list_tasks(app.workdir):  # a case that started an export by mistake: stopped
        if task.state == "running":
            app.export.cancel(task.id)
    app.trn.dialog.children = ()
    app.img.path.value = ""
    for w, v in ((app.trn.file_path, ""), (app.trn.class_field, scene.field), (app.trn.filter, ""),
                 (app.trn.x_column, ""), (app.trn.y_column, ""), (app.trn.geometry_column, ""),
                 (app.trn.recipe_path, ""), (app.leg.csv_path, ""), (app.aux.dem_path, ""),
                 (app.aux.water_path, ""), (app.export.scale, ""), (app.export.reference, ""),
                 (app.export.reference_field, "class"), (app.export.model_recipe, "")):
        w.value = v
    app.leg.close_preview()
    app.leg.refresh()
    app.cls.refresh()
    for m in messages(app).values():
        m.clear()
    assert app.store.recipe.to_dict() == baseline.recipe


def messages(app) -> dict:
    return {"IMG": app.img.message, "TRN": app.trn.message, "LEG": app.leg.message, "recipe": app.message,
            "CLS": app.cls.message, "AUX": app.aux.message, "Export": app.export.message}


def short(text: str, tmp: Path, app) -> str:
    """``text`` with the test's folders shortened, for the catalogue."""
    for folder, name in ((app.workdir, "<workdir>"), (tmp, "<tmp>"), (Path(__file__).resolve().parent.parent, ".")):
        text = text.replace(str(folder), name)
    return text


def text_of(widget) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value)).strip()


def kind_of(widget) -> str | None:
    found = re.search(r"landclass-msg-(\w+)", widget.value)
    return found.group(1) if found else None


def disk(app) -> dict:
    return json.loads((app.workdir / "recipe.json").read_text(encoding="utf-8"))


def points_of(recipe: dict) -> list[dict]:
    return collected_points(Recipe.from_dict(recipe))


#: A Python exception class name in a message (``KeyError``, ``RasterioIOError``, ``CPLE_OpenFailedError``...).
EXCEPTION_NAME = re.compile(r"\b(?:[A-Z]\w*(?:Error|Exception|Warning)|CPLE_\w+)\b")


class CallbackErrors(logging.Handler):
    """Exceptions a widget callback let through (ipywidgets logs them where no kernel shows a traceback)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record):
        if record.exc_info or "Exception in callback" in record.getMessage():
            self.records.append(record.getMessage())


# ---------------------------------------------------------------------------------------------------------
# the test


@pytest.mark.parametrize("scene_key, case", PARAMS, ids=[f"{s}-{c.id}" for s, c in PARAMS])
def test_bad_input(scene_key, case: Case, apps, catalogue, tmp_path, capfd, request):
    scene = SCENES[scene_key]
    app, baseline = apps(scene_key)
    reset(app, scene, baseline)
    ctx = Ctx(scene, tmp_path, app)
    if case.setup is not None:
        case.setup(app, ctx)
        app.wait_idle()
        assert kind_of(app.img.message) != "error", text_of(app.img.message)
    made = case.make(ctx)
    before, before_disk = app.store.recipe.to_dict(), disk(app)
    points_before = points_of(before)
    log = Path(app.log_path)
    log_size = log.stat().st_size if log.exists() else 0
    callbacks = CallbackErrors()
    logging.getLogger().addHandler(callbacks)
    capfd.readouterr()
    escaped = None
    try:
        case.act(app, made, ctx)
    except Exception as exc:  # an exception escaping the click: a crash
        escaped = exc
    finally:
        logging.getLogger().removeHandler(callbacks)
    after, after_disk = app.store.recipe.to_dict(), disk(app)
    widget = messages(app)[case.panel]
    shown = text_of(widget)
    dialog = " ".join(text_of(w) for w in _html_of(app.trn.dialog)[:1]) if case.outcome == "dialog" else ""
    err = capfd.readouterr().err
    logged = log.read_text(encoding="utf-8", errors="replace")[log_size:] if log.exists() else ""
    everywhere = " ".join(text_of(m) for m in messages(app).values())
    crashes = [what for what, bad in (
        (f"escaped: {escaped!r}", escaped is not None),
        ("callback exception", bool(callbacks.records)),
        ("traceback on stderr", "Traceback" in err),
        ("traceback in landclass.log", "Traceback" in logged),
        ("traceback shown", "Traceback" in everywhere),
        ("unexpected error shown", "unexpected error" in everywhere or "failed to start" in everywhere),
    ) if bad]
    points_after = points_of(after)
    row = {"panel": case.panel, "scene": scene_key, "what": case.what, "outcome": case.outcome,
           "message": short(shown + (f" [dialog: {dialog} (add to legend / ignore / map to a class), then Cancel]"
                                     if dialog else ""), tmp_path, app), "test": request.node.name,
           "crashes": int(bool(crashes)), "passed": False,
           "points_lost": sum(p not in points_after for p in points_before)}
    catalogue.append(row)

    assert not crashes, (crashes, err[-2000:], logged[-2000:], callbacks.records)
    # (1) the message: in the panel that caused it, one line, in words, saying what is wrong and what to do
    low = shown.lower()
    assert shown and "\n" not in shown and "<br" not in widget.value, widget.value
    assert "Traceback" not in shown and not EXCEPTION_NAME.search(shown), shown
    assert all(w in low for w in case.words), (case.words, shown)
    assert any(w in low for w in case.todo), (case.todo, shown)
    if case.outcome == "error":
        assert kind_of(widget) == "error", widget.value
    else:
        assert kind_of(widget) in ("ok", "info"), widget.value
    # (2) a refused input changes nothing; no clicked point is ever lost
    assert points_after == points_before and points_of(after_disk) == points_of(before_disk)
    if case.outcome == "dialog":
        assert "Mangrove" in [text_of(w) for w in _html_of(app.trn.dialog)]  # a row of its own, with its choices
        assert after == before and after_disk == before_disk
        cancel = _find(app.trn.dialog, "landclass-match-cancel")
        cancel.click()
        assert "not loaded" in text_of(app.trn.message) and app.trn.dialog.children == ()
        assert app.store.recipe.to_dict() == before and disk(app) == before_disk
    elif case.outcome == "error":
        assert after == before and after_disk == before_disk
    # (3) the app is still usable: a click on the map adds a point and the map is classified again
    app.wait_idle()
    if case.panel != "recipe":  # there, the header's line is the case's own message
        assert kind_of(app.message) != "error", text_of(app.message)
    lat, lon, value = baseline.click
    app.trn.chooser.value = value
    app._on_click(lat, lon, None)
    app.wait_idle()
    points = collected_points(app.store.recipe)
    assert len(points) == len(points_before) + 1 and points[:-1] == points_before
    assert "classified with" in app.status.value, (app.status.value, text_of(app.message))
    assert kind_of(app.message) != "error", text_of(app.message)
    late_log = log.read_text(encoding="utf-8", errors="replace")[log_size:] if log.exists() else ""
    late_err = capfd.readouterr().err
    late = [what for what, bad in (("traceback in landclass.log", "Traceback" in late_log),
                                   ("traceback on stderr", "Traceback" in late_err),
                                   ("unexpected error shown", "unexpected error" in text_of(app.message)))
            if bad]
    row["crashes"] = int(bool(crashes or late))
    assert not late, (late, late_log[-2000:], late_err[-2000:])
    row["passed"] = True


def _html_of(box) -> list:
    import ipywidgets as W

    out = []
    for child in getattr(box, "children", ()):
        if isinstance(child, W.HTML):
            out.append(child)
        out.extend(_html_of(child))
    return out


def _find(box, css_class: str):
    for child in getattr(box, "children", ()):
        if css_class in getattr(child, "_dom_classes", ()):
            return child
        found = _find(child, css_class)
        if found is not None:
            return found
    return None
