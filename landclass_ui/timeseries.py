"""Image time series: acquisition dates, per-date band names and temporal gap filling, as pure functions.

A time series here is a stack of the same bands on T dates of one grid, dates first: ``values[t, ...]`` is date
``t``. Masked values (cloud, cloud shadow, no data: another module decides which) are NaN.

* :func:`acquisition_date` reads the date of a Sentinel-2 or Landsat product (folder or band file) from its name,
  or from the STAC item JSON beside it.
* :func:`day_numbers` turns dates into the day axis :func:`gap_fill` interpolates along.
* :func:`date_band_name` names a band of one date (``20230810_B04``), :func:`split_date_band_name` reads it back.
* :func:`gap_fill` fills masked values by linear interpolation in time, as iota2 does by default (OTB
  ``ImageTimeSeriesGapFilling -it linear``), vectorized over pixels so it can run per window of a whole tile.

Nothing here reads rasters; the readers (:mod:`landclass_ui.imagery`) and the cloud masks are elsewhere.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import ImageError

__all__ = ["acquisition_date", "day_numbers", "date_band_name", "split_date_band_name", "gap_fill"]


# ---------------------------------------------------------------------------------------------------------
# Acquisition dates

#: Product name patterns, most specific first: (what, regex with the acquisition date in group ``date`` as
#: YYYYMMDD, or in groups ``year`` and ``doy`` as year and day of year).
_NAME_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    # Landsat Collection 1/2 product id LXSS_LLLL_PPPRRR_YYYYMMDD_yyyymmdd_CC_TX: acquisition, then processing
    # date (USGS, "Landsat Collection 2 Level-2 Science Product Guide", product identifier).
    ("Landsat product id", re.compile(
        r"(?<![A-Z0-9])L[COTEM]0\d_L[0-9A-Z]{3}_\d{6}_(?P<date>\d{8})_\d{8}_\d{2}_[A-Z0-9]{2}", re.IGNORECASE)),
    # Landsat pre-collection scene id LXSPPPRRRYYYYDDDGSIVV (year and day of year), e.g. LT52240631988227CUB02.
    ("Landsat scene id", re.compile(
        r"(?<![A-Z0-9])L[COTEM]\d{7}(?P<year>\d{4})(?P<doy>\d{3})[A-Z]{3}\d{2}", re.IGNORECASE)),
    # Sentinel-2 .SAFE: S2B_MSIL2A_<sensing>_Nxxxx_Rxxx_Txxxxx_<product discriminator>.SAFE (ESA naming
    # convention, since December 2016): the first date is the sensing date.
    ("Sentinel-2 product name", re.compile(
        r"(?<![A-Z0-9])S2[A-D]_MSIL[12][AC]_(?P<date>\d{8})T\d{6}_N\d{4}_R\d{3}_T\d{2}[A-Z]{3}_\d{8}T\d{6}",
        re.IGNORECASE)),
    # Sentinel-2 products named before December 2016 (S2A_OPER_PRD_MSIL1C_PDMC_<processing>_R..._V<start>_<end>):
    # the sensing start follows _V; the first date is the processing date.
    ("Sentinel-2 product name (old format)", re.compile(r"_V(?P<date>\d{8})T\d{6}_\d{8}T\d{6}", re.IGNORECASE)),
    # Element84 earth-search / sen2cog item id S2B_33TWL_20230810_0_L2A.
    ("Sentinel-2 earth-search item id", re.compile(
        r"(?<![A-Z0-9])S2[A-D]_\d{2}[A-Z]{3}_(?P<date>\d{8})_\d+_L[12][AC]", re.IGNORECASE)),
    # Sentinel-2 band file as inside a .SAFE: T11UPT_20200804T183919_B02_60m.jp2 (tile, sensing time).
    ("Sentinel-2 band file", re.compile(r"(?<![A-Z0-9])T\d{2}[A-Z]{3}_(?P<date>\d{8})T\d{6}", re.IGNORECASE)),
    # Anything else: the first 8-digit group that is a date (ndvi_20230810.tif), or an ISO date (2023-08-10).
    ("date in the name", re.compile(r"(?<!\d)(?P<date>\d{8})(?!\d)")),
    ("ISO date in the name", re.compile(r"(?<!\d)(?P<iso>\d{4}-\d{2}-\d{2})(?!\d)")),
)

#: Dates outside this range are not acquisition dates (Landsat 1 was launched in July 1972).
_FIRST_YEAR, _LAST_YEAR = 1972, 2100


def _valid(date: _dt.date) -> _dt.date | None:
    return date if _FIRST_YEAR <= date.year <= _LAST_YEAR else None


def _date_from_match(match: re.Match) -> _dt.date | None:
    groups = match.groupdict()
    try:
        if groups.get("date"):
            return _valid(_dt.datetime.strptime(groups["date"], "%Y%m%d").date())
        if groups.get("iso"):
            return _valid(_dt.date.fromisoformat(groups["iso"]))
        if groups.get("year"):
            year, doy = int(groups["year"]), int(groups["doy"])
            return _valid(_dt.date(year, 1, 1) + _dt.timedelta(days=doy - 1)) if 1 <= doy <= 366 else None
    except ValueError:  # 20231345: eight digits that are no date
        return None
    return None


def _date_from_name(name: str) -> _dt.date | None:
    for _, pattern in _NAME_PATTERNS:
        for match in pattern.finditer(name):
            date = _date_from_match(match)
            if date is not None:
                return date
    return None


def _stac_datetime(item: dict) -> _dt.date | None:
    """The date of a STAC item: ``properties.datetime``, else ``properties.start_datetime`` (STAC 1.0: datetime
    may be null when a range is given). The UTC calendar date, as written."""
    props = item.get("properties") if isinstance(item, dict) else None
    if not isinstance(props, dict):
        return None
    for key in ("datetime", "start_datetime"):
        value = props.get(key)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return _dt.date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None


def _stac_item_date(folder: Path) -> _dt.date | None:
    """Date from the STAC item JSON in ``folder``: ``<folder name>.json`` if present, else the ``*.json`` files
    that are STAC Items (``"type": "Feature"`` with a datetime), if they all give the same date."""
    own = folder / f"{folder.name}.json"
    candidates = [own] if own.is_file() else sorted(folder.glob("*.json"))
    dates = set()
    for path in candidates:
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(item, dict) and item.get("type") == "Feature":
            date = _stac_datetime(item)
            if date is not None:
                dates.add(date)
    return dates.pop() if len(dates) == 1 else None


def acquisition_date(path: str | os.PathLike) -> _dt.date:
    """The acquisition (sensing) date of a Sentinel-2 or Landsat product, a band file of one, or a STAC item.

    Looked for in this order:

    1. ``path`` is a STAC item ``.json``: its ``properties.datetime`` (``start_datetime`` if datetime is null).
    2. ``path`` is a folder holding a STAC item JSON (``<folder name>.json``, or the only ``*.json`` that is a STAC
       Item, as in an Element84 earth-search download): its ``properties.datetime``.
    3. The name of ``path``: Landsat product id ``LC08_L2SP_043024_20200802_20200914_02_T1`` (the first date;
       the second is the processing date), Landsat scene id ``LT52240631988227CUB02`` (year and day of year),
       Sentinel-2 ``S2A_MSIL2A_20200804T183919_N0214_R070_T11UPT_20200804T230343.SAFE`` (the first date, the
       sensing time; the last is the product's generation time), pre-2017 Sentinel-2 names (the date after
       ``_V``), earth-search ids ``S2B_33TWL_20230810_0_L2A``, Sentinel-2 band files
       ``T11UPT_20200804T183919_B02_60m.jp2``; failing those, the first ``YYYYMMDD`` (or ``YYYY-MM-DD``) in the
       name that is a date between 1972 and 2100.
    4. ``path`` is a file with no date in its name (``B04.tif`` in a product folder): steps 2 and 3 for its folder.

    STAC datetimes are UTC; the date returned is the UTC calendar date, as are the dates in product names.
    The path need not exist for step 3 (names are parsed as given).

    Parameters
    ----------
    path : str or os.PathLike
        A product folder, a band file or a STAC item JSON.

    Returns
    -------
    datetime.date

    Raises
    ------
    ImageError
        No date was found; the message says how to name the file or to give the dates.

    Examples
    --------
    >>> acquisition_date("S2B_33TWL_20230810_0_L2A")
    datetime.date(2023, 8, 10)
    >>> acquisition_date("LC08_L2SP_043024_20200802_20200914_02_T1_SR_B4.TIF")
    datetime.date(2020, 8, 2)
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            date = _stac_datetime(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            date = None
        if date is not None:
            return date
    if path.is_dir():
        date = _stac_item_date(path)
        if date is not None:
            return date
    date = _date_from_name(path.name)
    if date is not None:
        return date
    if path.is_file() and path.parent != path:
        folder = path.parent
        date = _stac_item_date(folder)
        if date is None:
            date = _date_from_name(folder.name)
        if date is not None:
            return date
    raise ImageError(
        f"No acquisition date found for {str(path)!r}: rename it (or its folder) with the date as YYYYMMDD, as "
        f"in S2B_33TWL_20230810_0_L2A or ndvi_20230810.tif, put its STAC item JSON (properties.datetime) beside "
        f"it, or give the dates of the images by hand."
    )


def day_numbers(dates: Sequence[_dt.date] | Iterable[_dt.date], origin: _dt.date | None = None) -> np.ndarray:
    """Days since ``origin`` (default: the first date) of each date, float64 (T,): the ``days`` of
    :func:`gap_fill`. ``datetime.datetime`` values count their time of day as a fraction of a day.

    >>> import datetime as dt
    >>> day_numbers([dt.date(2023, 8, 10), dt.date(2023, 8, 13), dt.date(2023, 8, 20)]).tolist()
    [0.0, 3.0, 10.0]
    """
    dates = list(dates)
    if not dates:
        return np.zeros(0, dtype=np.float64)
    origin = dates[0] if origin is None else origin

    def as_datetime(d) -> _dt.datetime:
        if isinstance(d, _dt.datetime):
            return d if d.tzinfo is None else d.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return _dt.datetime(d.year, d.month, d.day)

    o = as_datetime(origin)
    return np.array([(as_datetime(d) - o).total_seconds() / 86400.0 for d in dates], dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# Band names by date

_DATE_BAND = re.compile(r"^(\d{8})_(.+)$")


def date_band_name(date: _dt.date | str, band: str) -> str:
    """The name of ``band`` on ``date`` in a multi-date stack: ``YYYYMMDD_<band>``.

    One rule for every multi-date stack (the band axis of a time series flattened date by date, as iota2 and
    SEPAL do; iota2 writes ``<sensor>_<band>_<YYYYMMDD>``, here the date comes first so names sort by date).

    Parameters
    ----------
    date : datetime.date, datetime.datetime, or str ``YYYY-MM-DD`` / ``YYYYMMDD``
    band : str
        The band's name in a single-date stack (``B04``, ``ndvi``, ``nd_B04_B8A``); not empty.

    Raises
    ------
    ValueError
        Empty band name or a string date that is not ``YYYY-MM-DD`` / ``YYYYMMDD``.

    >>> import datetime as dt
    >>> date_band_name(dt.date(2023, 8, 10), "B04")
    '20230810_B04'
    """
    if isinstance(date, str):
        text = date.strip()
        try:
            date = (_dt.date.fromisoformat(text) if "-" in text
                    else _dt.datetime.strptime(text, "%Y%m%d").date())
        except ValueError:
            raise ValueError(f"Date {text!r} is not YYYY-MM-DD or YYYYMMDD") from None
    if not isinstance(band, str) or not band.strip():
        raise ValueError("A band name is needed (e.g. 'B04')")
    return f"{date:%Y%m%d}_{band.strip()}"


def split_date_band_name(name: str) -> tuple[_dt.date, str] | None:
    """The inverse of :func:`date_band_name`: ``(date, band)`` of ``20230810_B04``, None for other names.

    >>> split_date_band_name("20230810_nd_B04_B8A")
    (datetime.date(2023, 8, 10), 'nd_B04_B8A')
    """
    match = _DATE_BAND.match(name)
    if not match:
        return None
    try:
        return _dt.datetime.strptime(match.group(1), "%Y%m%d").date(), match.group(2)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------------
# Gap filling


def gap_fill(values, days) -> tuple[np.ndarray, np.ndarray]:
    """Fill masked (NaN) values of a time series by linear interpolation in time.

    For each element (pixel and band) independently, a NaN on date ``t`` becomes the linear interpolation, at
    ``days[t]``, between the nearest valid values before and after it: ``v0 + (v1 - v0) * (days[t] - d0) /
    (d1 - d0)``. Before the first valid date the first valid value is copied, after the last valid date the last
    one is (no extrapolation); an element with no valid date stays NaN. Valid values are returned unchanged.

    This is iota2's default gap filling: iota2 runs OTB ``ImageTimeSeriesGapFilling`` with ``-it linear`` on
    each sensor's reflectance series (iota2 ``Sensors/Sentinel_2.py``, ``get_time_series_gapFilling``), whose
    ``LinearGapFillingFunctor`` (Jordi Inglada's OTB TemporalGapFilling module, ``gapfilling.h``) interpolates
    linearly between the last and the next valid date and, with no previous (next) valid date, copies the next
    (last) valid value, as here. One difference: OTB writes 0 for a pixel with no valid date, this returns NaN.
    OTB takes one mask per date for all the bands of that date; here each element has its own (NaN) mask, which
    is the same when the caller masks all bands of a date alike.

    Vectorized over pixels: two passes over the dates (a Python loop of T steps), each step a numpy operation on
    one date's slice; extra memory is about 3 times ``values`` (float32) plus one int16/int32 index per element.

    Parameters
    ----------
    values : array_like, floating, shape (T, ...)
        Dates first, then any shape (``(T, H, W)``, ``(T, bands, H, W)``, ``(T, n_pixels)``); NaN where masked.
        Converted to float32 (the result's dtype). Units are kept (reflectance, DN, index values).
    days : array_like, shape (T,)
        Acquisition time of each date as a number of days (e.g. :func:`day_numbers`: days since the first date),
        finite and strictly increasing.

    Returns
    -------
    filled : numpy.ndarray, float32, shape of ``values``
        ``values`` with the NaNs that have a valid value on some date replaced. A new array.
    was_filled : numpy.ndarray, bool, shape of ``values``
        True where a NaN was replaced (``isnan(values) & ~isnan(filled)``).

    Raises
    ------
    TypeError
        ``values`` is not of a floating dtype (integers cannot hold NaN: mask them to NaN as float32 first).
    ValueError
        ``values`` has no date axis or no dates, or ``days`` is not 1-D of length T.
    ImageError
        ``days`` is not finite and strictly increasing (two images of the same date, or unsorted dates).

    Examples
    --------
    >>> import numpy as np
    >>> out, filled = gap_fill(np.array([np.nan, 1.0, np.nan, 3.0, np.nan], np.float32), [0, 2, 5, 6, 8])
    >>> out.tolist(), filled.tolist()
    ([1.0, 1.0, 2.5, 3.0, 3.0], [True, False, True, False, True])
    """
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        raise TypeError(f"gap_fill needs floating values with NaN where masked, not {values.dtype}: convert to "
                        f"float32 and set masked values to NaN first")
    if values.ndim == 0 or values.shape[0] == 0:
        raise ValueError(f"gap_fill needs values of shape (T, ...) with T >= 1 dates, got shape {values.shape}")
    n_dates = values.shape[0]
    days = np.asarray(days, dtype=np.float64)
    if days.shape != (n_dates,):
        raise ValueError(f"days must have shape ({n_dates},) (one per date of values), got {days.shape}")
    if not np.all(np.isfinite(days)) or np.any(np.diff(days) <= 0):
        raise ImageError(
            f"The dates must be distinct and in increasing order, got day numbers {days.tolist()}: sort the images "
            f"by date, and merge (mosaic) or drop images of the same date before gap filling."
        )
    values = values.astype(np.float32, copy=False)
    valid = ~np.isnan(values)
    filled = values.copy()
    if n_dates == 1 or valid.all():
        return filled, np.zeros(values.shape, dtype=bool)

    index_type = np.int16 if n_dates < np.iinfo(np.int16).max else np.int32
    # Forward pass: the last valid value at or before each date, and the index of its date (-1: none yet).
    last_value = np.empty_like(values)
    last_index = np.empty(values.shape, dtype=index_type)
    current_value = np.full(values.shape[1:], np.nan, dtype=np.float32)
    current_index = np.full(values.shape[1:], -1, dtype=index_type)
    for t in range(n_dates):
        np.copyto(current_value, values[t], where=valid[t])
        np.copyto(current_index, index_type(t), where=valid[t])
        last_value[t] = current_value
        last_index[t] = current_index
    # Backward pass: the next valid value at or after each date; fill the masked elements of date t.
    next_value = np.full(values.shape[1:], np.nan, dtype=np.float32)
    next_index = np.full(values.shape[1:], -1, dtype=index_type)
    for t in range(n_dates - 1, -1, -1):
        np.copyto(next_value, values[t], where=valid[t])
        np.copyto(next_index, index_type(t), where=valid[t])
        gap = ~valid[t]
        if not gap.any():
            continue
        before, after = last_index[t] >= 0, next_index >= 0
        d0 = days[np.maximum(last_index[t], 0)]
        d1 = days[np.maximum(next_index, 0)]
        v0 = last_value[t].astype(np.float64)
        v1 = next_value.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = (days[t] - d0) / (d1 - d0)
            between = v0 + (v1 - v0) * weight
        estimate = np.where(before & after, between, np.where(before, v0, v1))  # NaN where neither
        filled[t] = np.where(gap, estimate, filled[t])
    was_filled = ~valid & ~np.isnan(filled)
    return filled, was_filled
