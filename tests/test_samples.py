"""The sample games: their rules, headless windows with the autopilot, and three processes.

In-process tests step real headless windows on a virtual clock (as ``test_window.py``
does) and talk over real UDP on loopback; the rules of the whiteboard and the arena are
also checked on their plain state. The last test runs every sample as three real
processes (``python -m sample_games.NAME --headless --autopilot SEED``) linked over UDP on
port 0 and checks that they stop at the agreed tick with equal state hashes.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import re
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import arcade
import pytest
from test_window import frames, frames_until_in_step, window_factory

from arcade_p2p.clock import ClockMode
from arcade_p2p.session import SessionConfig
from arcade_p2p.window import SymmetricWindow
from sample_games import moving_rect, physics_arena, physics_balls, whiteboard
from sample_games.physics_arena import PhysicsArena, new_arena, set_keys, step_arena
from sample_games.whiteboard import Board, Whiteboard, add_ink, clear_board, undo_stroke

pytestmark = pytest.mark.skipif(
    not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS before this module"
)

FPS = 50
DT = 1.0 / FPS
SETTLE_TIMEOUT_S = 15.0
INSTANT = SessionConfig(fps=FPS, delay_ms=0, clock=ClockMode.PAPER)
"""Delta of one tick, stamped from the own tick: input is due at the very next tick."""
LEFT = arcade.MOUSE_BUTTON_LEFT
SMALL_WIDTH_PX = 320
SMALL_HEIGHT_PX = 240


@pytest.fixture
def windows() -> Iterator[Callable[..., Any]]:
    """A factory of small windows that closes them all (the state never depends on the
    size; small windows render much faster)."""
    yield from window_factory(width=SMALL_WIDTH_PX, height=SMALL_HEIGHT_PX)


def settle(windows: list[Any], now: float) -> None:
    """Step until every window reached its ``max_tick`` and all have the same events."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S

    def done() -> bool:
        events = {len(w.session.timeline) for w in windows}
        return all(w.finished for w in windows) and len(events) == 1

    while not done():
        assert time.monotonic() < deadline, [w.session.stats() for w in windows]
        now += DT
        for window in windows:
            window.step_frame(now)


def colours_on_screen() -> set[tuple[int, int, int]]:
    """The distinct RGB colours of the current window's last frame."""
    image = arcade.get_image().convert("RGB")
    found = image.getcolors(maxcolors=image.width * image.height) or []
    return {colour for _, colour in found}


def payloads(window: SymmetricWindow) -> list[Any]:
    """The payloads of every event a window has, in timeline order."""
    return [event.payload for event in window.session.timeline.all_events()]


# ------------------------------------------------------------------ whiteboard rules
def test_undo_takes_back_only_the_senders_last_stroke() -> None:
    board = Board()
    add_ink(board, 1, 1, [10, 10, 20, 20])
    add_ink(board, 2, 1, [30, 30])
    add_ink(board, 1, 2, [40, 40])
    add_ink(board, 1, 1, [25, 25])  # a later batch of stroke 1 extends it in place
    assert [(s.source, s.number) for s in board.strokes] == [(1, 1), (2, 1), (1, 2)]
    assert board.strokes[0].points == [10, 10, 20, 20, 25, 25]
    assert board.colours == {1: 0, 2: 1}  # colours in the order peers first drew
    undo_stroke(board, 1)
    assert [(s.source, s.number) for s in board.strokes] == [(1, 1), (2, 1)]
    undo_stroke(board, 1)
    undo_stroke(board, 1)  # nothing of peer 1 left: no effect
    assert [(s.source, s.number) for s in board.strokes] == [(2, 1)]
    clear_board(board)
    assert board.strokes == [] and board.clears == 1
    add_ink(board, 1, 3, [5, 5])
    assert board.strokes[0].colour == 0  # a peer keeps its colour after a clear


def test_the_board_keeps_a_bounded_number_of_strokes() -> None:
    board = Board()
    for number in range(whiteboard.MAX_STROKES + 5):
        add_ink(board, 7, number, [number % 100, 1])
    assert len(board.strokes) == whiteboard.MAX_STROKES
    assert board.strokes[0].number == 5


def draw_stroke(window: Whiteboard, points: list[tuple[int, int]]) -> None:
    """Press, drag through ``points`` and release, as the mouse would."""
    (x, y), rest = points[0], points[1:]
    window.on_mouse_press(x, y, LEFT, 0)
    for px, py in rest:
        window.on_mouse_drag(px, py, px - x, py - y, LEFT, 0)
        x, y = px, py
    window.on_mouse_release(x, y, LEFT, 0)


def first_ink_order(window: Whiteboard) -> list[tuple[int, int]]:
    """Strokes ``(source, number)`` in the order of their first ink event in the timeline."""
    order: list[tuple[int, int]] = []
    for event in window.session.timeline.all_events():
        key = (event.source, event.payload[0]) if event.name == "ink" else None
        if key is not None and key not in order:
            order.append(key)
        elif event.name == "clear":
            order.clear()
    return order


def test_whiteboards_agree_and_a_late_stroke_lands_in_its_place(
    windows: Callable[..., Any],
) -> None:
    a = windows(Whiteboard, config=INSTANT, max_tick=300, peer_id=1)
    b = windows(Whiteboard, config=INSTANT, max_tick=300, peer_id=2, peers=[a.address])
    long_line = [(100 + 5 * i, 300) for i in range(60)]  # 60 points: three ink events
    start = frames_until_in_step([a, b])  # so that no input is held and stamped later
    inputs = {
        start + 10: lambda: (draw_stroke(a, [(50, 50), (90, 90)]), draw_stroke(b, long_line)),
        start + 20: lambda: draw_stroke(b, [(400, 400), (420, 380)]),
        start + 21: lambda: draw_stroke(a, [(600, 200), (640, 260)]),
        start + 30: lambda: draw_stroke(a, [(700, 100), (720, 160)]),
        start + 40: lambda: a.on_key_press(arcade.key.Z, arcade.key.MOD_CTRL),
        start + 60: lambda: b.broadcast("ink", [9, 5000, 5]),  # off the board: ignored
    }
    assert start + 100 < 300, "the schedule must fit before max_tick"
    settle([a, b], frames([a, b], start + 100, inputs, start=start))
    assert a.session.state_hash() == b.session.state_hash()
    assert a.state == b.state
    # b's second stroke goes under the stroke ``a`` drew a moment later: timeline order.
    assert a.peers == b.peers == (1, 2)  # both announced themselves
    strokes = [(s.source, s.number) for s in a.state.strokes]
    assert strokes == [(1, 1), (2, 1), (2, 2), (1, 2)]  # (1, 3) was undone
    assert strokes == [key for key in first_ink_order(a) if key not in ((1, 3), (2, 9))]
    assert len(a.state.strokes[1].points) == 2 * len(long_line)
    ink_from_b = [e for e in a.session.timeline.all_events() if e.name == "ink" and e.source == 2]
    assert len(ink_from_b) >= 4


def test_clear_all_is_an_event_for_everyone(windows: Callable[..., Any]) -> None:
    a = windows(Whiteboard, config=INSTANT, max_tick=60, peer_id=1)
    b = windows(Whiteboard, config=INSTANT, max_tick=60, peer_id=2, peers=[a.address])
    inputs = {
        5: lambda: (draw_stroke(a, [(50, 50), (90, 90)]), draw_stroke(b, [(70, 70)])),
        20: lambda: b.on_key_press(arcade.key.C, 0),
        30: lambda: a.on_mouse_press(*whiteboard.BUTTON[:2], LEFT, 0),  # the clear button
        35: lambda: draw_stroke(b, [(300, 300), (310, 320)]),
    }
    settle([a, b], frames([a, b], 50, inputs))
    assert a.state == b.state
    assert a.state.clears == 2
    assert [(s.source, s.number) for s in a.state.strokes] == [(2, 2)]


# ------------------------------------------------------------------ arena rules
def test_a_crate_through_a_goal_scores_for_its_last_pusher_and_respawns() -> None:
    arena = new_arena()
    set_keys(arena, 42, 0)
    crate, gold, stray = arena.crates[0], arena.crates[-1], arena.crates[1]
    middle = physics_arena.ARENA_MIDDLE_Y_PX
    crate.position = (physics_arena.ARENA_LEFT_PX - 2, middle)
    gold.position = (physics_arena.ARENA_RIGHT_PX + 2, middle + 50)
    stray.position = (physics_arena.ARENA_RIGHT_PX + 2, physics_arena.ARENA_TOP_PX - 20)
    for body in (crate, gold, stray):
        body.pusher = 42
    step_arena(arena, DT)
    assert arena.players[42].score == physics_arena.CRATE_POINTS + physics_arena.GOLD_POINTS
    assert [goal[1:] for goal in arena.goals] == [[42, 1, -1], [42, 5, 1]]
    for body in (crate, gold, stray):  # all back in the middle, nobody's
        assert abs(body.position.x - physics_arena.WIDTH_PX / 2) <= 120
        assert body.pusher == physics_arena.NO_ONE


def test_a_puck_pushes_crates_but_cannot_leave_through_a_goal() -> None:
    arena = new_arena()
    set_keys(arena, 5, physics_arena.RIGHT)  # spawns top left, heads into the crates
    for _ in range(150):
        step_arena(arena, DT)
    assert any(body.pusher == 5 for body in arena.crates)
    puck = arena.players[5].body
    puck.position = (physics_arena.ARENA_LEFT_PX + 40, physics_arena.ARENA_MIDDLE_Y_PX)
    set_keys(arena, 5, physics_arena.LEFT)
    for _ in range(100):
        step_arena(arena, DT)
    assert puck.position.x > physics_arena.ARENA_LEFT_PX


def test_arena_windows_agree_and_players_join_by_moving(windows: Callable[..., Any]) -> None:
    a = windows(PhysicsArena, config=INSTANT, max_tick=150, peer_id=1)
    b = windows(PhysicsArena, config=INSTANT, max_tick=150, peer_id=2, peers=[a.address])
    inputs = {
        5: lambda: a.on_key_press(arcade.key.RIGHT, 0),
        6: lambda: b.on_key_press(arcade.key.A, 0),
        7: lambda: b.broadcast("move", 99),  # not a bitmask: ignored everywhere
        40: lambda: (a.on_key_press(arcade.key.DOWN, 0), b.on_key_release(arcade.key.A, 0)),
        80: lambda: a.on_key_release(arcade.key.RIGHT, 0),
    }
    settle([a, b], frames([a, b], 120, inputs))
    assert a.session.state_hash() == b.session.state_hash()
    assert a.peers == b.peers == (1, 2)
    assert list(a.state.players) == list(b.state.players) == [1, 2]
    assert [p.keys for p in a.state.players.values()] == [physics_arena.DOWN, 0]
    assert len(a.state.crates) >= 100


# ------------------------------------------------------------------ every sample, headless
def rgb(colour: Sequence[int]) -> tuple[int, int, int]:
    """A colour as the RGB triple a screenshot shows."""
    return (colour[0], colour[1], colour[2])


SAMPLES: dict[str, tuple[type[SymmetricWindow], tuple[tuple[int, int, int], ...]]] = {
    "moving_rect": (moving_rect.MovingRect, (rgb(moving_rect.RECT_COLOR),)),
    "physics_balls": (physics_balls.PhysicsBalls, (rgb(physics_balls.PALETTE[0]),)),
    "whiteboard": (Whiteboard, (rgb(whiteboard.PALETTE[0]), rgb(whiteboard.PAPER_COLOR))),
    "physics_arena": (
        PhysicsArena,
        tuple(
            rgb(c)
            for c in (
                physics_arena.GOLD_COLOR,
                physics_arena.FLOOR_COLOR,
                physics_arena.PLAYER_COLORS[0],
            )
        ),
    ),
}
"""Each sample's window class and colours its screen must show after playing a while."""
AUTOPILOT_FRAMES = 150


@pytest.mark.parametrize("name", list(SAMPLES))
def test_each_sample_plays_headless_with_its_autopilot(
    windows: Callable[..., Any], name: str
) -> None:
    cls, colours = SAMPLES[name]
    one = windows(cls, peer_id=3, autopilot=11, width=cls.WIDTH_PX, height=cls.HEIGHT_PX)
    twin = windows(cls, peer_id=3, autopilot=11)
    other = windows(cls, peer_id=4, autopilot=11)
    frames([one], AUTOPILOT_FRAMES, {})
    assert one.session.stats().events_emitted >= 2
    assert colours_on_screen() >= set(colours)  # it draws what the state holds
    frames([twin, other], AUTOPILOT_FRAMES, {})
    # The same seed and peer id give the same input; another peer id other input.
    assert payloads(twin) == payloads(one)
    assert twin.session.state_hash() == one.session.state_hash()
    assert payloads(other) != payloads(one)


def test_without_autopilot_a_sample_sends_nothing(windows: Callable[..., Any]) -> None:
    window = windows(Whiteboard)
    frames([window], 100, {})
    assert window.session.stats().events_emitted == 0


# ------------------------------------------------------------------ three processes each
TRIO_FPS = 20
"""A low tick rate keeps twelve rendering processes light on a small machine."""
TRIO_MAX_TICK = 16 * TRIO_FPS
"""The agreed last tick (16 s of the room's clock): the two joiners start and play well
before it even when starting a window takes seconds on a loaded machine; each process ends
one second after simulating it."""
TRIO_RUN_S = TRIO_MAX_TICK / TRIO_FPS + 6.0
"""Longest a process may take from its start to its summary."""
TRIO_WIDTH_PX = 200
TRIO_HEIGHT_PX = 150
START_TIMEOUT_S = 60.0
LISTENING = "listening on "
SUMMARY = re.compile(r"^tick (\d+) state (\w+) events (\d+) ")


class SampleProcess:
    """One ``python -m sample_games.NAME --headless`` process with piped output."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"sample_games.{name}", "--headless", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def read_address(self, deadline: float) -> str:
        """Wait for the ``listening on HOST:PORT`` line and return ``HOST:PORT``."""
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(max(deadline - time.monotonic(), 0.0))
        line = self.process.stdout.readline() if ready else ""
        assert line.startswith(LISTENING), f"{self.name} did not start: {line!r}"
        return line[len(LISTENING) :].strip()

    def summary(self, timeout: float) -> tuple[int, str, int]:
        """Wait for the exit; ``(final tick, state hash, events)`` from its last line."""
        out, err = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, err
        match = SUMMARY.match(out.splitlines()[-1])
        assert match is not None, out
        return int(match[1]), match[2], int(match[3])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


@pytest.fixture(scope="module")
def trios() -> Iterator[dict[str, list[tuple[int, str, int]]]]:
    """Three autopilot processes of every sample, all running together; their summaries."""
    processes: dict[str, list[SampleProcess]] = {name: [] for name in SAMPLES}
    common = [
        "--autopilot", "7", "--fps", str(TRIO_FPS), "--max-tick", str(TRIO_MAX_TICK),
        "--width", str(TRIO_WIDTH_PX), "--height", str(TRIO_HEIGHT_PX),
    ]  # fmt: skip
    try:
        # One sample at a time: its first peer, then two that dial it once it listens
        # (the room only needs to be connected). Starting few processes at once keeps
        # start-up short, so the joiners are up well before the first peer's end.
        for name in SAMPLES:
            common_here = [*common, "--room", f"samples-{name}"]  # LAN discovery: no mixing
            first = SampleProcess(name, ["--id", "100", *common_here])
            processes[name].append(first)
            address = first.read_address(time.monotonic() + START_TIMEOUT_S)
            for peer_id in (101, 102):
                argv = ["--id", str(peer_id), *common_here, "--peer", address]
                processes[name].append(SampleProcess(name, argv))
            for joiner in processes[name][1:]:
                joiner.read_address(time.monotonic() + START_TIMEOUT_S)
        timeout = START_TIMEOUT_S + TRIO_RUN_S
        yield {name: [p.summary(timeout) for p in trio] for name, trio in processes.items()}
    finally:
        for trio in processes.values():
            for process in trio:
                process.stop()


@pytest.mark.parametrize("name", list(SAMPLES))
def test_three_autopilot_processes_end_converged(
    trios: dict[str, list[tuple[int, str, int]]], name: str
) -> None:
    summaries = trios[name]
    assert [tick for tick, _, _ in summaries] == [TRIO_MAX_TICK] * 3
    assert len({state for _, state, _ in summaries}) == 1, summaries
    events = {count for _, _, count in summaries}
    assert len(events) == 1 and events.pop() >= 3, summaries
