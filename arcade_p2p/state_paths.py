"""Find where in a game state the part that cannot be snapshotted is, and say what to do.

How this works: this runs only after saving or loading a state has failed, so the
successful path costs nothing. It walks the state's object graph the way pickle does
(containers item by item, other objects through ``__reduce_ex__``, which gives the class
or function pickle will name, the constructor arguments and the attribute state) and
stops at the first object that pickle cannot save, or that names a global the peers'
restricted decoder will refuse. The answer is a path such as
``state.players[2].sprite`` and a hint: keep plain data in the state, use a module-level
function listed in ``STATE_FUNCTIONS`` instead of a lambda, and so on.
"""

from __future__ import annotations

import copyreg
import sys
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["find_unsavable"]

ROOT_NAME = "state"
"""How the walk names the root of the state in paths."""

MAX_KEY_REPR_CHARS = 40
"""Longest dictionary key shown in a path."""

ATOMIC_TYPES = (type(None), bool, int, float, complex, str, bytes, bytearray)
"""Types pickle saves without naming a global or looking inside."""

PYMUNK_STATE_KEYS = frozenset({"init", "general", "custom", "special"})
"""The sections of a pymunk object's pickled state: lists of ``(attribute, value)``."""

HINT_ARCADE = (
    "keep plain data (numbers, strings, lists, dataclasses) in self.state and build "
    "sprites and other arcade objects from it in on_draw"
)
HINT_RESOURCE = (
    "keep resources (files, sockets, locks, generators, weakrefs) out of self.state; "
    "store plain data or an id instead"
)
HINT_PLAIN_DATA = "convert it to plain data (numbers, strings, lists, dicts, dataclasses)"
HINT_PYMUNK_SPACE = "use arcade_p2p.physics.Space (new_space), which snapshots canonically"

Loadable = Callable[[str, str], bool]
"""Whether the peers' decoder loads the global ``(module, name)``."""


def find_unsavable(state: Any, loadable: Loadable, owner: str) -> tuple[str, str] | None:
    """The first part of ``state`` that cannot be saved or would be refused by peers.

    Args:
        state: The state to inspect.
        loadable: Whether the decoder loads a global ``(module, name)``.
        owner: The app or window class name, for hints about ``STATE_MODULES`` and
            ``STATE_FUNCTIONS``.

    Returns:
        ``(path, problem)`` with the path from ``state`` and what is wrong and what to do,
        or None if nothing wrong was found.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(state, ROOT_NAME)]
    while stack:
        obj, path = stack.pop()
        if isinstance(obj, ATOMIC_TYPES) or id(obj) in seen:
            continue
        seen.add(id(obj))
        try:
            children = list(_children(obj, loadable, owner))
        except _Unsavable as problem:
            return path, str(problem)
        stack.extend((child, path + step) for step, child in reversed(children))
    return None


class _Unsavable(Exception):
    """This object cannot be saved; the message says why and what to do."""


def _children(obj: Any, loadable: Loadable, owner: str) -> Iterator[tuple[str, Any]]:
    """The parts pickle saves for ``obj``, as ``(path step, part)``.

    Raises:
        _Unsavable: ``obj`` itself cannot be saved, or names a refused global.
    """
    if isinstance(obj, (list, tuple)):
        yield from ((f"[{i}]", item) for i, item in enumerate(obj))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{_short(key)}]", key
            yield f"[{_short(key)}]", value
    elif isinstance(obj, (set, frozenset)):
        yield from ((f"{{{_short(item)}}}", item) for item in obj)
    elif isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)):
        _check_global(obj, getattr(obj, "__qualname__", ""), loadable, owner)
    else:
        yield from _reduced(obj, loadable, owner)


def _reduced(obj: Any, loadable: Loadable, owner: str) -> Iterator[tuple[str, Any]]:
    """The parts of an object that pickle saves through its reduce value."""
    if isinstance(obj, weakref.ref):
        raise _Unsavable(f"it is a weak reference; {HINT_RESOURCE}")
    if isinstance(obj, types.MethodType):
        raise _Unsavable(
            f"it is a bound method ({obj.__qualname__}); use a module-level function "
            f"listed in STATE_FUNCTIONS of {owner}"
        )
    reducer = copyreg.dispatch_table.get(type(obj))
    try:
        reduced = reducer(obj) if reducer else obj.__reduce_ex__(5)
    except Exception as exc:
        hint = HINT_ARCADE if _is_arcade(type(obj)) else HINT_RESOURCE
        raise _Unsavable(f"pickle refuses {_kind(obj)} ({exc}); {hint}") from exc
    if isinstance(reduced, str):
        _check_global(obj, reduced, loadable, owner)
        return
    func, args, *rest = reduced
    if func is copyreg.__newobj__ or func is copyreg.__newobj_ex__:  # type: ignore[attr-defined]
        _check_global(args[0], args[0].__qualname__, loadable, owner)
        args = args[1:]
    else:
        _check_global(func, getattr(func, "__qualname__", ""), loadable, owner)
    yield from ((f"<argument {i}>", arg) for i, arg in enumerate(args))
    state = rest[0] if rest else None
    yield from _state_parts(state)
    if len(rest) > 1 and rest[1] is not None:
        yield from ((f"[{i}]", item) for i, item in enumerate(rest[1]))
    if len(rest) > 2 and rest[2] is not None:
        yield from ((f"[{_short(key)}]", value) for key, value in rest[2])


def _state_parts(state: Any) -> Iterator[tuple[str, Any]]:
    """The attributes in a reduce value's state, named as attributes where possible."""
    if state is None:
        return
    if isinstance(state, tuple) and len(state) == 2:  # (__dict__ or None, slots)
        for part in state:
            yield from _state_parts(part)
    elif isinstance(state, dict) and state.keys() == PYMUNK_STATE_KEYS:
        for section in state.values():
            for pair in section:
                yield f".{pair[0]}", pair[1]
    elif isinstance(state, dict):
        for key, value in state.items():
            yield (f".{key}" if isinstance(key, str) else f"[{_short(key)}]"), value
    else:
        yield "<state>", state


def _check_global(obj: Any, name: str, loadable: Loadable, owner: str) -> None:
    """Raise unless pickle can name ``obj`` and the peers' decoder loads it."""
    module = getattr(obj, "__module__", None) or "?"
    kind = "class" if isinstance(obj, type) else "function"
    if "<lambda>" in name:
        raise _Unsavable(
            f"it is a lambda; use a module-level function listed in STATE_FUNCTIONS of {owner}"
        )
    if "<locals>" in name or ("." in name and kind == "function"):
        raise _Unsavable(f"{kind} {module}.{name} is not defined at module level; move it there")
    loaded = sys.modules.get(module)
    if loaded is None or vars(loaded).get(name) is not obj:
        raise _Unsavable(f"{kind} {module}.{name} cannot be found by its name")
    if loadable(module, name):
        return
    if kind == "function":
        hint = f"list it in STATE_FUNCTIONS of {owner} if it belongs to the game"
    elif _is_arcade(obj):
        hint = HINT_ARCADE
    elif module.startswith("pymunk") and name == "Space":
        hint = HINT_PYMUNK_SPACE
    elif module.partition(".")[0] in sys.stdlib_module_names:
        hint = HINT_PLAIN_DATA
    else:
        hint = f"if it is plain game data, add {module!r} to STATE_MODULES of {owner}"
    raise _Unsavable(f"other peers refuse to load {kind} {module}.{name}; {hint}")


def _is_arcade(cls: Any) -> bool:
    """Whether the class ``cls`` comes from arcade or pyglet (objects tied to the window)."""
    return str(getattr(cls, "__module__", "")).partition(".")[0] in ("arcade", "pyglet")


def _kind(obj: Any) -> str:
    """``a module.Class object`` for messages."""
    cls = type(obj)
    return f"a {cls.__module__}.{cls.__qualname__} object"


def _short(key: Any) -> str:
    """A dictionary key or set item, shortened for a path."""
    text = repr(key)
    return text if len(text) <= MAX_KEY_REPR_CHARS else text[: MAX_KEY_REPR_CHARS - 3] + "..."
