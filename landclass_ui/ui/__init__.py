"""The dashboard's widgets: one module per panel (img, leg, trn, aux, cls, tasks), the map and the app.

The UI edits and observes a :class:`landclass_ui.store.RecipeStore`; the engine never imports widgets.
"""
from .app import LandclassApp

__all__ = ["LandclassApp"]
