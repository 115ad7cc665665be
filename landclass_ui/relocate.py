"""Find a recipe's files again after they moved: the files it names that are not found, and the same files under
a folder the user gives (QGIS's "Handle Unavailable Layers" dialog and its *Auto-Find*).

A recipe names its images, training files, auxiliary layers, cloud mask file and regions file by path
(:mod:`landclass_ui.recipe`). When the data folder is moved, renamed, copied to another machine or to a drive with
another letter, every one of them breaks at once. :func:`relocate` looks for each missing file under one folder:

1. first with its folders kept: ``/old/project/images/x.tif`` is looked for as ``<folder>/project/images/x.tif``,
   ``<folder>/images/x.tif`` and ``<folder>/x.tif``, longest first (a moved tree keeps its layout);
2. else by name anywhere below ``<folder>`` (at most :data:`MAX_DEPTH` folders down); when several files have that
   name, the one whose parent folders match the old path's most closely is taken, and a tie is left missing
   (reported, never guessed).

Image entries may be glob patterns (``T11UPT_*_B*_60m.jp2``) or folders (a ``.SAFE``, a STAC item's band folder):
a pattern is found when it matches a file in the new place.

Examples
--------
>>> from landclass_ui.recipe import ImageRef, Recipe
>>> r = Recipe(images=[ImageRef("/nowhere/scene.tif")])
>>> [(u.section, u.path) for u in missing_files(r)]
[('image', '/nowhere/scene.tif')]
"""
from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass
from pathlib import Path, PurePath

from .errors import RecipeError
from .recipe import Recipe

__all__ = ["FileUse", "Relocation", "exists", "missing_files", "recipe_files", "relocate", "missing_message"]

#: How many folder levels below the chosen folder a file is searched by name.
MAX_DEPTH = 6
#: At most this many folders are listed in one search (a user choosing their home folder waits seconds, not hours).
MAX_FOLDERS = 20000


@dataclass(frozen=True)
class FileUse:
    """A path the recipe names: ``section`` is ``"image"``, ``"training"``, ``"auxiliary"``, ``"cloud mask"`` or
    ``"regions"``; ``path`` as stored (absolute once loaded: see :meth:`Recipe.from_dict`)."""

    section: str
    path: str


@dataclass
class Relocation:
    """What :func:`relocate` did: ``found`` maps each old path to its new one; ``missing`` are those still not
    found; ``ambiguous`` maps an old path to the candidates it could not choose between."""

    found: dict[str, str]
    missing: list[str]
    ambiguous: dict[str, list[str]]

    def message(self, folder: str) -> str:
        """One line for the user: how many were found, and what is still missing and why."""
        n = len(self.found) + len(self.missing)
        text = f"found {len(self.found)} of {n} missing file(s) under {folder}"
        if self.missing:
            names = ", ".join(_name(p) for p in self.missing[:3]) + (" ..." if len(self.missing) > 3 else "")
            text += f"; still missing: {names}"
            if self.ambiguous:
                text += " (several files of that name: choose the folder that holds the right one)"
            else:
                text += " (choose the folder they are in now, or a folder above it)"
        return text


def _name(path: str) -> str:
    return PurePath(path).name or str(path)


def exists(path: str | os.PathLike | None) -> bool:
    """True when ``path`` is a file or folder that exists, or a glob pattern that matches at least one."""
    if not path:
        return False
    path = str(path)
    if glob.has_magic(path):
        return bool(glob.glob(path))
    return os.path.exists(path)


def recipe_files(recipe: Recipe) -> list[FileUse]:
    """Every path the recipe names, in the recipe's order (images, training files, auxiliary layers, cloud mask
    file, regions file); points (clicked, sampled, imported) name no file."""
    uses = [FileUse("image", i.path) for i in recipe.images if i.path]
    uses += [FileUse("training", t.path) for t in recipe.training if t.kind == "file" and t.path]
    uses += [FileUse("auxiliary", str(a["path"])) for a in recipe.auxiliary if isinstance(a, dict) and a.get("path")]
    if recipe.cloud_mask.file:
        uses.append(FileUse("cloud mask", recipe.cloud_mask.file))
    if recipe.regions is not None and recipe.regions.path:
        uses.append(FileUse("regions", recipe.regions.path))
    return uses


def missing_files(recipe: Recipe) -> list[FileUse]:
    """The paths of :func:`recipe_files` that are not found (each path once)."""
    seen, out = set(), []
    for use in recipe_files(recipe):
        if use.path not in seen and not exists(use.path):
            seen.add(use.path)
            out.append(use)
    return out


def missing_message(missing: list[FileUse], *, how: str) -> str:
    """One line naming the missing files (the first three) and how to find them again (``how``)."""
    names = ", ".join(f"{u.section} {u.path}" for u in missing[:3]) + (
        f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    return f"{len(missing)} file(s) of the recipe not found: {names}; if they moved, {how}"


def _walk(folder: Path) -> dict[str, list[str]]:
    """``{name: [paths]}`` of the files and folders below ``folder`` (hidden ones left out), at most
    :data:`MAX_DEPTH` levels down and :data:`MAX_FOLDERS` folders listed."""
    index: dict[str, list[str]] = {}
    top = len(folder.parts)
    listed = 0
    for root, dirs, files in os.walk(folder):
        listed += 1
        depth = len(Path(root).parts) - top
        dirs[:] = [d for d in sorted(dirs) if not d.startswith(".")] if depth < MAX_DEPTH else []
        for name in files + dirs:
            index.setdefault(name, []).append(os.path.join(root, name))
        if listed >= MAX_FOLDERS:
            break
    return index


def _common_parents(a: str, b: str) -> int:
    """How many parent folder names the two paths share, from the file up."""
    pa, pb = PurePath(a).parts[-2::-1], PurePath(b).parts[-2::-1]
    n = 0
    for x, y in zip(pa, pb):
        if x != y:
            break
        n += 1
    return n


def _find(old: str, folder: Path, index: dict[str, list[str]] | None) -> tuple[str | None, list[str], dict | None]:
    """New path of ``old`` under ``folder`` (None when not found or ambiguous), the candidates when ambiguous,
    and the folder index (built on first need)."""
    parts = PurePath(old).parts[1:] if PurePath(old).is_absolute() else PurePath(old).parts
    for k in range(len(parts), 0, -1):  # the old layout kept, longest tail first
        candidate = str(folder.joinpath(*parts[-k:]))
        if exists(candidate):
            return candidate, [], index
    if index is None:
        index = _walk(folder)
    name = parts[-1] if parts else ""
    if glob.has_magic(name):  # a pattern: the folders that hold a match
        parent = PurePath(old).parent.name
        holders = sorted({os.path.dirname(p) for n, ps in index.items() for p in ps
                          if fnmatch.fnmatch(n, name)})
        candidates = [os.path.join(h, name) for h in holders]
        if parent:
            same = [c for c in candidates if PurePath(c).parent.name == parent]
            candidates = same or candidates
    else:
        candidates = index.get(name, [])
    if len(candidates) == 1:
        return candidates[0], [], index
    if candidates:
        scores = [_common_parents(old, c) for c in candidates]
        best = max(scores)
        top = [c for c, s in zip(candidates, scores) if s == best]
        if len(top) == 1:
            return top[0], [], index
        return None, top, index
    return None, [], index


def relocate(recipe: Recipe, folder: str | os.PathLike) -> Relocation:
    """Look for the recipe's missing files (:func:`missing_files`) under ``folder`` and point the recipe at the
    ones found (the recipe is changed in place; the files are not touched).

    Raises
    ------
    RecipeError
        ``folder`` is not a folder.
    """
    folder = Path(os.path.expanduser(str(folder))).resolve()
    if not folder.is_dir():
        raise RecipeError(f"{folder} is not a folder; give the folder the moved files are in now (or one above it)")
    found: dict[str, str] = {}
    missing: list[str] = []
    ambiguous: dict[str, list[str]] = {}
    index = None
    for use in missing_files(recipe):
        new, candidates, index = _find(use.path, folder, index)
        if new is None:
            missing.append(use.path)
            if candidates:
                ambiguous[use.path] = candidates
        else:
            found[use.path] = new
    apply_paths(recipe, found)
    return Relocation(found, missing, ambiguous)


def apply_paths(recipe: Recipe, moved: dict[str, str]) -> None:
    """Replace every path of the recipe that is a key of ``moved`` by its value (in place)."""
    if not moved:
        return
    for image in recipe.images:
        image.path = moved.get(image.path, image.path)
    for ref in recipe.training:
        if ref.kind == "file" and ref.path:
            ref.path = moved.get(ref.path, ref.path)
    for entry in recipe.auxiliary:
        if isinstance(entry, dict) and entry.get("path"):
            entry["path"] = moved.get(str(entry["path"]), entry["path"])
    if recipe.cloud_mask.file:
        recipe.cloud_mask.file = moved.get(recipe.cloud_mask.file, recipe.cloud_mask.file)
    if recipe.regions is not None and recipe.regions.path:
        recipe.regions.path = moved.get(recipe.regions.path, recipe.regions.path)
