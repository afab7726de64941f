"""The core is sans-io: it never imports sockets, threads, clocks, module-level randomness
or arcade. Drivers (transport, runner, window, simulator, CLI) are the only exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "arcade_p2p"
CORE_MODULES = [
    "app.py",
    "clock.py",
    "coalesce.py",
    "desync.py",
    "desync_bundle.py",
    "errors.py",
    "events.py",
    "forensics.py",
    "geometry.py",
    "hash_reports.py",
    "histogram.py",
    "joining.py",
    "link_model.py",
    "machine.py",
    "presence.py",
    "sim/moving_rect.py",
    "session.py",
    "snapshots.py",
    "statediff.py",
    "timeline.py",
    "protocol/beacon.py",
    "protocol/chunks.py",
    "protocol/node.py",
    "protocol/replay.py",
    "protocol/state_fetch.py",
    "protocol/transfer.py",
    "protocol/wire.py",
]
FORBIDDEN = {"socket", "threading", "time", "arcade", "pyglet", "asyncio", "selectors"}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_does_no_io(module: str) -> None:
    assert not imported_modules(PACKAGE / module) & FORBIDDEN


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_uses_no_global_random(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    for node in ast.walk(tree):
        is_attribute = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        if is_attribute and node.value.id == "random":  # type: ignore[attr-defined]
            assert node.attr == "Random", f"module-level random.{node.attr} in {module}"
