"""slant's modules import each other without a cycle, module by module and between its parts (the
top-level modules and subpackages: slant.api, slant.pipeline, slant.regress, …).

Only the imports that run when a module is imported count: those at module level, outside
``if TYPE_CHECKING:``. An import inside a function runs later and cannot make a cycle at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import slant

SRC = Path(slant.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The slant modules ``name`` imports when it is imported."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and not _type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                for a in node.names:  # `from slant import store` imports the module slant.store
                    found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in modules and m != name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    by_module = {name: _imports(name, path, modules) for name, path in modules.items()}
    by_part: dict[str, set[str]] = {}
    for name, deps in by_module.items():
        by_part.setdefault(_part(name), set()).update(
            _part(d) for d in deps if _part(d) != _part(name) and d != "slant"
        )
    return by_module, by_part


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None


def test_the_walk_sees_the_imports() -> None:
    by_module, by_part = _graphs()
    assert {"slant.pipeline", "slant.plan", "slant.store"} <= by_module["slant.api"]
    assert "slant.pipeline" in by_module["slant.regress.check"]
    assert "slant.store" in by_part["slant.regress"]


def test_no_module_imports_itself_through_others() -> None:
    assert _cycle(_graphs()[0]) is None


def test_no_part_of_slant_imports_itself_through_others() -> None:
    """E.g. the pipeline runs before scheduled audits compare, so slant.regress may import
    slant.pipeline but nothing the pipeline imports may import slant.regress."""
    assert _cycle(_graphs()[1]) is None
