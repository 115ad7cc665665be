"""Writing files so that a crash, a full disk or a second kernel never leaves half a file: the one
temporary-file-then-rename helper of the project (everything that writes a recipe, a legend, training points,
a map or a report goes through it).

A temporary file is made in the destination's folder (same file system, so :func:`os.replace` is atomic on
POSIX and Windows), written, given the permissions a plain ``open`` would give (``mkstemp`` alone gives 0600)
and renamed onto the destination. On any error the temporary file is removed and the destination is left as
it was.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

__all__ = ["default_file_mode", "temp_path", "replacing", "atomic_write_text"]


def default_file_mode() -> int:
    """Permission bits of a new file under the current umask (e.g. ``0o644`` under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_path(folder: str | os.PathLike, stem: str, tag: str = "tmp", suffix: str = ".tif") -> str:
    """A new, empty, uniquely named hidden file ``.<stem>.<random>.<tag><suffix>`` in ``folder`` (created if
    missing). The caller writes it and renames it (or removes it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".{tag}{suffix}", dir=folder)
    os.close(fd)
    return name


@contextlib.contextmanager
def replacing(path: str | os.PathLike, *, tag: str = "tmp") -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block ends without error, the temporary file becomes
    ``path`` (atomically, default permissions); on error it is removed and ``path`` is untouched.

    The temporary name keeps ``path``'s extension, so drivers that pick a format from it (GDAL, matplotlib)
    still do.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with replacing(target) as tmp:
    ...     _ = pathlib.Path(tmp).write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    tmp = temp_path(path.parent, path.stem, tag, path.suffix)
    try:
        yield tmp
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically, flushed to disk before the rename."""
    with replacing(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
