"""LAN discovery: UDP multicast beacons, so that peers of a room need no typed address.

How this works: :class:`Discovery` opens one UDP socket bound to the well-known discovery
port (:data:`DEFAULT_PORT`, shared by every process of the machine thanks to
``SO_REUSEADDR``/``SO_REUSEPORT``) and joined to the multicast group
:data:`DEFAULT_GROUP` on the interfaces the game socket is reachable on: loopback for a
game socket bound to 127.0.0.1, loopback and the default LAN interface for 0.0.0.0, that
interface alone for another address. Beacons go out on the same interfaces, so their
source address always reaches the game socket. Multicast loop is on and the TTL is 1: beacons never
leave the local network, and every process on the machine hears every other. One
background daemon thread owns the socket. It sends this peer's
:class:`~arcade_p2p.protocol.beacon.Beacon` (peer id and game port, MAC'd with the room's
key) once at start-up and then every :data:`BEACON_INTERVAL_S` with jitter, answers at
once a probing newcomer, and hands every beacon of the room to a sans-io
:class:`~arcade_p2p.protocol.beacon.Neighbourhood`; beacons that fail to decode (another
room's: ``bad_mac``) are dropped and counted by reason.

The driver thread asks :meth:`Discovery.join` once before its session starts (wait up to
:data:`PROBE_S` for a running room; those peers are dialled before the first tick, so the
newcomer joins exactly as with ``--peer``), then :meth:`Discovery.choose` every turn of
the crank (peers to dial now). The address dialled is the beacon's source IP with the
game port it announces; the gossip handshake then authenticates the peer again.

The group and port can be overridden with the environment variables
``ARCADE_P2P_DISCOVERY_GROUP`` and ``ARCADE_P2P_DISCOVERY_PORT`` (tests use this to keep
parallel runs apart). All times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from types import TracebackType

from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.protocol.beacon import (
    MAX_BEACON_BYTES,
    Beacon,
    Neighbourhood,
    decode_beacon,
    encode_beacon,
)
from arcade_p2p.protocol.wire import WireCodec
from arcade_p2p.transport.emulation import Address
from arcade_p2p.transport.socket_thread import SocketThread
from arcade_p2p.transport.udp import reason_of

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_PORT",
    "GROUP_ENV",
    "PORT_ENV",
    "Discovery",
    "DiscoveryStats",
    "discovery_endpoint",
]

log = logging.getLogger("arcade_p2p.discovery")

DEFAULT_GROUP = "239.192.80.2"
"""Multicast group of beacons (organisation-local scope, 239.192.0.0/14)."""
DEFAULT_PORT = 47_820
"""UDP port of beacons (every peer of the machine binds it, with port reuse)."""
GROUP_ENV = "ARCADE_P2P_DISCOVERY_GROUP"
PORT_ENV = "ARCADE_P2P_DISCOVERY_PORT"
LOOPBACK_IP = "127.0.0.1"
ANY_IP = "0.0.0.0"
BEACON_INTERVAL_S = 1.0
"""Mean period of beacons."""
BEACON_JITTER = 0.2
"""Each period is drawn uniformly within +-20 % of the mean (peers do not beat in step)."""
ANSWER_GAP_S = 0.05
"""A probing newcomer is answered at once, but at most one beacon per this many seconds."""
FORGET_AFTER_S = 3.5 * BEACON_INTERVAL_S
"""A peer whose beacons stop for this long is forgotten (three beacons lost in a row)."""
PROBE_S = 0.3
"""Longest wait at start-up for a running peer of the room to answer."""
MAX_DIALS = 3
"""Most discovered peers one peer dials (others may dial it: see the Neighbourhood)."""
MULTICAST_TTL = 1
"""Beacons stay on the local network."""
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49 if sys.platform == "linux" else None)
"""Linux socket option (missing from Python's ``socket``): when on (Linux's default), a
socket bound to the port also receives other groups joined by other sockets; turned off."""


@dataclass(frozen=True, slots=True)
class DiscoveryStats:
    """A snapshot of discovery's counters.

    Attributes:
        beacons_sent: Beacons handed to the operating system (one per interface).
        beacons_received: Beacons of this room from other peers.
        peers_heard: Peers of the room currently heard.
        dialled: Discovered peers dialled so far.
        dropped: Beacons dropped by reason (``bad_mac``: another room's).
        errors: Socket errors by reason (sends, receives, group joins).
    """

    beacons_sent: int
    beacons_received: int
    peers_heard: int
    dialled: int
    dropped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)


def discovery_endpoint() -> tuple[str, int]:
    """The multicast group and port in use (defaults, or the environment's overrides).

    Raises:
        UsageError: An override is not an IPv4 multicast address or a port.
    """
    group = os.environ.get(GROUP_ENV, DEFAULT_GROUP)
    port_text = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    try:
        multicast = socket.inet_aton(group)[0] >> 4 == 0b1110
    except OSError:
        multicast = False
    if not multicast:
        raise UsageError(f"{GROUP_ENV} must be an IPv4 multicast address, got {group!r}")
    if not port_text.isdigit() or not 0 < int(port_text) < 65_536:
        raise UsageError(f"{PORT_ENV} must be a port in 1..65535, got {port_text!r}")
    return group, int(port_text)


class Discovery:
    """Beacons on the LAN for one peer, and the peers of its room they reveal.

    Args:
        codec: The room's wire codec (its MAC authenticates beacons).
        peer_id: This peer's id.
        game_address: ``(ip, port)`` of the peer's game socket. Its IP chooses the
            interfaces: loopback only for a 127.x address, loopback and the LAN for
            0.0.0.0, that interface only for another address.
        rng: Seeded randomness (beacon jitter, choice of peers to dial).

    Raises:
        UsageError: The discovery port cannot be bound (``--no-discover`` avoids it).
    """

    def __init__(
        self,
        codec: WireCodec,
        *,
        peer_id: int,
        game_address: Address,
        rng: random.Random | None = None,
    ) -> None:
        self.group, self.port = discovery_endpoint()
        self._codec = codec
        self._rng = rng or random.Random(peer_id)
        self._lock = threading.Condition(threading.Lock())
        self._neighbourhood = Neighbourhood(
            peer_id, max_dials=MAX_DIALS, forget_after_s=FORGET_AFTER_S, rng=self._rng
        )
        self._beacon = Beacon(peer_id, game_address[1], running=False)
        self._dropped: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._sent = 0
        self._received = 0
        self._dialled = 0
        self._interfaces = _interfaces(game_address[0])
        self._sock = self._open_socket()
        self._closed = False
        self._next_beacon = time.monotonic()
        self._last_beacon = -float("inf")
        self._io = SocketThread(self._sock, self._loop, f"arcade-p2p-discovery-{peer_id}")
        self._io.start()

    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((ANY_IP, self.port))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if IP_MULTICAST_ALL is not None:
                sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
        except OSError as exc:
            sock.close()
            raise UsageError(
                f"cannot open LAN discovery on UDP port {self.port}: {exc}"
                " (use --no-discover and --peer instead)"
            ) from None
        group = socket.inet_aton(self.group)
        for ip in self._interfaces:
            try:
                membership = group + socket.inet_aton(ip)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            except OSError as exc:  # e.g. no LAN interface on this machine
                self._errors[f"join_{reason_of(exc)}"] += 1
                log.info("cannot join %s on %s: %s", self.group, ip, exc)
        sock.setblocking(False)
        return sock

    # ----------------------------------------------------------------- driver side
    def join(self, timeout_s: float = PROBE_S) -> list[Address]:
        """Wait up to ``timeout_s`` for a running peer of the room; then start running.

        Call it once, after binding the game socket and before the session's first tick:
        dialling the peers it returns makes the session a joiner, which holds at START
        and catches up, exactly as with ``--peer``.

        Returns:
            Addresses of running peers to dial (none if the room is empty).
        """
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._lock.wait_for(
                lambda: self._neighbourhood.any_running(time.monotonic()) or self._closed,
                timeout=max(0.0, deadline - time.monotonic()),
            )
            found = self._neighbourhood.join(time.monotonic())
            self._dialled += len(found)
            self._beacon = Beacon(self._beacon.peer, self._beacon.port, running=True)
            self._next_beacon = time.monotonic()  # tell probing newcomers at once
        self._io.wake()
        return found

    def choose(self, linked: Collection[Hashable]) -> list[Address]:
        """Discovered peers to dial now.

        Args:
            linked: Addresses of the session's current neighbours.
        """
        with self._lock:
            found = self._neighbourhood.choose(time.monotonic(), linked)
            self._dialled += len(found)
        return found

    def stats(self) -> DiscoveryStats:
        """Current counters."""
        with self._lock:
            return DiscoveryStats(
                beacons_sent=self._sent,
                beacons_received=self._received,
                peers_heard=self._neighbourhood.heard(time.monotonic()),
                dialled=self._dialled,
                dropped=dict(self._dropped),
                errors=dict(self._errors),
            )

    def close(self) -> None:
        """Stop the thread and release the socket (calling it again does nothing)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify_all()
        self._io.stop()

    def __enter__(self) -> Discovery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- thread
    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                timeout = self._next_beacon - time.monotonic()
            readable, _ = self._io.wait(max(0.0, timeout))
            if readable:
                self._drain()
            with self._lock:
                due = time.monotonic() >= self._next_beacon
            if due:
                self._send_beacon()

    def _drain(self) -> None:
        while True:
            try:
                data, (ip, _) = self._sock.recvfrom(MAX_BEACON_BYTES + 1)
            except BlockingIOError:
                return
            except OSError as exc:
                with self._lock:
                    self._errors[f"recv_{reason_of(exc)}"] += 1
                return
            self._hear(data, str(ip), time.monotonic())

    def _hear(self, data: bytes, ip: str, now: float) -> None:
        try:
            beacon = decode_beacon(self._codec, data)
        except RemoteError as exc:
            with self._lock:
                self._dropped[exc.reason] += 1
            return
        with self._lock:
            me = self._beacon
            if beacon.peer == me.peer:
                return  # our own beacon, looped back
            self._received += 1
            self._neighbourhood.hear(beacon, ip, now)
            if not beacon.running and me.running:  # a newcomer probing: answer soon
                answer_at = max(now, self._last_beacon + ANSWER_GAP_S)
                self._next_beacon = min(self._next_beacon, answer_at)
            self._lock.notify_all()

    def _send_beacon(self) -> None:
        now = time.monotonic()
        with self._lock:
            data = encode_beacon(self._codec, self._beacon)
            jitter = self._rng.uniform(1.0 - BEACON_JITTER, 1.0 + BEACON_JITTER)
            self._next_beacon = now + BEACON_INTERVAL_S * jitter
            self._last_beacon = now
        sent = 0
        errors: list[str] = []
        for ip in self._interfaces:
            try:
                self._sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ip)
                )
                self._sock.sendto(data, (self.group, self.port))
                sent += 1
            except OSError as exc:  # e.g. no route on a machine without a LAN
                errors.append(f"send_{reason_of(exc)}")
        with self._lock:
            self._sent += sent
            self._errors.update(errors)


def _interfaces(game_ip: str) -> tuple[str, ...]:
    """Interfaces (by address) that beacons use, given the game socket's address."""
    if game_ip.startswith("127."):
        return (LOOPBACK_IP,)
    if game_ip == ANY_IP:
        return (LOOPBACK_IP, ANY_IP)
    return (game_ip,)
