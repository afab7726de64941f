"""State codec: what peers may load from a snapshot, hostile pickles, unsavable states."""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import collections
import dataclasses
import pickle
import resource
import sys
import weakref
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import arcade
import pymunk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_physics import build_world, count_hit, damped_velocity, stepped

from arcade_p2p.app import StateApp
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.physics import new_space
from arcade_p2p.sim.moving_rect import Rect
from arcade_p2p.state_codec import DATA_GLOBALS, LIBRARY_GLOBALS, StateCodec
from arcade_p2p.timeline import Timeline

FUZZ_MEMORY_HEADROOM_BYTES = 1 << 30
"""Address space the fuzz tests may add: a random pickle can ask for a huge memo."""


def write_marker(path: str) -> None:
    """A module-level function with a side effect: what a hostile pickle would call."""
    Path(path).write_text("ran")


@dataclasses.dataclass
class Player:
    """Plain game data, defined in the game's module (this one)."""

    name: str
    score: int = 0
    extra: Any = None


class MarkerApp(StateApp):
    """The app class: never loadable from a snapshot (its constructor has side effects)."""

    STATE_MODULES = ("arcade_p2p.sim.moving_rect",)

    def __init__(self, marker: str | None = None) -> None:
        if marker is not None:
            write_marker(marker)


class PhysicsApp(StateApp):
    """An app whose state is a pymunk world with callbacks it declares."""

    STATE_FUNCTIONS = (count_hit, damped_velocity)


def codec() -> StateCodec:
    """The codec of the game defined in this module."""
    return StateCodec.for_class(MarkerApp)


def rich_state() -> dict[str, Any]:
    """Plain data of every allowed standard kind, plus game and library types."""
    return {
        "players": [Player("ann", 3), Player("bob", extra=(1.5, None, True))],
        "rect": Rect(1, 2, 3, 4),
        "event": Event(7, 2, 1, "key", ["left", 1]),
        "misc": [b"raw", bytearray(b"buf"), 2 + 3j, {1, 2}, frozenset({"a"}), slice(1, 9, 2)],
        "ordered": collections.OrderedDict(b=1, a=2),
        "queue": collections.deque([1, 2, 3], maxlen=5),
        "groups": collections.defaultdict(list, {"red": [1]}),
        "counts": collections.Counter("abca"),
        "ratio": Fraction(1, 3),
        "big": 2**100,
    }


# --- round trips ---------------------------------------------------------------------------


def test_plain_data_round_trips_to_equal_state_and_equal_bytes() -> None:
    state = rich_state()
    blob = codec().encode(state)
    decoded = codec().decode(blob)
    assert decoded == state
    assert decoded["groups"].default_factory is list
    assert codec().encode(decoded) == codec().encode(pickle.loads(blob))


def test_physics_state_decodes_like_plain_pickle() -> None:
    space = stepped(build_world(), 60)
    app = PhysicsApp()
    blob = app.codec.encode(space)
    restricted, plain = app.codec.decode(blob), pickle.loads(blob)
    assert app.codec.encode(restricted) == app.codec.encode(plain)
    assert restricted.bodies[-1]._velocity_func is damped_velocity
    assert restricted.hits == space.hits


def test_every_listed_global_exists() -> None:
    """The allowlists name real, loaded classes (a typo would silently refuse states)."""
    for module, name in DATA_GLOBALS | LIBRARY_GLOBALS:
        assert codec().find_global(module, name).__qualname__ == name


def test_plain_pymunk_space_and_undeclared_callbacks_are_refused() -> None:
    with pytest.raises(RemoteError, match=r"forbidden_class: pymunk\.space\.Space"):
        codec().decode(pickle.dumps(pymunk.Space()))
    space_blob = pickle.dumps(build_world())
    with pytest.raises(RemoteError, match="forbidden_class: test_physics"):
        StateCodec.for_class(StateApp).decode(space_blob)


# --- hostile pickles -------------------------------------------------------------------------


def _text(value: str) -> bytes:
    """SHORT_BINUNICODE (or BINUNICODE) of ``value``."""
    data = value.encode()
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + len(data).to_bytes(4, "little") + data


def _arg(value: str | list[str]) -> bytes:
    if isinstance(value, list):
        return b"](" + b"".join(_text(item) for item in value) + b"e"
    return _text(value)


def _global(module: str, name: str) -> bytes:
    """STACK_GLOBAL ``module.name``."""
    return _text(module) + _text(name) + b"\x93"


def _call(module: str, name: str, *args: str | list[str]) -> bytes:
    """A protocol-4 pickle that calls ``module.name(*args)``."""
    return b"\x80\x04" + _global(module, name) + b"(" + b"".join(map(_arg, args)) + b"tR."


def _getattr_gadget(marker: str) -> bytes:
    """``getattr(__import__("os"), "system")("touch marker")``."""
    imported = _global("builtins", "__import__") + b"(" + _text("os") + b"tR"
    system = _global("builtins", "getattr") + b"(" + imported + _text("system") + b"tR"
    return b"\x80\x04" + system + b"(" + _text(f"touch {marker}") + b"tR."


def _reconstructor_gadget(marker: str) -> bytes:
    """``copyreg._reconstructor(Popen, Popen, ["touch", marker])`` runs ``Popen.__init__``."""
    popen = _global("subprocess", "Popen")
    args = popen + popen + _arg(["touch", marker])
    return b"\x80\x04" + _global("copyreg", "_reconstructor") + b"(" + args + b"tR."


HOSTILE: dict[str, Callable[[str], bytes]] = {
    "os.system": lambda m: _call("os", "system", f"touch {m}"),
    "builtins.eval": lambda m: _call("builtins", "eval", f"open({m!r}, 'w').close()"),
    "builtins.exec": lambda m: _call("builtins", "exec", f"open({m!r}, 'w').close()"),
    "subprocess.Popen": lambda m: _call("subprocess", "Popen", ["touch", m]),
    "subprocess.getoutput": lambda m: _call("subprocess", "getoutput", f"touch {m}"),
    "getattr gadget": _getattr_gadget,
    "copyreg._reconstructor": _reconstructor_gadget,
    "protocol 0 GLOBAL": lambda m: f"cos\nsystem\n(S'touch {m}'\ntR.".encode(),
    "protocol 0 INST": lambda m: f"(S'touch {m}'\nios\nsystem\n.".encode(),
    "protocol 1 OBJ": lambda m: f"(cos\nsystem\nS'touch {m}'\no.".encode(),
    "dotted name in a game module": lambda m: _call(__name__, "os.system", f"touch {m}"),
    "undeclared game function": lambda m: _call(__name__, "write_marker", m),
    "the app class": lambda m: _call(__name__, "MarkerApp", m),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_pickle_runs_nothing_and_is_refused(name: str, tmp_path: Path) -> None:
    armed = tmp_path / "plain"
    result = pickle.loads(HOSTILE[name](str(armed)))  # plain pickle runs it: the payload works
    if hasattr(result, "wait"):
        result.wait()
    assert armed.exists()
    marker = tmp_path / "restricted"
    with pytest.raises(RemoteError) as refused:
        codec().decode(HOSTILE[name](str(marker)))
    assert refused.value.reason == "forbidden_class"
    assert not marker.exists()


def test_stack_global_with_non_string_names_is_malformed() -> None:
    with pytest.raises(RemoteError, match="malformed"):
        codec().decode(b"\x80\x04K\x01K\x02\x93.")


def test_a_module_that_is_not_loaded_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "not_loaded_game_module.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Thing:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    games = StateCodec(modules=["not_loaded_game_module"])
    with pytest.raises(RemoteError, match=r"forbidden_class: not_loaded_game_module\.Thing"):
        games.decode(b"\x80\x04" + _global("not_loaded_game_module", "Thing") + b".")
    assert not marker.exists()
    assert "not_loaded_game_module" not in sys.modules


def test_a_pickle_cannot_change_an_allowed_class() -> None:
    """BUILD on a class sets class attributes; the change is undone and the blob refused."""
    slots = b"N}" + _text("x") + _text("broken") + b"s\x86b."
    added = b"N}" + _text("extra") + _text("broken") + b"s\x86b."
    for attributes in (slots, added):
        with pytest.raises(
            RemoteError, match=r"malformed: modifies arcade_p2p\.sim\.moving_rect\.Rect"
        ):
            codec().decode(b"\x80\x04" + _global("arcade_p2p.sim.moving_rect", "Rect") + attributes)
    assert Rect(1, 2, 3, 4).x == 1
    assert not hasattr(Rect, "extra")
    defaults = b"N}" + _text("__defaults__") + b"(K\x01t" + b"s\x86b."
    with pytest.raises(RemoteError, match=r"modifies test_physics\.count_hit"):
        PhysicsApp().codec.decode(b"\x80\x04" + _global("test_physics", "count_hit") + defaults)
    assert count_hit.__defaults__ is None


def test_oversized_blobs_are_refused_before_decoding() -> None:
    blob = codec().encode(list(range(100)))
    bounded = StateCodec(max_bytes=len(blob))
    assert bounded.decode(blob) == list(range(100))
    with pytest.raises(RemoteError, match="oversized"):
        StateCodec(max_bytes=len(blob) - 1).decode(blob)


def test_a_blob_that_is_not_bytes_is_malformed() -> None:
    with pytest.raises(RemoteError, match="malformed: a str, not bytes"):
        codec().decode("text")  # type: ignore[arg-type]


def test_truncated_and_padded_blobs_are_malformed() -> None:
    blob = codec().encode(rich_state())
    for end in range(len(blob)):
        with pytest.raises(RemoteError) as refused:
            codec().decode(blob[:end])
        assert refused.value.reason == "malformed"
    with pytest.raises(RemoteError, match="after the end"):
        codec().decode(blob + b"\x00")


@pytest.fixture(scope="module")
def bounded_memory() -> Iterator[None]:
    """Cap this process's address space while fuzzing.

    A pickle of a few bytes can make the C unpickler allocate gigabytes (a memo index of
    2**31); under the cap that is a MemoryError, which the codec reports as malformed.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        used_bytes = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (used_bytes + FUZZ_MEMORY_HEADROOM_BYTES, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


VALID_BLOB = pickle.dumps(rich_state(), protocol=5)


def _decodes_or_is_refused(blob: bytes) -> None:
    try:
        codec().decode(blob)
    except RemoteError as refused:
        assert refused.reason in ("malformed", "forbidden_class", "oversized")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blob=st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"\x80\x05" + b))
def test_fuzz_random_bytes_decode_or_raise_remote_error(bounded_memory: None, blob: bytes) -> None:
    _decodes_or_is_refused(blob)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and RLIMIT_AS")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID_BLOB) - 1), st.integers(0, 255), st.sampled_from("sid")),
        min_size=1,
        max_size=4,
    )
)
def test_fuzz_mutated_state_pickles_decode_or_raise_remote_error(
    bounded_memory: None, edits: list[tuple[int, int, str]]
) -> None:
    blob = bytearray(VALID_BLOB)
    for position, byte, kind in edits:
        at = min(position, len(blob) - 1)
        if kind == "s":
            blob[at] = byte
        elif kind == "i":
            blob.insert(at, byte)
        elif len(blob) > 1:
            del blob[at]
    _decodes_or_is_refused(bytes(blob))


# --- states the game cannot snapshot ---------------------------------------------------------


def _usage_error(state: Any, app: StateApp | None = None) -> str:
    """The usage error of saving and loading ``state`` as the app's time machine would."""
    app = app or MarkerApp()
    app.state = state
    with pytest.raises(UsageError) as error:
        app.load_state(app.save_state())
    return str(error.value)


def test_a_weakref_names_its_path() -> None:
    ghost = Player("ghost")
    message = _usage_error(
        {"players": [Player("a"), Player("b"), Player("c", extra=weakref.ref(ghost))]}
    )
    assert message.startswith("state['players'][2].extra cannot be saved")
    assert "weak reference" in message


def test_a_lambda_names_its_path_and_the_fix() -> None:
    message = _usage_error([Player("a", extra=lambda: 1)])
    assert message.startswith("state[0].extra cannot be saved: it is a lambda")
    assert "STATE_FUNCTIONS of MarkerApp" in message


def test_a_sprite_pickles_but_peers_refuse_it_so_the_first_snapshot_fails() -> None:
    """arcade.Sprite pickles fine locally; the restricted load makes it fail at once."""

    class SpriteApp(MarkerApp):
        def start(self) -> None:
            sprite = arcade.SpriteSolidColor(8, 8, color=arcade.color.RED)
            self.state = {"players": [Player("a"), Player("b"), Player("c", extra=sprite)]}

    machine = TimeMachine(SpriteApp(), Timeline(), snapshot_every_ticks=5)
    machine.advance(4)
    with pytest.raises(UsageError, match=r"^state\['players'\]\[2\]\.extra cannot be saved") as e:
        machine.advance(5)
    assert "other peers refuse to load class arcade." in str(e.value)
    assert "on_draw" in str(e.value)


def test_local_classes_bound_methods_and_open_files_are_explained(tmp_path: Path) -> None:
    class Local:
        pass

    assert "is not defined at module level" in _usage_error({"thing": Local()})
    message = _usage_error({"hook": Player("a").__eq__})
    assert message.startswith("state['hook'] cannot be saved: it is a bound method")
    with open(tmp_path / "f", "w") as file:
        message = _usage_error(Player("a", extra=[1, file]))
    assert message.startswith("state.extra[1] cannot be saved: pickle refuses a _io.TextIOWrapper")
    assert "keep resources" in message


def test_an_undeclared_collision_handler_names_the_function_to_declare() -> None:
    message = _usage_error(build_world(), StateApp())
    # The world has two undeclared functions; whichever the search meets first is named.
    assert message.startswith(
        (
            "state.bodies[30]._velocity_func cannot be saved: "
            "other peers refuse to load function test_physics.damped_velocity; "
            "list it in STATE_FUNCTIONS of StateApp",
            "state._handlers[0][1]['_begin'] cannot be saved: "
            "other peers refuse to load function test_physics.count_hit; "
            "list it in STATE_FUNCTIONS of StateApp",
        )
    )
    space = build_world()
    square = space.bodies[-1]  # the body with the custom velocity function
    space.remove(square, *square.shapes)
    message = _usage_error(space, StateApp())
    assert "._handlers" in message
    assert "function test_physics.count_hit" in message


def test_a_plain_pymunk_space_points_to_the_deterministic_one() -> None:
    assert "arcade_p2p.physics.Space" in _usage_error({"world": pymunk.Space()})
    new_space()  # the suggested replacement exists


def test_declarations_are_checked() -> None:
    class BadModules(StateApp):
        STATE_MODULES = ("os",)

    class BadFunctions(StateApp):
        STATE_FUNCTIONS = (lambda: None,)

    with pytest.raises(UsageError, match=r"STATE_MODULES of .*BadModules lists 'os'"):
        StateCodec.for_class(BadModules)
    with pytest.raises(UsageError, match="not a module-level Python function"):
        StateCodec.for_class(BadFunctions)
    with pytest.raises(UsageError, match="no builtins"):
        StateCodec(functions=[len])


def test_a_remote_state_replaces_the_state_only_when_it_is_valid() -> None:
    app = MarkerApp()
    app.state = [Player("a")]
    app.load_remote_state(codec().encode([Player("b", 4)]))
    assert app.state == [Player("b", 4)]
    with pytest.raises(RemoteError, match="malformed"):
        app.load_remote_state(b"garbage")
    assert app.state == [Player("b", 4)]
