"""What the project knows about sensors and products, in one table: band names and their roles, the display
composites, how products are named, and how stored values map to physical units (reflectance 0-1, Kelvin).

Everything else asks this module: the readers (:mod:`landclass_ui.imagery`) for a product's scale and offset,
the spectral indices (:mod:`landclass_ui.indices`) for band roles, the map (:mod:`landclass_ui.display`) for
the bands of a true- or false-colour view. One declarative :class:`Sensor` per sensor, in the spirit of
torchgeo's dataset classes.

Band roles are ``blue, green, red, rededge1-3, nir, swir1, swir2, thermal``. Landsat 5/7 and 8/9 use the same
band names for different bands (``B4`` is NIR on TM/ETM+, red on OLI), so a sensor is recognised from band
names only when they are unambiguous (Sentinel-2's ``B02``/``B8A``), otherwise from the product name
(:func:`sensor_from_paths`), otherwise it must be chosen.

Scale and offset (``physical = stored * scale + offset``):

* Sentinel-2 L1C/L2A: ``reflectance = (DN + offset) / 10000`` with offset -1000 from processing baseline 04.00
  (products sensed from 25 January 2022), 0 before (:func:`s2_offset`; ESA "Sentinel-2 Products
  Specification Document" and the baseline 04.00 note).
* Landsat Collection 2 Level-2 ``SR_B*``: ``reflectance = DN * 2.75e-05 - 0.2``; ``ST_B10``/``ST_B6``:
  ``Kelvin = DN * 0.00341802 + 149.0`` (USGS "Landsat 8-9 Collection 2 Level-2 Science Product Guide",
  LSDS-1619); read from the product's ``*_MTL.txt`` when it is beside the band file, the guide's values
  otherwise (:func:`landsat_c2_scale`).
* Anything else (a Landsat Level-1 DN file, a GeoTIFF export of unknown origin): as stored, unit unknown;
  indices that need reflectance refuse it until the user states the scale (recipe ``images[].scale``).
"""
from __future__ import annotations

import datetime as _dt
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .errors import ImageError

__all__ = [
    "ROLES", "COMPOSITES", "Sensor", "SENSORS", "SENSOR_ALIASES", "get_sensor", "norm_band", "detect_sensor",
    "sensor_from_paths", "resolve_roles", "Radiometry", "REFLECTANCE", "KELVIN", "S2_BASELINE_04_DATE",
    "S2_QUANTIFICATION", "s2_offset", "s2_file_radiometry", "landsat_c2_scale", "product_radiometry",
]

#: Band roles, in spectral order.
ROLES = ("blue", "green", "red", "rededge1", "rededge2", "rededge3", "nir", "swir1", "swir2", "thermal")

#: Named display composites as band roles (red, green, blue channels), as SEPAL and QGIS users call them.
COMPOSITES: dict[str, tuple[str, str, str]] = {
    "true colour": ("red", "green", "blue"),
    "false colour (NIR, red, green)": ("nir", "red", "green"),
    "SWIR (SWIR1, NIR, red)": ("swir1", "nir", "red"),
}

#: Physical units of a band (:attr:`landclass_ui.imagery.BandSource.unit`); ``""`` is "as stored, unknown".
REFLECTANCE = "reflectance"
KELVIN = "kelvin"


@dataclass(frozen=True)
class Sensor:
    """One sensor: its band names by role (in order of preference) and the product names that identify it.

    Attributes
    ----------
    name : str
        The recipe's name (``derived.sensor``).
    title : str
        For people.
    bands : mapping of str to tuple of str
        Role -> band names, best first (Sentinel-2 NIR: the 10 m ``B08``, else the narrow ``B8A``).
    products : tuple of str
        Regular expressions matched at the start of a file or folder name.
    """

    name: str
    title: str
    bands: Mapping[str, tuple[str, ...]]
    products: tuple[str, ...] = ()


_TM_BANDS = {"blue": ("B1",), "green": ("B2",), "red": ("B3",), "nir": ("B4",), "swir1": ("B5",),
             "swir2": ("B7",), "thermal": ("B6", "B6_VCID_1")}

#: Every sensor, by recipe name.
SENSORS: dict[str, Sensor] = {s.name: s for s in [
    Sensor("sentinel-2", "Sentinel-2 MSI",
           {"blue": ("B02",), "green": ("B03",), "red": ("B04",), "rededge1": ("B05",), "rededge2": ("B06",),
            "rededge3": ("B07",), "nir": ("B08", "B8A"), "swir1": ("B11",), "swir2": ("B12",)},
           (r"S2[A-D]_", r"T\d{2}[A-Z]{3}_")),
    Sensor("landsat-8-9", "Landsat 8/9 OLI/TIRS",
           {"blue": ("B2",), "green": ("B3",), "red": ("B4",), "nir": ("B5",), "swir1": ("B6",), "swir2": ("B7",),
            "thermal": ("B10",)},
           (r"L[CO]0?[89]",)),
    Sensor("landsat-7", "Landsat 7 ETM+", _TM_BANDS, (r"LE0?7",)),
    Sensor("landsat-5", "Landsat 4/5 TM", _TM_BANDS, (r"LT0?[45]",)),
]}
#: Names accepted for compatibility with older recipes: ``landsat-5-7`` (one entry for TM and ETM+ before the
#: Landsat 7 tasseled cap got its own coefficients) reads as ``landsat-5``.
SENSOR_ALIASES = {"landsat-5-7": "landsat-5"}


def get_sensor(name: str) -> Sensor:
    """The :class:`Sensor` called ``name`` (or an alias of it).

    Raises
    ------
    ImageError
        Unknown name (the message lists the known ones).
    """
    key = SENSOR_ALIASES.get(name, name)
    if key not in SENSORS:
        raise ImageError(f"unknown sensor {name!r}; choose one of {', '.join(SENSORS)} or give the band roles")
    return SENSORS[key]


def norm_band(name: str) -> str:
    """``B02`` / ``b2`` / ``SR_B2`` -> ``B2``; ``B8A`` -> ``B8A``; other names upper-cased.

    >>> norm_band("SR_B02"), norm_band("b8a"), norm_band("ndvi")
    ('B2', 'B8A', 'NDVI')
    """
    n = str(name).strip().upper()
    n = re.sub(r"^(SR|ST)_", "", n)
    m = re.fullmatch(r"B0*(\d+)(A?)", n)
    return f"B{int(m.group(1))}{m.group(2)}" if m else n


def detect_sensor(band_names: Sequence[str]) -> str | None:
    """``"sentinel-2"`` when the band names can only be Sentinel-2's (zero-padded ``B02``... or ``B8A``), else
    None: ``B1``-``B7`` fit Landsat 5/7 and 8/9 alike, so the sensor must be chosen.

    >>> detect_sensor(["B02", "B03"]), detect_sensor(["B1", "B2"])
    ('sentinel-2', None)
    """
    for name in band_names:
        n = str(name).strip().upper()
        if n == "B8A" or re.fullmatch(r"B0\d", n):
            return "sentinel-2"
    return None


def sensor_from_paths(paths: Sequence[str]) -> str | None:
    """The sensor all ``paths`` name by their product naming (:attr:`Sensor.products`), else None.

    >>> sensor_from_paths(["/data/LC08_L2SP_043024_20200802_20200914_02_T1_SR_B4.tif"])
    'landsat-8-9'
    >>> sensor_from_paths(["LT52240631988227CUB02_B3.TIF", "stack.tif"]) is None
    True
    """
    found = set()
    for p in paths:
        name = os.path.basename(str(p).rstrip("/\\"))
        sensor = next((s.name for s in SENSORS.values()
                       if any(re.match(pattern, name, re.IGNORECASE) for pattern in s.products)), None)
        if sensor is None:
            return None
        found.add(sensor)
    return found.pop() if len(found) == 1 else None


def resolve_roles(band_names: Sequence[str], sensor: str | None = None,
                  roles: Mapping[str, str] | None = None) -> dict[str, str]:
    """Role -> band name for the bands present.

    ``roles`` given by hand win (an empty value removes a role); the other roles come from ``sensor`` (or
    :func:`detect_sensor` when None). Names are matched ignoring case, zero padding and a ``SR_``/``ST_``
    prefix (``B2`` matches ``B02``).

    >>> resolve_roles(["SR_B2", "SR_B3", "SR_B4", "SR_B5"], "landsat-8-9")["red"]
    'SR_B4'

    Raises
    ------
    ImageError
        Unknown sensor or role, or a hand-given role naming a band that is not there.
    """
    names = list(band_names)
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(norm_band(n), n)
    out: dict[str, str] = {}
    sensor = sensor or detect_sensor(names)
    if sensor:
        for role, candidates in get_sensor(sensor).bands.items():
            for c in candidates:
                if norm_band(c) in by_norm:
                    out[role] = by_norm[norm_band(c)]
                    break
    for role, band in (roles or {}).items():
        if role not in ROLES:
            raise ImageError(f"unknown band role {role!r}; roles are {', '.join(ROLES)}")
        if not band:
            out.pop(role, None)
            continue
        if band not in names:
            match = by_norm.get(norm_band(band))
            if match is None:
                raise ImageError(f"band {band!r} given for {role} is not in the image; the bands are "
                                 f"{', '.join(names)}")
            band = match
        out[role] = band
    return out


# ---------------------------------------------------------------------------------------------------------
# Scale and offset per product


@dataclass(frozen=True)
class Radiometry:
    """``physical = stored * scale + offset`` in ``unit`` (:data:`REFLECTANCE` 0-1 or :data:`KELVIN`), and one
    sentence saying where the numbers came from."""

    scale: float
    offset: float
    unit: str
    how: str


#: First acquisition date processed with Sentinel-2 processing baseline 04.00, which adds a radiometric offset
#: of -1000 DN to L1C and L2A products (ESA, "Sentinel-2: Processing Baseline 04.00", 25 January 2022).
S2_BASELINE_04_DATE = _dt.date(2022, 1, 25)
#: Sentinel-2 quantification value: reflectance = (DN + offset) / 10000.
S2_QUANTIFICATION = 10000.0


def _s2_offset_for(sensed: _dt.date) -> float:
    return -1000.0 if sensed >= S2_BASELINE_04_DATE else 0.0


def s2_offset(safe: str | os.PathLike) -> tuple[float, str]:
    """Sentinel-2 L2A radiometric offset (DN) of a ``.SAFE`` product and how it was found.

    ``reflectance = (DN + offset) / 10000``: offset is -1000 for processing baseline 04.00 and later, 0 before
    (ESA, "Sentinel-2 Products Specification Document" 14.9, and the baseline 04.00 note of 25 January 2022).

    Looked for in this order: ``BOA_ADD_OFFSET`` or ``PROCESSING_BASELINE`` in ``MTD_MSIL2A.xml``; the
    baseline ``_Nxxxx_`` in the product name; the sensing date in the band file names (products sensed from
    :data:`S2_BASELINE_04_DATE` on carry the offset).

    Returns
    -------
    offset : float
        -1000.0 or 0.0 (or the value the metadata gives).
    how : str
        One sentence saying where the offset came from.
    """
    safe = Path(safe)
    mtd = safe / "MTD_MSIL2A.xml"
    if mtd.is_file():
        try:
            root = ET.parse(mtd).getroot()
        except ET.ParseError:
            root = None
        if root is not None:
            offsets = [float(e.text) for e in root.iter() if e.tag.endswith("BOA_ADD_OFFSET") and e.text]
            if offsets:
                return offsets[0], f"BOA_ADD_OFFSET {offsets[0]:g} read from {mtd.name}"
            for e in root.iter():
                if e.tag.endswith("PROCESSING_BASELINE") and e.text:
                    baseline = float(e.text)
                    off = -1000.0 if baseline >= 4.0 else 0.0
                    return off, f"processing baseline {e.text} read from {mtd.name}: offset {off:g}"
    match = re.search(r"_N(\d{2})(\d{2})_", safe.name)
    if match:
        baseline = float(f"{match.group(1)}.{match.group(2)}")
        off = -1000.0 if baseline >= 4.0 else 0.0
        return off, f"processing baseline {baseline:05.2f} read from the product name: offset {off:g}"
    for path in safe.glob("GRANULE/*/IMG_DATA/**/*.jp2"):
        match = re.search(r"_(\d{8})T\d{6}_", path.name)
        if match:
            sensed = _dt.datetime.strptime(match.group(1), "%Y%m%d").date()
            off = _s2_offset_for(sensed)
            return off, (
                f"no MTD_MSIL2A.xml and no baseline in the folder name; sensed {sensed}, so "
                f"{'baseline >= 04.00 assumed' if off else 'a baseline before 04.00 assumed'}: offset {off:g}"
            )
    return 0.0, "no metadata found: no offset applied"


_S2_FILE = re.compile(r"^T\d{2}[A-Z]{3}_(\d{8})T\d{6}_B(\d[\dA])(?:_\d+m)?\.(jp2|tif|tiff)$", re.IGNORECASE)


def s2_file_radiometry(path: str | os.PathLike) -> Radiometry | None:
    """Reflectance scale of a loose Sentinel-2 band file named as in a ``.SAFE`` (``T11UPT_20200804T183919_
    B04_60m.jp2``): 1/10000 and the offset of its sensing date (see :func:`s2_offset`); None for other names.

    >>> s2_file_radiometry("T11UPT_20200804T183919_B04_60m.jp2").offset
    0.0
    >>> s2_file_radiometry("T31TCJ_20221116T105321_B8A_60m.jp2").offset
    -0.1
    """
    match = _S2_FILE.match(os.path.basename(str(path)))
    if not match:
        return None
    sensed = _dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    off = _s2_offset_for(sensed)
    return Radiometry(1 / S2_QUANTIFICATION, off / S2_QUANTIFICATION, REFLECTANCE,
                      f"Sentinel-2 band file sensed {sensed}: reflectance = (DN {off:+g}) / 10000 "
                      f"({'baseline >= 04.00' if off else 'baseline before 04.00'} assumed from the date)")


#: Landsat Collection 2 Level-2 scale factors (USGS LSDS-1619, "Landsat 8-9 Collection 2 Level 2 Science
#: Product Guide", and LSDS-1618 for Landsat 4-7): surface reflectance and surface temperature (Kelvin).
LANDSAT_C2_SR = (2.75e-05, -0.2)
LANDSAT_C2_ST = (0.00341802, 149.0)
_LANDSAT_C2 = re.compile(r"^(L[COTE]0\d_L2S[PR]_\d{6}_\d{8}_\d{8}_\d{2}_[A-Z0-9]{2})_(SR|ST)_(B\d+)\.tiff?$",
                         re.IGNORECASE)


def _mtl_value(mtl: Path, key: str) -> float | None:
    """The number on the line ``KEY = value`` of an MTL file (quotes allowed); None when the file cannot be read
    or has no such line.

    Raises
    ------
    ImageError
        The value is not a finite number (a damaged file): the file and the line are named.
    """
    try:
        text = mtl.read_text(errors="replace")
    except OSError:
        return None
    match = re.search(rf"^[ \t]*{re.escape(key)}[ \t]*=[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    if not match:
        return None
    try:
        value = float(match.group(1).strip('"'))
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise ImageError(f"{mtl}: {key} = {match.group(1)[:40]!r} is not a number; the file is damaged: download it "
                         "again, or remove it to use the USGS product guide's scale")
    return value


def landsat_c2_scale(path: str | os.PathLike) -> Radiometry | None:
    """Scale and offset of a Landsat Collection 2 Level-2 band file (``LC08_L2SP_..._SR_B4.TIF``: surface
    reflectance; ``..._ST_B10.TIF``: surface temperature in Kelvin); None for other names.

    From ``REFLECTANCE_MULT_BAND_n``/``REFLECTANCE_ADD_BAND_n`` (``TEMPERATURE_MULT_BAND_ST_B10``...) of the
    product's ``<product id>_MTL.txt`` when it is in the same folder (a value there that is not a number raises
    :class:`~landclass_ui.errors.ImageError`), else the published constants :data:`LANDSAT_C2_SR` (2.75e-05,
    -0.2) and :data:`LANDSAT_C2_ST` (0.00341802, 149.0).

    >>> landsat_c2_scale("LC08_L2SP_043024_20200802_20200914_02_T1_SR_B4.tif").scale
    2.75e-05
    """
    path = Path(path)
    match = _LANDSAT_C2.match(path.name)
    if not match:
        return None
    product, kind, band = match.group(1), match.group(2).upper(), match.group(3).upper()
    number = band[1:]
    if kind == "SR":
        keys = (f"REFLECTANCE_MULT_BAND_{number}", f"REFLECTANCE_ADD_BAND_{number}")
        default, unit = LANDSAT_C2_SR, REFLECTANCE
    else:
        keys = (f"TEMPERATURE_MULT_BAND_ST_{band}", f"TEMPERATURE_ADD_BAND_ST_{band}")
        default, unit = LANDSAT_C2_ST, KELVIN
    mtl = path.with_name(f"{product}_MTL.txt")
    why = f"no {mtl.name} beside the file"
    if mtl.is_file():
        found = [_mtl_value(mtl, k) for k in keys]
        if None not in found:
            return Radiometry(found[0], found[1], unit, f"{keys[0]}/{keys[1]} read from {mtl.name}")
        why = f"{mtl.name} has no {keys[found.index(None)]}"
    return Radiometry(*default, unit, f"Landsat Collection 2 Level-2 {kind} scale {default[0]:g}, offset "
                                      f"{default[1]:g} (USGS product guide; {why})")


def product_radiometry(path: str | os.PathLike) -> Radiometry | None:
    """Scale, offset and unit of a single-band file known by its product name (Sentinel-2 band files, Landsat
    Collection 2 Level-2 SR/ST files), else None (stored values, unit unknown).

    Raises
    ------
    ImageError
        A Landsat file's ``_MTL.txt`` whose scale or offset is not a number (:func:`landsat_c2_scale`).
    """
    return s2_file_radiometry(path) or landsat_c2_scale(path)
