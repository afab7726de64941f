"""The gossip thread over real UDP on loopback: convergence, relaying during a blocked
frame of a real headless window, failures surfaced, clean shutdown.

Nothing waits on a sleep: every wait is for a condition, with a deadline.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import arcade
import pytest

from arcade_p2p.errors import UsageError
from arcade_p2p.gossip_thread import GIL_SWITCH_INTERVAL_S, GossipThreadError
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport
from arcade_p2p.window import SymmetricWindow

DEADLINE_S = 20.0
CONFIG = SessionConfig(delay_ms=60)


def p2p_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("arcade-p2p-")]


def wait_until(done: Callable[[], bool], what: str, runner: PeerRunner) -> None:
    """Wait for ``done``, waking whenever ``runner``'s gossip thread receives something."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        runner.wait(0.01)


def start_runner(
    stack: contextlib.ExitStack, peer_id: int, *, dial: Any = None, max_tick: int | None = None
) -> PeerRunner:
    """A threaded runner over its own UDP socket, dialling ``dial`` if given."""
    transport = stack.enter_context(UdpTransport())
    now = time.monotonic()
    session = Session(MovingRectApp(), peer_id=peer_id, config=CONFIG, now=now)
    if dial is not None:
        session.add_peer(dial, now=now)
    return stack.enter_context(PeerRunner(session, transport, max_tick=max_tick))


@contextlib.contextmanager
def line_of_runners(count: int, *, max_tick: int | None = None) -> Iterator[list[PeerRunner]]:
    """``count`` threaded runners over UDP, each dialling the previous one (a line)."""
    with contextlib.ExitStack() as stack:
        runners: list[PeerRunner] = []
        for index in range(count):
            dial = runners[-1].transport.address if runners else None
            runners.append(start_runner(stack, index + 1, dial=dial, max_tick=max_tick))
        yield runners


def linked(runners: list[PeerRunner]) -> bool:
    wanted = [1] + [2] * (len(runners) - 2) + [1]
    return [r.session.stats().neighbours for r in runners] == wanted


def test_threaded_runners_in_a_line_converge_to_the_same_state() -> None:
    end_tick = 120
    with line_of_runners(3, max_tick=end_tick) as runners:
        a, b, c = runners
        wait_until(lambda: linked(runners), "the links", a)
        a.emit("key", "up", now=time.monotonic())
        c.emit("key", "left", now=time.monotonic())
        b.emit("key", "down", now=time.monotonic())
        deadline = time.monotonic() + DEADLINE_S
        while not (
            all(r.finished and r.session.stats().events == 3 for r in runners)
            and len({r.session.timeline.digest() for r in runners}) == 1  # presence too
        ):
            assert time.monotonic() < deadline, [r.session.stats() for r in runners]
            now = time.monotonic()
            for runner in runners:
                runner.pump(now)  # the game threads' half: ticks only
            a.wait(min(r.next_wakeup(now) for r in runners) - time.monotonic())
        hashes = {r.session.state_hash() for r in runners}
        assert len(hashes) == 1
        assert {r.session.tick for r in runners} == {end_tick + 1}
        assert all(len(r.session.machine.timeline) == len(r.session.timeline) for r in runners)
        # The end points only hear each other through b's relaying thread.
        assert a.session.timeline.get(3, 1) is not None
        assert c.session.timeline.get(1, 1) is not None
    assert p2p_threads() == []


class BlockedFrames(SymmetricWindow):
    """A window whose ``on_draw`` blocks until the test releases it."""

    WIDTH_PX = 64
    HEIGHT_PX = 48

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.drawing = threading.Event()
        self.release = threading.Event()

    def on_start(self) -> None:
        self.state = {"keys": []}

    def on_event(self, event: Any) -> None:
        self.state["keys"].append(event.payload)

    def on_draw(self) -> None:
        self.clear()
        self.drawing.set()
        self.release.wait(DEADLINE_S)


@pytest.mark.skipif(not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS")
def test_a_blocked_frame_does_not_stop_the_window_relaying() -> None:
    """A -- B -- C; B is a window stuck in ``on_draw``. A's event still reaches C."""
    with contextlib.ExitStack() as stack:
        a_runner = start_runner(stack, 1)
        window = BlockedFrames(config=CONFIG, peers=[a_runner.transport.address])
        stack.callback(window.close)
        c_runner = start_runner(stack, 3, dial=window.address)
        wait_until(
            lambda: (
                window.session.stats().neighbours == 2
                and a_runner.session.stats().neighbours == c_runner.session.stats().neighbours == 1
            ),
            "the links",  # each end counts the link once it has the other's answer
            c_runner,
        )
        seen_while_blocked: list[bool] = []

        def emit_during_the_frame() -> None:
            assert window.drawing.wait(DEADLINE_S)
            event = a_runner.emit("key", "through-b", now=time.monotonic())
            deadline = time.monotonic() + DEADLINE_S
            while c_runner.session.timeline.get(event.source, event.seq) is None:
                if time.monotonic() > deadline:
                    break
                c_runner.wait(0.01)  # c's gossip thread sets this flag on arrivals
            seen_while_blocked.append(
                c_runner.session.timeline.get(event.source, event.seq) is not None
                and not window.release.is_set()
            )
            window.release.set()

        helper = threading.Thread(target=emit_during_the_frame)
        helper.start()
        window.step_frame(time.monotonic())  # blocks in on_draw until the helper releases it
        helper.join(DEADLINE_S)
        assert seen_while_blocked == [True]
        # The window's own simulation gets the event at a later frame, as usual.
        window.release.set()
        deadline = time.monotonic() + DEADLINE_S
        while "through-b" not in window.state["keys"]:
            assert time.monotonic() < deadline
            window.step_frame(time.monotonic())
    assert p2p_threads() == []


CPYTHON_SWITCH_INTERVAL_S = 0.005


@pytest.fixture
def switch_interval() -> Iterator[None]:
    """Start from CPython's default switch interval; put back whatever was set before."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(CPYTHON_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


@pytest.mark.usefixtures("switch_interval")
def test_the_switch_interval_is_lowered_while_gossip_threads_run_and_then_restored() -> None:
    assert GIL_SWITCH_INTERVAL_S < CPYTHON_SWITCH_INTERVAL_S
    with contextlib.ExitStack() as outer:
        start_runner(outer, 1)
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
        with line_of_runners(2):
            assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)  # one still runs
    assert p2p_threads() == []
    assert sys.getswitchinterval() == pytest.approx(CPYTHON_SWITCH_INTERVAL_S)
    if arcade.headless:  # a window's gossip thread does the same
        window = BlockedFrames()
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)
        window.close()
        assert sys.getswitchinterval() == pytest.approx(CPYTHON_SWITCH_INTERVAL_S)


@pytest.mark.usefixtures("switch_interval")
def test_the_programs_own_switch_interval_is_left_alone() -> None:
    lower = GIL_SWITCH_INTERVAL_S / 5
    sys.setswitchinterval(lower)
    with line_of_runners(1):
        assert sys.getswitchinterval() == pytest.approx(lower)
    assert sys.getswitchinterval() == pytest.approx(lower)
    sys.setswitchinterval(CPYTHON_SWITCH_INTERVAL_S)
    changed = 0.002
    with line_of_runners(1):
        sys.setswitchinterval(changed)  # the program changes it while the thread runs
    assert sys.getswitchinterval() == pytest.approx(changed)


@pytest.mark.usefixtures("switch_interval")
def test_a_failure_of_the_gossip_thread_is_raised_on_the_game_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with UdpTransport() as transport:
        session = Session(MovingRectApp(), peer_id=7, config=CONFIG, now=time.monotonic())

        def broken(**kwargs: Any) -> list[Any]:
            raise RuntimeError("boom")

        with PeerRunner(session, transport) as runner:
            assert runner.gossip is not None
            monkeypatch.setattr(session, "pump_network", broken)
            runner.gossip.wake()
            gossip = runner.gossip
            wait_until(lambda: not gossip.alive, "the thread to stop", runner)
            # A thread that died still gave the interval back.
            assert sys.getswitchinterval() == pytest.approx(CPYTHON_SWITCH_INTERVAL_S)
            with pytest.raises(GossipThreadError, match="boom") as raised:
                runner.pump(time.monotonic())
            assert isinstance(raised.value.__cause__, RuntimeError)
    assert p2p_threads() == []


def test_closing_leaves_no_thread_and_a_window_too() -> None:
    with line_of_runners(2) as runners:
        assert all(r.gossip is not None and r.gossip.alive for r in runners)
        assert len(p2p_threads()) == 4  # per peer: the receive thread and the gossip thread
    assert p2p_threads() == []
    if arcade.headless:
        window = BlockedFrames()
        assert len(p2p_threads()) == 2
        window.close()
        assert p2p_threads() == []


def test_a_single_threaded_runner_starts_no_gossip_thread() -> None:
    with UdpTransport() as transport:
        session = Session(MovingRectApp(), peer_id=3, now=time.monotonic())
        with PeerRunner(session, transport, gossip_thread=False) as runner:
            assert runner.gossip is None
            assert [t.name for t in p2p_threads()] == [f"arcade-p2p-udp-{transport.address[1]}"]


# --------------------------------------------------------------- the hand-off, sans threads
class RecordingGuard:
    """A stand-in for the driver's lock that records whether it is held."""

    def __init__(self) -> None:
        self.held = False
        self.entries = 0

    def __enter__(self) -> None:
        assert not self.held, "the guard is not reentrant"
        self.held = True
        self.entries += 1

    def __exit__(self, *exc: object) -> None:
        self.held = False


class GuardCheckingApp(MovingRectApp):
    """Fails if a tick or an event runs while the guard is held."""

    STATE_MODULES = ("arcade_p2p.sim.moving_rect",)
    guard: RecordingGuard | None = None

    def tick(self) -> None:
        assert self.guard is None or not self.guard.held
        super().tick()

    def event(self, event: Any) -> None:
        assert self.guard is None or not self.guard.held
        super().event(event)


def test_a_handed_off_session_simulates_outside_the_guard_and_sees_events_between_ticks() -> None:
    config = SessionConfig(delay_ms=20)
    sender = Session(MovingRectApp(), peer_id=1, config=config, now=0.0)
    plain = Session(MovingRectApp(), peer_id=2, config=config, now=0.0)
    app = GuardCheckingApp()
    split = Session(app, peer_id=2, config=config, now=0.0)
    guard = app.guard = RecordingGuard()
    split.hand_off(guard)
    with pytest.raises(UsageError):
        split.hand_off(RecordingGuard())
    for receiver in (plain, split):
        receiver.add_peer("sender", now=0.0)
    sender.add_peer("plain", now=0.0)
    sender.add_peer("split", now=0.0)
    boxes: dict[str, list[tuple[bytes, Any]]] = {"sender": [], "plain": [], "split": []}
    now = 0.0
    late_event_seen_by_network_only = False
    for step in range(200):
        now = step / 50 + 0.001
        if step in (30, 31, 90):
            sender.emit("key", "up", now=now)
        for data, dst in sender.pump(now=now, datagrams=boxes["sender"]):
            boxes[str(dst)].append((data, "sender"))
        boxes["sender"] = []
        for name, receiver in (("plain", plain), ("split", split)):
            inbox, boxes[name] = boxes[name], []
            if receiver is split:
                out = split.pump_network(now=now, datagrams=inbox)  # the gossip thread's half
                if len(split.timeline) > len(split.machine.timeline):
                    late_event_seen_by_network_only = True  # until the tick half takes it
                split.pump_ticks(now=now)
            else:
                out = plain.pump(now=now, datagrams=inbox)
            boxes["sender"].extend((data, name) for data, _ in out)
    assert late_event_seen_by_network_only
    assert plain.stats().events == split.stats().events == 3  # and each peer's arrival:
    assert len(plain.timeline) == len(split.timeline) == len(split.machine.timeline)
    assert split.tick == plain.tick
    assert split.state_hash() == plain.state_hash() == sender.state_hash()
    assert guard.entries > 0 and not guard.held


# --------------------------------------------------------------- a join hold's timeout
class CountingTransport(UdpTransport):
    """A real UDP transport that counts the gossip thread's sleeps (one per turn)."""

    waits = 0

    def wait(self, timeout: float) -> None:
        self.waits += 1
        super().wait(timeout)


def test_a_join_hold_that_timed_out_does_not_keep_the_gossip_thread_awake() -> None:
    """Only the tick half ends a hold; a game thread that has not pumped since its hold
    timed out (a long load, a debugger) must not make the gossip thread spin meanwhile."""
    hold_s, watch_s = 0.05, 0.5
    with UdpTransport() as silent, CountingTransport() as transport:
        now = time.monotonic()
        session = Session(MovingRectApp(), peer_id=5, config=CONFIG, now=now)
        session.join.timeout_s = hold_s
        session.add_peer(silent.address, now=now)  # nobody answers there: the hold times out
        assert session.joining
        with PeerRunner(session, transport) as runner:
            time.sleep(hold_s + watch_s)  # the game thread does nothing meanwhile
            turns = transport.waits
            assert turns < 50, f"{turns} turns in {watch_s} s"  # a spinning thread: thousands
            assert session.joining  # nothing ended the hold but the tick half
            assert runner.next_wakeup(time.monotonic()) <= time.monotonic()  # which is due
            runner.pump(time.monotonic())
            assert not session.joining
