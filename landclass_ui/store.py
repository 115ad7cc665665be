"""A recipe under edit: every change is a named edit, saved atomically, undoable, and observed.

The dashboard's panels never keep state of their own: they call :meth:`RecipeStore.edit` and redraw from
:attr:`RecipeStore.recipe` when notified. Undo is a history of recipe snapshots (JSON dicts).
"""
from __future__ import annotations

import contextlib
import copy
import os
import re
from pathlib import Path
from typing import Callable

from .errors import RecipeError
from .recipe import Recipe

__all__ = ["RecipeStore", "safe_file_name"]


def safe_file_name(name: str) -> str:
    """``name`` as a file name valid on Windows, macOS and Linux: characters other than letters, digits,
    ``-``, ``_`` and ``.`` become ``_``; reserved device names (CON, AUX, NUL, COM1...) get a ``_`` suffix.

    >>> safe_file_name("Classification 2026/11: test")
    'Classification_2026_11_test'
    >>> safe_file_name("aux")
    'aux_'
    """
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "recipe"
    if re.fullmatch(r"(con|prn|aux|nul|com\d|lpt\d)", text.split(".")[0], re.IGNORECASE):
        text += "_"
    return text


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

    def __init__(self, recipe: Recipe, path: str | os.PathLike | None = None, *, history: int = 200,
                 library: str | os.PathLike | None = None, backup_every: float = 60.0, backups: int = 30):
        self.recipe = recipe
        self.path = None if path is None else str(path)
        #: Before :attr:`path` is overwritten, the saved recipe is copied to ``<folder>/backups/`` when the
        #: newest backup is older than ``backup_every`` seconds; the ``backups`` newest are kept (a recipe
        #: cleared by mistake, or edited in a way Undo no longer reaches, can be taken back from there).
        self.backup_every = backup_every
        self.backups = backups
        #: Folder keeping a copy of every recipe under its name (``<library>/<name>.json``), or None.
        self.library = None if library is None else Path(library)
        self._history: list[tuple[str, dict]] = []
        self._limit = history
        self._observers: list[Callable[[str], None]] = []
        #: Set by the last edit when the file had been changed by another store (another tab or window on the
        #: same work folder): the edit was applied on top of those changes (see :meth:`edit`).
        self.merged = False
        self._saved_stat: tuple[int, int, int] | None = None  # the file (inode, mtime, size) as last written here
        #: Seconds an edit waits for another store's check-and-write of the same file (:meth:`_locked`).
        self.lock_timeout = 10.0

    @classmethod
    def open(cls, path: str | os.PathLike, default: Callable[[], Recipe], *,
             library: str | os.PathLike | None = None) -> "RecipeStore":
        """Reopen the recipe saved at ``path``, or start from ``default()`` when there is none.

        A file that cannot be read (damaged, hand-edited, of a newer schema) is kept aside as ``<path>.corrupt``
        (``.corrupt2``... when that exists: nothing is lost) and the default is used; the reason is in
        :attr:`opened_message`, and :attr:`opened_error` is True.
        """
        message, error = "", False
        if os.path.exists(path):
            try:
                recipe = Recipe.load(path)
                message = f"reopened recipe {recipe.name!r} from {path}"
            except RecipeError as exc:
                aside, n = f"{path}.corrupt", 1
                while os.path.exists(aside):  # an earlier one is kept too
                    n += 1
                    aside = f"{path}.corrupt{n}"
                os.replace(path, aside)
                recipe = default()
                message = f"{exc}; it was moved to {aside} and a new recipe started"
                error = True
        else:
            recipe = default()
            message = f"new recipe {recipe.name!r}"
        store = cls(recipe, path, library=library)
        store.opened_message = message
        #: True when the saved file could not be read (kept aside as ``<path>.corrupt``): the page says so in red.
        store.opened_error = error
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
        """Write the recipe to :attr:`path` and its copy to :attr:`library` (both atomically), after a
        rolling backup of the previous file (:meth:`backup`)."""
        if self.path:
            self.backup()
            self.recipe.save(self.path)
            stat = os.stat(self.path)
            self._saved_stat = (stat.st_ino, stat.st_mtime_ns, stat.st_size)  # a new inode each (atomic) save
        if self.library is not None:
            self.recipe.save(self.library_path(self.recipe.name))

    def backup_dir(self) -> Path | None:
        """``<folder of path>/backups``, or None without a path."""
        return None if not self.path else Path(self.path).parent / "backups"

    def backup(self) -> str | None:
        """Copy the file at :attr:`path` (as saved before this write) to :meth:`backup_dir` as
        ``recipe-<date>-<time>.json`` when the newest backup is older than :attr:`backup_every` seconds, and
        keep the :attr:`backups` newest; returns the new backup's path, or None. Written atomically."""
        import time

        from ._files import atomic_write_text

        folder = self.backup_dir()
        if folder is None or not os.path.exists(self.path):
            return None
        existing = sorted(folder.glob("recipe-*.json")) if folder.is_dir() else []
        if existing and time.time() - existing[-1].stat().st_mtime < self.backup_every:
            return None
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1e6) % 10**6:06d}"
        target = folder / f"recipe-{stamp}.json"
        atomic_write_text(target, Path(self.path).read_text(encoding="utf-8"))
        for old in sorted(folder.glob("recipe-*.json"))[: -self.backups]:
            old.unlink(missing_ok=True)
        return str(target)

    def library_path(self, name: str) -> Path:
        """Where the recipe called ``name`` is kept in :attr:`library`."""
        if self.library is None:
            raise RecipeError("this recipe store keeps no library of recipes")
        return self.library / f"{safe_file_name(name)}.json"

    def saved_names(self) -> list[str]:
        """Names of the recipes kept in :attr:`library`, most recently saved first."""
        if self.library is None or not self.library.is_dir():
            return []
        files = sorted(self.library.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        return [p.stem for p in files]

    def start(self, recipe: Recipe, label: str) -> None:
        """Put ``recipe`` in place as a new start (SEPAL's "new recipe" / "open recipe"): the current recipe
        stays in :attr:`library` under its name, the undo history is cleared, observers hear ``label``.

        Raises
        ------
        RecipeError
            If ``recipe`` takes the name of another recipe of the library.
        """
        with self._locked():
            disk = self._changed_elsewhere()
            if disk is not None:  # another page's last edits are kept in the library copy too
                self.recipe = Recipe.from_dict(disk)
            self.save()
            self.recipe = recipe
            self._history.clear()
            self.save()
        self._notify(label)

    def open_saved(self, name: str) -> None:
        """Make the library's recipe ``name`` the current one (see :meth:`start`).

        Raises
        ------
        RecipeError
            No such recipe, or an unreadable file.
        """
        path = self.library_path(name)
        if not path.is_file():
            raise RecipeError(f"no saved recipe called {name!r}; saved: {', '.join(self.saved_names()) or 'none'}")
        self.start(Recipe.load(path), "open recipe")

    @contextlib.contextmanager
    def _locked(self):
        """Hold ``<path>.lock`` (an OS file lock, `filelock <https://py-filelock.readthedocs.io>`_) while the
        recipe file is compared with this store's and rewritten: two pages (two kernels) on one work folder then
        never both read the old file and write over each other's edit. Without :attr:`path`, nothing to lock.

        Raises
        ------
        RecipeError
            The lock stayed held for :attr:`lock_timeout` seconds (another program hangs on it).
        """
        if not self.path:
            yield
            return
        from filelock import FileLock, Timeout

        lock = FileLock(self.path + ".lock", thread_local=False)
        try:
            lock.acquire(timeout=self.lock_timeout)
        except Timeout:
            raise RecipeError(f"the recipe file {self.path} is being written by another program for over "
                              f"{self.lock_timeout:.0f} s; close other landclass pages on this work folder and try "
                              "again (or delete the file " + self.path + ".lock if no landclass runs)") from None
        try:
            yield
        finally:
            lock.release()

    def _changed_elsewhere(self) -> dict | None:
        """The recipe saved at :attr:`path` when another store (another tab, window or kernel on the same work
        folder) has saved a different one since this store last did; else None."""
        if not self.path or not os.path.exists(self.path):
            return None
        stat = os.stat(self.path)
        if (stat.st_ino, stat.st_mtime_ns, stat.st_size) == self._saved_stat:  # the file it wrote last: no parse
            return None
        try:
            disk = Recipe.load(self.path).to_dict()
        except RecipeError:  # half-written by hand, or another version: this store's recipe wins
            return None
        mine = self.recipe.to_dict()
        return disk if disk != mine and disk.get("name") == mine.get("name") else None

    def edit(self, label: str, change: Callable[[Recipe], None], *, rebase: bool = True) -> None:
        """Apply ``change(recipe)`` (which mutates it), remember the previous state, save and notify.

        When another tab or window saved the same recipe since this store last did (two pages on one work
        folder), nothing of theirs is overwritten: the edit is applied on top of the saved recipe, which
        becomes this store's (:attr:`merged` is set; the undo history, which holds states without those
        changes, is cleared). An edit that points into the recipe by position (``rebase=False``: delete or
        relabel the i-th point) is not applied then: the saved recipe is taken and RecipeError says to choose
        again.

        If ``change`` raises, the recipe is left as it was and the error propagates.

        Raises
        ------
        RecipeError
            ``rebase=False`` and the recipe was changed elsewhere (it is reloaded).
        """
        with self._locked():
            applied = self._edit(label, change, rebase)
        if not applied:
            self._notify("reload")
            raise RecipeError("the recipe was changed in another tab or window and has been reloaded with "
                              "those changes: choose again")
        self._notify(label)

    def _edit(self, label: str, change: Callable[[Recipe], None], rebase: bool) -> bool:
        """:meth:`edit`'s check-and-write, under the file lock; False when the edit was not applied (changed
        elsewhere and ``rebase=False``)."""
        self.merged = False
        disk = self._changed_elsewhere()
        if disk is not None:
            self.recipe = Recipe.from_dict(disk)
            self._history.clear()
            self.merged = True
            if not rebase:
                return False
        before = self.recipe.to_dict()
        work = Recipe.from_dict(copy.deepcopy(before))
        change(work)
        if self.library is not None and work.name != self.recipe.name:  # a rename moves the library copy
            if self.library_path(work.name).exists():
                raise RecipeError(f"a recipe called {work.name!r} exists already; choose another name")
            self.library_path(self.recipe.name).unlink(missing_ok=True)
        self.recipe = work
        self._history.append((label, before))
        del self._history[: -self._limit]
        self.save()
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    def undo(self) -> str | None:
        """Go back one edit; returns its label (None when there is nothing to undo).

        Raises
        ------
        RecipeError
            The recipe was changed in another tab or window: it is reloaded, nothing is undone.
        """
        with self._locked():
            disk = self._changed_elsewhere()
            if disk is not None:  # the history lacks the other tab's changes: not undone
                self.recipe = Recipe.from_dict(disk)
                self._history.clear()
            elif not self._history:
                return None
            else:
                label, before = self._history.pop()
                self.recipe = Recipe.from_dict(before)
                self.save()
        if disk is not None:
            self._notify("reload")
            raise RecipeError("the recipe was changed in another tab or window and has been reloaded with those "
                              "changes; undo starts again from here")
        self._notify(f"undo {label}")
        return label

    def replace(self, recipe: Recipe, label: str = "replace") -> None:
        """Put a whole new recipe in place (undoable)."""
        self.edit(label, lambda r: r.__dict__.update(copy.deepcopy(recipe.__dict__)))
