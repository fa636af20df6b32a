"""Arrows run downward only (docs/conventions.md, "The house"): each package of common/
may import only the packages below it, and nothing in common/ imports handlers/ or tools/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each room → the rooms it may import (besides itself and the `common` package root).
ALLOWED: dict[str, set[str]] = {
    "runtime": set(),
    "store": {"runtime"},
    "triggers": {"store", "runtime"},
    "access": {"store", "runtime"},
    "context": {"store", "runtime"},
    "agents": {"triggers", "store", "runtime"},  # alerts are published as inbox events
    "stats": {"agents", "triggers", "context", "access", "store", "runtime"},
    "mcp": {"context", "access", "store", "runtime"},  # the MCP server over the context domain
    "api": {"access", "store", "runtime"},
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "common" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def _sources() -> list[Path]:
    return sorted(p for p in (ROOT / "common").rglob("*.py"))


def test_every_room_is_known() -> None:
    rooms = {p.relative_to(ROOT / "common").parts[0].removesuffix(".py") for p in _sources()}
    assert rooms - {"__init__"} == set(ALLOWED)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downward(path: Path) -> None:
    own = path.relative_to(ROOT / "common").parts[0].removesuffix(".py")
    if own == "__init__":
        return
    upward = []
    for module in _imports(path):
        top = module.split(".")[0]
        assert top not in {"handlers", "tools", "tests", "bench"}, f"{path}: imports {module}"
        room = _room(module)
        if room is None or room == own or room not in ALLOWED:
            continue  # stdlib, third party, common.__version__, or a name inside a room
        if room not in ALLOWED[own]:
            upward.append(module)
    assert not upward, f"{own} may not import {upward}"


def test_the_rule_can_fail(tmp_path: Path) -> None:
    """The checker itself: a domain importing the dispatcher is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text("from common.api import Route\nfrom common.store import dynamo\n")
    rooms = {_room(m) for m in _imports(sample)}
    assert "api" in rooms
    assert "api" not in ALLOWED["context"]


def test_the_cli_imports_on_its_own() -> None:
    """`dockhand` loads neither the emulator, the generators nor moto: a user's CLI start
    stays fast and works where only the CLI's requirements are installed."""
    import subprocess
    import sys

    code = (
        "import sys, tools.cli.main\n"
        "roots = ('moto', 'werkzeug', 'flask', 'hcl2')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in roots\n"
        "             or m.startswith(('tools.local', 'tools.gen')))\n"
        "print(','.join(bad))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == ""
