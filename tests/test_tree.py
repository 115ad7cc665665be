"""The repository checks out on Windows, macOS and Linux: no reserved device names (CON, PRN, AUX, NUL, COM1-9,
LPT1-9, with any extension), no characters Windows refuses, no two paths that differ only in case."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESERVED = re.compile(r"^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$", re.IGNORECASE)
BAD_CHARS = re.compile(r'[<>:"\\|?*\x00-\x1f]')


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


def problems(paths: list[str]) -> list[str]:
    found, seen = [], {}
    for path in paths:
        for part in path.split("/"):
            if RESERVED.match(part):
                found.append(f"{path}: {part!r} is a reserved name on Windows")
            if BAD_CHARS.search(part):
                found.append(f"{path}: {part!r} holds a character Windows refuses")
            if part.endswith((" ", ".")):
                found.append(f"{path}: {part!r} ends with a space or a dot")
        other = seen.setdefault(path.lower(), path)
        if other != path:
            found.append(f"{path} and {other} differ only in case")
    return found


def test_the_checker_finds_each_kind_of_problem():
    assert len(problems(["a/aux.py", "b/Con", "c/x:y.txt", "d/e.", "f/A.txt", "f/a.txt", "ok/auxiliary.py"])) == 5


def test_every_file_name_is_valid_on_windows():
    paths = tracked_files()
    assert len(paths) > 50
    assert problems(paths) == []
