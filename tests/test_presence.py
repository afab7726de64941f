"""Presence: arrivals and departures are events every peer applies at the same tick.

Unit tests of the presence state and the time machine (order, duplicates, stale notices,
rollback through a join), then sessions on the in-process network (every peer sees the
same join and leave ticks; a crashed peer is noticed gone by timeout and everyone agrees;
input a joiner emits while joining is held until it is in step), then real UDP peers on
loopback where a third peer joins late and leaves.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import msgpack
import pytest
from pairnet import make_network

from arcade_p2p.app import StateApp
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import Event, canonical_payload
from arcade_p2p.machine import TimeMachine
from arcade_p2p.presence import (
    JOIN_EVENT,
    LEAVE_EVENT,
    Change,
    Presence,
    check_system_event,
    pack_snapshot,
    unpack_snapshot,
)
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import HELD_TICK, Session, SessionConfig
from arcade_p2p.timeline import Timeline
from arcade_p2p.transport import UdpTransport


class Roster(StateApp):
    """Records, in its state, every presence hook call with the tick it ran at."""

    def start(self) -> None:
        self.state = {"tick": 0, "log": [], "keys": 0}

    def tick(self) -> None:
        self.state["tick"] += 1

    def event(self, event: Event) -> None:
        self.state["keys"] += 1

    def on_peer_join(self, peer: int) -> None:
        assert peer in self.peers
        self.state["log"].append([self.state["tick"], "join", peer])

    def on_peer_leave(self, peer: int) -> None:
        assert peer not in self.peers
        self.state["log"].append([self.state["tick"], "leave", peer])


def join(tick: int, source: int, seq: int) -> Event:
    return Event(tick, source, seq, JOIN_EVENT)


def leave(tick: int, source: int, seq: int, peer: int, join_seq: int) -> Event:
    return Event(tick, source, seq, LEAVE_EVENT, [peer, join_seq])


# ------------------------------------------------------------------ the presence state
def test_duplicates_and_stale_notices_change_nothing_and_a_peer_can_come_back() -> None:
    presence = Presence()
    assert presence.apply(join(5, 7, 1)) == (Change.JOIN, 7)
    assert presence.apply(join(6, 7, 2)) is None  # present already
    assert presence.apply(join(6, 3, 1)) == (Change.JOIN, 3)
    assert presence.peers == (3, 7)
    assert presence.apply(leave(9, 3, 2, 7, 1)) == (Change.LEAVE, 7)  # noticed by peer 3
    assert presence.apply(leave(9, 4, 1, 7, 1)) is None  # a second notice of the same crash
    assert presence.apply(join(12, 7, 3)) == (Change.JOIN, 7)  # it was alive: it comes back
    assert presence.apply(leave(13, 4, 2, 7, 1)) is None  # a stale notice (old incarnation)
    assert presence.join_seq(7) == 3 and presence.peers == (3, 7)
    assert presence.apply(leave(14, 7, 4, 7, 3)) == (Change.LEAVE, 7)  # its own clean stop
    assert presence.apply(Event(15, 1, 1, LEAVE_EVENT, "nonsense")) is None
    assert presence.peers == (3,)


def test_reserved_names_are_refused_to_games_and_checked_from_the_network() -> None:
    with pytest.raises(UsageError):
        canonical_payload(JOIN_EVENT, None)
    with pytest.raises(UsageError):
        canonical_payload("@anything", 1)
    check_system_event(JOIN_EVENT, None)
    check_system_event(LEAVE_EVENT, [1, 2])
    for name, payload in ((JOIN_EVENT, 1), (LEAVE_EVENT, [1]), (LEAVE_EVENT, [-1, 1]), ("@x", 0)):
        with pytest.raises(RemoteError):
            check_system_event(name, payload)


def test_a_snapshot_carries_the_presence_and_malformed_ones_are_remote_errors() -> None:
    presence = Presence()
    presence.apply(join(1, 9, 1))
    presence.apply(join(1, 2, 4))
    entries, blob = unpack_snapshot(pack_snapshot(presence, b"state"))
    assert entries == [[2, 4], [9, 1]] and blob == b"state"
    for bad in (b"", b"\xc1", pack_snapshot(Presence(), b"x")[:-1]):
        with pytest.raises(RemoteError):
            unpack_snapshot(bad)
    for outer in ([[[9, 1], [2, 4]], b"x"], [[[1, 0]], b"x"], [[], "not bytes"], [1, 2, 3]):
        with pytest.raises(RemoteError):
            unpack_snapshot(msgpack.packb(outer, use_bin_type=True))


# ------------------------------------------------------------------ the time machine
def run(timeline: Timeline, until: int) -> TimeMachine:
    machine = TimeMachine(Roster(), timeline, snapshot_every_ticks=5)
    machine.advance(until)
    return machine


def test_hooks_run_at_the_event_tick_in_order_and_again_after_a_rollback() -> None:
    timeline = Timeline()
    for event in (join(3, 20, 1), join(3, 10, 1), Event(4, 10, 2, "key"), leave(8, 20, 2, 10, 1)):
        timeline.insert(event)
    machine = run(timeline, 30)
    app = machine.app
    assert isinstance(app, Roster)
    assert app.state["log"] == [[3, "join", 10], [3, "join", 20], [8, "leave", 10]]
    assert app.state["keys"] == 1  # presence events never reach event()
    assert app.peers == (20,)
    late = join(12, 30, 1)  # arrives after tick 12 ran: a rollback through a join
    timeline.insert(late)
    machine.note_event(late)
    machine.advance(30)
    assert machine.stats.rollbacks == 1
    assert app.state["log"][-1] == [12, "join", 30] and app.peers == (20, 30)
    fresh = run(timeline, 30)  # the same events, never rolled back
    assert fresh.state_hash() == machine.state_hash()
    assert isinstance(fresh.app, Roster) and fresh.app.state == app.state


def test_a_machine_started_from_a_snapshot_has_the_presence_of_that_tick() -> None:
    timeline = Timeline()
    for event in (join(2, 1, 1), join(6, 2, 1), leave(14, 1, 2, 2, 1), join(16, 3, 1)):
        timeline.insert(event)
    origin = run(timeline, 40)
    found = origin.settled_snapshot(12)
    assert found is not None
    coverage, blob = found
    joiner = TimeMachine(Roster(), timeline, snapshot_every_ticks=5)
    joiner.start_from(coverage, blob)
    assert joiner.presence.peers == (1, 2)  # at tick 10
    joiner.advance(40)
    assert joiner.presence.peers == origin.presence.peers == (1, 3)
    assert joiner.state_hash() == origin.state_hash()


# ------------------------------------------------------------------ sessions
PRESENCE = SessionConfig(delay_ms=100, link_timeout_s=1.0)


def roster(session: Session) -> list[Any]:
    app = session.app
    assert isinstance(app, Roster)
    return list(app.state["log"])


def test_every_peer_sees_the_same_arrivals_and_a_crash_is_agreed_on() -> None:
    wire = make_network([(0, 1), (1, 2), (0, 2), (2, 3)], config=PRESENCE, app_factory=Roster)
    wire.run(3.0)
    ids = sorted(s.peer_id for s in wire.sessions)
    assert {s.machine.presence.peers for s in wire.sessions} == {tuple(ids)}
    assert len({str(roster(s)) for s in wire.sessions}) == 1
    crashed = wire.sessions[3]
    wire.starts = [0.0, 0.0, 0.0, float("inf")]  # its process stops: no pump, no datagram
    wire.run(4.0)
    alive = wire.sessions[:3]
    logs = {str(roster(s)) for s in alive}
    assert len(logs) == 1
    last = roster(alive[0])[-1]
    assert last[1:] == ["leave", crashed.peer_id]  # noticed by its one neighbour, agreed on
    assert {s.machine.presence.peers for s in alive} == {tuple(ids[:3])}
    notices = [e for e in alive[0].timeline.all_events() if e.name == LEAVE_EVENT]
    assert [e.source for e in notices] == [wire.sessions[2].peer_id]
    final = max(s.tick for s in alive) + 20
    for session in alive:
        session.machine.advance(final)
    assert len({s.state_hash() for s in alive}) == 1


def test_input_emitted_while_joining_is_held_and_stamped_at_the_room_s_tick() -> None:
    wire = make_network([(0, 1)], config=PRESENCE, app_factory=Roster)
    wire.run(3.0)
    joiner = Session(Roster(), peer_id=77, config=PRESENCE, now=wire.now)
    wire.join(joiner, [0])
    joiner.pump(now=wire.now)
    assert joiner.joining and joiner.tick <= 1
    held = joiner.emit("key", "early", now=wire.now)
    assert held.tick == HELD_TICK and held.source == 77
    assert joiner.held_seqs == (held.seq - 1, held.seq)  # its arrival goes first
    while joiner.joining:
        wire.run(0.02)
    room_tick = wire.sessions[0].tick
    assert joiner.held_seqs == ()  # stamped and sent once in step
    wire.run(1.0)
    own = [e for e in joiner.timeline.all_events() if e.source == 77]
    assert [e.name for e in own] == [JOIN_EVENT, "key"]  # the join first, then the input
    assert own[1].seq == held.seq and own[1].payload == "early"
    assert min(e.tick for e in own) >= room_tick  # never back at the joiner's own tick
    for session in wire.sessions:
        assert [e.name for e in session.timeline.all_events() if e.source == 77] == [
            JOIN_EVENT,
            "key",
        ]
    assert wire.sessions[0].stats().rollbacks == 0  # nothing the room showed was rewritten


# ------------------------------------------------------------------ real UDP
DEADLINE_S = 20.0


def test_a_late_peer_joins_and_leaves_over_udp_and_every_peer_sees_the_same_ticks() -> None:
    config = SessionConfig(delay_ms=100)
    with ExitStack() as stack:
        transports = [stack.enter_context(UdpTransport()) for _ in range(3)]
        start = time.monotonic()
        sessions = [Session(Roster(), peer_id=i, config=config, now=start) for i in (1, 2)]
        sessions[1].add_peer(transports[0].address, now=start)
        runners = [
            stack.enter_context(PeerRunner(s, t, gossip_thread=False))
            for s, t in zip(sessions, transports)
        ]

        def pump_until(done: Any) -> None:
            deadline = time.monotonic() + DEADLINE_S
            while not done():
                assert time.monotonic() < deadline
                for runner in runners:
                    runner.pump(time.monotonic())
                transports[0].wait(0.005)

        pump_until(lambda: all(s.machine.presence.peers == (1, 2) for s in sessions))
        late = Session(Roster(), peer_id=3, config=config, now=time.monotonic())
        late.add_peer(transports[0].address, now=time.monotonic())
        late.add_peer(transports[1].address, now=time.monotonic())
        late_runner = PeerRunner(late, transports[2], gossip_thread=False)
        runners.append(late_runner)
        pump_until(lambda: all(3 in s.machine.presence for s in (*sessions, late)))
        runners.remove(late_runner)
        late_runner.close()  # a clean stop: its departure goes out before it stops
        pump_until(lambda: all(s.machine.presence.peers == (1, 2) for s in sessions))
        logs = [roster(s) for s in sessions]
    assert logs[0] == logs[1]
    kinds = [entry[1:] for entry in logs[0]]
    assert sorted(kinds[:2]) == [["join", 1], ["join", 2]]
    assert kinds[2:] == [["join", 3], ["leave", 3]]
    leave_event = next(e for e in sessions[0].timeline.all_events() if e.name == LEAVE_EVENT)
    assert leave_event.source == 3  # announced by the peer itself, not by a timeout
