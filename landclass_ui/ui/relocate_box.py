"""The bar above the map that appears when files the recipe names are not found (the data folder was moved,
renamed or copied to another machine): it names them and finds them again under a folder the user gives
(:func:`landclass_ui.relocate.relocate`), as QGIS's "Handle Unavailable Layers" dialog does."""
from __future__ import annotations

import html

import ipywidgets as W

from ..relocate import missing_files, relocate
from ..store import RecipeStore
from .common import Message, guarded

__all__ = ["RelocateBox"]


class RelocateBox:
    """Hidden while every file of the recipe is found; else a red list of the missing files, a folder field and
    *Find files*. Finding them is one undoable edit of the recipe (the paths only)."""

    def __init__(self, store: RecipeStore):
        self.store = store
        self.missing = W.HTML()
        self.missing.add_class("landclass-missing-files")
        self.folder = W.Text(placeholder="the folder the files are in now (or one above it)",
                             layout=W.Layout(width="420px"))
        self.folder.add_class("landclass-relocate-folder")
        self.find_button = W.Button(description="Find files", icon="search", layout=W.Layout(width="110px"),
                                    tooltip="look for the missing files under this folder (their sub-folders kept "
                                            "first, then by name) and use them")
        self.find_button.add_class("landclass-relocate")
        self.find_button.on_click(lambda _: guarded(self.message, self.find))
        self.message = Message()
        self.panel = W.VBox([self.missing, W.HBox([self.folder, self.find_button])],
                            layout=W.Layout(display="none", border="1px solid #b00020", padding="4px"))
        self.panel.add_class("landclass-relocate-box")
        self.widget = W.VBox([self.panel, self.message])  # the message outlives the box (all found: box hidden)
        self._shown: tuple[str, ...] | None = None
        store.observe(lambda label: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Show or hide the box from the recipe as it is now (a few file-system checks: cheap on every edit)."""
        missing = missing_files(self.store.recipe)
        key = tuple(f"{u.section}\0{u.path}" for u in missing)
        if key == self._shown:
            return
        self._shown = key
        if not missing:
            self.panel.layout.display = "none"
            self.missing.value = ""
            return
        items = "".join(f"<li>{html.escape(u.section)}: <code>{html.escape(u.path)}</code></li>" for u in missing[:8])
        more = f"<li>and {len(missing) - 8} more</li>" if len(missing) > 8 else ""
        self.missing.value = (f"<span style='color:#b00020'><b>{len(missing)} file(s) of this recipe are not "
                              f"found</b></span> (moved, renamed or on another machine?)<ul style='margin:2px 0'>"
                              f"{items}{more}</ul>Give the folder they are in now and press <i>Find files</i>; "
                              "or open other files in IMG and TRN.")
        self.panel.layout.display = "flex"

    def find(self) -> None:
        """Look for the missing files under the folder typed in, and point the recipe at those found."""
        folder = self.folder.value.strip()
        if not folder:
            self.message.show("type the folder the files are in now (or one above it), then press Find files",
                              "error")
            return
        result = {}

        def change(r):
            result["moved"] = relocate(r, folder)
            if not result["moved"].found:
                from ..errors import RecipeError

                raise RecipeError(result["moved"].message(folder))
        self.store.edit("find moved files", change)
        moved = result["moved"]
        self.message.show(moved.message(folder) + (" (Undo in TRN takes this back)" if not moved.missing else ""),
                          "error" if moved.missing else "ok")
        self.refresh()
