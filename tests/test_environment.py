"""environment.yml (Binder/conda) and pyproject.toml (pip) list the same dependencies with the same lower
bounds, so a Binder user and a pip user get the same app."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a test dependency)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
#: conda-forge package names that differ from PyPI's.
CONDA_NAMES = {"matplotlib-base": "matplotlib", "dask-core": "dask"}


def requirement(text: str) -> tuple[str, str]:
    """``"dask[array]>=2023.1"`` -> ``("dask", ">=2023.1")`` (name lower-case, extras dropped)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", text)
    return match.group(1).lower(), match.group(3).replace(" ", "")


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pip = dict(requirement(d) for d in pyproject["project"]["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str) and not dep.startswith(("python=", "python>", "pip")):
            name, bound = requirement(dep)
            conda[CONDA_NAMES.get(name, name)] = bound
    assert conda == pip
    pip_section = next(d for d in env["dependencies"] if isinstance(d, dict))
    # the package itself, from this checkout: a local pip requirement, for which repo2docker (Binder) copies the
    # repository before it builds the environment (repo2docker/buildpacks/conda: _should_preassemble_env)
    assert pip_section["pip"] == ["-e ."]
    assert any(str(d).startswith("python=3.") for d in env["dependencies"])  # repo2docker reads the version
    assert not (ROOT / "postBuild").exists() and not (ROOT / "binder").exists()  # nothing else read instead


def test_requirement_parsing():
    assert requirement("dask[array]>=2023.1") == ("dask", ">=2023.1")
    assert requirement("localtileserver>=1.0,<2") == ("localtileserver", ">=1.0,<2")
