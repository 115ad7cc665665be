"""environment.yml (Binder/conda) and pyproject.toml (pip) list the same dependencies with the same lower
bounds, so a Binder user and a pip user get the same app; and environment.yml follows what repo2docker (which
builds Binder's image) reads from it (repo2docker/buildpacks/conda/__init__.py, repo2docker/utils.py)."""
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
#: repo2docker's pattern for the Python version of an environment.yml (CondaBuildPack: PYTHON_REGEX, used with
#: ``match``); anything else gets its default Python (3.10), whatever the file asks for.
R2D_PYTHON = re.compile(r"python\s*=+\s*([\d\.]*)")
#: the Pythons repo2docker has a base environment for (repo2docker/buildpacks/conda/supported_python_version.py)
R2D_PYTHONS = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")


def requirement(text: str) -> tuple[str, str]:
    """``"dask[array]>=2023.1"`` -> ``("dask", ">=2023.1")`` (name lower-case, extras dropped)."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", text)
    return match.group(1).lower(), match.group(3).replace(" ", "")


def is_local(line: str) -> bool:
    """repo2docker's ``is_local_pip_requirement`` for the forms used here: a path (``.``, ``-e .``,
    ``--editable=./x``), a ``file://`` URL or a ``-r``/``-c`` file.

    >>> [is_local(x) for x in ["-e .", ".", "--editable=./sub", "-r reqs.txt", "localtileserver>=1.0,<2"]]
    [True, True, True, True, False]
    """
    line = line.split("#", 1)[0].strip()
    if line.startswith(("-r", "-c", "--requirement", "--constraint")):
        return True
    if line.startswith("--") and "=" in line:
        line = line.split("=", 1)[1]
    elif line.startswith("-"):  # "-e ." (a flag alone, e.g. "--pre", is not a requirement)
        line = (line.split(None, 1) + [""])[1]
    return "file://" in line or line.split("://", 1)[-1].startswith(".")


def environment() -> tuple[list[str], list[str]]:
    """environment.yml's conda requirements and its pip section."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = [line for d in env["dependencies"] if isinstance(d, dict) for line in d.get("pip", [])]
    return conda, pip


def test_environment_yml_matches_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = dict(requirement(d) for d in pyproject["project"]["dependencies"])
    conda_deps, pip_deps = environment()
    listed = {}
    for dep in conda_deps:
        if not dep.startswith(("python=", "python>", "pip")):
            name, bound = requirement(dep)
            listed[CONDA_NAMES.get(name, name)] = bound
    for dep in pip_deps:  # from PyPI (localtileserver 1.x), besides this checkout
        if not is_local(dep):
            name, bound = requirement(dep)
            assert name not in listed, f"{name} both from conda-forge and from PyPI"
            listed[name] = bound
    assert listed == wanted


def test_binder_builds_the_environment_after_copying_the_checkout():
    """repo2docker (Binder) picks its conda buildpack for a top-level environment.yml. Without a local pip
    requirement it installs the environment *before* copying the repository (a cached layer), so ``-e .`` would
    have nothing to install; with one, after (CondaBuildPack._should_preassemble_env), and mamba runs pip in
    environment.yml's folder (libmamba: install_for_other_pkgmgr's cwd). Here ``-e .`` is that local requirement
    and the only way the app's own package gets in: repo2docker's conda buildpack never installs pyproject.toml."""
    _, pip_deps = environment()
    assert [d for d in pip_deps if is_local(d)] == ["-e ."]
    # a binder/ or .binder/ folder would be read instead of the top level, a Dockerfile instead of everything
    assert not [n for n in ("binder", ".binder", "Dockerfile") if (ROOT / n).exists()]
    assert not (ROOT / "postBuild").exists()  # a second install of the package is not needed


def test_python_pin_is_the_one_repo2docker_reads():
    """repo2docker takes X.Y from a ``python=X.Y`` line only; it must be a Python it has a base environment for
    and one pyproject.toml's requires-python allows."""
    conda_deps, _ = environment()
    pins = [m.group(1) for d in conda_deps if (m := R2D_PYTHON.match(d))]
    assert len(pins) == 1 and pins[0].count(".") == 1, pins
    assert pins[0] in R2D_PYTHONS
    minimum = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert minimum.startswith(">=")
    assert tuple(map(int, pins[0].split("."))) >= tuple(map(int, minimum[2:].split(".")))


def test_requirement_parsing():
    assert requirement("dask[array]>=2023.1") == ("dask", ">=2023.1")
    assert requirement("localtileserver>=1.0,<2") == ("localtileserver", ">=1.0,<2")
