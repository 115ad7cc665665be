"""The exceptions landclass raises for bad input.

Every error is a :class:`LandclassError`; its message says what is wrong *and how to fix it*, in one line, so
the command line can print it as is and the dashboard can show it in place of a traceback (the pattern of
rioxarray's small exception tree).
"""
from __future__ import annotations


class LandclassError(Exception):
    """Base class of every error caused by the user's input (files, parameters, recipe)."""


class ImageError(LandclassError):
    """An image cannot be opened or used (unreadable, no bands, unknown band name, no CRS)."""


class CRSError(LandclassError):
    """A raster or vector file has no coordinate reference system, or one that cannot be used."""


class NoOverlapError(LandclassError):
    """Two inputs that must overlap (training data and image, two images) do not."""


class TrainingDataError(LandclassError):
    """Training data cannot be read or used (missing class field, fewer than two classes, empty file)."""


class LegendError(LandclassError):
    """A legend is invalid (duplicate value or colour, empty name) or does not match the training data."""


class ClassifierError(LandclassError):
    """An unknown classifier or an invalid classifier parameter."""


class RecipeError(LandclassError):
    """A recipe file cannot be read (corrupt JSON, unknown schema version, missing section)."""


class Cancelled(LandclassError):
    """The user cancelled a long task (an export); nothing it would have written is left behind."""
