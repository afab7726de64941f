"""Field-level diff of two simulation states: which paths differ, with both values.

How this works: :func:`diff_states` walks two object graphs side by side the way pickle
sees them and returns one :class:`FieldDiff` per differing leaf, named by a path into the
state such as ``state.balls[3].position.x``. Containers are opened by
:func:`state_fields`: dataclasses and named tuples by field, objects by ``__dict__`` and
``__slots__``, lists and tuples by index, dicts by key, pymunk objects by the properties
pymunk pickles (a space lists ``bodies[i]``, ``shapes[i]``, ``constraints[i]`` and its
collision ``handlers``). Floats compare bit for bit (``0.0`` and ``-0.0`` differ, as their
pickles do); sets compare by content, then by iteration order, which depends on the hash
seed for strings. A pair of objects met twice (shared references, cycles) is compared
once, under the first path that reached it.

It is pure Python with no I/O, so live desync forensics can reuse it on two snapshots.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import struct
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["DEFAULT_MAX_DIFFS", "MISSING", "FieldDiff", "diff_states", "state_fields"]

DEFAULT_MAX_DIFFS = 100
"""Most differences :func:`diff_states` returns (two diverged physics worlds differ a lot)."""
MAX_REPR_CHARS = 200
"""Longest ``repr`` kept for a value that is not a JSON scalar."""


class _Missing:
    """The value on the side where a key, attribute or element does not exist."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()
"""Stands for the absent side of a :class:`FieldDiff` (a key only one state has)."""

_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray)


@dataclasses.dataclass(frozen=True, slots=True)
class FieldDiff:
    """One difference between two states.

    Attributes:
        path: Where, as Python-like access from the root: ``state.balls[3].position.x``.
        a: The value in the first state (:data:`MISSING` if it has none).
        b: The value in the second state.
        kind: ``"value"``, ``"type"``, ``"length"`` (the values are the lengths),
            ``"missing"`` or ``"order"`` (same set or dict, other iteration order; the
            values are the elements in each order).
    """

    path: str
    a: Any
    b: Any
    kind: str = "value"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able ``{path, a, b, kind}``; values that are not JSON scalars become reprs."""
        return {
            "path": self.path,
            "a": _jsonable(self.a),
            "b": _jsonable(self.b),
            "kind": self.kind,
        }

    def __str__(self) -> str:
        label = "" if self.kind == "value" else f" ({self.kind})"
        return f"{self.path}{label}: {_short_repr(self.a)} != {_short_repr(self.b)}"


def diff_states(
    a: Any, b: Any, *, root: str = "state", max_diffs: int = DEFAULT_MAX_DIFFS
) -> list[FieldDiff]:
    """Every field where ``a`` and ``b`` differ, in the order a walk of ``a`` meets them.

    Args:
        a: A state (any picklable object graph).
        b: Another state of the same game.
        root: Name of the root in the paths.
        max_diffs: Stop after this many differences.

    Returns:
        The differences (empty when the states are equal field by field).
    """
    walker = _Walker(max_diffs)
    walker.compare(root, a, b)
    return walker.found


def state_fields(value: Any) -> list[tuple[str, Any]] | None:
    """The named parts of ``value`` as ``(path suffix, child)`` pairs, or None for a leaf.

    Sets are leaves here (their elements have no path); dicts give ``[key]`` suffixes.

    Args:
        value: Any object of a state.
    """
    if isinstance(value, (*_SCALARS, set, frozenset)):
        return None
    if isinstance(value, dict):
        return [(f"[{_short_repr(key)}]", item) for key, item in value.items()]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return [(f".{name}", getattr(value, name)) for name in value._fields]
    if isinstance(value, (list, tuple)):
        return [(f"[{i}]", item) for i, item in enumerate(value)]
    if callable(value) and hasattr(value, "__qualname__"):
        return None  # functions and classes pickle by name
    pymunk_fields = _pymunk_fields(value)
    if pymunk_fields is not None:
        return pymunk_fields
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f".{f.name}", getattr(value, f.name, MISSING)) for f in dataclasses.fields(value)]
    return _object_fields(value)


class _Walker:
    """A side-by-side walk that collects differences."""

    def __init__(self, max_diffs: int) -> None:
        self.max_diffs = max_diffs
        self.found: list[FieldDiff] = []
        # Pairs already compared, kept alive: properties (pymunk's Vec2d) are new objects on
        # every read, and a freed object's id would be reused by the next one.
        self._seen: dict[tuple[int, int], tuple[Any, Any]] = {}

    def add(self, diff: FieldDiff) -> None:
        if len(self.found) < self.max_diffs:
            self.found.append(diff)

    def compare(self, path: str, a: Any, b: Any) -> None:
        if len(self.found) >= self.max_diffs:
            return
        if type(a) is not type(b):
            kind = "missing" if a is MISSING or b is MISSING else "type"
            self.add(FieldDiff(path, a, b, kind))
            return
        if isinstance(a, float):
            if _float_bits(a) != _float_bits(b):
                self.add(FieldDiff(path, a, b))
            return
        if isinstance(a, _SCALARS):
            if a != b:
                self.add(FieldDiff(path, a, b))
            return
        pair = (id(a), id(b))
        if pair in self._seen:
            return
        self._seen[pair] = (a, b)
        if isinstance(a, (set, frozenset)):
            self._compare_sets(path, a, b)
        elif isinstance(a, dict):
            self._compare_dicts(path, a, b)
        elif callable(a) and hasattr(a, "__qualname__"):
            if _qualified_name(a) != _qualified_name(b):
                self.add(FieldDiff(path, _qualified_name(a), _qualified_name(b)))
        else:
            self._compare_fields(path, a, b)

    def _compare_sets(self, path: str, a: Any, b: Any) -> None:
        if a != b:
            self.add(FieldDiff(path, _sorted(a - b), _sorted(b - a)))
        elif list(a) != list(b):
            self.add(FieldDiff(path, list(a), list(b), "order"))

    def _compare_dicts(self, path: str, a: dict[Any, Any], b: dict[Any, Any]) -> None:
        for key, value in a.items():
            self.compare(f"{path}[{_short_repr(key)}]", value, b.get(key, MISSING))
        for key, value in b.items():
            if key not in a:
                self.compare(f"{path}[{_short_repr(key)}]", MISSING, value)
        if a.keys() == b.keys() and list(a) != list(b):
            self.add(FieldDiff(path, list(a), list(b), "order"))

    def _compare_fields(self, path: str, a: Any, b: Any) -> None:
        fields_a = state_fields(a)
        fields_b = state_fields(b)
        if fields_a is None or fields_b is None:  # an opaque object: compare its value
            if _opaque_key(a) != _opaque_key(b):
                self.add(FieldDiff(path, a, b))
            return
        if isinstance(a, (list, tuple)) and len(a) != len(b) and not hasattr(a, "_fields"):
            self.add(FieldDiff(path, len(a), len(b), "length"))
            common = min(len(a), len(b))
            fields_a, fields_b = fields_a[:common], fields_b[:common]
        named_b = dict(fields_b)
        for suffix, value in fields_a:
            self.compare(path + suffix, value, named_b.pop(suffix, MISSING))
        for suffix, value in named_b.items():
            self.compare(path + suffix, MISSING, value)


def _object_fields(value: Any) -> list[tuple[str, Any]] | None:
    """An object's attributes from ``__dict__`` and ``__slots__`` (None: it has neither)."""
    fields: list[tuple[str, Any]] = []
    names: set[str] = set()
    for cls in type(value).__mro__:
        slots = cls.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name in ("__dict__", "__weakref__") or name in names:
                continue
            names.add(name)
            fields.append((f".{name}", getattr(value, name, MISSING)))
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        fields.extend((f".{name}", item) for name, item in attributes.items())
    elif not names:
        return None
    return fields


def _pymunk_fields(value: Any) -> list[tuple[str, Any]] | None:
    """A pymunk object's pickled properties (None if pymunk is not loaded or not pymunk)."""
    pymunk = sys.modules.get("pymunk")
    if pymunk is None or not isinstance(value, pymunk._pickle.PickleMixin):
        return None
    cls = type(value)
    names = [*cls._pickle_attrs_init, *cls._pickle_attrs_general]
    fields = [(f".{name}", getattr(value, name)) for name in names if name != "_hashid"]
    if isinstance(value, pymunk.Body):
        fields.append((".is_sleeping", value.is_sleeping))
    if isinstance(value, pymunk.Space):
        fields += [
            (".bodies", list(value.bodies)),
            (".static_body", value.static_body),
            (".shapes", list(value.shapes)),
            (".constraints", list(value.constraints)),
            (".handlers", dict(_handlers(value))),
        ]
    listed = set(names)
    fields += [
        (f".{k}", v) for k, v in vars(value).items() if not k.startswith("_") and k not in listed
    ]
    return fields


def _handlers(space: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """A pymunk space's collision handlers: key -> {callback name: function}."""
    for key, handler in space._handlers.items():
        callbacks = {}
        for name in ("begin", "pre_solve", "post_solve", "separate"):
            function = getattr(handler, f"_{name}", None)
            if function is not None:
                callbacks[name] = function
        yield key, callbacks


def _float_bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _qualified_name(function: Any) -> str:
    return f"{getattr(function, '__module__', '?')}.{function.__qualname__}"


def _opaque_key(value: Any) -> Any:
    """What to compare for an object without fields: its pickle, else its repr."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an unpicklable object is compared by repr
        return repr(value)


def _sorted(values: Any) -> list[Any]:
    return sorted(values, key=repr)


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_REPR_CHARS else text[: MAX_REPR_CHARS - 3] + "..."


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, list) and all(v is None or isinstance(v, (bool, int, str)) for v in value):
        return value
    return _short_repr(value)
