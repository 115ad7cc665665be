"""Cloud and shadow masks from the products' own quality layers: Sentinel-2 L2A ``SCL`` and Landsat Collection 2
``QA_PIXEL``.

A mask is a :class:`MaskSource` attached to an :class:`~landclass_ui.imagery.ImageStack`: when a window is read,
the pixels it flags become nodata (NaN) in every band read from the image files, before indices are computed, so
clouds never reach the training samples, the model or the map (they are left unclassified, nodata 255).

What is masked by default (``snow=True`` adds snow and ice):

* Sentinel-2 L2A scene classification (``SCL``, ESA Sen2Cor; *Sentinel-2 Level-2A Product Format
  Specification*, S2-PDGS-MPC-L2A-PFS, table "Scene Classification values"): 0 no data, 1 saturated or defective,
  3 cloud shadow, 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus. Kept: 2 dark area
  (topographic shadow since baseline 04.00), 4 vegetation, 5 not vegetated, 6 water, 7 unclassified, 11 snow.
  SEPAL's Sentinel-2 mosaics mask the same SCL classes.
* Landsat Collection 2 ``QA_PIXEL`` bits (USGS, *Landsat 8-9 Collection 2 Level 2 Science Product Guide*,
  LSDS-1619, table 6-3): bit 0 fill, 1 dilated cloud, 2 cirrus (Landsat 8-9), 3 cloud, 4 cloud shadow; bit 5 is
  snow. The same bits as ``fmask``-based masks in SEPAL and Google Earth Engine's Landsat C2 examples.

The mask layer is read on the image's grid with nearest-neighbour resampling (SCL is at 20 m beside 10 m bands).

>>> import numpy as np
>>> invalid_pixels("scl", np.array([[0, 4, 9], [11, 3, 6]], np.uint8)).astype(int).tolist()
[[1, 0, 1], [0, 1, 0]]
>>> invalid_pixels("qa_pixel", np.array([21824, 22280, 23888], np.uint16)).tolist()  # clear, cloud, shadow
[False, True, True]
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MaskSource", "SCL_CLASSES", "SCL_MASKED", "SCL_SNOW", "QA_PIXEL_BITS", "QA_PIXEL_MASKED",
           "QA_PIXEL_SNOW", "invalid_pixels", "mask_kind", "find_mask", "flag_names", "split_layers"]

#: Sentinel-2 L2A scene classification values and their names (S2-PDGS-MPC-L2A-PFS).
SCL_CLASSES = {0: "no data", 1: "saturated or defective", 2: "dark area", 3: "cloud shadow", 4: "vegetation",
               5: "not vegetated", 6: "water", 7: "unclassified", 8: "cloud medium probability",
               9: "cloud high probability", 10: "thin cirrus", 11: "snow"}
#: SCL values masked by default.
SCL_MASKED = (0, 1, 3, 8, 9, 10)
#: SCL value masked when snow is masked too.
SCL_SNOW = 11

#: Landsat Collection 2 QA_PIXEL bits and their names (LSDS-1619).
QA_PIXEL_BITS = {0: "fill", 1: "dilated cloud", 2: "cirrus", 3: "cloud", 4: "cloud shadow", 5: "snow",
                 6: "clear", 7: "water"}
#: QA_PIXEL bits masked by default.
QA_PIXEL_MASKED = (0, 1, 2, 3, 4)
#: QA_PIXEL bit masked when snow is masked too.
QA_PIXEL_SNOW = 5

KINDS = ("scl", "qa_pixel")


@dataclass(frozen=True)
class MaskSource:
    """A quality layer of an image: ``path`` (a single-band raster: SCL or QA_PIXEL), ``kind`` (``"scl"`` or
    ``"qa_pixel"``), whether snow is masked too, and the names of the stack bands it masks (``bands``; empty:
    every band read from a file; set when images of several products or dates are stacked)."""

    path: str
    kind: str
    snow: bool = False
    bands: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "SCL" if self.kind == "scl" else "QA_PIXEL"

    def invalid(self, values: np.ndarray) -> np.ndarray:
        """Boolean array, True where ``values`` (the layer's stored values, any shape) flag a pixel to mask."""
        return invalid_pixels(self.kind, values, snow=self.snow)

    def flags(self) -> dict[int, str]:
        """The masked SCL values or QA_PIXEL bits, with their names."""
        return flag_names(self.kind, snow=self.snow)


def flag_names(kind: str, *, snow: bool = False) -> dict[int, str]:
    """The SCL values (``kind="scl"``) or QA_PIXEL bits (``"qa_pixel"``) masked, with their names."""
    if kind == "scl":
        return {v: SCL_CLASSES[v] for v in (*SCL_MASKED, *((SCL_SNOW,) if snow else ()))}
    return {b: QA_PIXEL_BITS[b] for b in (*QA_PIXEL_MASKED, *((QA_PIXEL_SNOW,) if snow else ()))}


def invalid_pixels(kind: str, values: np.ndarray, *, snow: bool = False) -> np.ndarray:
    """True where a quality layer flags a pixel as no data, cloud, cirrus or cloud shadow (and snow, if asked).

    Parameters
    ----------
    kind : ``"scl"`` or ``"qa_pixel"``
    values : integer array, any shape
        SCL classes (uint8) or QA_PIXEL words (uint16), as stored.

    Raises
    ------
    ValueError
        Unknown ``kind``.
    """
    values = np.asarray(values)
    if kind == "scl":
        return np.isin(values, list(flag_names("scl", snow=snow)))
    if kind == "qa_pixel":
        bits = sum(1 << b for b in flag_names("qa_pixel", snow=snow))
        return (values.astype(np.uint32) & bits) != 0
    raise ValueError(f"unknown mask kind {kind!r}; use one of {', '.join(KINDS)}")


_SCL_RE = re.compile(r"(^|[_.-])SCL([_.-]|$)", re.IGNORECASE)
_QA_RE = re.compile(r"(^|[_.-])QA_PIXEL([_.-]|$)", re.IGNORECASE)


def mask_kind(path: str | os.PathLike) -> str | None:
    """``"scl"`` or ``"qa_pixel"`` when the file's name says it is such a layer (``T11UPT_..._SCL_60m.jp2``,
    ``SCL.tif``, ``LC08_..._QA_PIXEL.TIF``), else None."""
    name = Path(path).name.split(".")[0]
    if _SCL_RE.search(name):
        return "scl"
    if _QA_RE.search(name):
        return "qa_pixel"
    return None


def split_layers(paths: list[str]) -> tuple[list[str], list[str]]:
    """``(band files, quality layers)``: among several inputs, a file named as an SCL or QA_PIXEL layer
    (:func:`mask_kind`) is a cloud mask, not a band; a single input is always the image.

    >>> split_layers(["T11UPT_x_B02_60m.jp2", "T11UPT_x_SCL_60m.jp2"])  # not on disk: both bands
    (['T11UPT_x_B02_60m.jp2', 'T11UPT_x_SCL_60m.jp2'], [])
    """
    layers = [p for p in paths if len(paths) > 1 and mask_kind(p) and os.path.isfile(p)]
    return [p for p in paths if p not in layers] or list(paths), layers


def find_mask(path: str | os.PathLike) -> str | None:
    """The quality layer that belongs to an image, if the product has one beside it, else None.

    * a Sentinel-2 L2A ``.SAFE`` folder: ``GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2`` (else R60m);
    * a folder of band files (``B04.tif``...): its ``SCL.tif``;
    * a Sentinel-2 band file ``<tile>_<datetime>_B04_10m.jp2``: ``<tile>_<datetime>_SCL_20m.jp2`` (or 60 m) in the
      same folder, or in a ``.SAFE``'s ``R20m``/``R60m`` folder beside it;
    * a band file of a folder per date (``B04.tif`` beside ``SCL.tif``, as STAC downloads store them);
    * a sen2r surface reflectance file ``S2A2A_<date>_<orbit>_<area>_BOA_10.tif``: ``..._SCL_10.tif`` beside it;
    * a Landsat Collection 2 file ``<product>_SR_B4.TIF``: ``<product>_QA_PIXEL.TIF`` in the same folder.
    """
    p = Path(path)
    if p.is_dir() and not (p / "GRANULE").is_dir():  # a folder of band files
        for candidate in ("SCL.tif", "SCL.tiff", "SCL.jp2", "SCL.TIF"):
            if (p / candidate).exists():
                return str(p / candidate)
        return None
    if p.is_dir():
        for res in ("R20m", "R60m", "R10m"):
            found = sorted(glob.glob(str(p / "GRANULE" / "*" / "IMG_DATA" / res / "*_SCL_*.jp2")))
            if found:
                return found[0]
        return None
    name = p.name
    s2 = re.match(r"^(T\d{2}[A-Z]{3}_\d{8}T\d{6})_B\w+?(_\d+m)?\.(jp2|tif+)$", name, re.IGNORECASE)
    if s2:
        for folder in (p.parent, p.parent.parent / "R20m", p.parent.parent / "R60m"):
            found = sorted(glob.glob(str(folder / f"{s2.group(1)}_SCL*")))
            found = [f for f in found if not f.endswith(".aux.xml")]
            if found:
                return found[0]
        return None
    landsat = re.match(r"^(L[COTEM]0\d_\w+?_\d{2}_T\d|L[COTEM]0\d_\w+?_\d{2}_RT)_(SR|ST)_B\d+\.tif+$", name,
                       re.IGNORECASE)
    if landsat:
        for ext in ("TIF", "tif"):
            qa = p.parent / f"{landsat.group(1)}_QA_PIXEL.{ext}"
            if qa.exists():
                return str(qa)
        return None
    sen2r = re.match(r"^(S2[AB]2A_\d{8}_\d{3}_.+?)_BOA_(\d+)\.tif+$", name, re.IGNORECASE)
    if sen2r:
        scl = p.parent / f"{sen2r.group(1)}_SCL_{sen2r.group(2)}.tif"
        return str(scl) if scl.exists() else None
    if re.fullmatch(r"B\d[\dA]\.(tif+|jp2)", name, re.IGNORECASE):
        for candidate in ("SCL.tif", "SCL.jp2", "SCL.TIF"):
            if (p.parent / candidate).exists():
                return str(p.parent / candidate)
    return None
