"""One authenticated datagram causes bounded work, and honest peers still converge.

An *insider* (it knows the room and its key, so its datagrams pass the MAC) links to a
real session of an in-process network and sends hostile but well-formed datagrams: a WANT
for huge seq ranges, HAVEs naming many sources, digests that never match, events stamped
far in the future and far in the past. The tests count the work each one causes (events
and datagrams queued in reply, log entries looked up, rollbacks) and then check that the
honest peers still agree.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import msgpack
from pairnet import Wire, make_network, settle_and_compare

from arcade_p2p.events import MAX_TICK, Event
from arcade_p2p.protocol.node import (
    MAX_EVENTS_PER_WANT,
    MAX_HAVES_PER_DIGEST,
    MAX_WANTS_PER_ROUND,
)
from arcade_p2p.protocol.wire import (
    MAX_CHUNK_INDEXES,
    MAX_HAVE_ITEMS,
    MAX_RANGE_ITEMS,
    MAX_SEQ,
    Events,
    Have,
    Hello,
    Message,
    SnapChunk,
    SnapOffer,
    SnapRequest,
    Summary,
    Want,
    WireCodec,
)
from arcade_p2p.repair_batching import QUIET_S
from arcade_p2p.session import Session

INSIDER_ID = 4242
INSIDER_ADDRESS = "insider"


class Insider:
    """A peer that knows the room, driven by hand: it sends exactly what a test says."""

    def __init__(self, victim: Session, wire: Wire) -> None:
        self.codec = WireCodec(victim.config.room, victim.config.key)
        self.victim = victim
        self.wire = wire
        self.counter = 0
        config = victim.config
        self.send(Hello(config.fps, config.snapshot_every_ticks, False))
        assert victim.node.neighbours().count(INSIDER_ADDRESS) == 1

    def send(self, message: Message) -> None:
        data = self.codec.encode(INSIDER_ID, 7, self.counter, message)
        self.counter += 1
        self.victim.node.receive_datagram(data, INSIDER_ADDRESS, now=self.wire.now)

    def replies(self) -> list[Message]:
        """What the victim queued for the insider (its other datagrams are lost)."""
        out: list[tuple[bytes, Hashable]] = self.victim.node.datagrams_to_send(now=self.wire.now)
        return [self.codec.decode(data).message for data, to in out if to == INSIDER_ADDRESS]


class CountingDict(dict[int, Event]):
    """A source log's ``seq -> event`` map that counts lookups."""

    lookups = 0

    def __getitem__(self, key: int) -> Event:
        CountingDict.lookups += 1
        return super().__getitem__(key)

    def get(self, key: int, default: Any = None) -> Any:
        CountingDict.lookups += 1
        return super().get(key, default)


def network_with_history() -> tuple[Wire, int]:
    """Three honest sessions in a line; session 1 has emitted 600 events."""
    wire = make_network([(0, 1), (1, 2)])
    wire.run(1.0)
    for i in range(600):
        wire.sessions[1].emit("key", ["left", "right"][i % 2], now=wire.now)
    wire.run(3.0)
    assert all(len(s.timeline) == 600 for s in wire.sessions)
    return wire, wire.sessions[1].peer_id


def events_of(messages: list[Message]) -> list[Event]:
    return [e for m in messages if isinstance(m, Events) for e in m.events]


def test_a_want_for_huge_ranges_gets_a_bounded_batch_found_without_walking_the_range() -> None:
    wire, source = network_with_history()
    victim = wire.sessions[0]
    insider = Insider(victim, wire)
    insider.replies()
    # a sparse log: seq 1 and seq 10**6 of a source nobody else speaks for
    insider.send(Events((Event(5, 777, 1, "key", "up"), Event(6, 777, 10**6, "key", "up"))))
    insider.replies()
    for log_source in (source, 777):
        log = victim.timeline.source_log(log_source)
        assert log is not None
        log.events = CountingDict(log.events)
    CountingDict.lookups = 0
    insider.send(Want(((777, 1, MAX_SEQ), (source, 1, MAX_SEQ), *[(source, 1, MAX_SEQ)] * 62)))
    sent = events_of(insider.replies())
    assert len(sent) == MAX_EVENTS_PER_WANT  # 600 + 2 held: the budget bites
    assert [e.seq for e in sent[:2]] == [1, 10**6] and sent[0].source == 777
    assert CountingDict.lookups <= MAX_EVENTS_PER_WANT  # no walk through 10**6 missing seqs
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1
    assert all(len(s.timeline) == 602 for s in wire.sessions)  # the insider's events spread


def test_a_have_naming_many_sources_and_gaps_costs_one_round_of_wants() -> None:
    wire, _ = network_with_history()
    victim = wire.sessions[0]
    insider = Insider(victim, wire)
    insider.replies()
    # a log riddled with holes: seqs 2, 4, ..., 400 of source 777
    holes = [Event(5, 777, seq, "key", "up") for seq in range(2, 401, 2)]
    for i in range(0, len(holes), 20):
        insider.send(Events(tuple(holes[i : i + 20])))
    insider.replies()
    marks = (
        (777, MAX_SEQ, MAX_SEQ),
        *((10_000 + i, MAX_SEQ, MAX_SEQ) for i in range(MAX_HAVE_ITEMS - 1)),
    )
    insider.send(Have(marks))
    replies = insider.replies()
    assert 1 < len(replies) <= MAX_WANTS_PER_ROUND
    assert all(isinstance(r, Want) for r in replies)
    assert all(hi - lo < MAX_EVENTS_PER_WANT for r in replies[1:] for _, lo, hi in r.ranges)
    insider.send(Have(marks))
    assert insider.replies() == []  # the round is in flight: nothing more is asked
    ranges = replies[0].ranges
    assert len(ranges) == MAX_RANGE_ITEMS
    assert {r[0] for r in ranges} == {m[0] for m in marks}  # every source's first gap fits
    # a HAVE naming thousands of sources cannot even reach the parser: it is refused
    body = [5, INSIDER_ID, 7, insider.counter, [[s, 1, 1] for s in range(3000)]]
    signed = b"AP\x01" + msgpack.packb(body, use_bin_type=True)
    victim.node.receive_datagram(signed + bytes(16), INSIDER_ADDRESS, now=wire.now)
    assert victim.stats().dropped["oversized"] == 1
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


def test_a_digest_that_never_matches_is_answered_with_a_few_haves_taking_turns() -> None:
    wire, _ = network_with_history()
    victim = wire.sessions[0]
    insider = Insider(victim, wire)
    insider.replies()
    many = [Event(5, 20_000 + i, 1, "k", None) for i in range(400)]
    for i in range(0, len(many), 40):
        insider.send(Events(tuple(many[i : i + 40])))
    insider.replies()
    sources = set(victim.timeline.marks())
    assert len(sources) > MAX_HAVE_ITEMS * MAX_HAVES_PER_DIGEST
    advertised: set[int] = set()
    per_answer = MAX_HAVE_ITEMS * MAX_HAVES_PER_DIGEST
    for _ in range(-(-len(sources) // per_answer)):
        insider.send(Summary(b"nomatch!", 1, False))
        haves = insider.replies()
        assert len(haves) == MAX_HAVES_PER_DIGEST
        advertised |= {
            source for have in haves if isinstance(have, Have) for source, _, _ in have.marks
        }
    assert advertised == sources  # successive answers cover every source
    hashes, _ = settle_and_compare(wire, seconds=10.0)
    assert len(hashes) == 1
    assert all(len(s.timeline) == 1000 for s in wire.sessions)


def test_an_event_far_in_the_future_waits_without_moving_anyone_s_stamping() -> None:
    wire, _ = network_with_history()
    victim = wire.sessions[0]
    insider = Insider(victim, wire)
    insider.send(Events((Event(MAX_TICK, INSIDER_ID, 1, "key", "up"),)))
    rollbacks = [s.stats().rollbacks for s in wire.sessions]
    wire.run(1.0)
    for session in wire.sessions:  # it was flooded to everyone...
        assert session.timeline.get(INSIDER_ID, 1) is not None
        event = session.emit("key", "down", now=wire.now)
        assert event.tick <= session.tick + session.delta_ticks + 2  # ...and moved nothing
    assert [s.stats().rollbacks for s in wire.sessions] == rollbacks
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


def test_events_far_in_the_past_cost_one_rollback_per_burst_and_still_converge() -> None:
    wire, _ = network_with_history()
    wire.run(6.0)
    victim = wire.sessions[0]
    insider = Insider(victim, wire)
    present = victim.tick
    assert present > 400
    before = victim.stats()
    for batch in range(5):  # five datagrams of late events within one frame
        old = tuple(
            Event(1 + batch * 10 + i, INSIDER_ID, 1 + batch * 10 + i, "k", "up") for i in range(10)
        )
        insider.send(Events(old))
    victim.pump_ticks(now=wire.now)
    assert victim.stats().rollbacks == before.rollbacks  # a deep repair waits for the rest
    victim.pump_ticks(now=wire.now + QUIET_S)  # nothing more came
    after = victim.stats()
    assert after.rollbacks == before.rollbacks + 1  # all late events share one rollback
    assert after.resim_ticks - before.resim_ticks <= after.tick  # at most from START
    # not dropped: a healed partition sends events this old too, and all must converge
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1
    assert all(len(s.timeline) == 650 for s in wire.sessions)


def test_snapshot_requests_encode_at_most_one_payload_and_queue_a_bounded_window() -> None:
    wire, _ = network_with_history()
    victim = wire.sessions[0]
    insider = Insider(victim, wire)
    insider.replies()
    transfer = victim.node.transfer
    assert transfer is not None
    built = 0
    offer_snapshot = transfer.host.snapshot_to_offer

    def counting(tick: int) -> object:
        nonlocal built
        built += 1
        return offer_snapshot(tick)

    transfer.host.snapshot_to_offer = counting  # type: ignore[method-assign]
    offers = []
    for _ in range(20):
        insider.send(SnapRequest(0, ()))
        offers += [m for m in insider.replies() if isinstance(m, SnapOffer)]
    assert built == 1  # the same offer again, not a new encoding per request
    assert len({(o.tick, o.state_hash) for o in offers}) == 1 and offers[0].size > 0
    insider.send(SnapRequest(offers[0].tick, tuple(range(MAX_CHUNK_INDEXES))))
    wire.now += 10.0  # let the pacing release everything queued
    chunks = [m for m in insider.replies() if isinstance(m, SnapChunk)]
    assert 0 < len(chunks) <= MAX_CHUNK_INDEXES
