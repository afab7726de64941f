"""Joining from a verified snapshot, in the in-process network.

A late joiner starts from a neighbour's snapshot instead of replaying the session from
START: its time to be back in step does not grow with the session's age; a hostile
snapshot (a pickle that would run code, or a state other peers contradict) is dropped,
counted and logged once, and the joiner recovers from another neighbour; a lossy transfer
completes; and a physics state joins bit-exactly.
"""

from __future__ import annotations

import logging
import pickle
import random

import pytest
from pairnet import Wire, make_network, settle_and_compare
from test_bounded_work import Insider as Requester
from test_bounded_work import network_with_history
from test_physics import BallsApp, build_world

from arcade_p2p.errors import RemoteError
from arcade_p2p.events import Event
from arcade_p2p.hash_reports import snapshot_hash
from arcade_p2p.machine import Coverage
from arcade_p2p.presence import Presence, pack_snapshot
from arcade_p2p.protocol.transfer import _pack_payload
from arcade_p2p.protocol.wire import (
    SNAP_CHUNK_BYTES,
    Events,
    Have,
    Hello,
    Message,
    SnapChunk,
    SnapOffer,
    SnapRequest,
    Sync,
    WireCodec,
)
from arcade_p2p.session import JOIN_TIMEOUT_S, Session
from arcade_p2p.sim.moving_rect import MovingRectApp

KEYS = ["left", "right", "up", "down"]
JOINER_ID = 5000
INSIDER_ID = 4242
INSIDER = "insider"
RAN: list[str] = []


def run_code(*args: object) -> None:
    """What a hostile pickle tries to call."""
    RAN.append(repr(args))


class Hostile:
    """Pickles into a call of :func:`run_code` (plain ``pickle.loads`` would run it)."""

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return run_code, ("owned",)


def emitter(wire: Wire, rate_per_step: float, seed: int = 5):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)

    def emit(index: int, session: Session) -> None:
        if session.peer_id != JOINER_ID and rng.random() < rate_per_step:
            session.emit("key", rng.choice(KEYS), now=wire.now)

    return emit


def new_joiner(wire: Wire, app: object | None = None) -> Session:
    return Session(
        app or MovingRectApp(),  # type: ignore[arg-type]
        peer_id=JOINER_ID,
        config=wire.sessions[0].config,
        now=wire.now,
        rng=random.Random(JOINER_ID),
    )


def back_in_step(wire: Wire, joiner: Session, within_s: float, **kw: object) -> float:
    """Run until the joiner holds every event that existed when it started and its tick is
    within 2 of the others'; how long that took."""
    started = wire.now
    wanted = {e.ident for e in wire.sessions[0].timeline.all_events()}
    while True:
        highest = max(s.tick for s in wire.sessions)
        held = all(joiner.timeline.knows(*ident) for ident in wanted)
        if held and not joiner.joining and joiner.tick >= highest - 2:
            return wire.now - started
        assert wire.now - started < within_s, "the joiner did not get back in step"
        wire.run(0.01, **kw)  # type: ignore[arg-type]


def late_join(session_s: float) -> tuple[float, Session, Wire]:
    wire = make_network([(0, 1), (1, 2), (2, 0)])
    emit = emitter(wire, 0.03)
    wire.run(session_s, emit=emit)
    joiner = new_joiner(wire)
    wire.join(joiner, [0, 1])
    return back_in_step(wire, joiner, 5.0, emit=emit), joiner, wire


def test_time_to_get_back_in_step_does_not_grow_with_the_session_s_age() -> None:
    short_s, short, short_wire = late_join(8.0)
    long_s, long, long_wire = late_join(40.0)
    for joiner, wire in ((short, short_wire), (long, long_wire)):
        assert joiner.node.transfer is not None and joiner.node.transfer.stats.installed == 1
        base = joiner.machine.base_tick
        assert base is not None and base > wire.sessions[0].tick - 100  # a recent snapshot
        # it simulated from the snapshot on, never the session's history
        ran = joiner.machine.stats.live_ticks + joiner.machine.stats.resim_ticks
        assert ran < joiner.tick - base + 60
        assert len(joiner.timeline) == len(wire.sessions[0].timeline) or joiner.joining is False
        hashes, _ = settle_and_compare(wire)
        assert len(hashes) == 1
    assert len(long.timeline) > 4 * len(short.timeline) / 2  # a much longer history...
    assert abs(long_s - short_s) <= 0.2  # ...and the same time to get back in step


def test_at_game_rates_a_joiner_lets_go_once_it_holds_what_its_state_needs() -> None:
    """Events never stop (histories are never equal at an instant): the hold ends once the
    joiner holds what its neighbours advertised above its snapshot, long before the join
    timeout, and the history it fetched meanwhile cost no rollback while it was held."""
    wire = make_network([(0, 1), (1, 2), (2, 0)])
    emit = emitter(wire, 1.0)  # 300 events/s in the room
    wire.run(10.0, emit=emit)
    joiner = new_joiner(wire)
    wire.join(joiner, [0, 1])
    started = wire.now
    while joiner.joining:
        assert wire.now - started < JOIN_TIMEOUT_S / 3, "the hold lasted too long"
        wire.run(0.01, emit=emit)
    assert joiner.machine.base_tick is not None  # it started from a snapshot...
    assert joiner.machine.stats.rollbacks == 0  # ...and nothing arrived late while held
    assert back_in_step(wire, joiner, 2.0, emit=emit) < 1.0
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


class Insider:
    """A hand-driven neighbour that knows the room and serves whatever snapshot it likes."""

    def __init__(self, joiner: Session, wire: Wire) -> None:
        self.joiner = joiner
        self.wire = wire
        self.codec = WireCodec(joiner.config.room, joiner.config.key)
        self.counter = 0
        joiner.add_peer(INSIDER, now=wire.now)
        config = joiner.config
        self.send(Hello(config.fps, config.snapshot_every_ticks, False))
        tick = float(wire.sessions[0].tick)
        self.send(Sync(tick, INSIDER_ID, tick, 0, wire.now, -1.0, 0.0, bytes(8), 0, False))

    def send(self, message: Message) -> None:
        data = self.codec.encode(INSIDER_ID, 7, self.counter, message)
        self.counter += 1
        self.joiner.node.receive_datagram(data, INSIDER, now=self.wire.now)

    def requests(self) -> list[SnapRequest]:
        """The snapshot requests the joiner sent this insider (its other datagrams are lost)."""
        out = self.joiner.node.datagrams_to_send(now=self.wire.now)
        messages = [self.codec.decode(data).message for data, to in out if to == INSIDER]
        return [m for m in messages if isinstance(m, SnapRequest)]

    def serve(
        self,
        tick: int,
        blob: bytes,
        *,
        state_hash: bytes,
        events_digest: bytes,
        overtaken: bool = False,
    ) -> None:
        """Offer the snapshot and send all its chunks (before the offer if ``overtaken``)."""
        payload = _pack_payload(Coverage(tick, {}, events_digest), blob)
        offer = SnapOffer(tick, state_hash, events_digest, len(payload))
        chunks = [
            SnapChunk(tick, i // SNAP_CHUNK_BYTES, payload[i : i + SNAP_CHUNK_BYTES])
            for i in range(0, len(payload), SNAP_CHUNK_BYTES)
        ]
        for message in [*chunks, offer] if overtaken else [offer, *chunks]:
            self.send(message)


def test_a_held_session_lets_go_on_the_sync_it_waited_for() -> None:
    """A returning session that already holds what its settled neighbour advertised lets
    go as soon as that neighbour's first SYNC since the hold began arrives (its clock has
    caught up at once by then), not at some later message."""
    wire = make_network([(0, 1)])
    joiner = new_joiner(wire)
    insider = Insider(joiner, wire)  # a Hello and a SYNC: a settled neighbour
    insider.send(SnapOffer(0, bytes(16), bytes(8), 0))  # it has no snapshot to offer
    insider.send(Have(()))  # nor any event: the joiner holds all it has
    joiner.pump_ticks(now=wire.now)
    assert not joiner.joining
    wire.now += joiner.config.link_timeout_s + 1.0  # the process froze: a return
    joiner.pump_ticks(now=wire.now)
    assert joiner.joining
    insider.send(Have(()))
    joiner.pump_ticks(now=wire.now)
    assert joiner.joining  # nothing is missing, but no SYNC since the hold began
    tick = float(joiner.tick + 50)
    insider.send(Sync(tick, INSIDER_ID, tick, 0, wire.now, -1.0, 0.0, bytes(8), 0, False))
    joiner.pump_ticks(now=wire.now)
    assert not joiner.joining and joiner.tick >= tick - 1


def test_a_joiner_does_not_hold_for_an_event_its_neighbour_lacks_too() -> None:
    """A source's event that never left its peer (it went offline first) is a gap in
    every history: a neighbour advertises its source's highest seq above that gap. A
    joiner replaying from START that holds all its neighbour holds lets go at once, not
    at the join timeout; the event, should it exist somewhere, arrives like any late one."""
    wire = make_network([(0, 1)])
    joiner = new_joiner(wire)
    insider = Insider(joiner, wire)
    insider.send(SnapOffer(0, bytes(16), bytes(8), 0))  # no snapshot: replay from START
    source = 777
    held = [Event(2 + seq, source, seq, "key", "up") for seq in (1, 2, 4, 5)]  # 3 never sent
    insider.send(Events(tuple(held)))
    insider.send(Have(((source, 2, 5),)))  # holds up to 2 without a gap, and up to 5
    joiner.pump_ticks(now=wire.now)
    assert all(joiner.timeline.knows(source, seq) for seq in (1, 2, 4, 5))
    assert not joiner.joining


def test_a_snapshot_that_would_run_code_is_refused_and_the_joiner_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wire = make_network([(0, 1)])
    wire.run(3.0, emit=emitter(wire, 0.03))
    joiner = new_joiner(wire)
    insider = Insider(joiner, wire)  # the joiner's sole neighbour, so it is believed
    assert insider.requests() == [SnapRequest(0, ())]
    evil_state = pickle.dumps(Hostile(), protocol=5)
    with pytest.raises(RemoteError):  # what the game's restricted decoder says
        MovingRectApp().codec.decode(evil_state)
    evil = pack_snapshot(Presence(), evil_state)  # a snapshot: presence beside the state
    with caplog.at_level(logging.INFO, logger="arcade_p2p"):
        insider.serve(100, evil, state_hash=snapshot_hash(evil), events_digest=bytes(8))
    assert RAN == []  # no code ran
    assert joiner.node.dropped["forbidden_class"] == 1
    assert [r for r in caplog.records if "forbidden_class" in r.getMessage()] != []
    assert len([r for r in caplog.records if "forbidden_class" in r.getMessage()]) == 1
    transfer = joiner.node.transfer
    assert transfer is not None and transfer.stats.refused == 1
    assert joiner.machine.base_tick is None and joiner.tick <= 1
    wire.join(joiner, [0])  # an honest neighbour appears
    back_in_step(wire, joiner, 5.0)
    assert transfer.stats.installed == 1 and joiner.machine.base_tick is not None
    assert RAN == []
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


def test_a_snapshot_that_other_peers_contradict_is_refused_before_it_is_decoded() -> None:
    wire = make_network([(0, 1)])
    wire.run(3.0, emit=emitter(wire, 0.03))
    joiner = new_joiner(wire)
    insider = Insider(joiner, wire)
    assert insider.requests() == [SnapRequest(0, ())]  # the insider is asked first
    wire.join(joiner, [0])
    honest = wire.sessions[0].peer_id
    while not joiner.reports.reported_hashes(tick := wire.sessions[0].reports.latest()[0].tick):
        assert wire.now < 6.0
        wire.run(0.01)
    reported_hash, digest = joiner.reports.reported_hashes(tick)[honest]
    forged = MovingRectApp()
    forged.start()
    blob = pack_snapshot(Presence(), forged.save_state())  # decodes, but not the room's
    assert snapshot_hash(blob) != reported_hash
    insider.serve(tick, blob, state_hash=snapshot_hash(blob), events_digest=digest)
    assert joiner.node.dropped["snapshot_mismatch"] == 1
    transfer = joiner.node.transfer
    assert transfer is not None and transfer.stats.refused == 1
    back_in_step(wire, joiner, 5.0)  # from the honest neighbour instead
    assert transfer.stats.installed == 1
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


BALLS = 100


class ManyBallsApp(BallsApp):
    """A physics world whose snapshot takes ~27 chunks."""

    def start(self) -> None:
        self.state = build_world(BALLS)


def test_a_lossy_physics_transfer_completes_and_the_join_is_bit_exact() -> None:
    lossy = lambda r: [] if r.random() < 0.25 else [0.02 + r.random() * 0.01]  # noqa: E731
    wire = make_network([(0, 1)], app_factory=ManyBallsApp, shape=lossy, seed=4)
    rng = random.Random(3)

    def push(index: int, session: Session) -> None:
        if session.peer_id != JOINER_ID and rng.random() < 0.01:
            session.emit("push", [rng.randint(-50, 50), rng.randint(0, 80)], now=wire.now)

    wire.run(2.0, emit=push)
    joiner = new_joiner(wire, ManyBallsApp())
    wire.join(joiner, [0, 1])
    back_in_step(wire, joiner, 10.0, emit=push)
    transfer = joiner.node.transfer
    assert transfer is not None and transfer.stats.installed == 1
    assert transfer.stats.chunk_retries > 0  # chunks were lost and asked for again
    size = len(wire.sessions[0].app.save_state())
    assert size > 20 * SNAP_CHUNK_BYTES
    assert joiner.machine.base_tick is not None
    wire.run(2.0, emit=push)  # more events, late ones too, after the join
    hashes, final = settle_and_compare(wire)
    assert len(hashes) == 1
    assert joiner.tick == final + 1


def test_a_sender_offers_the_tick_a_joiner_asks_for_while_it_reports_it() -> None:
    wire, _ = network_with_history()
    sender = wire.sessions[0]
    requester = Requester(sender, wire)
    requester.replies()
    newest, default = (r.tick for r in sender.reports.latest()[:2])

    def offered(tick: int) -> int:
        wire.now += 1.0  # past the interval in which a repeated request gets the same offer
        requester.send(SnapRequest(tick, ()))
        (offer,) = [m for m in requester.replies() if isinstance(m, SnapOffer)]
        return offer.tick

    assert offered(newest) == newest  # one it reports: that one
    assert offered(0) == default  # none named: the second newest
    assert offered(newest - 5) == default  # not a tick it reports: the second newest


def test_chunks_that_overtake_the_offer_are_kept_not_asked_for_again() -> None:
    """The offer and the first chunks leave together; on a jittery path a chunk may arrive
    first. It is kept until the offer arrives (before, the joiner dropped it and asked
    again after a retry wait)."""
    wire = make_network([(0, 1)])
    wire.run(3.0, emit=emitter(wire, 0.03))
    joiner = new_joiner(wire)
    insider = Insider(joiner, wire)  # the joiner's only neighbour: accepted unverified
    assert insider.requests() == [SnapRequest(0, ())]
    veteran = wire.sessions[0].machine
    found = veteran.settled_snapshot(veteran.tick - 50)
    assert found is not None
    coverage, blob = found
    insider.serve(
        coverage.tick,
        blob,
        state_hash=snapshot_hash(blob),
        events_digest=coverage.events_digest,
        overtaken=True,
    )
    transfer = joiner.node.transfer
    assert transfer is not None and transfer.stats.installed == 1
    assert insider.requests() == []  # no chunk asked for again


def test_a_sender_builds_each_offered_snapshot_once_not_on_every_renewal() -> None:
    """The offers are renewed whenever the reports change (one new tick per snapshot
    period); the ticks still reported keep the offer built for them."""
    wire = make_network([(0, 1)])
    sender = wire.sessions[0]
    built: list[int] = []
    settled_snapshot = sender.machine.settled_snapshot

    def counted(before_tick: int) -> tuple[Coverage, bytes] | None:
        built.append(before_tick)
        return settled_snapshot(before_tick)

    sender.machine.settled_snapshot = counted  # type: ignore[method-assign]
    wire.run(6.0)  # no input: no rollback rewrites a snapshot
    reported = {report.tick for report in sender.reports.latest()}
    offers = sender._snapshots.offers
    assert set(offers) == reported and len(reported) > 1
    assert sorted(built) == sorted(set(built))  # each tick's offer was built once
    assert all(offers[tick][1] is sender.reports.snapshot(tick) for tick in reported)
