"""The bundled sample: a real Sentinel-2 L2A scene (Toulouse, 2022-11-16, 60 m, 4 bands) with the tutorial's
training polygons. See ``data/sample/SOURCE.md`` for its provenance."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SamplePaths", "sample_paths"]

_ROOT = Path(__file__).resolve().parent / "data" / "sample"


@dataclass(frozen=True)
class SamplePaths:
    """Paths of the bundled sample: ``safe`` (the ``.SAFE`` folder), ``polygons`` (GeoJSON, EPSG:4326, class
    field ``class``: FARM, FOREST, WATER)."""

    safe: str
    polygons: str
    class_field: str = "class"


def sample_paths() -> SamplePaths:
    """Where the bundled sample scene and its training polygons are.

    Raises
    ------
    FileNotFoundError
        If the package was installed without its data.
    """
    safe = next(_ROOT.glob("*.SAFE"), None)
    polygons = _ROOT / "polygons.geojson"
    if safe is None or not polygons.is_file():
        raise FileNotFoundError(f"the bundled sample is missing under {_ROOT}; reinstall landclass")
    return SamplePaths(str(safe), str(polygons))
