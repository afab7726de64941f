"""SymmetricWindow in real headless Arcade windows: dispatch, rendering, real UDP between two.

Frames are stepped directly with :meth:`SymmetricWindow.step_frame` on a virtual clock
(``now`` is the middle of a frame's tick), so every run has the same ticks; datagrams
travel over real UDP on loopback, and the settling loops wait for a condition, never for
a fixed time. Several windows live in one process (Arcade allows it in headless mode).
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import arcade
import PIL.Image
import pytest

from arcade_p2p.clock import ClockMode
from arcade_p2p.desync import DesyncReport
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event, is_system_name
from arcade_p2p.hud import HUD_TOGGLE_KEY, hud_lines
from arcade_p2p.machine import TimeMachine
from arcade_p2p.peer_report import PeerReport
from arcade_p2p.presence import JOIN_EVENT
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.timeline import Timeline
from arcade_p2p.window import SymmetricWindow
from sample_games.moving_rect import BACKGROUND_COLOR, RECT_COLOR, RECT_SIZE_PX, MovingRect
from sample_games.physics_balls import PhysicsBalls

pytestmark = pytest.mark.skipif(
    not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS before this module"
)

FPS = 50
SETTLE_TIMEOUT_S = 10.0
INSTANT = SessionConfig(fps=FPS, delay_ms=0, clock=ClockMode.PAPER)
"""Delta of one tick, stamped from the own tick: input is due at the very next tick."""


class Counter(SymmetricWindow):
    """Counts ticks in its state and records, outside the state, how it was called."""

    WIDTH_PX = 160
    HEIGHT_PX = 120

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.update_steps: list[float] = []
        self.draws_at_present: list[bool] = []

    def on_start(self) -> None:
        self.state = {"ticks": 0, "keys": []}

    def on_update(self, delta_time: float) -> None:
        self.update_steps.append(delta_time)
        self.state["ticks"] += 1

    def on_event(self, event: Event) -> None:
        self.state["keys"].append([self.state["ticks"], event.source, event.payload])

    def on_draw(self) -> None:
        self.clear()
        self.draws_at_present.append(self.state["ticks"] == self.session.tick - 1)

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        self.broadcast("key", symbol)


def window_factory(**defaults: Any) -> Iterator[Callable[..., Any]]:
    """Yield a factory of windows (on a virtual clock starting at 0), then close them all.

    They run the whole driver step in the frame (no gossip thread): a background thread
    would network on the real clock, not on the frames' virtual one.

    Args:
        defaults: Keyword arguments every window gets unless the test passes its own.
    """
    opened: list[SymmetricWindow] = []

    def make(cls: type[SymmetricWindow], **kwargs: Any) -> Any:
        kwargs = {"now": 0.0, "gossip_thread": False, **defaults, **kwargs}
        window = cls(**kwargs)
        opened.append(window)
        return window

    yield make
    for window in opened:
        window.close()


@pytest.fixture
def windows() -> Iterator[Callable[..., Any]]:
    """A factory of windows that closes them all (see :func:`window_factory`)."""
    yield from window_factory()


def frames(
    windows: list[Any], count: int, inputs: dict[int, Callable[[], object]], *, start: int = 0
) -> float:
    """Step every window through frames ``start`` to ``count - 1``; ``inputs[k]`` runs after
    frame ``k``."""
    now = 0.0
    for frame in range(start, count):
        now = (frame + 0.5) / FPS
        for window in windows:
            window.step_frame(now)
        if frame in inputs:
            inputs[frame]()
    return now


def frames_until_in_step(windows: list[Any], limit: int = 300) -> int:
    """Step every window until none is joining; return the number of frames stepped.

    Input broadcast while joining is held and stamped at the room's tick once in step, so
    a test that schedules input at given frames starts its schedule from here.
    """
    frame = 0
    while any(w.session.joining for w in windows):
        assert frame < limit, [w.session.stats() for w in windows]
        frames(windows, frame + 1, {}, start=frame)
        frame += 1
    return frame


def settle(windows: list[Any], now: float, events: int) -> None:
    """Keep stepping until every window has all ``events`` and reached its ``max_tick``."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not (
        all(w.finished and game_events(w.session) == events for w in windows)
        and len({w.session.timeline.digest() for w in windows}) == 1  # presence too
    ):
        assert time.monotonic() < deadline, [w.session.stats() for w in windows]
        now += 1 / FPS
        for window in windows:
            window.step_frame(now)


def alone_at_tick_10(peer: int) -> set[str]:
    """The state hashes at tick 10 of a moving rectangle that ran alone without input: its
    own arrival is stamped when its first frame has run START, which LAN discovery may
    delay past tick 10, so the peer may or may not be present yet."""
    hashes = set()
    for events in ([], [Event(1, peer, 1, JOIN_EVENT)]):
        timeline = Timeline()
        for event in events:
            timeline.insert(event)
        model = TimeMachine(MovingRectApp(), timeline)
        model.advance(10)
        hashes.add(model.state_hash())
    return hashes


def game_events(session: Session) -> int:
    """The events of a session's timeline that the game emitted (not presence)."""
    return sum(not is_system_name(e.name) for e in session.timeline.all_events())


def test_on_update_runs_once_per_tick_with_the_fixed_step(windows: Callable[..., Any]) -> None:
    window = windows(Counter, config=SessionConfig(fps=FPS))
    for frame in range(30):
        assert window.step_frame((frame + 0.5) / FPS) == 1
        assert window.session.tick == frame + 1
    assert window.step_frame(1.0) == 21  # a late frame runs every missed tick, draws once
    assert window.update_steps == [1 / FPS] * 50
    assert window.state["ticks"] == 50
    assert window.draws_at_present == [True] * 31


def test_arcade_calling_on_update_pumps_instead(windows: Callable[..., Any]) -> None:
    window = windows(Counter, now=time.monotonic())
    window.on_update(0.25)  # what Arcade's own loop does every frame
    window.dispatch_event("on_update", 0.5)
    assert window.state is not None  # the pump ran tick 0
    assert set(window.update_steps) <= {1 / FPS}
    assert window.state["ticks"] == len(window.update_steps) == window.session.tick - 1


def test_arcade_run_drives_the_window_too(windows: Callable[..., Any]) -> None:
    class SelfClosing(Counter):
        def on_draw(self) -> None:
            super().on_draw()
            if self.state["ticks"] >= 5:
                self.close()

    window = windows(SelfClosing, now=time.monotonic())
    arcade.run()  # headless: Arcade's unpaced loop calls on_update and on_draw
    assert window.state["ticks"] >= 5
    assert set(window.update_steps) == {1 / FPS}
    assert all(window.draws_at_present)


def test_the_simulation_cannot_broadcast(windows: Callable[..., Any]) -> None:
    class Chatty(Counter):
        def on_update(self, delta_time: float) -> None:
            self.broadcast("oops")

    window = windows(Chatty)
    window.step_frame(0.5 / FPS)
    with pytest.raises(UsageError, match="input handlers"):
        window.step_frame(1.5 / FPS)


def test_on_fixed_update_is_refused() -> None:
    with pytest.raises(UsageError, match="on_fixed_update"):

        class Fixed(SymmetricWindow):
            def on_fixed_update(self, delta_time: float) -> None:
                pass


def test_two_windows_over_udp_agree_and_draw_only_the_present(
    windows: Callable[..., Any],
) -> None:
    a = windows(Counter, config=INSTANT, max_tick=80)
    b = windows(Counter, config=INSTANT, max_tick=80, peers=[a.address])
    presses = {
        10: lambda: a.on_key_press(arcade.key.A, 0),
        11: lambda: b.on_key_press(arcade.key.B, 0),
        30: lambda: (a.on_key_press(arcade.key.C, 0), b.on_key_press(arcade.key.D, 0)),
        55: lambda: b.on_key_press(arcade.key.E, 0),
    }
    settle([a, b], frames([a, b], 70, presses), events=5)
    assert a.session.state_hash() == b.session.state_hash()
    assert a.state == b.state and len(a.state["keys"]) == 5
    assert a.state["ticks"] == b.state["ticks"] == 80
    # ``a`` steps first in every frame, so ``b``'s input always reaches it late.
    assert a.session.stats().rollbacks >= 1
    assert len(a.update_steps) > 80  # re-simulated ticks call on_update again ...
    for window in (a, b):
        assert set(window.update_steps) == {1 / FPS}  # ... always with the fixed step
        assert all(window.draws_at_present)  # on_draw never saw a re-simulated state


def test_a_window_that_joins_late_catches_up(windows: Callable[..., Any]) -> None:
    a = windows(Counter, config=INSTANT, max_tick=200)
    frames([a], 100, {20: lambda: a.on_key_press(arcade.key.A, 0)})
    b = windows(Counter, config=INSTANT, max_tick=200, peers=[a.address], now=100 / FPS)
    settle([a, b], 100 / FPS, events=1)
    assert b.session.stats().catch_ups >= 1  # its clock caught up with the room's
    assert b.session.stats().rollbacks == 0  # it held at START and applied the history forward
    assert a.session.state_hash() == b.session.state_hash()
    assert all(b.draws_at_present)


def test_moving_rect_windows_agree_with_the_model_and_the_screen(
    windows: Callable[..., Any],
) -> None:
    a = windows(MovingRect, config=INSTANT, max_tick=90)
    b = windows(MovingRect, config=INSTANT, max_tick=90, peers=[a.address])
    presses = {
        5: lambda: a.on_key_press(arcade.key.UP, 0),
        20: lambda: b.dispatch_event("on_key_press", arcade.key.LEFT, 0),
        40: lambda: a.on_key_press(arcade.key.S, 0),
        41: lambda: b.on_key_press(arcade.key.RIGHT, 0),
    }
    settle([a, b], frames([a, b], 60, presses), events=4)
    assert a.session.state_hash() == b.session.state_hash()

    model = TimeMachine(MovingRectApp(), a.session.timeline)
    model.advance(90)
    assert model.state_hash() == a.session.state_hash()  # presence included

    for window in (a, b):
        window.step_frame(10.0)  # the state is final (max_tick); draw it once more
        image = arcade.get_image()
        x, y = window.state.x, window.height - window.state.y
        inside = RECT_SIZE_PX // 2 - 2
        for dx, dy in ((0, 0), (-inside, -inside), (inside, inside)):
            assert image.getpixel((x + dx, y + dy)) == tuple(RECT_COLOR)
        far = ((x + window.width // 2) % window.width, (y + window.height // 2) % window.height)
        assert image.getpixel(far) == tuple(BACKGROUND_COLOR)


def test_physics_windows_agree_over_udp(windows: Callable[..., Any]) -> None:
    a = windows(PhysicsBalls, config=INSTANT, max_tick=120)
    b = windows(PhysicsBalls, config=INSTANT, max_tick=120, peers=[a.address])
    inputs = {
        8: lambda: a.on_mouse_press(100, 400, arcade.MOUSE_BUTTON_LEFT, 0),
        9: lambda: b.on_mouse_press(500, 380, arcade.MOUSE_BUTTON_LEFT, 0),
        30: lambda: b.on_key_press(arcade.key.SPACE, 0),
        31: lambda: a.on_key_press(arcade.key.LEFT, 0),
    }
    settle([a, b], frames([a, b], 100, inputs), events=4)
    assert a.session.state_hash() == b.session.state_hash()
    assert a.session.stats().rollbacks >= 2  # b's two inputs at least (and its join)
    assert len(a.state.balls) == len(b.state.balls) == 10


def test_command_line_goes_headless_and_reports(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARCADE_HEADLESS"}
    command = [sys.executable, "-m", "sample_games.moving_rect", "--headless"]
    done = subprocess.run(
        [*command, "--seconds", "0.5", "--max-tick", "10", "--info", "--id", "7"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0].startswith("listening on 127.0.0.1:")
    assert lines[-1].startswith("tick 10 state ")
    assert lines[-1].split()[3] in alone_at_tick_10(7)


class Watchful(Counter):
    """Records the desync reports its ``on_desync`` hook gets."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.desyncs: list[DesyncReport] = []

    def on_desync(self, report: DesyncReport) -> None:
        self.desyncs.append(report)


def test_a_window_hears_of_a_desync_and_writes_a_bundle(
    windows: Callable[..., Any], tmp_path: Path
) -> None:
    a = windows(Watchful, config=INSTANT, show_info=True, desync_dir=tmp_path)
    b = windows(Watchful, config=INSTANT, peers=[a.address], desync_dir=None)
    now = frames([a, b], 100, {20: lambda: a.on_key_press(arcade.key.A, 0)})
    assert a.desyncs == [] and a.session.desync is None
    b.state["ticks"] += 1000  # b's simulation silently leaves the shared history
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not (a.desyncs and list(tmp_path.iterdir())):
        assert time.monotonic() < deadline, "no desync reported"
        now += 1 / FPS
        for window in (a, b):
            window.step_frame(now)
    assert [r.other for r in a.desyncs] == [b.session.peer_id]
    assert a.session.desync == a.desyncs[0]
    report = a.desyncs[0]
    shown = hud_lines(a.session, now=now)[-1]
    assert shown == f"DESYNC at tick {report.tick} with peer {report.other}"
    (bundle,) = tmp_path.iterdir()
    assert bundle.name.startswith(f"desync-tick{a.desyncs[0].tick}-")


def test_command_line_stops_at_the_agreed_tick_reports_json_and_saves_the_frame(
    tmp_path: Any,
) -> None:
    shot = tmp_path / "final.png"
    command = [sys.executable, "-m", "sample_games.moving_rect", "--headless", "--fps", "25"]
    command += ["--id", "7", "--seconds", "0.2", "--settle", "0.2", "--json"]
    done = subprocess.run(
        [*command, "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = PeerReport.from_json(done.stdout.splitlines()[-1])
    model = TimeMachine(MovingRectApp(), Timeline())
    model.advance(10)  # 0.2 + 0.2 s at 25 fps
    assert report.final_tick == report.end_tick == 10
    assert report.state_hash in alone_at_tick_10(7)
    image = PIL.Image.open(shot)
    rect = model.app.state
    assert image.size == (MovingRect.WIDTH_PX, MovingRect.HEIGHT_PX)
    assert image.getpixel((rect.x, MovingRect.HEIGHT_PX - rect.y))[:3] == tuple(RECT_COLOR)[:3]


def test_f3_toggles_the_heads_up_display_without_touching_the_simulation(
    windows: Callable[..., Any],
) -> None:
    a = windows(Counter, config=INSTANT, max_tick=60)
    b = windows(Counter, config=INSTANT, max_tick=60, peers=[a.address])
    f3 = lambda: a.dispatch_event("on_key_press", HUD_TOGGLE_KEY, 0)  # noqa: E731
    inputs = {
        3: f3,
        5: lambda: a.dispatch_event("on_key_press", arcade.key.A, 0),
        9: f3,
        12: lambda: b.on_key_press(arcade.key.B, 0),
        20: f3,
    }
    settle([a, b], frames([a, b], 40, inputs), events=2)
    assert a.show_info and not b.show_info  # toggled three times: shown
    assert a.session.state_hash() == b.session.state_hash()
    assert [key[2] for key in a.state["keys"]] == [arcade.key.A, arcade.key.B]  # F3 never
    hidden = a.session.state_hash()
    a.step_frame(10.0)
    shown_image = arcade.get_image(0, a.height - 40, a.width, 40)  # top-left text
    a.show_info = False
    a.step_frame(10.0)
    hidden_image = arcade.get_image(0, a.height - 40, a.width, 40)
    assert shown_image.tobytes() != hidden_image.tobytes()  # the display is drawn on top
    assert a.session.state_hash() == hidden


def test_hud_lines_show_the_room_its_neighbours_and_the_counters(
    windows: Callable[..., Any],
) -> None:
    a = windows(Counter, config=INSTANT, max_tick=40)
    b = windows(Counter, config=INSTANT, max_tick=40, peers=[a.address])
    now = frames([a, b], 30, {4: lambda: b.on_key_press(arcade.key.C, 0)})
    settle([a, b], now, events=1)
    link = next(link for link in a.session.node.links if link.up)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while link.rtt.min_rtt_s is None:  # a round trip of clock syncs gives the first sample
        assert time.monotonic() < deadline
        now += 1 / FPS
        for window in (a, b):
            window.step_frame(now)
    lines = hud_lines(a.session, now=now)
    text = "\n".join(lines)
    assert lines[0] == f"peer {a.session.peer_id}  room {INSTANT.room!r}"
    stats, depths = a.session.stats(), a.session.machine.rollback_depths
    # b's event reached a after its tick (Delta is one tick); presence events apply too.
    # On a busy machine b may get in step only after tick 40: its arrival and its key are
    # then stamped after max_tick and never run (neither on time nor late).
    timeline = a.session.timeline
    never_run = sum(len(timeline.at(t)) for t in range(a.session.tick, timeline.last_tick + 1))
    late = stats.events + stats.presence_events - stats.live_events - never_run
    # every rollback repairs at least one late event; late events in one frame share one
    assert stats.rollbacks == len(depths) and (late > 0) == (0 < stats.rollbacks <= late)
    assert "tick 40 " in text and "in step" in text
    last = a.session.machine.last_rollback_depth
    assert f"events 1  late {late}  rollbacks {stats.rollbacks} (last {last} ticks)" in text
    host, port = b.address
    neighbour = next(line for line in lines if f"{host}:{port}" in line)
    rtt_ms = link.rtt.min_rtt_s * 1000
    assert neighbour.endswith(f"peer {b.session.peer_id}  rtt {rtt_ms:.1f} ms")
    assert not any(line.startswith("DESYNC") for line in lines)
