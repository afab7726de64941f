"""``arcade-p2p peer``: one headless moving-rectangle peer over real UDP.

How this works: the command binds a :class:`~arcade_p2p.transport.UdpTransport`, prints
``listening on HOST:PORT`` as its first line (on stderr with ``--json``, so that stdout
holds only the JSON report), dials every ``--peer`` and every peer of its room that LAN
discovery finds (unless ``--no-discover``), and drives a
:class:`~arcade_p2p.session.Session` of :class:`~arcade_p2p.sim.moving_rect.MovingRectApp`
with a :class:`~arcade_p2p.runner.PeerRunner`. Its autopilot presses random arrow keys at
``--rate`` per minute (seeded by ``--autopilot SEED`` and the peer id) during the first
``--seconds`` of the session's clock (counted in ticks, so every peer stops pressing at
the same tick whenever it started). All peers then keep networking for ``--settle``
seconds so stragglers arrive, and stop simulating at the same agreed tick --
``(seconds + settle) * fps`` unless ``--max-tick`` is given (see
:func:`~arcade_p2p.peer_options.run_max_tick`) -- so their state hashes are comparable. A
peer stays on the network :data:`~arcade_p2p.peer_options.LINGER_S` more seconds after
reaching that tick (repairing late events and answering others' pulls), then prints its
report: a readable summary, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import random
import sys
import time

from arcade_p2p.cli_support import check_positive, format_delay
from arcade_p2p.peer_options import (
    LINGER_S,
    add_peer_options,
    add_run_options,
    autopilot_rng,
    peer_options,
    run_max_tick,
)
from arcade_p2p.peer_report import peer_report
from arcade_p2p.runner import PeerRunner, discover_room
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import DIRECTIONS, MovingRectApp
from arcade_p2p.transport import UdpTransport

__all__ = ["RandomKeys", "register", "run_peer"]

DEFAULT_PEER_DELAY_MS = 100.0
DEFAULT_SECONDS = 10.0
DEFAULT_RATE_PER_MIN = 60.0
DEFAULT_AUTOPILOT_SEED = 0
KEY_NAMES = tuple(DIRECTIONS)
SECONDS_PER_MINUTE = 60.0


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
        description="Run one headless moving-rectangle peer over real UDP; it plays by "
        "itself (random arrow keys) unless --rate 0. The first line printed is "
        "'listening on HOST:PORT' (on stderr with --json).",
    )
    add_peer_options(parser, SessionConfig(delay_ms=DEFAULT_PEER_DELAY_MS))
    add_run_options(parser, seconds=DEFAULT_SECONDS)
    parser.add_argument(
        "--autopilot",
        type=int,
        default=DEFAULT_AUTOPILOT_SEED,
        metavar="SEED",
        help="seed of the random key presses (with the peer id, so every peer of a run "
        "presses different keys)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE_PER_MIN,
        metavar="PER_MIN",
        help="random key presses per minute, by this peer (0: none)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print only the report, as one JSON object"
    )
    parser.set_defaults(run=run_peer)


def run_peer(args: argparse.Namespace) -> int:
    """Run the ``peer`` subcommand; returns the exit code."""
    check_positive("--rate", args.rate, allow_zero=True)
    options = peer_options(args, SessionConfig(delay_ms=DEFAULT_PEER_DELAY_MS))
    config, peer_id = options.config, options.peer_id
    end_tick = run_max_tick(args)
    assert end_tick is not None  # --seconds always has a value here
    input_until = round(args.seconds * args.fps)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.ExitStack() as stack:
        transport = stack.enter_context(
            UdpTransport(options.host, options.port, emulation=options.emulation)
        )
        host, port = transport.address
        print(
            f"listening on {host}:{port}", file=sys.stderr if args.json else sys.stdout, flush=True
        )
        now = time.monotonic()
        session = Session(MovingRectApp(), peer_id=peer_id, config=config, now=now)
        for address in options.peers:
            session.add_peer(address, now=now)
        discovery = None
        if options.discover:
            discovery = stack.enter_context(discover_room(session, transport, now=now))
        runner = stack.enter_context(
            PeerRunner(
                session,
                transport,
                max_tick=end_tick,
                discovery=discovery,
                desync_dir=options.desync_dir,
            )
        )
        bot = RandomKeys(
            session,
            rate_per_min=args.rate,
            stop_tick=min(input_until, end_tick),
            rng=autopilot_rng(args.autopilot, peer_id),
            now=now,
        )
        if not args.json:
            dialing = ", ".join(args.peer) or "nobody (waiting to be dialled)"
            if discovery is not None:
                dialing += f"; LAN discovery on ({discovery.stats().dialled} found)"
            print(
                f"peer {peer_id}: room {args.room!r}{' with a key' if args.key else ''},"
                f" {args.fps} fps, delay"
                f" {format_delay(args.delay_ms)}, end tick {end_tick}; dialing {dialing}",
                flush=True,
            )
        runner.run_to_end(linger_s=LINGER_S, on_wake=bot.step)
        report = peer_report(session, transport, discovery, end_tick)
    print(report.to_json() if args.json else report.summary(), flush=True)
    return 0
