"""Core benchmarks: middleware cost per tick, re-simulation throughput, wire codec cost.

What each figure includes and excludes:

* ``tick_overhead_us_median`` -- one :meth:`Session.pump <arcade_p2p.session.Session.pump>`
  per tick of an *idle* session: the clock, the due-timer check, the join state, the time
  machine's tick with a no-op app (no TICK work, no events, a snapshot of the integer
  state every 10 ticks), hash reports and the send queue. Excluded: neighbours (no SYNC,
  no anti-entropy, no datagram is encoded, authenticated or decoded), events, rollbacks,
  the game's own ``on_update``, drawing, sockets and the gossip thread. It is a lower
  bound of the middleware's cost, not the paper's 9 us like for like (the paper's figure
  is a peer in a running network).
* ``tick_overhead_3_neighbours_us_median`` -- the same per peer for four fully linked
  peers: SYNC four times a second with the anti-entropy digest, encoded, MAC-ed,
  decoded and validated, datagrams handed over in memory. Excluded: the kernel (no
  socket), events, rollbacks, app work, drawing.
* ``tick_overhead_busy_us_median`` -- as the previous one plus 20 events/s in all, each
  stamped, flooded (encoded, sent, received, MAC-checked, decoded, deduplicated,
  applied, relayed). Rollbacks only happen if an event arrives after its tick (rarely:
  the peers are linked in memory with no latency). Excluded: the kernel, app work.
* ``resim_ticks_per_s`` -- re-simulation only (restore a snapshot of the moving
  rectangle, run ticks and events again) in rollbacks of 500 ticks. Excluded: the
  network, live ticks, a real game's step and snapshot costs (a pymunk game is far
  slower per tick, see ``benchmarks/physics.py``).
* ``encode_decode_us_per_event`` / ``encode_decode_us_one_event`` -- the wire codec
  alone: encode, authenticate, decode and validate one EVENTS datagram (30 events, or
  one). Excluded: sockets, the node's handling of what was decoded.

Prints figures; asserts nothing (timings on a shared machine are noisy). Medians of
repeated batches are reported.

    python benchmarks/core.py          # readable
    python benchmarks/core.py --json   # one JSON object
    python benchmarks/core.py --cpu-time   # CPU time, not wall time (a loaded machine)
"""

from __future__ import annotations

import argparse
import json
import math
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
clock = time.perf_counter
"""What the figures are measured with (``--cpu-time`` switches to ``time.process_time``)."""
BUSY_EVENTS_PER_S = 20.0
"""Event rate of the busy scenario (four players pressing and releasing keys)."""


class NoOpApp(StateApp):
    """An app that does nothing: what remains is the middleware's own cost."""

    def start(self) -> None:
        self.state = 0


def tick_overhead_us() -> float:
    """Median cost of one real-time tick of an idle Session driven like a game loop drives
    it: no neighbours, no events, a no-op app (a lower bound; see the module header)."""
    session = Session(NoOpApp(), peer_id=1, config=SessionConfig(fps=FPS), now=0.0)
    now = 0.0
    per_batch = 2000
    samples = []
    for _ in range(BATCHES):
        start = clock()
        for _ in range(per_batch):
            now = session.next_tick_time(now)
            session.pump(now=now)
        samples.append((clock() - start) / per_batch * 1e6)
    return statistics.median(samples)


def tick_overhead_linked_us(events_per_s: float = 0.0) -> float:
    """Same, per peer, for four fully linked peers exchanging SYNC and anti-entropy
    (datagrams handed over in memory: the cost of the middleware, not of the kernel).

    Args:
        events_per_s: Events emitted per second in the whole network (taking turns), each
            flooded to the three others: encoded, sent, received, MAC-checked, decoded,
            deduplicated and applied.
    """
    config = SessionConfig(fps=FPS)
    sessions = [Session(NoOpApp(), peer_id=i, config=config, now=0.0) for i in range(4)]
    for i, session in enumerate(sessions):
        for j in range(i):
            session.add_peer(j, now=0.0)
    inboxes: list[list[tuple[bytes, Hashable]]] = [[] for _ in sessions]
    now = 0.0
    per_batch = 500
    samples = []
    ticks_per_event = FPS / events_per_s if events_per_s else math.inf
    next_event = ticks_per_event
    ticks = 0
    for batch in range(BATCHES + 5):
        start = clock()
        for _ in range(per_batch):
            now = sessions[0].next_tick_time(now)
            ticks += 1
            if ticks >= next_event:
                next_event += ticks_per_event
                sessions[ticks % len(sessions)].emit("key", "left", now=now)
            for i, session in enumerate(sessions):
                inbox, inboxes[i] = inboxes[i], []
                for data, dst in session.pump(now=now, datagrams=inbox):
                    assert isinstance(dst, int)
                    inboxes[dst].append((data, i))
        if batch >= 5:  # the first batches include the handshake
            samples.append((clock() - start) / (per_batch * len(sessions)) * 1e6)
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
        start = clock()
        machine.repair()
        elapsed = clock() - start
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
        start = clock()
        for counter in range(per_batch):
            codec.decode(codec.encode(7, 1, counter, message))
        samples.append((clock() - start) / (per_batch * len(events)) * 1e6)
    return statistics.median(samples)


def encode_decode_us_one_event() -> float:
    """Encode + decode of a datagram carrying a single event (the common case at game
    rates: events are flooded as they come)."""
    codec = WireCodec("lobby")
    message = Events((Event(1000, 2**40, 1, "key", "left"),))
    per_batch = 5000
    samples = []
    for _ in range(BATCHES):
        start = clock()
        for counter in range(per_batch):
            codec.decode(codec.encode(7, 1, counter, message))
        samples.append((clock() - start) / per_batch * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="measure this process's CPU time instead of wall time (steadier on a busy machine)",
    )
    args = parser.parse_args()
    if args.cpu_time:
        global clock
        clock = time.process_time
    figures = {
        "tick_overhead_us_median": round(tick_overhead_us(), 2),
        "tick_overhead_3_neighbours_us_median": round(tick_overhead_linked_us(), 2),
        "tick_overhead_busy_us_median": round(
            tick_overhead_linked_us(events_per_s=BUSY_EVENTS_PER_S), 2
        ),
        "resim_ticks_per_s": round(resim_ticks_per_s()),
        "encode_decode_us_per_event": round(encode_decode_us_per_event(), 3),
        "encode_decode_us_one_event": round(encode_decode_us_one_event(), 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")


if __name__ == "__main__":
    main()
