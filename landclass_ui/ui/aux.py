"""AUX panel: auxiliary layers stacked with the image bands (what the engine supports: latitude)."""
from __future__ import annotations

import ipywidgets as W

from ..auxiliary import AUXILIARY
from ..store import RecipeStore
from .common import Message

__all__ = ["AuxPanel"]

DESCRIPTIONS = {"latitude": "Latitude of each pixel centre (degrees)"}


class AuxPanel:
    """Edits ``recipe.auxiliary``: one checkbox per layer of :data:`landclass_ui.auxiliary.AUXILIARY`."""

    def __init__(self, store: RecipeStore):
        self.store = store
        self.boxes = {name: W.Checkbox(value=False, description=DESCRIPTIONS.get(name, name), indent=False)
                      for name in AUXILIARY}
        for name, box in self.boxes.items():
            box.add_class(f"landclass-aux-{name}")
            box.observe(lambda ch, name=name: self._toggle(name, ch["new"]), "value")
        self.message = Message()
        note = W.HTML("<small>Auxiliary layers are added to the image bands as extra features. Terrain from a "
                      "DEM and water occurrence are coming.</small>")
        self.widget = W.VBox([*self.boxes.values(), note, self.message])
        store.observe(lambda label: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        chosen = set(self.store.recipe.auxiliary)
        for name, box in self.boxes.items():
            if box.value != (name in chosen):
                box.value = name in chosen

    def _toggle(self, name: str, on: bool) -> None:
        current = list(self.store.recipe.auxiliary)
        if on == (name in current):
            return
        new = current + [name] if on else [a for a in current if a != name]
        self.store.edit(f"{'add' if on else 'remove'} {name}", lambda r: setattr(r, "auxiliary", new))
        self.message.show(f"{name} {'added to' if on else 'removed from'} the features", "ok")
