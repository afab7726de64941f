"""``arcade-p2p peer``: one headless moving-rectangle peer over real UDP.

How this works: the command binds a :class:`~arcade_p2p.transport.UdpTransport`, prints
``listening on HOST:PORT`` as its first line (so a parent process can learn a port chosen
by the operating system), dials every ``--peer`` and every peer of its room that LAN
discovery finds (unless ``--no-discover``), and drives a
:class:`~arcade_p2p.session.Session` of :class:`~arcade_p2p.sim.moving_rect.MovingRectApp`
with a :class:`~arcade_p2p.runner.PeerRunner`. A seeded bot presses random arrow keys at
``--rate`` per minute during the first ``--seconds`` of the session's clock (counted in
ticks, so every peer stops at the same tick whenever it started). All peers then keep
networking for ``--settle`` seconds so stragglers arrive, and stop simulating at the same
*end tick* -- ``(seconds + settle) * fps`` unless ``--end-tick`` is given -- so their state
hashes are comparable. A peer stays on the network :data:`LINGER_S` more seconds after
reaching the end tick (repairing late events and answering others' pulls), then prints
its report: a readable summary, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from arcade_p2p.errors import UsageError
from arcade_p2p.peer_options import add_peer_options, peer_options
from arcade_p2p.runner import PeerRunner, discover_room
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import DIRECTIONS, MovingRectApp
from arcade_p2p.transport import UdpTransport
from arcade_p2p.transport.discovery import Discovery

__all__ = ["LINGER_S", "PeerReport", "RandomKeys", "peer_report", "register", "run_peer"]

DEFAULT_PEER_DELAY_MS = 100.0
DEFAULT_SECONDS = 10.0
DEFAULT_RATE_PER_MIN = 60.0
DEFAULT_SETTLE_S = 3.0
LINGER_S = 1.0
"""Seconds a peer keeps networking after reaching the end tick before it reports."""
KEY_NAMES = tuple(DIRECTIONS)
SECONDS_PER_MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class PeerReport:
    """What a peer reports when it stops (the JSON object printed with ``--json``).

    Attributes:
        peer: The peer's id.
        address: ``HOST:PORT`` it listened on.
        end_tick: The agreed last tick.
        final_tick: The last tick it simulated (equal to ``end_tick`` when all went well).
        state_hash: Digest of the state after ``final_tick``.
        events: Events in its timeline (from every peer, its own included).
        events_emitted: Events it emitted.
        live_events: Events applied on time (not through a rollback).
        rollbacks: Rollbacks performed.
        rollback_ticks: Sum of rollback depths in ticks (the paper's metric).
        catch_ups: Times its clock had to catch up with the network.
        neighbours: Live neighbours when it stopped.
        bytes_in: Bytes received by the protocol.
        bytes_out: Bytes sent by the protocol.
        dropped: Datagrams the protocol dropped, by reason (``bad_mac``: another room or room key).
        send_errors: Sends the operating system refused, by reason.
        emulated_lost: Datagrams dropped by the link emulation.
        discovered: Peers found by LAN discovery and dialled.
        beacons_dropped: LAN beacons dropped, by reason (``bad_mac``: another room's).
    """

    peer: int
    address: str
    end_tick: int
    final_tick: int
    state_hash: str
    events: int
    events_emitted: int
    live_events: int
    rollbacks: int
    rollback_ticks: int
    catch_ups: int
    neighbours: int
    bytes_in: int
    bytes_out: int
    dropped: dict[str, int]
    send_errors: dict[str, int]
    emulated_lost: int
    discovered: int = 0
    beacons_dropped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> PeerReport:
        """Parse a line printed by :meth:`to_json`.

        Raises:
            ValueError: The line is not such a report.
        """
        fields: Any = json.loads(line)
        if not isinstance(fields, dict):
            raise ValueError("a peer report is a JSON object")
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"not a peer report: {exc}") from None

    def summary(self) -> str:
        """A few readable lines."""
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        return "\n".join(
            (
                f"peer {self.peer} ({self.address}) at tick {self.final_tick}"
                f" (end tick {self.end_tick}): state {self.state_hash}",
                f"  events {self.events} ({self.events_emitted} emitted here,"
                f" {self.live_events} applied on time), rollbacks {self.rollbacks}"
                f" ({self.rollback_ticks} ticks), clock catch-ups {self.catch_ups}",
                f"  neighbours {self.neighbours} ({self.discovered} found on the LAN), bytes"
                f" in {self.bytes_in} / out {self.bytes_out}, dropped datagrams: {dropped}",
            )
        )


class RandomKeys:
    """A bot that presses random arrow keys: ``"key"`` events at random times.

    Gaps between presses are exponential (a Poisson process of ``rate_per_min``); presses
    stop once the session reaches ``stop_tick``.

    Args:
        session: Where the events are emitted.
        rate_per_min: Average presses per minute (0: none).
        stop_tick: No presses once the session's next tick is this or later.
        rng: Seeded randomness for gaps and keys.
        now: Current time.
    """

    def __init__(
        self,
        session: Session,
        *,
        rate_per_min: float,
        stop_tick: int,
        rng: random.Random,
        now: float,
    ) -> None:
        self.session = session
        self.stop_tick = stop_tick
        self._rate_per_s = rate_per_min / SECONDS_PER_MINUTE
        self._rng = rng
        self._next = now + self._gap()

    def _gap(self) -> float:
        return self._rng.expovariate(self._rate_per_s) if self._rate_per_s > 0 else math.inf

    def step(self, now: float) -> float:
        """Press every key that is due by ``now``; returns when the next press is due."""
        while self._next <= now:
            if self.session.tick >= self.stop_tick:
                self._next = math.inf
                break
            self.session.emit("key", self._rng.choice(KEY_NAMES), now=now)
            self._next += self._gap()
        return self._next


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``peer`` subcommand."""
    parser = subparsers.add_parser(
        "peer",
        help="run one headless moving-rectangle peer over UDP",
        description="Run one headless moving-rectangle peer over real UDP. The first "
        "line printed is 'listening on HOST:PORT'.",
    )
    add_peer_options(parser, SessionConfig(delay_ms=DEFAULT_PEER_DELAY_MS))
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help="emit random key events during the first S seconds of session time",
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE_PER_MIN, help="key events per minute"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed (default: the id)")
    parser.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE_S,
        help="seconds of networking after emitting stops, before the end tick",
    )
    parser.add_argument(
        "--end-tick",
        type=int,
        default=None,
        help="last tick to simulate (default: (seconds + settle) * fps)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=run_peer)


def _check_finite(name: str, value: float, *, low: float = 0.0) -> None:
    if not (math.isfinite(value) and value >= low):
        raise UsageError(f"--{name} must be a finite number >= {low:g}, got {value!r}")


def run_peer(args: argparse.Namespace) -> int:
    """Run the ``peer`` subcommand; returns the exit code."""
    for name in ("seconds", "rate", "settle"):
        _check_finite(name, getattr(args, name))
    options = peer_options(args, SessionConfig(delay_ms=DEFAULT_PEER_DELAY_MS), seed=args.seed)
    config, peer_id = options.config, options.peer_id
    end_tick = args.end_tick
    if end_tick is None:
        end_tick = round((args.seconds + args.settle) * args.fps)
    if end_tick < 0:
        raise UsageError(f"--end-tick must be >= 0, got {end_tick}")
    rng = random.Random(args.seed if args.seed is not None else peer_id)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.ExitStack() as stack:
        transport = stack.enter_context(
            UdpTransport(options.host, options.port, emulation=options.emulation)
        )
        host, port = transport.address
        print(f"listening on {host}:{port}", flush=True)
        now = time.monotonic()
        session = Session(MovingRectApp(), peer_id=peer_id, config=config, now=now)
        for address in options.peers:
            session.add_peer(address, now=now)
        discovery = None
        if options.discover:
            discovery = stack.enter_context(discover_room(session, transport, now=now))
        runner = PeerRunner(session, transport, max_tick=end_tick, discovery=discovery)
        bot = RandomKeys(
            session,
            rate_per_min=args.rate,
            stop_tick=round(args.seconds * args.fps),
            rng=rng,
            now=now,
        )
        if not args.json:
            dialing = ", ".join(args.peer) or "nobody (waiting to be dialled)"
            if discovery is not None:
                dialing += f"; LAN discovery on ({discovery.stats().dialled} found)"
            print(
                f"peer {peer_id}: room {args.room!r}{' with a key' if args.key else ''},"
                f" {args.fps} fps, delay"
                f" {args.delay_ms:g} ms, end tick {end_tick}; dialing {dialing}",
                flush=True,
            )
        runner.run_to_end(linger_s=LINGER_S, on_wake=bot.step)
        report = peer_report(session, transport, discovery, end_tick)
    print(report.to_json() if args.json else report.summary(), flush=True)
    return 0


def peer_report(
    session: Session, transport: UdpTransport, discovery: Discovery | None, end_tick: int
) -> PeerReport:
    """What a real-time peer reports when it stops (any late event is repaired first).

    Args:
        session: The peer's session.
        transport: Its UDP transport.
        discovery: Its LAN discovery, if on.
        end_tick: The agreed last tick.
    """
    state_hash = session.state_hash()  # repairs any late event first
    stats = session.stats()
    transport_stats = transport.stats()
    discovery_stats = discovery.stats() if discovery is not None else None
    host, port = transport.address
    return PeerReport(
        peer=session.peer_id,
        address=f"{host}:{port}",
        end_tick=end_tick,
        final_tick=stats.tick - 1,
        state_hash=state_hash,
        events=stats.events,
        events_emitted=stats.events_emitted,
        live_events=stats.live_events,
        rollbacks=stats.rollbacks,
        rollback_ticks=stats.rollback_ticks,
        catch_ups=stats.catch_ups,
        neighbours=stats.neighbours,
        bytes_in=stats.bytes_in,
        bytes_out=stats.bytes_out,
        dropped=stats.dropped,
        send_errors=transport_stats.send_errors,
        emulated_lost=transport_stats.emulated_lost,
        discovered=discovery_stats.dialled if discovery_stats else 0,
        beacons_dropped=discovery_stats.dropped if discovery_stats else {},
    )
