"""The public card (``slant/__init__.py``): every name resolves, type checkers see the same names, the
command line uses nothing else, ``import slant`` stays light, shared options are declared once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import slant
from slant.cli import _parse

SRC = Path(slant.__file__).parent


@pytest.mark.parametrize("name", slant.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(slant, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        slant.nope  # noqa: B018


def test_type_checkers_see_the_same_names_from_the_same_modules() -> None:
    tree = ast.parse((SRC / "__init__.py").read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"
    )
    seen = {
        alias.asname or alias.name: (node.module, alias.name)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen.pop("errors") == ("slant", "errors")
    assert seen == {name: (module, name) for name, module in slant._EXPORTS.items()}


def test_the_command_line_uses_only_the_public_card() -> None:
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("slant"):
            assert node.module == "slant", f"cli.py imports {node.module}"
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            assert all(a.name == "slant" or not a.name.startswith("slant.") for a in node.names)
    used = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and getattr(n.value, "id", "") == "slant"
    }
    assert used and imported
    assert (used | imported) <= set(slant.__all__)


def test_import_slant_loads_no_submodule() -> None:
    code = "import sys, slant; print(sorted(m for m in sys.modules if m.startswith(('slant.', 'pandas'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _declared(flag: str) -> list[ast.Call]:
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and getattr(n.func, "attr", "") == "add_argument"
        and n.args
        and getattr(n.args[0], "value", None) == flag
    ]


def test_shared_options_are_declared_once() -> None:
    assert len(_declared("--db")) == 1
    assert len(_declared("--base-url")) == 1
    # baseline's --target filters pins by target id (dest target_id); the model to call is declared once
    targets = [c for c in _declared("--target") if not any(k.arg == "dest" for k in c.keywords)]
    assert len(targets) == 1


def test_defaults_without_a_campaign_and_overrides_with_one() -> None:
    run = _parse(["run", "quickstart"])
    assert (run.db, run.target, run.base_url) == (None, None, None)  # the campaign's own
    scheduled = _parse(["audit-scheduled", "c.yaml", "--db", "x.db"])
    assert (scheduled.db, scheduled.target) == ("x.db", None)
    judge = _parse(["judge"])
    assert (judge.db, judge.target, judge.base_url) == ("slant.db", "local", None)
    personas = _parse(["generate", "personas", "--spec", "a=b", "--out", "p.yaml", "--target", "openai/x"])
    assert (personas.db, personas.target) == ("slant.db", "openai/x")
    show = _parse(["baseline", "show", "--target", "openai/x"])
    assert (show.db, show.target_id) == ("slant.db", "openai/x")
    assert not hasattr(show, "target")
    assert _parse(["runs"]).db == "slant.db"
