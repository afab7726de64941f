"""The real-time driver: connects a sans-io Session to a UDP transport.

How this works: :meth:`PeerRunner.pump` is one non-blocking turn of the crank, given the
current time. By default (``gossip_thread=True``) the network half of the driver step
runs on a background :class:`~arcade_p2p.gossip_thread.GossipThread` -- receiving,
relaying, answering and the protocol timers never wait for the game's frame -- and
``pump`` is the game thread's half: it raises what stopped the gossip thread, if
anything did, runs :meth:`Session.pump_ticks <arcade_p2p.session.Session.pump_ticks>`
(which takes the events the thread received, under one short lock, then simulates
without it) and wakes the thread when a local event waits to be sent.

With ``gossip_thread=False`` (single-threaded, as tests that step time by hand and the
old behaviour need) ``pump`` hands every ready datagram to the session's one driver step,
:meth:`Session.pump <arcade_p2p.session.Session.pump>` (due ticks, datagrams and timers,
ticks again; never past ``max_tick``), and sends what it returns (with LAN discovery,
each turn first dials the peers it chose).

:meth:`PeerRunner.next_wakeup` says when the next turn has work and :meth:`PeerRunner.wait`
sleeps until then or until datagrams arrive; :meth:`PeerRunner.run` is the headless loop
built from the two. :meth:`PeerRunner.close` announces this peer's departure
(:meth:`Session.leave <arcade_p2p.session.Session.leave>`), stops the gossip thread and
sends the departure itself (the transport is the caller's to close, after the runner).

A dialled peer that has not answered after :data:`NO_ANSWER_WARNING_S` is named in one
warning (and again if it later answers and then falls silent), because a peer that dials
nobody, or a peer of another room, otherwise holds at tick 0 without a word.

After each turn the runner writes the session's finished desync forensics bundles (see
:mod:`arcade_p2p.forensics`) as files into its ``desync_dir``: the core writes no file.

Times are ``time.monotonic()`` seconds, the clock the transport stamps arrivals with.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.gossip_thread import GossipThread
from arcade_p2p.session import Session
from arcade_p2p.transport.discovery import Discovery
from arcade_p2p.transport.emulation import Address
from arcade_p2p.transport.udp import UdpTransport

__all__ = ["NO_ANSWER_WARNING_S", "PeerRunner", "discover_room"]

log = logging.getLogger("arcade_p2p.runner")

NO_ANSWER_WARNING_S = 2.5
"""A dialled peer silent this long after being dialled is named in a warning."""

MAX_SLEEP_S = 3600.0
"""Longest single sleep of :meth:`PeerRunner.run` (its deadlines may be infinite)."""
desync_log = logging.getLogger("arcade_p2p.desync")


class PeerRunner:
    """Drives one :class:`Session` over one :class:`UdpTransport` in real time.

    Args:
        session: The peer's session (created with ``now=time.monotonic()``).
        transport: The bound transport; addresses given to
            :meth:`Session.add_peer` must be its ``(ip, port)`` tuples.
        max_tick: If given, never simulate past this tick (late events are still
            repaired), so that peers can stop at an agreed tick and compare state hashes.
        discovery: If given, peers of the room it finds on the LAN are dialled.
        gossip_thread: Run the network half on a background thread (see the module
            header); False keeps everything on the caller's thread.
        desync_dir: Folder for desync forensics bundles (created when the first one is
            written; None: bundles are dropped).

    Attributes:
        bundles_written: Paths of the bundles written so far.
    """

    def __init__(
        self,
        session: Session,
        transport: UdpTransport,
        *,
        max_tick: int | None = None,
        discovery: Discovery | None = None,
        gossip_thread: bool = True,
        desync_dir: Path | None = None,
    ) -> None:
        self.session = session
        self.transport = transport
        self.max_tick = max_tick
        self._discovery = discovery
        self.gossip: GossipThread | None = None
        if gossip_thread:
            self.gossip = GossipThread(session, transport, discovery=discovery)
        self.desync_dir = desync_dir
        self.bundles_written: list[Path] = []
        self._finished_at: float | None = None
        self._closed = False
        self._warned: dict[object, float | None] = {}
        """Address -> the dial time of the silence already warned about."""

    @property
    def discovery(self) -> Discovery | None:
        """LAN discovery whose finds are dialled (may be set later)."""
        return self._discovery

    @discovery.setter
    def discovery(self, discovery: Discovery | None) -> None:
        self._discovery = discovery
        if self.gossip is not None:
            self.gossip.discovery = discovery

    @property
    def finished(self) -> bool:
        """Whether ``max_tick`` is set and has been simulated with every event that has
        arrived so far (an event that reaches a finished peer late is repaired first, and a
        deep repair may wait for more late events: see :mod:`arcade_p2p.repair_batching`)."""
        session = self.session
        return (
            self.max_tick is not None
            and session.tick > self.max_tick
            and session.machine.pending_repair is None
        )

    def pump(self, now: float) -> int:
        """Do everything that is due at ``now``, without blocking.

        Args:
            now: Current ``time.monotonic()``.

        Returns:
            How many live ticks ran.
        """
        session = self.session
        gossip = self.gossip
        if gossip is not None:
            gossip.check()
            ran = session.pump_ticks(now=now, max_tick=self.max_tick)
            if session.has_output():
                gossip.wake()
            with gossip.lock:  # the node belongs to the gossip thread between turns
                self._warn_unanswered(now)
            self._write_bundles()
            return ran
        if self.discovery is not None:
            for found in self.discovery.choose(session.node.neighbours()):
                session.add_peer(found, now=now)
        transport = self.transport
        before = session.tick
        arrived = transport.receive_ready(now)
        for data, destination in session.pump(now=now, datagrams=arrived, max_tick=self.max_tick):
            # The session only ever learns addresses from this transport.
            transport.send(data, cast(Address, destination))
        self._warn_unanswered(now)
        self._write_bundles()
        return session.tick - before

    def _write_bundles(self) -> None:
        """Write the session's finished desync forensics bundles into ``desync_dir``."""
        for report, bundle in self.session.take_desync_bundles():
            if self.desync_dir is not None:
                self.desync_dir.mkdir(parents=True, exist_ok=True)
                path = self.desync_dir / (
                    f"desync-tick{report.tick}-peer{report.peer}-vs-{report.other}.bundle"
                )
                path.write_bytes(bundle.to_bytes())
                self.bundles_written.append(path)
                desync_log.warning("desync bundle written: %s (arcade-p2p replay %s)", path, path)

    def _warn_unanswered(self, now: float) -> None:
        for link in self.session.node.unanswered(since=now - NO_ANSWER_WARNING_S):
            if self._warned.get(link.address) == link.dialled_at:
                continue
            self._warned[link.address] = link.dialled_at
            config = self.session.config
            host, port = cast(Address, link.address)
            dropped = (
                f"; what it sends is dropped here ({link.last_drop})" if link.last_drop else ""
            )
            log.warning(
                "no answer from %s:%d after %g s: is a peer running there, in room %r, "
                "with the same room key and %d fps?%s",
                host,
                port,
                NO_ANSWER_WARNING_S,
                config.room,
                config.fps,
                dropped,
            )

    def emit(self, name: str, payload: Any = None, *, now: float) -> Event:
        """Emit a local event (:meth:`Session.emit <arcade_p2p.session.Session.emit>`) and
        have the gossip thread, if any, send it at once rather than at its next timer.

        Raises:
            UsageError: The name or payload cannot be sent.
        """
        event = self.session.emit(name, payload, now=now)
        if self.gossip is not None:
            self.gossip.wake()
        return event

    def next_wakeup(self, now: float) -> float:
        """Absolute time at which :meth:`pump` next has work: the next tick, or without a
        gossip thread the next protocol timer if that comes first. Once ``max_tick`` has
        run it is the next protocol timer either way, so loops still wake now and then."""
        if self.gossip is None:
            return self.session.next_wakeup(now, max_tick=self.max_tick)
        if self.finished:
            return self.session.network_timer()
        return self.session.next_tick_time(now)

    def wait(self, timeout: float) -> None:
        """Sleep until datagrams arrive or ``timeout`` seconds pass (a game loop's sleep)."""
        if self.gossip is None:
            self.transport.wait(timeout)
        else:
            self.gossip.wait_for_news(timeout)

    def close(self) -> None:
        """Announce this peer's departure to its neighbours, stop the gossip thread, if
        any, and close the session, which deletes its archived history (calling it again
        does nothing).

        The departure is sent once, best effort: if it is lost, the neighbours notice the
        silence after the link timeout and announce it instead. A runner that has reached
        its ``max_tick`` says nothing: the run ended there for every peer, and a departure
        stamped after it would never be simulated.
        """
        if self._closed:
            return
        self._closed = True
        if self.gossip is not None:
            self.gossip.close()
        session = self.session
        transport = self.transport
        now = time.monotonic()
        if not (self.finished or transport.closed or session.leave(now=now) is None):
            for data, destination in session.pump_network(now=now):
                transport.send(data, cast(Address, destination))
        session.close()  # its archived history is no longer needed

    def __enter__(self) -> PeerRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def run(
        self,
        *,
        until: Callable[[float], bool],
        on_wake: Callable[[float], float] | None = None,
    ) -> None:
        """Pump in real time until ``until(now)`` is true (a blocking headless loop).

        Args:
            until: Checked at every wake-up with the current time; True stops the loop.
            on_wake: Optional hook called at every wake-up before pumping (for example a
                bot that emits input); returns the absolute time it next needs to run
                (``math.inf`` for never).
        """
        hook_at = math.inf
        while True:
            now = time.monotonic()
            if until(now):
                return
            if on_wake is not None:
                hook_at = on_wake(now)
            self.pump(now)
            wakeup = min(self.next_wakeup(now), hook_at)
            self.wait(min(wakeup - time.monotonic(), MAX_SLEEP_S))

    def run_to_end(
        self, *, linger_s: float, on_wake: Callable[[float], float] | None = None
    ) -> None:
        """Run until ``max_tick`` has been simulated, then keep networking ``linger_s``
        more seconds so that stragglers still reach this peer (and it repairs them).

        Raises:
            UsageError: The runner has no ``max_tick``.
        """
        if self.max_tick is None:
            raise UsageError("run_to_end needs a max_tick")
        self.run(until=lambda now: self.lingered(now, linger_s), on_wake=on_wake)

    def lingered(self, now: float, linger_s: float) -> bool:
        """Whether ``max_tick`` was simulated ``linger_s`` or more before ``now``.

        The time of reaching it is the first call that sees it reached, so call this at
        every wake-up of a loop that should stop ``linger_s`` after the last tick (the
        peer keeps repairing late events and answering the others meanwhile).
        """
        if self._finished_at is None and self.finished:
            self._finished_at = now
        return self._finished_at is not None and now >= self._finished_at + linger_s


def discover_room(session: Session, transport: UdpTransport, *, now: float) -> Discovery:
    """Start LAN discovery for a session that has not ticked yet, and join a running room.

    Waits up to :data:`~arcade_p2p.transport.discovery.PROBE_S` for running peers of the
    session's room and dials those found, so that the session joins (holds at START and
    catches up) exactly as if they had been given with ``--peer``. Beacons are
    authenticated with the session's own wire codec. Close the returned discovery when
    done; pass it to :class:`PeerRunner` to keep dialling peers found later.

    Raises:
        UsageError: The discovery port cannot be bound.
    """
    discovery = Discovery(
        session.node.codec, peer_id=session.peer_id, game_address=transport.address
    )
    for address in discovery.join():
        session.add_peer(address, now=now)
    return discovery
