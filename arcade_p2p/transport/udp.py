"""The UDP transport: the game's socket and its receive thread.

How this works: :class:`UdpTransport` binds one IPv4 UDP socket (port 0 picks a free
port; :attr:`UdpTransport.address` tells which). One background daemon thread (a
:class:`~arcade_p2p.transport.socket_thread.SocketThread`) sleeps in ``select`` on that
socket, drains every datagram that arrives into an inbox guarded by a
lock, stamps it with its arrival time (``time.monotonic()``) and wakes anyone blocked in
:meth:`UdpTransport.wait`. Everything else happens on the driver's thread: it calls
:meth:`UdpTransport.receive_ready` to take what has arrived (non-blocking),
:meth:`UdpTransport.send` to send (the socket is non-blocking, so this never stalls a
frame), and :meth:`UdpTransport.wait` to sleep until a datagram arrives, a deadline
passes or another thread calls :meth:`UdpTransport.wake` -- there is no busy loop. With a
gossip thread (:mod:`arcade_p2p.gossip_thread`) that thread is the driver side.

Nothing from the network can raise into the game loop: send errors (for example the
``ECONNREFUSED`` Linux reports after an ICMP "port unreachable" from a peer that went
away, or ``EAGAIN`` when the send buffer is full) and receive errors are counted by
reason in :meth:`UdpTransport.stats`, and the datagram is simply lost, as UDP allows.

With a :class:`~arcade_p2p.transport.emulation.LinkEmulation`, arrivals go through it on
the receive path: each is dropped or held for its emulated one-way delay, and
:meth:`UdpTransport.receive_ready` returns only the datagrams whose delay has elapsed.
All times are ``time.monotonic()`` seconds.

The inbox is bounded (:data:`INBOX_LIMIT_BYTES`): a driver that stops taking datagrams
(a frozen game, a debugger) cannot make it grow without end. A datagram that arrives at
a full inbox is dropped, as a full socket buffer would drop it, counted in
:attr:`TransportStats.inbox_dropped` and reported by one WARNING log line per transport.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from types import TracebackType

from arcade_p2p.errors import UsageError
from arcade_p2p.transport.emulation import Address, LinkEmulation
from arcade_p2p.transport.socket_thread import SocketThread

__all__ = ["TransportStats", "UdpTransport", "parse_address", "reason_of"]

RECV_BUFFER_BYTES = 65_535
"""Largest datagram read from the socket (bigger than any valid one; the codec rejects
oversized datagrams with a counted reason)."""

INBOX_LIMIT_BYTES = 8 * 2**20
"""Most bytes of datagrams waiting in the inbox; arrivals beyond it are dropped."""

log = logging.getLogger("arcade_p2p.transport")


@dataclass(frozen=True, slots=True)
class TransportStats:
    """A snapshot of a transport's counters.

    Attributes:
        datagrams_sent: Datagrams handed to the operating system.
        bytes_sent: Bytes in those datagrams.
        datagrams_received: Datagrams read from the socket (before emulated loss).
        bytes_received: Bytes in those datagrams.
        send_errors: Failed sends by reason (an errno name such as ``"ECONNREFUSED"``).
        receive_errors: Failed reads by reason.
        emulated_lost: Datagrams dropped by the link emulation.
        emulated_held: Datagrams currently held back by the link emulation.
        inbox_dropped: Datagrams dropped because the inbox was full (the driver did not
            take them in time; see :data:`INBOX_LIMIT_BYTES`).
    """

    datagrams_sent: int
    bytes_sent: int
    datagrams_received: int
    bytes_received: int
    send_errors: dict[str, int] = field(default_factory=dict)
    receive_errors: dict[str, int] = field(default_factory=dict)
    emulated_lost: int = 0
    emulated_held: int = 0
    inbox_dropped: int = 0


def parse_address(text: str) -> Address:
    """Turn ``"HOST:PORT"`` into a numeric IPv4 address ``(ip, port)``.

    Host names are resolved once, here, so that the address a peer is dialled at is the
    same one its datagrams come back from.

    Raises:
        UsageError: The text is not ``HOST:PORT`` or the host does not resolve to IPv4.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65_536:
        raise UsageError(f"expected HOST:PORT with a port in 1..65535, got {text!r}")
    try:
        infos = socket.getaddrinfo(host, int(port_text), socket.AF_INET, socket.SOCK_DGRAM)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot resolve {host!r} to an IPv4 address: {exc}") from None
    ip, port = infos[0][4][:2]
    return str(ip), int(port)


def reason_of(exc: OSError) -> str:
    """A stable counter key for an OS error (its errno name when it has one)."""
    if exc.errno is not None and exc.errno in errno.errorcode:
        return errno.errorcode[exc.errno]
    return type(exc).__name__


class UdpTransport:
    """A bound UDP socket with a background receive thread.

    Args:
        host: IPv4 address to bind (``"127.0.0.1"`` for loopback only).
        port: Port to bind; 0 lets the operating system choose a free one.
        emulation: Optional link emulation applied to every received datagram.
        inbox_limit_bytes: Most bytes waiting in the inbox before arrivals are dropped.

    Raises:
        UsageError: The address cannot be bound.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        emulation: LinkEmulation | None = None,
        inbox_limit_bytes: int = INBOX_LIMIT_BYTES,
    ) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except (OSError, OverflowError, UnicodeError) as exc:
            sock.close()
            raise UsageError(f"cannot bind UDP {host}:{port}: {exc}") from None
        sock.setblocking(False)
        ip, bound_port = sock.getsockname()[:2]
        self.address: Address = (str(ip), int(bound_port))
        self.emulation = emulation
        self._sock = sock
        self._arrived = threading.Condition(threading.Lock())
        self._inbox: deque[tuple[bytes, Address, float]] = deque()
        self._inbox_bytes = 0
        self._inbox_limit_bytes = inbox_limit_bytes
        self._inbox_dropped = 0
        self._closed = False
        self._woken = False
        self._sent = 0
        self._bytes_sent = 0
        self._received = 0
        self._bytes_received = 0
        self._send_errors: Counter[str] = Counter()
        self._receive_errors: Counter[str] = Counter()
        self._io = SocketThread(sock, self._receive_loop, f"arcade-p2p-udp-{bound_port}")
        self._io.start()

    # ----------------------------------------------------------------- driver side
    def send(self, data: bytes, address: Address) -> None:
        """Send one datagram; failures are counted in :meth:`stats`, never raised.

        Raises:
            UsageError: The transport is closed.
        """
        if self._closed:
            raise UsageError("send on a closed UdpTransport")
        try:
            self._sock.sendto(data, address)
        except OSError as exc:
            self._send_errors[reason_of(exc)] += 1
            return
        self._sent += 1
        self._bytes_sent += len(data)

    def receive_ready(self, now: float) -> list[tuple[bytes, Address]]:
        """Take every datagram that is ready by ``now``, without blocking.

        Args:
            now: Current ``time.monotonic()`` (decides which emulated delays are over).

        Returns:
            ``(data, address)`` pairs in arrival (or emulated release) order.
        """
        with self._arrived:
            arrived = list(self._inbox)
            self._inbox.clear()
            self._inbox_bytes = 0
        emulation = self.emulation
        if emulation is None:
            return [(data, address) for data, address, _ in arrived]
        for data, address, at in arrived:
            emulation.arrive(data, address, now=at)
        return emulation.release(now=now)

    def wait(self, timeout: float) -> None:
        """Block until a datagram arrives, an emulated delay ends, or ``timeout`` passes.

        Args:
            timeout: Longest wait in seconds (zero or negative: return at once).
        """
        deadline = time.monotonic() + timeout
        release = self.emulation.next_release() if self.emulation is not None else None
        if release is not None:
            deadline = min(deadline, release)
        remaining = deadline - time.monotonic()
        with self._arrived:
            if remaining > 0.0:
                self._arrived.wait_for(
                    lambda: bool(self._inbox) or self._woken or self._closed, timeout=remaining
                )
            self._woken = False

    def wake(self) -> None:
        """Make a :meth:`wait` in progress (or the next one) return at once.

        Another thread calls it when it has given the waiting thread work (a local event
        to send).
        """
        with self._arrived:
            self._woken = True
            self._arrived.notify_all()

    def stats(self) -> TransportStats:
        """Current counters."""
        emulation = self.emulation
        with self._arrived:
            received, bytes_received = self._received, self._bytes_received
            receive_errors = dict(self._receive_errors)
            inbox_dropped = self._inbox_dropped
        return TransportStats(
            datagrams_sent=self._sent,
            bytes_sent=self._bytes_sent,
            datagrams_received=received,
            bytes_received=bytes_received,
            send_errors=dict(self._send_errors),
            receive_errors=receive_errors,
            emulated_lost=emulation.stats.lost if emulation is not None else 0,
            emulated_held=emulation.held if emulation is not None else 0,
            inbox_dropped=inbox_dropped,
        )

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Stop the receive thread and release the socket (calling it again does nothing)."""
        if self._closed:
            return
        with self._arrived:
            self._closed = True
            self._arrived.notify_all()
        self._io.stop()

    def __enter__(self) -> UdpTransport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- receive thread
    def _receive_loop(self) -> None:
        while True:
            _, woken = self._io.wait(None)
            if woken:  # only close() wakes this thread
                return
            self._drain()

    def _drain(self) -> None:
        """Read everything the socket holds now and hand it to the driver side."""
        batch: list[tuple[bytes, Address, float]] = []
        errors: list[str] = []
        while True:
            try:
                data, address = self._sock.recvfrom(RECV_BUFFER_BYTES)
            except BlockingIOError:
                break
            except OSError as exc:  # e.g. ECONNREFUSED left over from an ICMP error
                errors.append(reason_of(exc))
                break
            batch.append((data, (str(address[0]), int(address[1])), time.monotonic()))
        with self._arrived:
            first_drop = self._inbox_dropped == 0
            for item in batch:
                size = len(item[0])
                if self._inbox_bytes + size > self._inbox_limit_bytes:
                    self._inbox_dropped += 1
                else:
                    self._inbox.append(item)
                    self._inbox_bytes += size
            self._received += len(batch)
            self._bytes_received += sum(len(data) for data, _, _ in batch)
            self._receive_errors.update(errors)
            if batch:
                self._arrived.notify_all()
            if first_drop and self._inbox_dropped:
                log.warning(
                    "UDP %s:%d: inbox full (%d bytes waiting): dropping arrivals until the "
                    "driver takes them (counted as inbox_dropped)",
                    *self.address,
                    self._inbox_bytes,
                )
