"""Regions (eco-climatic zones) on the image grid: the region of every pixel, as a computed band.

iota2 splits a large area into regions and trains one model per region on the training samples that fall in
it; each model classifies only its own region and the maps are merged; what lies in no region is not
classified (iota2 documentation: "IOTA2 parameters", ``chain.regionPath`` / ``chain.regionField``, and the
example's "Multi regions" section, github.com/inglada/iota2 ``doc/source/IOTA2_Example.rst``). This module is
the spatial half of that: :func:`add_regions` reads the region polygons and appends to the feature stack a
band named ``region`` (:class:`RegionBand`, a :class:`~landclass_ui.imagery.ComputedBand`) holding each
pixel's region id, so the training sampler (:func:`landclass_ui.training.extract_samples`) and the window
predictors (:mod:`landclass_ui.export`) get it as one more band. :mod:`landclass_ui.regional` fits one model
per region and strips the band before any model sees it: it is never a feature.

The region band, per window (float32 ``(height, width)``):

* ``1..n``: the region id, ids given to the region names in sorted order (numbers by value, then text);
  :attr:`Regions.names` ``[id - 1]`` is the name.
* NaN: the pixel centre is in no region; nodata, so the pixel stays unclassified (255 in the class map), as
  iota2 leaves it. (:meth:`Regions.sampling_stack` gives the same band with 0 there instead, so that training
  pixels outside every region can be counted and reported before they are left out.)

Polygons are rasterized onto the image grid with ``rasterio.features.rasterize`` per window, a pixel belonging
to the polygon its centre falls in (GDAL's default rule, the one training polygons follow). The file may be in
any CRS: it is reprojected to the image's, made valid, merged by region (several polygons may share a
region) and clipped to the image's extent once, when the stack is made.

Checks (each a :class:`~landclass_ui.errors.LandclassError`, one line that says how to fix it): the file
exists and is readable (:class:`RecipeError`), has a CRS (:class:`CRSError`), the field exists (the message
lists the columns), geometries are polygons, regions do not overlap by half a pixel or more (iota2 requires
no overlap: a pixel has one region), and at least one region overlaps the image (:class:`NoOverlapError`).
Regions outside the image are left out with a message.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import CRSError, NoOverlapError, RecipeError
from .imagery import BandSource, Grid, unique_names

__all__ = ["REGION_BAND", "Regions", "RegionBand", "read_regions", "add_regions", "region_names"]

#: Name of the region band in the stack (made unique if the stack already has a band of that name).
REGION_BAND = "region"


def region_names(values) -> list[str]:
    """The distinct region names of a column's values, as text (integral numbers without ``.0``), sorted:
    numbers by value first, then text.

    >>> region_names([2, 10, 1.0, 2])
    ['1', '2', '10']
    >>> region_names(["west", "east", " west "])
    ['east', 'west']
    """
    names = {_name(v) for v in values} - {""}

    def key(name):
        try:
            return (0, float(name), name)
        except ValueError:
            return (1, 0.0, name)

    return sorted(names, key=key)


def _name(value) -> str:
    """A region value as text: ``3`` and ``3.0`` -> ``"3"``, ``" west "`` -> ``"west"``, missing -> ``""``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))
    return str(value).strip()


@dataclass(frozen=True, eq=False)
class RegionBand:
    """The region id of each pixel (a :class:`~landclass_ui.imagery.ComputedBand`): ``geometries[i]`` (shapely
    polygons in the image CRS) rasterized with value ``ids[i]``; pixels in no region get ``outside`` (NaN:
    nodata). ``bounds[i]`` (``minx, miny, maxx, maxy``) lets a window skip the regions it does not touch."""

    geometries: tuple
    ids: tuple[int, ...]
    bounds: tuple[tuple[float, float, float, float], ...]
    outside: float = float("nan")
    inputs: tuple[str, ...] = ()

    def compute(self, grid: Grid, window, out_shape, inputs) -> np.ndarray:
        """float32 ``(height, width)`` (``out_shape`` when given): region ids, ``outside`` in no region."""
        import rasterio.features
        from affine import Affine

        h, w = out_shape or (int(window.height), int(window.width))
        t = grid.window_transform(window) * Affine.scale(window.width / w, window.height / h)
        x0, x1 = sorted((t.c, t.c + t.a * w))
        y0, y1 = sorted((t.f, t.f + t.e * h))
        shapes = [(g, i) for g, i, b in zip(self.geometries, self.ids, self.bounds)
                  if b[0] <= x1 and b[2] >= x0 and b[1] <= y1 and b[3] >= y0]
        out = np.full((h, w), self.outside, np.float32)
        if shapes:
            ids = rasterio.features.rasterize(shapes, out_shape=(h, w), transform=t, fill=0, all_touched=False,
                                              dtype="int32")
            inside = ids > 0
            out[inside] = ids[inside]
        return out


@dataclass(frozen=True)
class Regions:
    """The regions of a run, as put on the image grid by :func:`add_regions`.

    Attributes
    ----------
    path, field : str
        The regions file and its region field.
    names : tuple of str
        Region names; region id ``i`` (1-based, the value of the region band) is ``names[i - 1]``. Only regions
        that overlap the image are here.
    band : str
        Name of the region band in the stack (``"region"`` unless the stack already had a band of that name).
    shares : tuple of float
        Approximate share (0-1) of the image's pixels in each region (on a grid of at most 1024 px a side).
    messages : list of str
        What a user should know: the regions and their shares, the share of the image in no region (left
        unclassified), regions outside the image, features without a region name.
    """

    path: str
    field: str
    names: tuple[str, ...]
    band: str = REGION_BAND
    shares: tuple[float, ...] = ()
    messages: list[str] = field(default_factory=list)

    @property
    def ids(self) -> range:
        """Region ids, ``1..n``."""
        return range(1, len(self.names) + 1)

    def name_of(self, region_id) -> str:
        """The name of region ``region_id`` (a number of the region band)."""
        return self.names[int(region_id) - 1]

    def describe(self) -> str:
        """``"regions.gpkg (field 'zone')"``."""
        return f"{os.path.basename(self.path)} (field {self.field!r})"

    def sampling_stack(self, stack):
        """``stack`` with its region band giving 0 instead of NaN outside every region: training pixels there
        are kept by the sampler, to be counted and left out by :meth:`drop_outside` (a pixel on NaN would be
        dropped silently with the image's nodata)."""
        bands = [replace(b, computed=replace(b.computed, outside=0.0)) if b.name == self.band else b
                 for b in stack.bands]
        return replace(stack, bands=bands)

    def drop_outside(self, samples):
        """The samples (:class:`~landclass_ui.training.SampleTable` from :meth:`sampling_stack`) without the
        pixels in no region (region 0), and a message on how many were left out (None when none)."""
        region = samples.frame[self.band].to_numpy()
        outside = region == 0
        if not outside.any():
            return samples, None
        frame = samples.frame[~outside].reset_index(drop=True)
        message = (f"{int(outside.sum())} training pixel(s) in no region of {self.describe()} left out (no model "
                   "classifies pixels outside the regions)")
        return replace(samples, frame=frame, messages=[*samples.messages, message]), message


def _read(path: str, field_name: str, layer: str | None):
    """The regions file as a GeoDataFrame with a ``_region`` column (names as text) and the column used."""
    import geopandas as gpd

    if not os.path.exists(path):
        raise RecipeError(f"regions file not found: {path}")
    try:
        frame = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio's DataSourceError and friends
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RecipeError(f"cannot read the regions file {path}: {first}; give polygons as GeoPackage, shapefile or "
                          "GeoJSON") from None
    if frame.crs is None:
        raise CRSError(f"the regions file {path} has no CRS (a shapefile needs its .prj file); set one, e.g. "
                       f"`ogr2ogr -a_srs EPSG:4326 fixed.gpkg {path}`")
    columns = [c for c in frame.columns if c != "geometry"]
    column = field_name if field_name in columns else next(
        (c for c in columns if str(c).lower() == str(field_name).lower()), None)
    if column is None:
        raise RecipeError(f"region field {field_name!r} is not in {path}; its columns are "
                          f"{', '.join(map(str, columns)) or 'none'} (--region-field names it)")
    if len(frame) == 0:
        raise RecipeError(f"the regions file {path} holds no polygon")
    kinds = set(frame.geometry.dropna().geom_type)
    if kinds - {"Polygon", "MultiPolygon"}:
        raise RecipeError(f"the regions file {path} must hold polygons, not {', '.join(sorted(kinds))}")
    frame = frame.assign(_region=[_name(v) for v in frame[column]])
    return frame, column


def read_regions(path: str, field_name: str = REGION_BAND, grid: Grid | None = None, *, layer: str | None = None):
    """Read the region polygons, merged by region, in the CRS of ``grid`` and clipped to its extent.

    Returns
    -------
    names : list of str
        Regions that overlap the image (all of them without ``grid``), sorted as :func:`region_names`.
    geometries : list of shapely geometries
        One (multi)polygon per name, in the grid's CRS (the file's without ``grid``).
    messages : list of str

    Raises
    ------
    RecipeError
        File missing or unreadable, field missing, not polygons, no polygon with a region name, or two regions
        overlapping by half a pixel of ``grid`` or more.
    CRSError
        No CRS, or one that cannot be transformed to the image's.
    NoOverlapError
        No region overlaps the image.
    """
    import shapely

    frame, column = _read(str(path), field_name, layer)
    messages = []
    unnamed = int((frame["_region"] == "").sum() + frame.geometry.isna().sum())
    frame = frame[(frame["_region"] != "") & frame.geometry.notna()]
    if unnamed:
        messages.append(f"{unnamed} polygon(s) of {os.path.basename(path)} without a {column} value or geometry "
                        "ignored")
    if len(frame) == 0:
        raise RecipeError(f"no polygon of the regions file {path} has a value in its field {column!r}")
    if grid is not None and frame.crs != grid.crs:
        try:
            frame = frame.to_crs(grid.crs)
        except Exception as exc:
            raise CRSError(f"the regions file {path} cannot be reprojected to the image's CRS "
                           f"({grid.crs.to_string()}): {exc}") from None
    names = region_names(frame["_region"])
    geometries = [shapely.union_all(shapely.make_valid(frame.geometry[frame["_region"] == n].to_numpy()))
                  for n in names]
    if grid is None:
        return names, geometries, messages
    left, bottom, right, top = grid.bounds
    clipped = [shapely.clip_by_rect(g, left, bottom, right, top) for g in geometries]
    inside = [not g.is_empty and g.area > 0 for g in clipped]
    if not any(inside):
        b = tuple(round(v, 1) for v in frame.total_bounds)
        raise NoOverlapError(f"no region of {path} overlaps the image: the regions span {b}, the image "
                             f"{tuple(round(v, 1) for v in grid.bounds)} (in {grid.crs.to_string()}); check that "
                             "both cover the same area and that the file's CRS is right")
    away = [n for n, ok in zip(names, inside) if not ok]
    if away:
        messages.append(f"region(s) {', '.join(away)} of {os.path.basename(path)} lie outside the image and are "
                        "left out")
    names = [n for n, ok in zip(names, inside) if ok]
    geometries = [g for g, ok in zip(clipped, inside) if ok]
    _check_overlaps(names, geometries, grid, path)
    return names, geometries, messages


def _check_overlaps(names, geometries, grid, path) -> None:
    """Raise when two regions share half a pixel of area or more (iota2: "no overlapping between polygons")."""
    pixel = grid.res[0] * grid.res[1]
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = geometries[i], geometries[j]
            if not a.intersects(b):
                continue
            area = a.intersection(b).area
            if area >= 0.5 * pixel:
                raise RecipeError(
                    f"regions {names[i]!r} and {names[j]!r} of {path} overlap ({area / pixel:.1f} pixels): each "
                    "pixel must be in one region (iota2 asks the same); remove the overlap (e.g. QGIS Difference)")


def add_regions(stack, ref):
    """``stack`` with the region band appended (:class:`RegionBand`, named :data:`REGION_BAND`), and the
    :class:`Regions` it holds.

    ``ref`` is a :class:`~landclass_ui.recipe.RegionsRef` (``path``, ``field``, ``layer``).

    Raises what :func:`read_regions` raises.
    """
    import shapely
    from rasterio.windows import Window

    names, geometries, messages = read_regions(ref.path, ref.field, stack.grid, layer=ref.layer)
    band = RegionBand(tuple(geometries), tuple(range(1, len(names) + 1)),
                      tuple(tuple(float(v) for v in shapely.bounds(g)) for g in geometries))
    all_names = unique_names([*stack.band_names, REGION_BAND])
    out = replace(stack, bands=[*stack.bands, BandSource(path=str(ref.path), index=0, name=all_names[-1],
                                                         computed=band)])
    grid = stack.grid
    k = max(grid.width, grid.height) / 1024
    shape = None if k <= 1 else (max(1, round(grid.height / k)), max(1, round(grid.width / k)))
    coarse = band.compute(grid, Window(0, 0, grid.width, grid.height), shape, [])
    shares = tuple(float((coarse == i).mean()) for i in band.ids)
    none = float(np.isnan(coarse).mean())
    regions = Regions(str(ref.path), str(ref.field), tuple(names), all_names[-1], shares)
    parts = ", ".join(f"{n} {100 * s:.1f} %" for n, s in zip(names, shares))
    messages.append(f"regions of {regions.describe()}: one model per region; share of the image: {parts}"
                    + (f"; {100 * none:.1f} % in no region is left unclassified" if none > 0 else ""))
    return out, replace(regions, messages=messages)
