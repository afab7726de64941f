"""Command-line options shared by every real-time peer: ``arcade-p2p peer`` and games.

How this works: :func:`add_peer_options` adds the network and session flags (identity,
binding, neighbours, room and its key, fps, Delta, clock, link emulation) to a parser, with
defaults taken from a :class:`~arcade_p2p.session.SessionConfig`; :func:`peer_options`
turns the parsed flags into a validated :class:`PeerOptions`, raising
:class:`~arcade_p2p.errors.UsageError` with a one-line message for bad values.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
from dataclasses import dataclass
from pathlib import Path

from arcade_p2p.clock import ClockMode
from arcade_p2p.session import SessionConfig
from arcade_p2p.transport import Address, LinkEmulation, LinkModel, parse_address

__all__ = [
    "DEFAULT_DESYNC_DIR",
    "PeerOptions",
    "add_peer_options",
    "peer_options",
    "random_peer_id",
]

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
        "travel hop by hop)",
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
        type=float,
        default=defaults.delay_ms,
        help="Delta: how far ahead local input is stamped, in milliseconds",
    )
    parser.add_argument(
        "--clock",
        metavar="MODE",
        default=defaults.clock.value,
        help=f"clock rule: paper or default (default {defaults.clock})",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="emulated one-way latency of arriving datagrams (to watch rollback locally)",
    )
    parser.add_argument(
        "--jitter-ms", type=float, default=0.0, help="standard deviation of that latency"
    )
    parser.add_argument(
        "--loss", type=float, default=0.0, help="emulated loss probability of arrivals"
    )
    parser.add_argument(
        "--duplicate",
        type=float,
        default=0.0,
        help="emulated probability that an arrival is delivered twice",
    )
    parser.add_argument(
        "--desync-dir",
        default=DEFAULT_DESYNC_DIR,
        help="folder for desync forensics bundles (see 'arcade-p2p replay')",
    )


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
    link = LinkModel.from_ms(
        args.latency_ms, args.jitter_ms, loss=args.loss, duplicate=args.duplicate
    )
    config = dataclasses.replace(
        defaults,
        fps=args.fps,
        delay_ms=args.delay_ms,
        clock=ClockMode.from_name(args.clock),
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
