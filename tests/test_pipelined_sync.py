"""Pipelined anti-entropy: a newcomer closes a gap of thousands of events in a few round trips."""

from __future__ import annotations

from pairnet import make_network

from arcade_p2p.events import Event
from arcade_p2p.protocol.node import (
    MAX_EVENTS_PER_WANT,
    MAX_WANTS_PER_ROUND,
    WANTS_PER_ROUND_START,
)
from arcade_p2p.protocol.wire import Want
from arcade_p2p.session import Session

GAP_EVENTS = 5000
ONE_WAY_S = 0.02


def test_a_gap_of_5000_events_closes_in_a_few_round_trips() -> None:
    wire = make_network([(0, 1)], start_times=[0.0, 2.0], shape=lambda r: [ONE_WAY_S])
    wire.run(1.0)
    veteran, newcomer = wire.sessions
    for i in range(GAP_EVENTS):
        veteran.emit("key", ["left", "right"][i % 2], now=wire.now)
    wire.run(1.0)  # the newcomer starts at 2.0 s
    wants: list[Want] = []
    receive = veteran.node.receive_datagram

    def spy(data: bytes, address: object, *, now: float) -> None:
        message = veteran.node.codec.decode(data).message
        if isinstance(message, Want):
            wants.append(message)
        receive(data, address, now=now)

    veteran.node.receive_datagram = spy  # type: ignore[method-assign]
    started = wire.now
    while len(newcomer.timeline) < GAP_EVENTS:
        assert wire.now - started < 5.0, "the gap did not close"
        wire.run(0.01)
    took_s = wire.now - started
    sizes = round_sizes(GAP_EVENTS)
    # link set-up and the first digest take ~2 round trips, then one round trip per round
    assert took_s <= (len(sizes) + 4) * 2 * ONE_WAY_S + 0.05
    assert len(wants) <= sum(sizes) + sizes[-1]  # no storm of requests
    assert newcomer.timeline.digest() == veteran.timeline.digest()


def round_sizes(events: int) -> list[int]:
    """The WANTs of each round that fetches ``events`` events, every round answered in full."""
    sizes = [WANTS_PER_ROUND_START]
    while sum(sizes) * MAX_EVENTS_PER_WANT < events:
        sizes.append(min(MAX_WANTS_PER_ROUND, 2 * sizes[-1]))
    return sizes


def test_many_short_gaps_fill_a_round_like_one_long_gap() -> None:
    """A returning peer lacks a little of many sources (every incarnation is a new one):
    the round packs their gaps, it does not ask for one short gap per WANT."""
    sources, per_source = 60, 100
    history = [
        Event(10 + seq, 1000 + source, seq, "key", "up")
        for source in range(sources)
        for seq in range(1, per_source + 1)
    ]
    _, took_s = fetched_by_a_newcomer(history, "the gaps did not close")
    rounds = len(round_sizes(sources * per_source))
    assert rounds == 2
    assert took_s <= (rounds + 4) * 2 * ONE_WAY_S + 0.05


def test_events_a_neighbour_holds_above_a_gap_of_its_own_do_not_stall_the_round() -> None:
    """A neighbour may hold a source's seqs 1..10 and 20..30 but not 11..19 (still on their
    way to it). Its HAVE says so; the newcomer asks for all of it but counts only on
    1..10, so its round completes at once instead of waiting for a retry."""
    held = [Event(10 + seq, 777, seq, "key", "up") for seq in (*range(1, 11), *range(20, 31))]
    newcomer, took_s = fetched_by_a_newcomer(held, "the events above the gap never came")
    # link set-up and the first digest take ~2 round trips, then one round trip
    assert took_s <= 4 * 2 * ONE_WAY_S + 0.05
    (link,) = [link for link in newcomer.node.links if link.up]
    assert link.held[777] == 10 and link.marks[777] == 30
    assert link.asked == 0  # nothing it counted on is still outstanding


def fetched_by_a_newcomer(history: list[Event], failure: str) -> tuple[Session, float]:
    """A veteran holds ``history``; a newcomer starts at 2 s: the newcomer and the
    seconds it took to hold every event of it."""
    wire = make_network([(0, 1)], start_times=[0.0, 2.0], shape=lambda r: [ONE_WAY_S])
    wire.run(1.0)
    veteran, newcomer = wire.sessions
    for event in history:
        veteran.timeline.insert(event)
    wire.run(1.0)  # the newcomer starts at 2.0 s
    started = wire.now
    while not all(newcomer.timeline.get(*event.ident) for event in history):
        assert wire.now - started < 5.0, failure
        wire.run(0.01)
    return newcomer, wire.now - started
