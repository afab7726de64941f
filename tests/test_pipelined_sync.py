"""Pipelined anti-entropy: a newcomer closes a gap of thousands of events in a few round trips."""

from __future__ import annotations

from pairnet import make_network

from arcade_p2p.protocol.node import MAX_EVENTS_PER_WANT, MAX_WANTS_PER_ROUND
from arcade_p2p.protocol.wire import Want

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
    rounds = -(-GAP_EVENTS // (MAX_EVENTS_PER_WANT * MAX_WANTS_PER_ROUND))
    # link set-up and the first digest take ~2 round trips, then one round trip per round
    assert took_s <= (rounds + 4) * 2 * ONE_WAY_S + 0.05
    assert len(wants) <= (rounds + 1) * MAX_WANTS_PER_ROUND  # no storm of requests
    assert newcomer.timeline.digest() == veteran.timeline.digest()
