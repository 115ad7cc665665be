"""Auxiliary layers computed on the image grid and stacked as extra bands.

Each layer is a function ``(grid, window, out_shape) -> float32 (height, width)`` in :data:`AUXILIARY`; the
stack carries it as a band whose path is ``aux:<name>``. Today: latitude. Terrain (from a DEM) and water
occurrence come next; each is one function and one registry line.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from .errors import ImageError

__all__ = ["AUXILIARY", "latitude", "add_auxiliary", "compute"]

AUX_PREFIX = "aux:"


def latitude(grid, window, out_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Latitude (degrees, WGS 84 / EPSG:4326) of each pixel centre of ``window`` on ``grid``.

    Returns float32 ``(height, width)`` (``out_shape`` when given: the window resampled to that many pixels).
    Computed exactly per pixel with pyproj, so it is right for any projected or geographic CRS.
    """
    from pyproj import Transformer

    h, w = out_shape or (int(window.height), int(window.width))
    t = grid.window_transform(window)
    sx, sy = window.width / w, window.height / h
    cols, rows = np.meshgrid((np.arange(w) + 0.5) * sx, (np.arange(h) + 0.5) * sy)
    xs = t.c + cols * t.a
    ys = t.f + rows * t.e
    if grid.crs.is_geographic and grid.crs.to_epsg() == 4326:
        return ys.astype(np.float32)
    _, lats = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return np.asarray(lats, dtype=np.float32)


#: Auxiliary layers by name.
AUXILIARY: dict[str, Callable] = {"latitude": latitude}


def compute(band, grid, window, out_shape=None) -> np.ndarray:
    """Values of an auxiliary band (``band.path == "aux:<name>"``) over ``window``."""
    return AUXILIARY[band.path[len(AUX_PREFIX):]](grid, window, out_shape)


def add_auxiliary(stack, names: Sequence[str]):
    """``stack`` with the named auxiliary layers appended as bands.

    Raises
    ------
    ImageError
        An unknown layer name (the message lists the known ones).
    """
    from .imagery import BandSource

    bands = list(stack.bands)
    for name in names:
        if name not in AUXILIARY:
            raise ImageError(f"unknown auxiliary layer {name!r}; available: {', '.join(AUXILIARY)}")
        bands.append(BandSource(path=AUX_PREFIX + name, index=0, name=name))
    return replace(stack, bands=bands)
