"""The package's modules import one way: no import cycle, and each module imports only from its own layer or
the layers below it (the diagram in README's Layout section). Every import counts, including those inside
functions, so a cycle cannot hide in a function body.

Run ``python -m tests.test_layers`` to print the graph by layer.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "landclass_ui"

#: Layers, lowest first. A module may import from its own layer and the layers below, never above.
LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"errors", "_files", "_arrays", "_allocator", "sensors", "sample", "tiles", "cloudmask", "timeseries"}),
    ("data model", {"legend", "classifiers", "imagery"}),
    ("features", {"indices", "auxiliary", "recipe", "regions", "relocate"}),
    ("training", {"training"}),
    ("model", {"model", "compiled", "regularize", "regional"}),
    ("assessment", {"accuracy", "validation", "report", "export", "guidance", "areas"}),
    ("pipeline", {"pipeline", "display", "live", "overlay", "store", "worker", "jobs"}),
    ("interfaces", {"cli", "ui"}),
]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or "__init__"


def imports_of(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (anywhere in the file), as dotted names relative to the
    package (``"imagery"``, ``"ui.map"``)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    if package == ["__init__"]:
        package = []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else list(package)
            elif node.module and node.module.split(".")[0] == "landclass_ui":
                base, node = [], ast.ImportFrom(module=".".join(node.module.split(".")[1:]) or None,
                                                names=node.names, level=0)
            else:
                continue
            target = base + (node.module.split(".") if node.module else [])
            if node.module:
                found.add(".".join(target))
            else:  # from . import x: x is a module, or a name defined in the package's __init__
                for alias in node.names:
                    as_module = PACKAGE.joinpath(*target, alias.name)
                    if as_module.with_suffix(".py").is_file() or as_module.is_dir():
                        found.add(".".join(target + [alias.name]))
                    else:
                        found.add(".".join(target) or "__init__")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("landclass_ui."):
                    found.add(a.name.split(".", 1)[1])
    return {f for f in found if f and f != module_name(path)}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    out = {}
    for name, path in modules.items():
        deps = set()
        for target in imports_of(path):
            while target and target not in modules:  # a name imported from a module: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                deps.add(target)
        out[name] = deps
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int | None:
    top = module.split(".")[0]
    for i, (_, names) in enumerate(LAYERS):
        if top in names:
            return i
    return None


def test_the_import_graph_is_read():
    g = graph()
    assert "imagery" in g["indices"] and "model" in g["pipeline"] and "pipeline" in g["ui.app"]


def test_cycle_detection_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_import_names_a_module_of_the_package():
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    missing = []
    for path in PACKAGE.rglob("*.py"):
        for target in imports_of(path):
            t = target
            while t and t not in modules:
                t = t.rpartition(".")[0]
            if not t:
                missing.append(f"{module_name(path)} imports {target}")
    assert missing == []


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in graph() if m != "__init__" and layer_of(m) is None)
    assert unplaced == [], f"put these modules in a layer of tests/test_layers.py and README's diagram: {unplaced}"


def test_imports_go_down_the_layers():
    wrong = []
    for module, deps in graph().items():
        if module == "__init__":
            continue
        for dep in deps:
            if layer_of(dep) is not None and layer_of(dep) > layer_of(module):
                wrong.append(f"{module} ({LAYERS[layer_of(module)][0]}) imports {dep} ({LAYERS[layer_of(dep)][0]})")
    assert wrong == []


def test_readme_diagram_names_every_layer():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    for _, names in LAYERS:
        for name in names:
            assert f"{name}" in layout, f"README's Layout diagram does not mention {name}"


if __name__ == "__main__":
    g = graph()
    for i, (title, _) in enumerate(LAYERS):
        print(f"{i} {title}")
        for m in sorted(x for x in g if layer_of(x) == i):
            print(f"    {m} -> {', '.join(sorted(g[m])) or '-'}")
    print("cycles:", cycles(g) or "none")
