"""A recipe under edit: every change is a named edit, saved atomically, undoable, and observed.

The dashboard's panels never keep state of their own: they call :meth:`RecipeStore.edit` and redraw from
:attr:`RecipeStore.recipe` when notified. Undo is a history of recipe snapshots (JSON dicts).
"""
from __future__ import annotations

import copy
import os
from typing import Callable

from .errors import RecipeError
from .recipe import Recipe

__all__ = ["RecipeStore"]


class RecipeStore:
    """Holds the current :class:`Recipe`, saves it to ``path`` on every edit, keeps an undo history.

    Parameters
    ----------
    recipe : Recipe
    path : path, optional
        JSON file the recipe is saved to after each edit (atomically). None: not saved.
    history : int
        How many previous states :meth:`undo` can go back.

    Examples
    --------
    >>> store = RecipeStore(Recipe(name="demo"))
    >>> store.edit("rename", lambda r: setattr(r, "name", "other"))
    >>> store.recipe.name, store.undo(), store.recipe.name
    ('other', 'rename', 'demo')
    """

    def __init__(self, recipe: Recipe, path: str | os.PathLike | None = None, *, history: int = 200):
        self.recipe = recipe
        self.path = None if path is None else str(path)
        self._history: list[tuple[str, dict]] = []
        self._limit = history
        self._observers: list[Callable[[str], None]] = []

    @classmethod
    def open(cls, path: str | os.PathLike, default: Callable[[], Recipe]) -> "RecipeStore":
        """Reopen the recipe saved at ``path``, or start from ``default()`` when there is none.

        A corrupt file is kept aside as ``<path>.corrupt`` (nothing is lost) and the default is used; the reason
        is in :attr:`opened_message`.
        """
        message = ""
        if os.path.exists(path):
            try:
                recipe = Recipe.load(path)
                message = f"reopened recipe {recipe.name!r} from {path}"
            except RecipeError as exc:
                os.replace(path, str(path) + ".corrupt")
                recipe = default()
                message = f"{exc}; it was moved to {path}.corrupt and a new recipe started"
        else:
            recipe = default()
            message = f"new recipe {recipe.name!r}"
        store = cls(recipe, path)
        store.opened_message = message
        store.save()
        return store

    def observe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(label)`` after every edit, undo and reset."""
        self._observers.append(callback)

    def _notify(self, label: str) -> None:
        """Tell every observer; one failing observer does not stop the others (its traceback is logged)."""
        import traceback

        for callback in list(self._observers):
            try:
                callback(label)
            except Exception:
                traceback.print_exc()

    def save(self) -> None:
        if self.path:
            self.recipe.save(self.path)

    def edit(self, label: str, change: Callable[[Recipe], None]) -> None:
        """Apply ``change(recipe)`` (which mutates it), remember the previous state, save and notify.

        If ``change`` raises, the recipe is left as it was and the error propagates.
        """
        before = self.recipe.to_dict()
        work = Recipe.from_dict(copy.deepcopy(before))
        change(work)
        self.recipe = work
        self._history.append((label, before))
        del self._history[: -self._limit]
        self.save()
        self._notify(label)

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    def undo(self) -> str | None:
        """Go back one edit; returns its label (None when there is nothing to undo)."""
        if not self._history:
            return None
        label, before = self._history.pop()
        self.recipe = Recipe.from_dict(before)
        self.save()
        self._notify(f"undo {label}")
        return label

    def replace(self, recipe: Recipe, label: str = "replace") -> None:
        """Put a whole new recipe in place (undoable)."""
        self.edit(label, lambda r: r.__dict__.update(copy.deepcopy(recipe.__dict__)))
