"""landclass: supervised land-cover classification of satellite imagery, local first.

The layers and what each module holds: README's "Layout" section.

GDAL's block cache is limited to :data:`GDAL_CACHE_MB` unless ``GDAL_CACHEMAX`` is already set: GDAL's own
default (5 % of the machine's memory) let a whole-scene classification's memory grow with the image, as the
cache filled with blocks read and written once (1.6 GB at 120 Mpx on a 23 GB machine; 0.6 GB with 128 MB).
It is read when GDAL first uses its cache, so it is set here, before rasterio reads anything.
"""
import os

#: GDAL block cache in MB (``GDAL_CACHEMAX``) unless the environment sets one.
GDAL_CACHE_MB = 256
os.environ.setdefault("GDAL_CACHEMAX", str(GDAL_CACHE_MB))

from .errors import LandclassError  # noqa: E402
from .recipe import Recipe  # noqa: E402

__version__ = "0.1.0"
__all__ = ["LandclassError", "Recipe", "__version__"]
