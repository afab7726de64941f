"""Relay benchmark: the delay a peer with 30 ms frames adds to the events it passes on.

Three peers in a line A -- B -- C over real UDP on loopback, in one process: A and C are
threaded runners, B is a real headless window (``ARCADE_HEADLESS=1``) whose ``on_draw``
takes ``--frame-ms`` (sleeping, like a vsync wait or GPU-bound frame, or with ``--spin``
busy in Python, holding the interpreter lock like Python game code does: a fixed amount
of work, calibrated to take ``--frame-ms`` on this machine before the run). A emits events
at irregular times; C stamps each one as its gossip thread takes it in. The same run with
an idle B (``on_draw`` does nothing) gives the baseline, and the figures are the
per-event delays minus the idle median: what B's busy frames add. ``frame_ms_median`` and
``frame_cpu_ms_median`` are how long B's ``on_draw`` took during the busy run, in wall
time and in CPU time of B's thread: with ``--spin``, what the other threads cost the
game's thread (the CPU time leaves out other processes of a shared machine).

The gossip thread lowers the interpreter's switch interval while it runs (see
:mod:`arcade_p2p.gossip_thread`); ``--switch-interval-ms 5`` keeps CPython's default
instead, to compare.

Prints figures; asserts nothing. ``--single-threaded`` measures the old driver instead
(B's whole driver step runs once per frame, as with ``gossip_thread=False``).

    python benchmarks/relay.py          # readable
    python benchmarks/relay.py --json   # one JSON object
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import argparse
import contextlib
import json
import random
import statistics
import sys
import threading
import time
from typing import Any

from arcade_p2p import gossip_thread
from arcade_p2p.events import Event
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport
from arcade_p2p.window import SymmetricWindow

CONFIG = SessionConfig(fps=50, delay_ms=100)
EVENTS = 100
GAP_S = (0.02, 0.05)
"""A emits at uniformly random gaps in this range (not in step with B's frames)."""
LINK_DEADLINE_S = 10.0
DRAIN_S = 0.5
"""How long the run goes on after A's last event, for it to arrive."""
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


class RelayWindow(SymmetricWindow):
    """B: a window whose frames sleep ``frame_s`` seconds or do ``spin`` iterations of
    :func:`busy_work`; it records how long each ``on_draw`` took (wall and CPU time)."""

    WIDTH_PX = 64
    HEIGHT_PX = 48

    def __init__(self, *, frame_s: float, spin: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.frame_s = frame_s
        self.spin = spin
        self.frames_ms: list[float] = []
        self.frames_cpu_ms: list[float] = []

    def on_start(self) -> None:
        self.state = 0

    def on_draw(self) -> None:
        self.clear()
        start, cpu_start = time.perf_counter(), time.thread_time()
        if self.spin:
            busy_work(self.spin)
        elif self.frame_s > 0.0:
            time.sleep(self.frame_s)
        self.frames_ms.append((time.perf_counter() - start) * 1e3)
        self.frames_cpu_ms.append((time.thread_time() - cpu_start) * 1e3)


def run_line(
    *, frame_s: float, spin: int, threaded: bool, seed: int
) -> tuple[list[float], list[float], list[float]]:
    """One run A -- B -- C; returns each event's delay from A's emit to C and the
    wall and CPU durations of B's ``on_draw`` while A emitted, in ms."""
    rng = random.Random(seed)
    sent: dict[tuple[int, int], float] = {}
    arrived: dict[tuple[int, int], float] = {}
    with contextlib.ExitStack() as stack:
        now = time.monotonic()
        ta = stack.enter_context(UdpTransport())
        a = stack.enter_context(
            PeerRunner(Session(MovingRectApp(), peer_id=1, config=CONFIG, now=now), ta)
        )
        b = RelayWindow(
            frame_s=frame_s, spin=spin, config=CONFIG, peers=[ta.address], gossip_thread=threaded
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
            for _ in range(EVENTS):
                time.sleep(rng.uniform(*GAP_S))
                at = time.monotonic()
                event = a.emit("key", "up", now=at)
                sent[(event.source, event.seq)] = at

        emitter = threading.Thread(target=emit_events)
        b.frames_ms.clear()
        b.frames_cpu_ms.clear()
        emitter.start()
        b.run(seconds=EVENTS * GAP_S[1] + DRAIN_S)  # B's game loop, on this thread
        emitter.join()
        frames_ms, frames_cpu_ms = b.frames_ms.copy(), b.frames_cpu_ms.copy()
        b.run(seconds=DRAIN_S)
    delays = [(arrived[key] - at) * 1e3 for key, at in sent.items() if key in arrived]
    return delays, frames_ms, frames_cpu_ms


def added(delays: list[float], idle: list[float]) -> tuple[float, float]:
    base = statistics.median(idle)
    extra = sorted(d - base for d in delays)
    p95 = extra[min(len(extra) - 1, round(0.95 * (len(extra) - 1)))]
    return statistics.median(extra), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--frame-ms", type=float, default=30.0, help="B's frame time")
    parser.add_argument("--spin", action="store_true", help="B's frames busy-wait in Python")
    parser.add_argument(
        "--single-threaded", action="store_true", help="B without a gossip thread (old driver)"
    )
    parser.add_argument(
        "--switch-interval-ms",
        type=float,
        default=gossip_thread.GIL_SWITCH_INTERVAL_S * 1e3,
        help="the most the gossip thread lets the switch interval be (5: CPython's default)",
    )
    args = parser.parse_args()
    gossip_thread.GIL_SWITCH_INTERVAL_S = args.switch_interval_ms / 1e3
    threaded = not args.single_threaded
    frame_s = args.frame_ms / 1e3
    spin = iterations_for(frame_s) if args.spin else 0
    idle, _, _ = run_line(frame_s=0.0, spin=0, threaded=threaded, seed=1)
    busy, frames_ms, frames_cpu_ms = run_line(frame_s=frame_s, spin=spin, threaded=threaded, seed=2)
    median, p95 = added(busy, idle)
    figures = {
        "relay_added_ms_median": round(median, 2),
        "relay_added_ms_p95": round(p95, 2),
        "idle_delay_ms_median": round(statistics.median(idle), 2),
        "busy_delay_ms_median": round(statistics.median(busy), 2),
        "events_sent": EVENTS,
        "events_arrived_idle": len(idle),
        "events_arrived_busy": len(busy),
        "frame_ms": args.frame_ms,
        "frame": "spin" if args.spin else "sleep",
        "frame_ms_median": round(statistics.median(frames_ms), 2),
        "frame_cpu_ms_median": round(statistics.median(frames_cpu_ms), 2),
        "frames": len(frames_ms),
        "switch_interval_ms": round(
            min(sys.getswitchinterval(), gossip_thread.GIL_SWITCH_INTERVAL_S) * 1e3
            if threaded
            else sys.getswitchinterval() * 1e3,
            3,
        ),
        "gossip_thread": threaded,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:24} {value}")


if __name__ == "__main__":
    main()
