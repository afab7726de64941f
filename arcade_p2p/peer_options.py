"""Command-line options shared by every real-time peer: ``arcade-p2p peer`` and games.

How this works: :func:`add_peer_options` adds the network and session flags (identity,
binding, neighbours, room and its key, fps, Delta, clock, link emulation) to a parser, with
defaults taken from a :class:`~arcade_p2p.session.SessionConfig`; :func:`peer_options`
turns the parsed flags into a validated :class:`PeerOptions`, raising
:class:`~arcade_p2p.errors.UsageError` with a one-line message for bad values.
:func:`add_run_options` and :func:`run_max_tick` are the one rule for how long a session
runs: ``--seconds S`` stops every peer at the same agreed tick ``(S + settle) * fps`` of
the shared clock, whenever each peer started.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from arcade_p2p.cli_support import check_delay_ms, check_positive, delay_arg
from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import UsageError
from arcade_p2p.link_model import default_jitter_ms
from arcade_p2p.session import SessionConfig
from arcade_p2p.transport import Address, LinkEmulation, LinkModel, parse_address

__all__ = [
    "DEFAULT_DESYNC_DIR",
    "DEFAULT_SETTLE_S",
    "LINGER_S",
    "PeerOptions",
    "add_autopilot_option",
    "add_peer_options",
    "add_run_options",
    "autopilot_rng",
    "peer_options",
    "random_peer_id",
    "run_max_tick",
]

DEFAULT_SETTLE_S = 3.0
"""Seconds of networking without new input before the agreed last tick."""
LINGER_S = 1.0
"""Seconds a peer keeps networking after reaching its last tick, repairing late events and
answering the others' pulls, before it stops."""
DEFAULT_DESYNC_DIR = "arcade-p2p-desyncs"
"""Where desync forensics bundles go unless ``--desync-dir`` says otherwise."""


@dataclass(frozen=True, slots=True)
class PeerOptions:
    """What a real-time peer needs to start.

    Attributes:
        peer_id: This session's id.
        host: Address to bind.
        port: Port to bind (0: any free port).
        peers: Neighbours to dial.
        config: Session settings.
        emulation: User-space link emulation of arriving datagrams, if any.
        discover: Whether to find peers of the room on the LAN (``--no-discover``: no).
        desync_dir: Folder where desync forensics bundles are written.
    """

    peer_id: int
    host: str
    port: int
    peers: list[Address]
    config: SessionConfig
    emulation: LinkEmulation | None
    discover: bool = True
    desync_dir: Path = Path(DEFAULT_DESYNC_DIR)


def random_peer_id() -> int:
    """A random 63-bit peer id (so a restarted peer never reuses its old id)."""
    return secrets.randbits(63)


def add_peer_options(parser: argparse.ArgumentParser, defaults: SessionConfig) -> None:
    """Add the shared peer flags to ``parser``."""
    parser.add_argument("--id", type=int, default=None, help="peer id (default: random)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="IPv4 address to bind (0.0.0.0 for a LAN)"
    )
    parser.add_argument("--port", type=int, default=0, help="UDP port (0: any free port)")
    parser.add_argument(
        "--peer",
        action="extend",
        nargs="+",
        default=[],
        metavar="HOST:PORT",
        help="peers to dial (repeatable; the room only needs to be connected: events "
        "travel hop by hop; default: none)",
    )
    parser.add_argument(
        "--no-discover",
        action="store_true",
        help="do not find peers of the room on the LAN (only --peer is dialled)",
    )
    parser.add_argument("--room", default=defaults.room, help="room name")
    parser.add_argument(
        "--key",
        default=defaults.key,
        metavar="PASSPHRASE",
        help="secret room key: only peers with the same room and key play together "
        "(default: none, anyone who knows the room name can join)",
    )
    parser.add_argument("--fps", type=int, default=defaults.fps, help="ticks per second")
    parser.add_argument(
        "--delay-ms",
        type=delay_arg,
        default=defaults.delay_ms,
        metavar="MS",
        help="Delta: how far ahead local input is stamped, in milliseconds (one tick or "
        "more), or auto: chosen from how late this peer's input arrives at the others",
    )
    parser.add_argument(
        "--clock",
        choices=[mode.value for mode in ClockMode],
        default=defaults.clock.value,
        help="clock rule",
    )
    parser.add_argument(
        "--emulate-latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="emulate links: mean one-way latency added to every datagram this peer "
        "receives (to watch rollback locally)",
    )
    parser.add_argument(
        "--emulate-jitter-ms",
        type=float,
        default=None,
        metavar="MS",
        help="standard deviation of that latency (default: a fifth of it)",
    )
    parser.add_argument(
        "--emulate-loss",
        type=float,
        default=0.0,
        metavar="P",
        help="emulate links: probability that a datagram this peer receives is lost",
    )
    parser.add_argument(
        "--emulate-duplicate",
        type=float,
        default=0.0,
        metavar="P",
        help="emulate links: probability that a datagram this peer receives arrives twice",
    )
    parser.add_argument(
        "--desync-dir",
        default=DEFAULT_DESYNC_DIR,
        metavar="DIR",
        help="folder for desync forensics bundles (see 'arcade-p2p replay')",
    )


def add_run_options(
    parser: argparse.ArgumentParser, *, seconds: float | None, max_tick: bool = True
) -> None:
    """Add ``--seconds``, ``--settle`` and ``--max-tick``: how long a session runs.

    Args:
        parser: Where to add them.
        seconds: Default of ``--seconds`` (None: run until stopped).
        max_tick: Whether to add ``--max-tick`` too.
    """
    until = "" if seconds is not None else " (default: until the window is closed)"
    parser.add_argument(
        "--seconds",
        type=float,
        default=seconds,
        metavar="S",
        help="run the session for S seconds, then settle and stop at the agreed tick "
        f"(seconds + settle) x fps, the same on every peer{until}",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE_S,
        metavar="S",
        help="seconds of networking without new input before the agreed last tick",
    )
    if not max_tick:
        return
    parser.add_argument(
        "--max-tick",
        type=int,
        default=None,
        metavar="TICK",
        help="last tick to simulate; the run ends there (default: (seconds + settle) x fps "
        "with --seconds, else none)",
    )


def run_max_tick(args: argparse.Namespace) -> int | None:
    """The agreed last tick from ``--seconds``, ``--settle``, ``--max-tick`` and ``--fps``.

    Every peer's clock follows the network's tick, so peers given the same values stop at
    the same tick whenever each of them started: ``round((seconds + settle) * fps)``,
    unless ``--max-tick`` says otherwise.

    Returns:
        The last tick to simulate, or None to run until stopped.

    Raises:
        UsageError: A value is out of range.
    """
    check_positive("--seconds", args.seconds)
    check_positive("--settle", args.settle, allow_zero=True)
    if args.max_tick is not None:
        if args.max_tick < 0:
            raise UsageError(f"--max-tick must be >= 0, got {args.max_tick}")
        return int(args.max_tick)
    if args.seconds is None:
        return None
    end_tick: int = round((args.seconds + args.settle) * args.fps)
    return end_tick


def peer_options(
    args: argparse.Namespace, defaults: SessionConfig, *, seed: int | None = None
) -> PeerOptions:
    """Validate the shared peer flags.

    Args:
        args: Parsed flags (from a parser given :func:`add_peer_options`).
        defaults: Settings the flags override (fps, Delta, clock, room).
        seed: Seed of the link emulation (default: the peer id).

    Raises:
        UsageError: A value is out of range or an address cannot be parsed.
    """
    jitter_ms = args.emulate_jitter_ms
    if jitter_ms is None:
        jitter_ms = default_jitter_ms(args.emulate_latency_ms)
    for flag, value in (
        ("--emulate-latency-ms", args.emulate_latency_ms),
        ("--emulate-jitter-ms", jitter_ms),
        ("--emulate-loss", args.emulate_loss),
        ("--emulate-duplicate", args.emulate_duplicate),
    ):
        check_positive(flag, value, allow_zero=True)
    link = LinkModel.from_ms(
        args.emulate_latency_ms,
        jitter_ms,
        loss=args.emulate_loss,
        duplicate=args.emulate_duplicate,
    )
    check_delay_ms(args.delay_ms, args.fps)
    config = dataclasses.replace(
        defaults,
        fps=args.fps,
        delay_ms=args.delay_ms,
        clock=ClockMode(args.clock),
        room=args.room,
        key=args.key,
    )
    config.validate()
    peer_id = random_peer_id() if args.id is None else args.id
    emulation = None
    if not link.is_perfect:
        emulation = LinkEmulation(link, seed=peer_id if seed is None else seed)
    peers = [parse_address(text) for text in args.peer]
    return PeerOptions(
        peer_id,
        args.host,
        args.port,
        peers,
        config,
        emulation,
        discover=not args.no_discover,
        desync_dir=Path(args.desync_dir),
    )


def add_autopilot_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--autopilot SEED``: seeded random input (each game defines what that means)."""
    parser.add_argument(
        "--autopilot",
        type=int,
        default=None,
        metavar="SEED",
        help="play by itself: seeded random input on this peer, for demos and soak runs "
        "(default: off)",
    )


def autopilot_rng(seed: int, peer_id: int) -> random.Random:
    """The autopilot's randomness: one stream per ``(seed, peer_id)``, the same every run.

    Args:
        seed: The ``--autopilot`` seed shared by the peers of a run.
        peer_id: This peer's id (so every peer plays differently).
    """
    return random.Random(f"autopilot:{seed}:{peer_id}")
