"""Flooding relays an event only where it can still be news.

A real session is linked to hand-driven neighbours (they know the room, so their datagrams
pass the MAC) and the test reads what it queues for each of them: an event is not relayed
to the neighbour it came from nor to its source, and a copy queued for a neighbour that
sends the same event meanwhile is taken back.
"""

from __future__ import annotations

from collections.abc import Hashable

from arcade_p2p.events import Event
from arcade_p2p.protocol.node import TAKE_BACK_SCAN
from arcade_p2p.protocol.wire import Events, Hello, Message, WireCodec
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp

NOW = 1.0


class HandPeer:
    """A neighbour of ``session`` driven by hand, at address ``name`` with id ``peer``."""

    def __init__(self, session: Session, name: str, peer: int) -> None:
        self.codec = WireCodec(session.config.room, session.config.key)
        self.session = session
        self.name = name
        self.peer = peer
        self.counter = 0
        config = session.config
        self.send(Hello(config.fps, config.snapshot_every_ticks, False))
        assert name in session.node.neighbours()

    def send(self, message: Message) -> None:
        data = self.codec.encode(self.peer, 7, self.counter, message)
        self.counter += 1
        self.session.node.receive_datagram(data, self.name, now=NOW)


def linked_session(*names: str) -> tuple[Session, dict[str, HandPeer]]:
    session = Session(MovingRectApp(), peer_id=1, config=SessionConfig(), now=0.0)
    peers = {name: HandPeer(session, name, 100 + i) for i, name in enumerate(names)}
    session.node.datagrams_to_send(now=NOW)  # the handshake's replies
    return session, peers


def relayed(session: Session) -> dict[Hashable, list[tuple[int, int]]]:
    """``address -> idents of the events sent there`` for what the session sends now."""
    sent: dict[Hashable, list[tuple[int, int]]] = {}
    codec = session.node.codec
    for data, address in session.node.datagrams_to_send(now=NOW):
        message = codec.decode(data).message
        if isinstance(message, Events):
            sent.setdefault(address, []).extend(e.ident for e in message.events)
    return sent


def key(source: int, seq: int) -> Event:
    return Event(50, source, seq, "key", "left")


def test_an_event_goes_to_every_other_neighbour_but_not_back_nor_to_its_source() -> None:
    session, peers = linked_session("a", "b", "c")
    source = peers["b"].peer
    peers["a"].send(Events((key(source, 1),)))
    assert relayed(session) == {"c": [(source, 1)]}  # not to a (sender) nor b (source)


def test_a_copy_queued_for_a_neighbour_that_sends_the_event_is_taken_back() -> None:
    session, peers = linked_session("a", "b", "c")
    event = key(peers["a"].peer, 1)
    peers["a"].send(Events((event,)))  # new: queued for b and c
    peers["b"].send(Events((event,)))  # b relays it too: it has it
    assert relayed(session) == {"c": [event.ident]}
    assert session.node.stats.events_duplicate == 1
    assert not session.node.has_output()


def test_only_the_crossing_copy_is_taken_back_and_others_still_go() -> None:
    session, peers = linked_session("a", "b")
    source = 999  # not a neighbour: a's events are all queued for b
    events = [key(source, seq) for seq in range(1, TAKE_BACK_SCAN + 3)]
    peers["a"].send(Events(tuple(events)))
    peers["b"].send(Events((events[-2],)))  # within the scanned tail: taken back
    peers["b"].send(Events((events[0],)))  # further back than the scan: still sent
    sent = relayed(session)["b"]
    assert sent == [e.ident for e in events if e is not events[-2]]


def test_events_go_out_before_the_sync_that_counts_them_and_after_a_handshake() -> None:
    session, peers = linked_session("a", "b")
    peers["a"].send(Events((key(peers["a"].peer, 1),)))  # queued for b
    session.add_peer("c", now=NOW)  # dialled: a HELLO is due
    session.node.handle_timer(now=NOW + 1.0)  # SYNC to a and b, HELLO to c
    codec = session.node.codec
    order = [
        (type(codec.decode(data).message).__name__, address)
        for data, address in session.node.datagrams_to_send(now=NOW + 1.0)
    ]
    assert order[0] == ("Hello", "c")
    assert order.index(("Events", "b")) < order.index(("Sync", "b"))
    assert sorted(order[2:]) == [("Sync", "a"), ("Sync", "b")]
