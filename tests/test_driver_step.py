"""The one driver step, ``Session.pump``: ticks, network, ticks again.

The order matters when a datagram and a due tick meet: the tick was due by ``now``, so it
runs before the datagram is taken in, and a late event is repaired before the step returns.
The UDP runner and the simulator both drive sessions through this step; the last test runs
the same meeting through the real UDP runner and through the bare step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport

CONFIG = SessionConfig(delay_ms=200)
A_ADDR: Hashable = ("127.0.0.1", 1)
B_ADDR: Hashable = ("127.0.0.1", 2)
FRAME_S = 0.01
LINK_S = 2.0
DEADLINE_S = 30.0

Datagrams = list[tuple[bytes, Hashable]]


def linked_pair(a_addr: Hashable, b_addr: Hashable) -> tuple[Session, Session, float]:
    """Sessions A and B linked in memory (B dialled A), both pumped every 10 ms for 2 s."""
    a = Session(MovingRectApp(), peer_id=1, config=CONFIG, now=0.0)
    b = Session(MovingRectApp(), peer_id=2, config=CONFIG, now=0.0)
    b.add_peer(a_addr, now=0.0)
    sessions = {a_addr: a, b_addr: b}
    inbox: dict[Hashable, Datagrams] = {a_addr: [], b_addr: []}
    now = 0.0
    for _ in range(round(LINK_S / FRAME_S)):
        now += FRAME_S
        for address, session in sessions.items():
            arrived, inbox[address] = inbox[address], []
            for data, destination in session.pump(now=now, datagrams=arrived):
                inbox[destination].append((data, address))
    assert a.stats().neighbours == b.stats().neighbours == 1
    return a, b, now


def late_meeting(a_addr: Hashable, b_addr: Hashable) -> tuple[Session, Datagrams, float, int]:
    """B emits; returns A, B's datagrams to A, and the time at which the event's tick is
    due at A (so the datagrams and that tick meet at the same ``now``)."""
    a, b, now = linked_pair(a_addr, b_addr)
    event = b.emit("key", "up", now=now)
    to_a = [(data, b_addr) for data, dst in b.pump(now=now) if dst == a_addr]
    assert to_a
    due_at = now
    while a.clock.due_tick(due_at) < event.tick:
        due_at = a.next_tick_time(due_at)
    assert a.clock.due_tick(due_at) == event.tick
    return a, to_a, due_at, event.tick


def outcome(session: Session) -> tuple[int, str, int, int]:
    stats = session.stats()
    return session.tick, session.state_hash(), stats.rollbacks, stats.rollback_ticks


def test_a_due_tick_runs_before_a_datagram_that_arrives_with_it() -> None:
    a, to_a, due_at, tick = late_meeting(A_ADDR, B_ADDR)
    before = a.stats().rollbacks
    a.pump(now=due_at, datagrams=to_a)
    assert a.tick == tick + 1  # the due tick ran ...
    assert a.stats().rollbacks == before + 1  # ... before the event: it was repaired at once

    on_time, to_on_time, due_at, _ = late_meeting(A_ADDR, B_ADDR)
    previous_tick_at = due_at - 1.0 / CONFIG.fps
    on_time.pump(now=previous_tick_at, datagrams=to_on_time)  # one tick earlier
    on_time.pump(now=due_at)
    assert on_time.stats().rollbacks == before  # nothing to repair
    assert (on_time.tick, on_time.state_hash()) == (a.tick, a.state_hash())


def test_the_network_half_never_runs_a_tick_and_the_tick_half_never_sends() -> None:
    a, to_a, due_at, _ = late_meeting(A_ADDR, B_ADDR)
    tick = a.tick
    a.pump_network(now=due_at, datagrams=to_a)
    assert a.tick == tick
    assert a.pump_ticks(now=due_at) > 0
    assert a.pump_network(now=due_at) == []  # the ticks queued nothing


def test_next_wakeup_covers_timers_and_ticks_until_max_tick() -> None:
    session = Session(MovingRectApp(), peer_id=1, config=CONFIG, now=0.0)
    session.add_peer("b", now=0.0)
    assert session.pump(now=0.0)  # the HELLO timer was due: the same step sends it
    now = 0.001
    assert session.next_wakeup(now) == session.next_tick_time(now) < session.network_timer()

    alone = Session(MovingRectApp(), peer_id=2, config=CONFIG, now=0.0)
    alone.pump(now=1.0, max_tick=3)
    assert alone.tick == 4
    assert alone.next_wakeup(1.0) == min(alone.network_timer(), alone.next_tick_time(1.0))
    assert alone.next_wakeup(1.0, max_tick=3) == alone.network_timer()  # no tick to wait for


def test_the_udp_runner_and_the_bare_step_meet_a_due_tick_alike() -> None:
    with UdpTransport() as a_transport, UdpTransport() as b_transport:
        a_addr, b_addr = a_transport.address, b_transport.address

        def meet(deliver: Callable[[Session, Datagrams, float], None]) -> tuple[int, ...]:
            a, to_a, due_at, _ = late_meeting(a_addr, b_addr)
            deliver(a, to_a, due_at)
            return outcome(a)

        def bare_step(a: Session, to_a: Datagrams, now: float) -> None:
            a.pump(now=now, datagrams=to_a)  # what the simulator's wake and delivery call

        def udp_runner(a: Session, to_a: Datagrams, now: float) -> None:
            received = a_transport.stats().datagrams_received
            for data, _ in to_a:
                b_transport.send(data, a_addr)
            deadline = time.monotonic() + DEADLINE_S
            while a_transport.stats().datagrams_received < received + len(to_a):
                assert time.monotonic() < deadline
                a_transport.wait(deadline - time.monotonic())
            PeerRunner(a, a_transport, gossip_thread=False).pump(now)

        bare, udp = meet(bare_step), meet(udp_runner)
        assert udp == bare
        assert bare[2] >= 1  # the meeting was a rollback in both
