"""landclass: supervised land-cover classification of satellite imagery, local first.

The model layer (no widgets): :mod:`~landclass_ui.recipe`, :mod:`~landclass_ui.imagery`,
:mod:`~landclass_ui.legend`, :mod:`~landclass_ui.training`, :mod:`~landclass_ui.classifiers`,
:mod:`~landclass_ui.classify`, :mod:`~landclass_ui.export`, and the command line :mod:`~landclass_ui.cli`.
"""
from .errors import LandclassError
from .recipe import Recipe

__version__ = "0.1.0"
__all__ = ["LandclassError", "Recipe", "__version__"]
