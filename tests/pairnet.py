"""A tiny in-process network for sans-io sessions (explicit delay, loss, duplication)."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from arcade_p2p.app import App
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp


@dataclass
class Wire:
    """In-process datagram network with explicit delay, loss and duplication per send.

    Sessions are addressed by their index. ``shape`` decides, for each datagram, a list
    of delays (empty list: lost; two entries: duplicated). Every session is driven by its
    one driver step, :meth:`Session.pump`, as the real drivers do: once per ``step`` and
    whenever datagrams arrive. A session that has not started yet receives nothing (its
    process is not running).
    """

    sessions: list[Session]
    edges: set[tuple[int, int]]
    shape: Callable[[random.Random], list[float]]
    rng: random.Random
    starts: list[float] = field(default_factory=list)
    now: float = 0.0
    inflight: list[tuple[float, int, bytes, int, int]] = field(default_factory=list)
    _n: int = 0

    def connect(self) -> None:
        for a, b in sorted(self.edges):
            if a > b:
                self.sessions[a].add_peer(b, now=self.now)

    def started(self, index: int) -> bool:
        return index >= len(self.starts) or self.now >= self.starts[index]

    def step(self, dt: float, *, emit: Callable[[int, Session], None] | None = None) -> None:
        self.now += dt
        for index, session in enumerate(self.sessions):
            if not self.started(index):
                continue
            if emit is not None:
                session.pump_ticks(now=self.now)  # input comes after the due ticks
                emit(index, session)
            self._send(index, session.pump(now=self.now))
        arrived: dict[int, list[tuple[bytes, Hashable]]] = {}
        while self.inflight and self.inflight[0][0] <= self.now:
            _, _, data, dst, src = heapq.heappop(self.inflight)
            if self.started(dst):
                arrived.setdefault(dst, []).append((data, src))
        for dst, datagrams in sorted(arrived.items()):
            self._send(dst, self.sessions[dst].pump(now=self.now, datagrams=datagrams))

    def _send(self, index: int, outgoing: list[tuple[bytes, Hashable]]) -> None:
        for data, dst in outgoing:
            if not isinstance(dst, int) or (index, dst) not in self.edges:
                continue  # an address outside this wire (a test's hand-driven peer): lost
            for delay in self.shape(self.rng):
                self._n += 1
                heapq.heappush(self.inflight, (self.now + delay, self._n, data, dst, index))

    def join(self, session: Session, neighbours: list[int]) -> int:
        """Add a session that starts now and dials ``neighbours``; its index."""
        index = len(self.sessions)
        self.sessions.append(session)
        for other in neighbours:
            self.edges |= {(index, other), (other, index)}
            session.add_peer(other, now=self.now)
        return index

    def run(self, seconds: float, dt: float = 0.01, **kw: Callable[[int, Session], None]) -> None:
        end = self.now + seconds
        while self.now < end:
            self.step(dt, **kw)


def make_network(
    edges: list[tuple[int, int]],
    *,
    seed: int = 1,
    config: SessionConfig | None = None,
    shape: Callable[[random.Random], list[float]] | None = None,
    start_times: list[float] | None = None,
    app_factory: Callable[[], App] = MovingRectApp,
) -> Wire:
    """Sessions 0..n-1 running ``app_factory``'s app (default: the moving rectangle), linked
    along ``edges`` (both ways)."""
    n = 1 + max(max(e) for e in edges)
    config = config or SessionConfig(delay_ms=100, presence=False)  # presence: its own tests
    sessions = [
        Session(
            app_factory(),
            peer_id=1000 + 7 * i,
            config=config,
            now=(start_times[i] if start_times else 0.0),
            rng=random.Random(seed * 100 + i),
        )
        for i in range(n)
    ]
    both = {(a, b) for a, b in edges} | {(b, a) for a, b in edges}
    wire = Wire(
        sessions,
        both,
        shape or (lambda r: [0.02 + r.random() * 0.01]),
        random.Random(seed),
        starts=list(start_times or []),
    )
    wire.connect()
    return wire


def settle_and_compare(wire: Wire, seconds: float = 5.0) -> tuple[set[str], int]:
    """Deliver perfectly for a while, stop everyone at one tick; return (hashes, final tick)."""
    wire.shape = lambda r: [0.02]
    wire.run(seconds)
    final = max(s.tick for s in wire.sessions) + 50
    for s in wire.sessions:
        s.machine.advance(final)
    return {s.state_hash() for s in wire.sessions}, final


def converge_while_lossy(wire: Wire, *, within_s: float, poll_s: float = 0.1) -> set[str]:
    """Keep the wire's (lossy) shape and run until every session holds the same events.

    Unlike :func:`settle_and_compare`, delivery never becomes perfect: this proves that
    anti-entropy recovers while loss continues. Once the histories agree, everyone is
    stopped at one tick and the state hashes are returned.

    Raises:
        AssertionError: The histories still differ after ``within_s`` seconds.
    """
    deadline = wire.now + within_s
    while len({(s.timeline.digest(), len(s.timeline)) for s in wire.sessions}) > 1:
        assert wire.now < deadline, "histories still differ while loss continues"
        wire.run(poll_s)
    final = max(s.tick for s in wire.sessions) + 50
    for s in wire.sessions:
        s.machine.advance(final)
    return {s.state_hash() for s in wire.sessions}
