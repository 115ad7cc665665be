"""IMG panel: open an image (path or file chooser), pick its bands, choose the colour composite shown."""
from __future__ import annotations

import os

import ipywidgets as W

from ..display import COMPOSITES
from ..imagery import open_image
from ..recipe import ImageRef
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["ImagePanel"]


class ImagePanel:
    """Edits ``recipe.images`` (one image: a raster file or a Sentinel-2 ``.SAFE`` folder, and its bands)."""

    def __init__(self, store: RecipeStore, *, start_dir: str | None = None):
        self.store = store
        self.path = W.Text(description="Image", layout=W.Layout(width="340px"),
                           placeholder="GeoTIFF / COG / VRT file or Sentinel-2 .SAFE folder")
        self.path.add_class("landclass-image-path")
        self.open_button = W.Button(description="Open", icon="folder-open", layout=W.Layout(width="90px"))
        self.open_button.on_click(lambda _: guarded(self.message, self.open, self.path.value))
        self.chooser = self._file_chooser(start_dir)
        self.bands = W.SelectMultiple(description="Bands", rows=8, layout=W.Layout(width="340px"))
        self.bands.add_class("landclass-bands")
        self.apply_bands = W.Button(description="Use selected bands", icon="check")
        self.apply_bands.on_click(lambda _: guarded(self.message, self.set_bands, list(self.bands.value)))
        self.composite = W.Dropdown(options=list(COMPOSITES), value="true colour", description="Display",
                                    layout=W.Layout(width="340px"))
        self.info = W.HTML()
        self.message = Message()
        children = [W.HBox([self.path, self.open_button])]
        if self.chooser is not None:
            children.append(self.chooser)
        children += [self.info, self.bands, self.apply_bands, self.composite, self.message]
        self.widget = W.VBox(children)
        self.widget.add_class("landclass-img")
        self._shown_path = None
        store.observe(lambda label: self.refresh())
        self.refresh()

    def _file_chooser(self, start_dir):
        from ipyfilechooser import FileChooser

        chooser = FileChooser(start_dir or os.getcwd(), title="Browse", show_hidden=False,
                              layout=W.Layout(width="340px"))
        chooser.register_callback(lambda fc: setattr(self.path, "value", fc.selected or fc.selected_path or ""))
        return chooser

    def refresh(self) -> None:
        images = self.store.recipe.images
        if not images:
            self.info.value = "<i>No image: open one.</i>"
            self.bands.options = []
            return
        ref = images[0]
        if ref.path != self._shown_path:
            self.path.value = ref.path
            stack = guarded(self.message, open_image, ref.path, resolution=ref.resolution)
            if stack is None:
                return
            self._shown_path = ref.path
            self._all_bands = stack.band_names
            g = stack.grid
            self.info.value = (f"{g.width} x {g.height} px, {g.res[0]:g} {g.crs.linear_units or ''} pixels, "
                               f"{g.crs.to_string()}<br>{'<br>'.join(stack.messages)}")
            self.bands.options = self._all_bands
        self.bands.value = tuple(ref.bands or self._all_bands)

    def open(self, path: str) -> None:
        path = os.path.abspath(os.path.expanduser(path.strip()))  # the saved recipe must not depend on the cwd
        stack = open_image(path)  # a clear error for a missing, corrupt or CRS-less file
        self.store.edit("open image", lambda r: setattr(r, "images", [ImageRef(path)]))
        self.message.show(f"opened {os.path.basename(path.rstrip('/'))}: {len(stack.bands)} bands", "ok")

    def set_bands(self, bands: list[str]) -> None:
        if not bands:
            self.message.show("select at least one band", "error")
            return

        def change(r):
            r.images[0].bands = None if list(bands) == list(self._all_bands) else list(bands)
        self.store.edit("select bands", change)
        self.message.show(f"using {len(bands)} band(s): {', '.join(bands)}", "ok")
