"""LAN beacons: how peers of a room find each other, and whom each of them dials.

How this works: a beacon is ``BEACON_MAGIC (2 bytes) | VERSION (1 byte) | body | MAC
(16 bytes)``, the body one msgpack array ``[peer, port, running]``: "peer ``peer`` of this
room listens on UDP port ``port`` at the address this beacon came from; it is running (its
session has started) or still probing (listening for a running room to join)". The MAC is
the room's own (:meth:`~arcade_p2p.protocol.wire.WireCodec.mac`), so a beacon of another
room fails it like any datagram of another room, and whatever key the codec uses also
protects beacons. The magic differs from game datagrams', so neither is ever mistaken for
the other.

:class:`Neighbourhood` is the sans-io part of discovery. It remembers each peer heard from
by id (a peer heard on two interfaces is dialled at one address only) and forgets peers
silent for ``forget_after_s``. It decides whom to dial:

* at start-up, :meth:`Neighbourhood.join` picks up to ``max_dials`` *running* peers: the
  newcomer dials them before its first tick, so it joins the room exactly as with
  ``--peer`` (it holds and catches up);
* afterwards, :meth:`Neighbourhood.choose` dials running peers whose id is *lower* than
  its own, at random, while fewer than ``max_dials`` of its dials are alive. Every peer
  but the lowest therefore links to a lower one, so the room's graph is connected
  whatever the order of start-up, each peer dials at most ``max_dials`` others, and two
  peers never dial each other at the same moment (which would make both wait as joiners).
  Anyone who dials a peer is accepted by the gossip node as usual.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Hashable
from dataclasses import dataclass

import msgpack

from arcade_p2p.errors import RemoteError
from arcade_p2p.events import MAX_SOURCE_ID
from arcade_p2p.protocol.wire import MAC_BYTES, WireCodec

__all__ = [
    "BEACON_MAGIC",
    "MAX_BEACON_BYTES",
    "Beacon",
    "Neighbourhood",
    "decode_beacon",
    "encode_beacon",
]

BEACON_MAGIC = b"AB"
BEACON_VERSION = 2
"""2: the room MAC is keyed BLAKE2b (wire version 2)."""
HEADER_BYTES = len(BEACON_MAGIC) + 1
MAX_BEACON_BYTES = 64
"""Largest beacon accepted (a valid one has at most 36 bytes)."""
MAX_PORT = 65_535

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Beacon:
    """Peer ``peer`` of this room listens on UDP ``port`` of the beacon's source address.

    Attributes:
        peer: The sender's peer id.
        port: UDP port of the sender's game socket.
        running: Whether the sender's session has started (False: it is still probing
            for a running room to join, and running peers answer at once).
    """

    peer: int
    port: int
    running: bool


def encode_beacon(codec: WireCodec, beacon: Beacon) -> bytes:
    """Encode and authenticate a beacon with the room's MAC."""
    body: bytes = msgpack.packb([beacon.peer, beacon.port, beacon.running], use_bin_type=True)
    signed = BEACON_MAGIC + bytes((BEACON_VERSION,)) + body
    return signed + codec.mac(signed)


def decode_beacon(codec: WireCodec, data: bytes) -> Beacon:
    """Check and decode a beacon.

    Raises:
        RemoteError: For anything unacceptable (``bad_mac``: another room's beacon).
    """
    if len(data) > MAX_BEACON_BYTES:
        raise RemoteError("oversized", f"{len(data)} bytes")
    if len(data) < HEADER_BYTES + MAC_BYTES + 1:
        raise RemoteError("truncated", f"{len(data)} bytes")
    if data[: len(BEACON_MAGIC)] != BEACON_MAGIC:
        raise RemoteError("bad_magic")
    if data[len(BEACON_MAGIC)] != BEACON_VERSION:
        raise RemoteError("bad_version", f"version {data[len(BEACON_MAGIC)]}")
    signed, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    if not codec.mac_matches(signed, mac):
        raise RemoteError("bad_mac", "another room's beacon, or tampered")
    try:
        body = msgpack.unpackb(signed[HEADER_BYTES:], raw=False)
    except Exception as exc:  # msgpack raises many types for bad input
        raise RemoteError("malformed", f"msgpack: {type(exc).__name__}") from None
    if not isinstance(body, list) or len(body) != 3:
        raise RemoteError("malformed", "beacon body is not a list of 3 items")
    peer, port, running = body
    if type(peer) is not int or not 0 <= peer <= MAX_SOURCE_ID:
        raise RemoteError("malformed", "beacon peer id out of range")
    if type(port) is not int or not 0 < port <= MAX_PORT:
        raise RemoteError("malformed", "beacon port out of range")
    if type(running) is not bool:
        raise RemoteError("malformed", "beacon running flag is not a bool")
    return Beacon(peer, port, running)


@dataclass(slots=True)
class _Heard:
    address: Address
    running: bool
    last_heard: float


class Neighbourhood:
    """Peers of the room heard on the LAN, and whom to dial (sans-io; see the module).

    Args:
        me: This peer's id (its own beacons are ignored).
        max_dials: Most discovered peers this peer dials and keeps dialled.
        forget_after_s: A peer whose beacons stop for this long is forgotten.
        rng: Seeded randomness for the choice among candidates.
    """

    def __init__(
        self, me: int, *, max_dials: int, forget_after_s: float, rng: random.Random
    ) -> None:
        self.me = me
        self.max_dials = max_dials
        self.forget_after_s = forget_after_s
        self._rng = rng
        self._heard: dict[int, _Heard] = {}
        self._dialled: set[int] = set()

    def hear(self, beacon: Beacon, ip: str, now: float) -> None:
        """Note a beacon of this room that came from ``ip``."""
        if beacon.peer == self.me:
            return
        known = self._heard.get(beacon.peer)
        if known is not None and known.address[1] == beacon.port:
            known.running = beacon.running  # keep the first address it was heard at
            known.last_heard = now
        else:
            self._heard[beacon.peer] = _Heard((ip, beacon.port), beacon.running, now)

    def heard(self, now: float) -> int:
        """How many peers of the room are currently heard."""
        self._forget(now)
        return len(self._heard)

    def any_running(self, now: float) -> bool:
        """Whether some running peer of the room is currently heard."""
        self._forget(now)
        return any(h.running for h in self._heard.values())

    def join(self, now: float) -> list[Address]:
        """Running peers to dial before the first tick, so as to join the room."""
        self._forget(now)
        return self._dial([p for p, h in self._heard.items() if h.running])

    def choose(self, now: float, linked: Collection[Hashable]) -> list[Address]:
        """Peers to dial now (lower ids, not yet linked, while dials are below the bound).

        Args:
            now: Current time.
            linked: Addresses of current neighbours (whoever dialled this peer included).
        """
        self._forget(now)
        candidates = [
            p
            for p, h in self._heard.items()
            if p < self.me and h.running and p not in self._dialled and h.address not in linked
        ]
        return self._dial(candidates)

    def _dial(self, candidates: list[int]) -> list[Address]:
        room = self.max_dials - len(self._dialled)
        if room <= 0 or not candidates:
            return []
        candidates.sort()
        chosen = self._rng.sample(candidates, min(room, len(candidates)))
        self._dialled.update(chosen)
        return [self._heard[p].address for p in chosen]

    def _forget(self, now: float) -> None:
        """Forget peers gone silent (a dialled one frees its place)."""
        for peer in [p for p, h in self._heard.items() if now - h.last_heard > self.forget_after_s]:
            del self._heard[peer]
            self._dialled.discard(peer)
