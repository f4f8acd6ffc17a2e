"""The house direction (agents -> rlenvs -> judges) and no module cycles, every import counted.

Imports inside functions count as much as top-level ones: a lazy import is still a dependency.
An import of a package's own ``__init__`` from a module inside that package is not a cycle edge
(``from judges.llm import x`` inside ``judges/llm/...`` names a sibling through the package).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"judges": 0, "rlenvs": 1, "agents": 2}  # a module may import only its layer or lower


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _imported_names(module: str, path: Path) -> set[str]:
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:  # the longest project module a dotted name falls in
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {owner(n) for n in _imported_names(module, path)}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def test_imports_point_down_the_house():
    upward = sorted(
        f"{m} imports {t}"
        for m, targets in _graph().items()
        for t in targets
        if LAYERS[t.split(".")[0]] > LAYERS[m.split(".")[0]]
    )
    assert not upward, "imports against agents -> rlenvs -> judges:\n" + "\n".join(upward)


def test_no_module_cycles():
    graph = {
        m: {t for t in targets if not m.startswith(t + ".")}  # a package's own __init__
        for m, targets in _graph().items()
    }
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    # the parser must count an import inside a function and resolve a relative one
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from .sibling import x\n    import agents.cli\n")
    names = _imported_names("rlenvs.pkg.mod", src)
    assert "rlenvs.pkg.sibling" in names and "agents.cli" in names
