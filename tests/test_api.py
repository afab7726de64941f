"""The public API: what a game imports, and what importing it costs.

A game imports from ``arcade_p2p`` (and ``arcade_p2p.physics``); ``SymmetricWindow`` is
loaded on first use, so headless users and the light subcommands never import arcade
(nor matplotlib, which only the sweep's heat maps need). Imports are checked in fresh
interpreters, the way users meet them.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import arcade_p2p
from arcade_p2p import P2PError, RemoteError, UsageError

HEAVY = {"arcade", "pyglet", "matplotlib"}
"""Top-level packages the headless side must never load."""


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARCADE_HEADLESS": "1"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, check=True
    )


def imported_packages(importtime_log: str) -> set[str]:
    """Top-level packages named in ``python -X importtime`` output."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            names.add(module.split(".")[0])
    return names


@pytest.mark.parametrize("command", ["peer", "sim", "demo"])
def test_light_subcommands_load_neither_arcade_nor_matplotlib(command: str) -> None:
    done = run_python("-X", "importtime", "-m", "arcade_p2p", command, "--help")
    assert f"arcade-p2p {command}" in done.stdout
    loaded = imported_packages(done.stderr)
    assert "arcade_p2p" in loaded  # the log is read correctly
    assert not loaded & HEAVY


def test_importing_the_package_loads_no_arcade_until_the_window_is_asked_for() -> None:
    probe = (
        "import sys, arcade_p2p\n"
        "before = 'arcade' in sys.modules\n"
        "from arcade_p2p import SymmetricWindow\n"
        "from arcade_p2p.window import SymmetricWindow as Defined\n"
        "import arcade\n"
        "print(before, SymmetricWindow is Defined, issubclass(SymmetricWindow, arcade.Window))\n"
        "print(all(hasattr(arcade_p2p, name) for name in arcade_p2p.__all__))\n"
    )
    assert run_python("-c", probe).stdout.split() == ["False", "True", "True", "True"]


def test_public_names() -> None:
    assert "SymmetricWindow" in arcade_p2p.__all__
    with pytest.raises(AttributeError):
        _ = arcade_p2p.NoSuchThing  # type: ignore[attr-defined]


def test_errors_share_one_base_class() -> None:
    assert issubclass(UsageError, P2PError) and issubclass(RemoteError, P2PError)
    assert issubclass(UsageError, ValueError)
    assert not issubclass(RemoteError, UsageError)
    assert RemoteError("bad_mac", "room").reason == "bad_mac"
