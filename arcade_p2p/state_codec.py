"""Safe state snapshots: pickle out, and back in with only the classes the game allows.

How this works: a state is saved with plain :func:`pickle.dumps` (protocol 5), the fast
path that every snapshot takes. Loading never uses plain :func:`pickle.loads`: a pickle
can name any global (``os.system``, ``builtins.eval``) and call it, so bytes from another
process could run code. :class:`StateCodec` loads with a :class:`pickle.Unpickler` whose
``find_class`` answers only for an allowlist; everything else is refused before it is
imported or called. The C unpickler calls ``find_class`` once per distinct global, so
this costs next to nothing.

The allowlist has four parts, each checked by exact ``(module, name)`` and by the object
really being defined there (``obj.__module__ == module``, no dotted names, no imports:
only modules already loaded in this process answer):

* :data:`DATA_GLOBALS`: builtin and standard containers and numbers, constructors that
  only build data from data;
* :data:`LIBRARY_GLOBALS`: arcade-p2p's own state types and the pymunk classes that an
  :class:`arcade_p2p.physics.Space` pickles (plain :class:`pymunk.Space` is not listed);
* classes defined in the game's modules: the module of the app (or window) class and the
  modules it lists in ``STATE_MODULES``; the app class itself is never loadable;
* functions the game lists in ``STATE_FUNCTIONS`` (pymunk callbacks, ``defaultdict``
  factories). Module-level functions are not allowed by default because a pickle can call
  any global it can name, and a game module's ``main()`` is a global too.

A refused global raises :class:`~arcade_p2p.errors.RemoteError` ``"forbidden_class"``, a blob
above ``max_bytes`` ``"oversized"``, and anything else wrong with the bytes ``"malformed"``:
decoding raises nothing else. When the game itself produced a state that cannot be saved
or would be refused on other peers, the error is a :class:`~arcade_p2p.errors.UsageError`
naming the path into the state (see :mod:`arcade_p2p.state_paths`).

What this does not protect against: the allowed classes' own code runs on load
(``__setstate__``, and ``__init__`` when a pickle calls a class), with values chosen by the
sender. pymunk is the sharp edge: Chipmunk aborts the whole process on some values (a
negative mass) instead of raising. A joiner must therefore check a snapshot's hash against
the hashes other peers report before decoding it.
"""

from __future__ import annotations

import io
import operator
import pickle
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.state_paths import find_unsavable

__all__ = [
    "DATA_GLOBALS",
    "DEFAULT_MAX_STATE_BYTES",
    "LIBRARY_GLOBALS",
    "PICKLE_PROTOCOL",
    "StateCodec",
]

PICKLE_PROTOCOL = 5
"""Pickle protocol of saved states (fixed, so every peer writes the same bytes)."""

DEFAULT_MAX_STATE_BYTES = 32 * 1024 * 1024
"""Largest blob :meth:`StateCodec.decode` accepts (a 200-body physics state is ~180 KB)."""

MAX_DETAIL_CHARS = 200
"""Longest error detail kept from a malformed blob's exception."""

DATA_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        ("builtins", name)
        for name in (
            "bool",
            "int",
            "float",
            "complex",
            "str",
            "tuple",
            "list",
            "dict",
            "set",
            "frozenset",
            "slice",
        )
    ]
    + [("collections", name) for name in ("OrderedDict", "Counter", "deque", "defaultdict")]
    + [("fractions", "Fraction")]
)
"""Standard data types a state may contain. Deliberately absent: ``bytes``, ``bytearray``
and ``range`` (a tiny pickle could call ``bytes(10**12)``; protocol 5 writes bytes and
bytearrays without a global anyway), ``getattr``, ``eval``, ``copyreg`` and everything that
imports, opens or runs."""

LIBRARY_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [
        ("arcade_p2p.events", "Event"),
        ("arcade_p2p.physics", "Space"),
        ("arcade_p2p.physics", "_blank"),
        ("arcade_p2p.physics", "_RestoredBody"),
        ("arcade_p2p.physics", "_RestoredCircle"),
        ("arcade_p2p.physics", "_RestoredSegment"),
        ("arcade_p2p.physics", "_RestoredPoly"),
        ("pymunk.body", "Body"),
        ("pymunk.bb", "BB"),
        ("pymunk.shape_filter", "ShapeFilter"),
        ("pymunk.transform", "Transform"),
        ("pymunk.vec2d", "Vec2d"),
    ]
    + [("pymunk.shapes", name) for name in ("Circle", "Poly", "Segment")]
    + [
        ("pymunk.constraints", name)
        for name in (
            "DampedRotarySpring",
            "DampedSpring",
            "GearJoint",
            "GrooveJoint",
            "PinJoint",
            "PivotJoint",
            "RatchetJoint",
            "RotaryLimitJoint",
            "SimpleMotor",
            "SlideJoint",
        )
    ]
)
"""arcade-p2p's own state types and what their pickles name. This is the hook for the
library's encodings: a module that changes how its type pickles (for example a faster
canonical encoding of :class:`arcade_p2p.physics.Space` built by a module-level restore
function) lists the globals its pickles name here, and must make them safe to call with
any arguments from the network."""


FUNCTION_ATTRIBUTES = ("__code__", "__defaults__", "__kwdefaults__", "__name__", "__qualname__")
"""Writable function attributes outside ``__dict__`` that a pickle could overwrite."""


Attributes = tuple[dict[str, Any], tuple[Any, ...]]
"""A global's ``__dict__`` (copied) and its :data:`FUNCTION_ATTRIBUTES` values."""


class _AllowlistUnpickler(pickle.Unpickler):
    """The C unpickler, resolving globals only through a codec's allowlist.

    Each codec has its own subclass (with :attr:`codec` set), so that making an
    unpickler runs no Python ``__init__``: small states load in a few microseconds.
    """

    codec: ClassVar[StateCodec]

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global or raise RemoteError ``"forbidden_class"``."""
        return self.codec.find_global(module, name)


class _GuardedUnpickler(_AllowlistUnpickler):
    """An allowlist unpickler for untrusted bytes, which also undoes changes to globals.

    A pickle can *modify* a global it names (``BUILD`` on a class sets class attributes),
    which would outlive a refused blob. So every global handed out is recorded with its
    attributes, and :meth:`restore_globals` puts back what changed.
    """

    handed_out: list[tuple[Any, Attributes]]

    def find_class(self, module: str, name: str) -> Any:
        """Return an allowed global (recording its attributes) or raise RemoteError."""
        found = self.codec.find_global(module, name)
        self.handed_out.append((found, _attributes(found)))
        return found

    def restore_globals(self) -> list[str]:
        """Undo changes the pickle made to the globals it named; return their names."""
        changed = []
        for found, (before, extra) in self.handed_out:
            after, after_extra = _attributes(found)
            if (
                len(after) == len(before)
                and all(map(operator.is_, after, before))
                and all(map(operator.is_, after.values(), before.values()))
                and all(map(operator.is_, after_extra, extra))
            ):
                continue
            changed.append(f"{found.__module__}.{found.__qualname__}")
            for key in after.keys() - before.keys():
                delattr(found, key)
            for key, value in before.items():
                if after.get(key) is not value:
                    setattr(found, key, value)
            for key, value in zip(FUNCTION_ATTRIBUTES, extra):
                setattr(found, key, value)
        return changed


def _attributes(found: Any) -> Attributes:
    """The attributes of a class or function that a pickle could overwrite."""
    if isinstance(found, type):
        return vars(found).copy(), ()
    return vars(found).copy(), tuple(getattr(found, name) for name in FUNCTION_ATTRIBUTES)


class StateCodec:
    """Turns a game state into bytes and, safely, back.

    Build one with :meth:`for_class` (or ``app.codec`` of a
    :class:`~arcade_p2p.app.StateApp`); the constructor is for explicit lists.

    Args:
        modules: Modules (or packages, which include their submodules) whose classes a
            state may contain.
        functions: Module-level functions a state may refer to.
        excluded: Classes never loadable, with their subclasses (the app or window class:
            constructing a window from a snapshot would open one).
        max_bytes: Largest blob :meth:`decode` accepts.
        owner: The name shown in error messages about declarations.

    Raises:
        UsageError: A function is not reachable by its module and name (a lambda, a local
            or nested function).
    """

    def __init__(
        self,
        *,
        modules: Iterable[str] = (),
        functions: Iterable[Callable[..., Any]] = (),
        excluded: Iterable[type] = (),
        max_bytes: int = DEFAULT_MAX_STATE_BYTES,
        owner: str = "the app class",
    ) -> None:
        self.modules = tuple(modules)
        self.owner = owner
        self.max_bytes = max_bytes
        self._excluded = tuple(excluded)
        self._found: dict[tuple[str, str], Any] = {}
        self._guarded: type[_GuardedUnpickler] = type(
            "CodecGuardedUnpickler", (_GuardedUnpickler,), {"codec": self}
        )
        self._allowlist: type[_AllowlistUnpickler] = type(
            "CodecUnpickler", (_AllowlistUnpickler,), {"codec": self}
        )
        self._functions = {_function_key(function, owner): function for function in functions}

    @classmethod
    def for_class(cls, owner: type, *, max_bytes: int = DEFAULT_MAX_STATE_BYTES) -> StateCodec:
        """The codec of a game whose app (or window) class is ``owner``.

        Allowed are the classes of ``owner``'s module and of the modules listed in its
        ``STATE_MODULES`` attribute, and the functions listed in ``STATE_FUNCTIONS``.

        Raises:
            UsageError: ``STATE_MODULES`` lists a standard module or all of arcade_p2p, or
                ``STATE_FUNCTIONS`` a function that is not defined at module level.
        """
        name = owner.__qualname__
        declared = tuple(getattr(owner, "STATE_MODULES", ()))
        for module in declared:
            if module.partition(".")[0] in sys.stdlib_module_names or module == "arcade_p2p":
                raise UsageError(
                    f"STATE_MODULES of {name} lists {module!r}: list only the modules that "
                    "define the game's state classes (standard types are allowed already)"
                )
        return cls(
            modules=(owner.__module__, *declared),
            functions=getattr(owner, "STATE_FUNCTIONS", ()),
            excluded=(owner,),
            max_bytes=max_bytes,
            owner=name,
        )

    def encode(self, state: Any) -> bytes:
        """Pickle a state (fast: plain pickle).

        Raises:
            UsageError: The state cannot be pickled; the message names the path into the
                state and what to use instead.
        """
        try:
            return pickle.dumps(state, protocol=PICKLE_PROTOCOL)
        except Exception as exc:
            raise self._unsavable(state, f"{type(exc).__name__}: {exc}") from exc

    def decode(self, blob: bytes) -> Any:
        """Unpickle bytes that may come from the network, loading only allowed globals.

        Raises:
            RemoteError: ``"oversized"``, ``"forbidden_class"`` or ``"malformed"``; never
                another exception.
        """
        if not isinstance(blob, (bytes, bytearray)):
            raise RemoteError("malformed", f"a {type(blob).__name__}, not bytes")
        if len(blob) > self.max_bytes:
            raise RemoteError("oversized", f"{len(blob)} bytes > {self.max_bytes}")
        file = io.BytesIO(blob)
        unpickler = self._guarded(file)
        unpickler.handed_out = []
        try:
            state = unpickler.load()
        except RemoteError:
            raise
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"[:MAX_DETAIL_CHARS]
            raise RemoteError("malformed", detail) from None
        finally:
            changed = unpickler.restore_globals()
        if changed:
            raise RemoteError("malformed", f"modifies {', '.join(changed)}"[:MAX_DETAIL_CHARS])
        if file.tell() != len(blob):
            raise RemoteError("malformed", "bytes after the end of the pickle")
        return state

    def decode_local(self, blob: bytes, source: Any) -> Any:
        """Decode a blob this process encoded from ``source`` (a trusted, local blob).

        Globals are resolved exactly as for :meth:`decode`, so a refusal means that peers
        would refuse it too: the game's mistake, reported as a usage error that points
        into ``source``.

        Raises:
            UsageError: ``source`` holds something other peers would refuse.
        """
        try:
            return self._allowlist(io.BytesIO(blob)).load()
        except RemoteError as exc:
            raise self._unsavable(source, str(exc)) from exc

    def find_global(self, module: str, name: str) -> Any:
        """The object a pickle names as ``module.name``, if the allowlist has it.

        Raises:
            RemoteError: ``"forbidden_class"``: not allowed, or not loaded in this process.
        """
        key = (module, name)
        found = self._found.get(key)
        if found is None:
            found = self._lookup(module, name)
            self._found[key] = found
        return found

    def _lookup(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in DATA_GLOBALS or key in LIBRARY_GLOBALS:
            return _defined(module, name)
        if key in self._functions:
            if _defined(module, name) is self._functions[key]:
                return self._functions[key]
        elif any(module == m or module.startswith(m + ".") for m in self.modules):
            found = _defined(module, name)
            if isinstance(found, type) and not issubclass(found, self._excluded):
                return found
        raise RemoteError("forbidden_class", f"{module}.{name}")

    def _unsavable(self, state: Any, error: str) -> UsageError:
        """A usage error naming where in ``state`` the unsavable part is."""
        found = find_unsavable(state, self._loadable, self.owner)
        if found is None:
            return UsageError(f"the state cannot be saved ({error})")
        path, problem = found
        return UsageError(f"{path} cannot be saved: {problem}")

    def _loadable(self, module: str, name: str) -> bool:
        try:
            self.find_global(module, name)
        except RemoteError:
            return False
        return True


def _defined(module: str, name: str) -> Any:
    """The global ``name`` defined in the loaded module ``module`` (no import, no dots)."""
    loaded = sys.modules.get(module)
    found = None if loaded is None else vars(loaded).get(name)
    if getattr(found, "__module__", None) != module or getattr(found, "__qualname__", "") != name:
        raise RemoteError("forbidden_class", f"{module}.{name}")
    return found


def _function_key(function: Callable[..., Any], owner: str) -> tuple[str, str]:
    """``(module, name)`` of a declared function, which must be reachable by them."""
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", "")
    loaded = sys.modules.get(module or "")
    if (
        not isinstance(function, types.FunctionType)
        or module is None
        or loaded is None
        or vars(loaded).get(name) is not function
    ):
        raise UsageError(
            f"STATE_FUNCTIONS of {owner} lists {function!r}, which is not a module-level "
            "Python function: define it at module level (no lambdas, no nested functions, "
            "no builtins)"
        )
    return (module, name)
