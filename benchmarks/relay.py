"""Relay benchmark: the delay a peer with 30 ms frames adds to the events it passes on.

Three peers in a line A -- B -- C over real UDP on loopback, in one process: A and C are
threaded runners, B is a real headless window (``ARCADE_HEADLESS=1``) whose ``on_draw``
takes ``--frame-ms`` (sleeping, like a vsync wait or GPU-bound frame, or with ``--spin``
busy in Python, holding the interpreter lock like Python game code does: a fixed amount
of work, calibrated to take ``--frame-ms`` on this machine before the run). A emits 100
events (``--events``) at irregular times; C stamps each one as its gossip thread takes it
in. The same run with an idle B (``on_draw`` does nothing) gives the baseline, and the
figures are the per-event delays minus the idle median: what B's busy frames add.
``frame_ms_median`` and ``frame_cpu_ms_median`` are how long B's ``on_draw`` took during
the busy run, in wall time and in CPU time of B's thread: with ``--spin``, what the other
threads cost the game's thread (the CPU time leaves out other processes of a shared
machine).

The gossip thread lowers the interpreter's switch interval while it runs (see
:mod:`arcade_p2p.gossip_thread`); ``--switch-interval-ms 5`` keeps CPython's default
instead, to compare. ``--frame-cost`` measures what the lower interval costs the game's
thread: one busy relaying run whose Python frames alternate between the two intervals,
frame by frame, with the median wall and CPU time of B's frames under each.

While gossip threads run, the objects alive when they started are left out of garbage
collection (see :mod:`arcade_p2p.gc_freeze`); ``--no-gc-freeze`` turns that off, to
compare. ``gc_collections`` counts the collections by generation while A emitted in the
busy run, ``gc_pause_ms_max`` is the longest of them (a collection stops every thread),
``gc_full_ms`` how long one full collection took right after it (what the next one would
stop the peers for) and ``gc_frozen_objects`` how many objects were frozen.

Prints figures; asserts nothing. ``--single-threaded`` measures the old driver instead
(B's whole driver step runs once per frame, as with ``gossip_thread=False``).

    python benchmarks/relay.py          # readable
    python benchmarks/relay.py --json   # one JSON object
    python benchmarks/relay.py --spin --json
    python benchmarks/relay.py --frame-cost --json
    python benchmarks/relay.py --no-gc-freeze --json
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import argparse
import contextlib
import gc
import json
import math
import random
import statistics
import sys
import threading
import time
from typing import Any, NamedTuple

from arcade_p2p import gc_freeze, gossip_thread
from arcade_p2p.events import Event
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport
from arcade_p2p.window import SymmetricWindow

CONFIG = SessionConfig(fps=50, delay_ms=100)
EVENTS = 100
"""A emits this many events per run (``--events``)."""
GAP_S = (0.02, 0.05)
"""A emits at uniformly random gaps in this range (not in step with B's frames)."""
LINK_DEADLINE_S = 10.0
DRAIN_S = 0.5
"""How long the run goes on after A's last event, for it to arrive."""
CPYTHON_SWITCH_INTERVAL_S = 0.005
"""CPython's default switch interval (``sys.getswitchinterval()`` of a fresh interpreter)."""
CALIBRATION_ITERATIONS = 200_000
CALIBRATION_ROUNDS = 5


def busy_work(iterations: int) -> int:
    """Pure Python work that holds the interpreter lock (a stand-in for game code)."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


def iterations_for(frame_s: float) -> int:
    """How many :func:`busy_work` iterations take ``frame_s`` here (fastest of a few rounds)."""
    best = min(_timed_work(CALIBRATION_ITERATIONS) for _ in range(CALIBRATION_ROUNDS))
    return max(1, round(CALIBRATION_ITERATIONS * frame_s / best))


def _timed_work(iterations: int) -> float:
    """CPU seconds of this thread (other processes on a shared machine do not count)."""
    start = time.thread_time()
    busy_work(iterations)
    return time.thread_time() - start


class Frame(NamedTuple):
    """One ``on_draw`` of B: the switch interval it ran with, its wall and CPU time."""

    switch_interval_s: float
    wall_ms: float
    cpu_ms: float


class GcWatch:
    """Records each garbage collection (generation, milliseconds) while :attr:`on`."""

    def __init__(self) -> None:
        self.on = False
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0
        gc.callbacks.append(self._collected)

    def close(self) -> None:
        """Stop recording for good."""
        gc.callbacks.remove(self._collected)

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.on:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1e3))


class Line(NamedTuple):
    """One run A -- B -- C: each event's delay from A's emit to C (ms), B's frames and the
    garbage collections while A emitted, and one full collection's time after that."""

    delays: list[float]
    frames: list[Frame]
    gc_pauses: list[tuple[int, float]]
    gc_full_ms: float
    gc_frozen_objects: int


class RelayWindow(SymmetricWindow):
    """B: a window whose frames sleep ``frame_s`` seconds or do ``spin`` iterations of
    :func:`busy_work`; it records each ``on_draw`` as a :class:`Frame`. With
    ``intervals``, each frame first sets the next of them as the switch interval."""

    WIDTH_PX = 64
    HEIGHT_PX = 48

    def __init__(
        self, *, frame_s: float, spin: int, intervals: tuple[float, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.frame_s = frame_s
        self.spin = spin
        self.intervals = intervals
        self.frames: list[Frame] = []

    def on_start(self) -> None:
        self.state = 0

    def on_draw(self) -> None:
        self.clear()
        if self.intervals:
            sys.setswitchinterval(self.intervals[len(self.frames) % len(self.intervals)])
        start, cpu_start = time.perf_counter(), time.thread_time()
        if self.spin:
            busy_work(self.spin)
        elif self.frame_s > 0.0:
            time.sleep(self.frame_s)
        wall_ms = (time.perf_counter() - start) * 1e3
        cpu_ms = (time.thread_time() - cpu_start) * 1e3
        self.frames.append(Frame(sys.getswitchinterval(), wall_ms, cpu_ms))


def run_line(
    *,
    frame_s: float,
    spin: int,
    threaded: bool,
    seed: int,
    intervals: tuple[float, ...] = (),
    events: int = EVENTS,
) -> Line:
    """One run A -- B -- C (see :class:`Line`)."""
    rng = random.Random(seed)
    watch = GcWatch()
    sent: dict[tuple[int, int], float] = {}
    arrived: dict[tuple[int, int], float] = {}
    with contextlib.ExitStack() as stack:
        now = time.monotonic()
        ta = stack.enter_context(UdpTransport())
        a = stack.enter_context(
            PeerRunner(Session(MovingRectApp(), peer_id=1, config=CONFIG, now=now), ta)
        )
        b = RelayWindow(
            frame_s=frame_s,
            spin=spin,
            intervals=intervals,
            config=CONFIG,
            peers=[ta.address],
            gossip_thread=threaded,
        )
        stack.callback(b.close)
        tc = stack.enter_context(UdpTransport())
        c_session = Session(MovingRectApp(), peer_id=3, config=CONFIG, now=now)
        c_session.add_peer(b.address, now=now)
        stack.enter_context(PeerRunner(c_session, tc))  # only its gossip thread works
        node = c_session.node
        take_in = node.on_new_event

        def stamp(event: Event) -> None:  # runs on C's gossip thread
            arrived.setdefault((event.source, event.seq), time.monotonic())
            take_in(event)

        node.on_new_event = stamp
        deadline = time.monotonic() + LINK_DEADLINE_S
        while b.session.stats().neighbours < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the three peers did not link")
            b.run(seconds=0.05)

        def emit_events() -> None:  # A's game thread
            for _ in range(events):
                time.sleep(rng.uniform(*GAP_S))
                at = time.monotonic()
                event = a.emit("key", "up", now=at)
                sent[(event.source, event.seq)] = at

        emitter = threading.Thread(target=emit_events)
        b.frames.clear()
        watch.on = True
        emitter.start()
        b.run(seconds=events * GAP_S[1] + DRAIN_S)  # B's game loop, on this thread
        emitter.join()
        watch.on = False
        frames = b.frames.copy()
        started = time.perf_counter()
        gc.collect()
        full_ms = (time.perf_counter() - started) * 1e3
        frozen = gc.get_freeze_count()
        b.run(seconds=DRAIN_S)
    watch.close()
    delays = [(arrived[key] - at) * 1e3 for key, at in sent.items() if key in arrived]
    return Line(delays, frames, watch.pauses, full_ms, frozen)


def added(delays: list[float], idle: list[float]) -> tuple[float, float]:
    base = statistics.median(idle)
    extra = sorted(d - base for d in delays)
    p95 = extra[min(len(extra) - 1, round(0.95 * (len(extra) - 1)))]
    return statistics.median(extra), p95


def frame_cost(frame_s: float) -> dict[str, Any]:
    """B's Python frames with CPython's switch interval and the gossip thread's, frame by
    frame in turn during one relaying run (so a shared machine's load drifts alike)."""
    ours = gossip_thread.GIL_SWITCH_INTERVAL_S
    intervals = (CPYTHON_SWITCH_INTERVAL_S, ours)
    frames = run_line(
        frame_s=frame_s, spin=iterations_for(frame_s), threaded=True, seed=2, intervals=intervals
    ).frames
    figures: dict[str, Any] = {"frame_ms": frame_s * 1e3, "frames": len(frames)}
    for interval in intervals:
        mine = [f for f in frames if math.isclose(f.switch_interval_s, interval)]
        name = f"{interval * 1e3:g}ms"
        figures[f"frame_cpu_ms_median_at_{name}"] = round(
            statistics.median(f.cpu_ms for f in mine), 3
        )
        figures[f"frame_ms_median_at_{name}"] = round(statistics.median(f.wall_ms for f in mine), 3)
    return figures


def relay(*, frame_s: float, spin: bool, threaded: bool, events: int) -> dict[str, Any]:
    """The relay figures (see the module header)."""
    idle = run_line(frame_s=0.0, spin=0, threaded=threaded, seed=1, events=events).delays
    work = iterations_for(frame_s) if spin else 0
    line = run_line(frame_s=frame_s, spin=work, threaded=threaded, seed=2, events=events)
    busy, frames = line.delays, line.frames
    median, p95 = added(busy, idle)
    return {
        "relay_added_ms_median": round(median, 2),
        "relay_added_ms_p95": round(p95, 2),
        "idle_delay_ms_median": round(statistics.median(idle), 2),
        "busy_delay_ms_median": round(statistics.median(busy), 2),
        "events_sent": events,
        "events_arrived_idle": len(idle),
        "events_arrived_busy": len(busy),
        "frame_ms": frame_s * 1e3,
        "frame": "spin" if spin else "sleep",
        "frame_ms_median": round(statistics.median(f.wall_ms for f in frames), 2),
        "frame_cpu_ms_median": round(statistics.median(f.cpu_ms for f in frames), 2),
        "frames": len(frames),
        "switch_interval_ms": round(
            statistics.median(f.switch_interval_s for f in frames) * 1e3, 3
        ),
        "gossip_thread": threaded,
        "gc_freeze": gc_freeze.ENABLED,
        "gc_collections": [sum(1 for g, _ in line.gc_pauses if g == n) for n in range(3)],
        "gc_pause_ms_max": round(max((ms for _, ms in line.gc_pauses), default=0.0), 2),
        "gc_full_ms": round(line.gc_full_ms, 2),
        "gc_frozen_objects": line.gc_frozen_objects,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--frame-ms", type=float, default=30.0, help="B's frame time")
    parser.add_argument("--events", type=int, default=EVENTS, help="events A emits per run")
    parser.add_argument("--spin", action="store_true", help="B's frames busy in Python")
    parser.add_argument(
        "--single-threaded", action="store_true", help="B without a gossip thread (old driver)"
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=gossip_thread.GIL_SWITCH_INTERVAL_S * 1e3,
        help="the most the gossip thread lets the switch interval be (5: CPython's default)",
    )
    parser.add_argument(
        "--frame-cost",
        action="store_true",
        help="instead: B's Python frames with CPython's and the gossip thread's switch interval",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="keep every object in garbage collection (arcade_p2p.gc_freeze.ENABLED = False)",
    )
    args = parser.parse_args()
    gossip_thread.GIL_SWITCH_INTERVAL_S = args.switch_interval_ms / 1e3
    gc_freeze.ENABLED = not args.no_gc_freeze
    frame_s = args.frame_ms / 1e3
    if args.frame_cost:
        figures = frame_cost(frame_s)
    else:
        figures = relay(
            frame_s=frame_s,
            spin=args.spin,
            threaded=not args.single_threaded,
            events=args.events,
        )
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
