"""Finding the game to check from ``MODULE[:CLASS]``.

How this works: the module is imported (in headless mode, see :func:`ensure_headless`,
and with the current folder on the import path, as ``python -m`` does);
without ``:CLASS`` the game is the one class *defined in that module* that subclasses
:class:`~arcade_p2p.window.SymmetricWindow` or :class:`~arcade_p2p.app.StateApp`, so
classes a module merely imports do not count.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from arcade_p2p.app import StateApp
from arcade_p2p.errors import UsageError

__all__ = ["ensure_headless", "is_window_class", "load_target", "target_spec"]

HEADLESS_ENV = "ARCADE_HEADLESS"


def ensure_headless() -> None:
    """Make Arcade headless if it has not been imported yet (windows need no display)."""
    os.environ.setdefault(HEADLESS_ENV, "1")


def is_window_class(cls: type) -> bool:
    """Whether ``cls`` is a :class:`~arcade_p2p.window.SymmetricWindow` subclass."""
    window = sys.modules.get("arcade_p2p.window")
    return window is not None and issubclass(cls, window.SymmetricWindow)


def _is_game(value: Any) -> bool:
    return (
        inspect.isclass(value)
        and (is_window_class(value) or issubclass(value, StateApp))
        and value.__module__ not in ("arcade_p2p.window", "arcade_p2p.app")
    )


def load_target(spec: str, *, headless: bool = True) -> type:
    """The game class named by ``MODULE[:CLASS]``.

    Args:
        spec: For example ``sample_games.physics_balls`` or ``my_game:MyGame``.
        headless: Make Arcade headless if it has not been imported yet (False: leave
            that to the environment, for real windows).

    Returns:
        A :class:`~arcade_p2p.window.SymmetricWindow` or :class:`~arcade_p2p.app.StateApp`
        subclass.

    Raises:
        UsageError: The module cannot be imported, or no single game class is found.
    """
    module_name, _, class_name = spec.partition(":")
    if headless:
        ensure_headless()
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like python -m: games in the current folder import
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import {module_name!r}: {exc}") from exc
    if class_name:
        value: Any = module
        for part in class_name.split("."):
            value = getattr(value, part, None)
        if not _is_game(value):
            raise UsageError(f"{spec!r} is not a SymmetricWindow or StateApp subclass")
        return value  # type: ignore[no-any-return]
    found = [
        value
        for value in vars(module).values()
        if _is_game(value) and value.__module__ == module.__name__
    ]
    if len(found) != 1:
        names = ", ".join(sorted(cls.__name__ for cls in found)) or "none"
        raise UsageError(
            f"{module_name} must define exactly one SymmetricWindow or StateApp subclass "
            f"(found: {names}); name it as {module_name}:CLASS"
        )
    return found[0]  # type: ignore[no-any-return]


def target_spec(cls: type) -> str | None:
    """``MODULE:CLASS`` that imports ``cls`` again in another process, if there is one."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return None
    return f"{cls.__module__}:{cls.__qualname__}"
