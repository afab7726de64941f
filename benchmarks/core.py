"""Core benchmarks: middleware cost per tick, re-simulation throughput, wire codec cost.

Prints figures; asserts nothing (timings on a shared machine are noisy). Medians of
repeated batches are reported.

    python benchmarks/core.py          # readable
    python benchmarks/core.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Hashable

from arcade_p2p.app import StateApp
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.protocol.wire import Events, WireCodec
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.timeline import Timeline

FPS = 50
BATCHES = 40


class NoOpApp(StateApp):
    """An app that does nothing: what remains is the middleware's own cost."""

    def start(self) -> None:
        self.state = 0


def tick_overhead_us() -> float:
    """Median cost of one real-time tick of a Session driven like a game loop drives it."""
    session = Session(NoOpApp(), peer_id=1, config=SessionConfig(fps=FPS), now=0.0)
    now = 0.0
    per_batch = 2000
    samples = []
    for _ in range(BATCHES):
        start = time.perf_counter()
        for _ in range(per_batch):
            now = session.next_tick_time(now)
            session.pump(now=now)
        samples.append((time.perf_counter() - start) / per_batch * 1e6)
    return statistics.median(samples)


def tick_overhead_linked_us() -> float:
    """Same, per peer, for four fully linked peers exchanging SYNC and anti-entropy
    (datagrams handed over in memory: the cost of the middleware, not of the kernel)."""
    config = SessionConfig(fps=FPS)
    sessions = [Session(NoOpApp(), peer_id=i, config=config, now=0.0) for i in range(4)]
    for i, session in enumerate(sessions):
        for j in range(i):
            session.add_peer(j, now=0.0)
    inboxes: list[list[tuple[bytes, Hashable]]] = [[] for _ in sessions]
    now = 0.0
    per_batch = 500
    samples = []
    for batch in range(BATCHES + 5):
        start = time.perf_counter()
        for _ in range(per_batch):
            now = sessions[0].next_tick_time(now)
            for i, session in enumerate(sessions):
                inbox, inboxes[i] = inboxes[i], []
                for data, dst in session.pump(now=now, datagrams=inbox):
                    assert isinstance(dst, int)
                    inboxes[dst].append((data, i))
        if batch >= 5:  # the first batches include the handshake
            samples.append((time.perf_counter() - start) / (per_batch * len(sessions)) * 1e6)
    assert all(s.stats().neighbours == 3 for s in sessions)
    return statistics.median(samples)


def resim_ticks_per_s() -> float:
    """Re-simulation throughput of the moving rectangle (rollbacks of 500 ticks)."""
    timeline = Timeline()
    machine = TimeMachine(MovingRectApp(), timeline)
    machine.advance(10_000)
    depth = 500
    samples = []
    for seq in range(1, BATCHES + 1):
        event = Event(machine.tick - depth, 1, seq, "key", "up")
        timeline.insert(event)
        machine.note_event(event)
        before = machine.stats.resim_ticks
        start = time.perf_counter()
        machine.repair()
        elapsed = time.perf_counter() - start
        samples.append(elapsed / (machine.stats.resim_ticks - before))
    return 1.0 / statistics.median(samples)


def encode_decode_us_per_event() -> float:
    """Encode + decode of a full Events datagram, per event carried."""
    codec = WireCodec("lobby")
    events = tuple(Event(1000 + i, 2**40 + i, i + 1, "key", "left") for i in range(30))
    message = Events(events)
    per_batch = 500
    samples = []
    for _ in range(BATCHES):
        start = time.perf_counter()
        for counter in range(per_batch):
            codec.decode(codec.encode(7, 1, counter, message))
        samples.append((time.perf_counter() - start) / (per_batch * len(events)) * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = {
        "tick_overhead_us_median": round(tick_overhead_us(), 2),
        "tick_overhead_3_neighbours_us_median": round(tick_overhead_linked_us(), 2),
        "resim_ticks_per_s": round(resim_ticks_per_s()),
        "encode_decode_us_per_event": round(encode_decode_us_per_event(), 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
