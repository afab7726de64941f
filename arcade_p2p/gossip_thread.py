"""The gossip thread: the network half of the driver step, off the game's thread.

How this works: a :class:`GossipThread` hands the session off
(:meth:`Session.hand_off <arcade_p2p.session.Session.hand_off>`) with one
``threading.Lock``, then runs the network half on a daemon thread: take the datagrams
the transport received, :meth:`Session.pump_network
<arcade_p2p.session.Session.pump_network>` (receive, relay new events to the other
neighbours, answer HELLO/SYNC/HAVE/WANT, run the protocol timers that are due), send
what it returns at once, then sleep in :meth:`UdpTransport.wait
<arcade_p2p.transport.UdpTransport.wait>` until the next datagram, the next protocol
timer or a :meth:`wake` (the game's thread emitted an event). With LAN discovery, each
turn first dials the peers it chose.

The game's thread keeps the time machine: it runs :meth:`Session.pump_ticks
<arcade_p2p.session.Session.pump_ticks>`, which takes the events the node received under
the lock (a few microseconds) and then simulates without it. So the lock is only ever
held for one short step on either side: a 30 ms ``on_draw``, a rollback or a vsync wait
no longer delays the events that pass through this peer, nor its SYNC and anti-entropy
answers. What a busy frame still delays is the simulation seeing those events (at its
next frame, as before).

After each turn that received datagrams the thread sets a flag the game's thread may
sleep on (:meth:`wait_for_news`), so a late event is repaired at once, as the
single-threaded driver step did. An exception in the thread is logged, stops the
thread, and is raised again on the game's thread by :meth:`check` (as
:class:`GossipThreadError`). :meth:`close` stops and joins the thread; it is a daemon, so
a forgotten one never keeps the process alive.

While at least one gossip thread runs, the interpreter's switch interval
(:func:`sys.setswitchinterval`) is at most :data:`GIL_SWITCH_INTERVAL_S` (0.5 ms instead of
CPython's 5 ms); the last thread to stop restores the value it replaced, unless someone
changed it meanwhile. A game's thread busy in Python (game code, physics, a rollback)
holds the interpreter lock; a thread that wakes for a datagram waits for it for up to one
switch interval at every blocking call it returns from (the wake-up, each receive, each
send), so with 5 ms a busy frame still added several milliseconds to every relayed event.
The interval only matters when another thread waits for the lock, so a game whose gossip
thread is idle pays nothing for it; ``python benchmarks/relay.py --spin`` measures the
relay delay and the game thread's frame work both ways.

For the same reason, while at least one gossip thread runs, the objects alive when it
started (the imports, the game's setup) are left out of garbage collection
(:mod:`arcade_p2p.gc_freeze`): a full collection stops every thread for as long as it
examines objects, and those never become garbage.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import cast

from arcade_p2p import gc_freeze
from arcade_p2p.errors import P2PError, UsageError
from arcade_p2p.session import Session
from arcade_p2p.transport.discovery import Discovery
from arcade_p2p.transport.emulation import Address
from arcade_p2p.transport.udp import UdpTransport

__all__ = ["GIL_SWITCH_INTERVAL_S", "GossipThread", "GossipThreadError"]

log = logging.getLogger("arcade_p2p.gossip")

JOIN_TIMEOUT_S = 2.0
"""How long :meth:`GossipThread.close` waits for the thread to finish."""
MAX_SLEEP_S = 3600.0
"""Longest single sleep between two turns (the protocol timer may be infinite)."""
GIL_SWITCH_INTERVAL_S = 0.0005
"""Longest switch interval while a gossip thread runs (read when the first one starts;
a lower interval set by the program is kept)."""


class _SwitchInterval:
    """The process-wide switch interval, lowered while any gossip thread runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._replaced: float | None = None
        """The interval before the first user lowered it (None: it was not lowered)."""
        self._lowered = 0.0

    def enter(self) -> None:
        """A gossip thread starts: lower the interval if it is the first and it is above."""
        with self._lock:
            if self._users == 0:
                current = sys.getswitchinterval()
                if current > GIL_SWITCH_INTERVAL_S:
                    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
                    self._replaced, self._lowered = current, sys.getswitchinterval()
            self._users += 1

    def leave(self) -> None:
        """A gossip thread stopped: the last one restores the interval it replaced."""
        with self._lock:
            self._users -= 1
            if self._users > 0 or self._replaced is None:
                return
            if sys.getswitchinterval() == self._lowered:  # else the program changed it
                sys.setswitchinterval(self._replaced)
            self._replaced = None


_switch_interval = _SwitchInterval()


class GossipThreadError(P2PError, RuntimeError):
    """The gossip thread stopped on an exception (its ``__cause__``)."""


class GossipThread:
    """Runs a session's network half over a transport on a background thread.

    Args:
        session: The session; it is handed off (it must not have been already).
        transport: Its bound transport; nobody else may receive from or send on it.
        discovery: If given, peers of the room it finds on the LAN are dialled.
    """

    def __init__(
        self, session: Session, transport: UdpTransport, *, discovery: Discovery | None = None
    ) -> None:
        self.session = session
        self.transport = transport
        self.discovery = discovery
        self._lock = threading.Lock()
        session.hand_off(self._lock)
        self._news = threading.Event()
        self._stopping = False
        self._failure: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"arcade-p2p-gossip-{session.peer_id}", daemon=True
        )
        _switch_interval.enter()  # both left by the thread when it ends, however it ends
        gc_freeze.enter()
        try:
            self._thread.start()
        except BaseException:
            gc_freeze.leave()
            _switch_interval.leave()
            raise

    @property
    def lock(self) -> threading.Lock:
        """The hand-off lock: hold it (briefly) to read the session's node from another
        thread."""
        return self._lock

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def wake(self) -> None:
        """Make the thread take a turn now (call it after emitting a local event)."""
        self.transport.wake()

    def check(self) -> None:
        """Raise on the caller's thread what stopped the gossip thread, if anything did.

        Raises:
            GossipThreadError: The thread died; the original exception is the cause.
        """
        if self._failure is not None:
            raise GossipThreadError(f"the gossip thread stopped: {self._failure!r}") from (
                self._failure
            )

    def wait_for_news(self, timeout: float) -> None:
        """Sleep until the thread receives datagrams (or fails), or ``timeout`` passes."""
        if timeout > 0.0:
            self._news.wait(timeout)
        self._news.clear()

    def close(self) -> None:
        """Stop the thread and wait for it (calling it again does nothing)."""
        self._stopping = True
        self.transport.wake()
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)

    # ----------------------------------------------------------------- the thread
    def _run(self) -> None:
        transport = self.transport
        try:
            while not self._stopping and not transport.closed:
                self._turn(time.monotonic())
                timer = self.session.network_timer()
                transport.wait(min(timer - time.monotonic(), MAX_SLEEP_S))
        except BaseException as exc:  # surfaced on the game's thread by check()
            if isinstance(exc, UsageError) and transport.closed:
                return  # its owner closed the transport under our feet: that is a stop
            log.exception("the gossip thread stopped")
            self._failure = exc
            self._news.set()
        finally:
            gc_freeze.leave()
            _switch_interval.leave()

    def _turn(self, now: float) -> None:
        session = self.session
        transport = self.transport
        if self.discovery is not None:
            with self._lock:
                neighbours = session.node.neighbours()
            for found in self.discovery.choose(neighbours):
                session.add_peer(found, now=now)
        arrived = transport.receive_ready(now)
        for data, destination in session.pump_network(now=now, datagrams=arrived):
            transport.send(data, cast(Address, destination))  # addresses come from it
        if arrived:
            self._news.set()
