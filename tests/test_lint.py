"""Ruff (lint and import order, configured in pyproject.toml) is clean over the package, tests and benchmarks,
so CI (which runs the tests) fails on a lint error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=cwd, capture_output=True, text=True)


def test_ruff_is_clean():
    result = ruff("check", "landclass_ui", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_reports_an_unused_import(tmp_path):
    (tmp_path / "bad.py").write_text("import os\n")
    result = ruff("check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path / "bad.py"))
    assert result.returncode == 1 and "F401" in result.stdout
