"""Sessions over an in-process network: flooding, anti-entropy, joins, bad input, stamping."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from pairnet import converge_while_lossy, make_network, settle_and_compare

from arcade_p2p.errors import UsageError
from arcade_p2p.protocol.wire import VERSION, Events, Hello, WireCodec
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp

KEYS = ["left", "right", "up", "down"]


def emit_randomly(wire, rate_per_step: float, seconds: float, seed: int = 5) -> int:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    count = 0

    def emit(index: int, session: Session) -> None:
        nonlocal count
        if rng.random() < rate_per_step:
            session.emit("key", rng.choice(KEYS), now=wire.now)
            count += 1

    wire.run(seconds, emit=emit)
    return count


def test_line_of_five_floods_every_event_and_agrees() -> None:
    wire = make_network([(0, 1), (1, 2), (2, 3), (3, 4)])
    emitted = emit_randomly(wire, 0.01, 8.0)
    hashes, _ = settle_and_compare(wire)
    assert emitted > 10
    assert all(len(s.timeline) == emitted for s in wire.sessions)
    assert len(hashes) == 1
    assert all(s.stats().neighbours in (1, 2) for s in wire.sessions)


def test_anti_entropy_recovers_what_heavy_loss_dropped() -> None:
    lossy = lambda r: [] if r.random() < 0.4 else [0.02 + r.random() * 0.05]  # noqa: E731
    wire = make_network([(0, 1), (1, 2), (2, 0), (2, 3)], shape=lossy, seed=3)
    emitted = emit_randomly(wire, 0.01, 10.0, seed=8)
    hashes, _ = settle_and_compare(wire, seconds=8.0)
    assert all(len(s.timeline) == emitted for s in wire.sessions)
    assert len(hashes) == 1


def test_anti_entropy_recovers_while_loss_continues() -> None:
    lost = 0

    def lossy(r: random.Random) -> list[float]:
        nonlocal lost
        if r.random() < 0.4:
            lost += 1
            return []
        return [0.02 + r.random() * 0.05]

    wire = make_network([(0, 1), (1, 2), (2, 0), (2, 3)], shape=lossy, seed=3)
    emitted = emit_randomly(wire, 0.01, 10.0, seed=8)
    assert len({len(s.timeline) for s in wire.sessions}) > 1  # not converged when emitting stops
    lost_before = lost
    hashes = converge_while_lossy(wire, within_s=10.0)
    assert lost > lost_before  # datagrams kept being lost during the recovery
    assert all(len(s.timeline) == emitted for s in wire.sessions)
    assert len(hashes) == 1


def test_late_joiner_gets_the_whole_history_and_catches_up() -> None:
    wire = make_network([(0, 1), (1, 2)], start_times=[0.0, 0.0, 0.0])
    # peer 2 only dials after 6 s: until then it runs alone with no events
    wire.edges -= {(1, 2), (2, 1)}
    emit_randomly(wire, 0.01, 6.0)
    history = len(wire.sessions[0].timeline)  # the isolated peer's own events die with it
    wire.edges |= {(1, 2), (2, 1)}
    late = Session(MovingRectApp(), peer_id=555, config=wire.sessions[0].config, now=wire.now)
    wire.sessions[2] = late
    late.add_peer(1, now=wire.now)
    assert late.joining
    wire.run(2.5)
    assert not late.joining
    assert history > 10
    assert len(late.timeline) == history
    assert late.stats().rollbacks == 0  # it held at START and applied the history forward
    assert abs(late.tick - wire.sessions[0].tick) <= 2
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


def test_a_frozen_peer_holds_until_it_has_what_it_missed() -> None:
    wire = make_network([(0, 1), (1, 2)])
    emit_randomly(wire, 0.01, 3.0)
    frozen = wire.sessions[2]
    wire.sessions[2] = make_network([(0, 1)]).sessions[0]  # a stand-in nobody links to
    wire.edges -= {(1, 2), (2, 1)}
    emit_randomly(wire, 0.01, 6.0, seed=9)  # the others go on while it is frozen
    wire.sessions[2] = frozen
    wire.edges |= {(1, 2), (2, 1)}
    frozen.pump_ticks(now=wire.now + 0.01)
    assert frozen.joining  # it noticed the gap
    rollbacks_before = frozen.stats().rollbacks
    wire.run(3.0)
    assert not frozen.joining
    assert len(frozen.timeline) == len(wire.sessions[0].timeline)
    assert frozen.stats().rollbacks == rollbacks_before
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1


def test_duplicates_and_reordering_change_nothing() -> None:
    dup = lambda r: [r.random() * 0.2, r.random() * 0.2]  # noqa: E731
    wire = make_network([(0, 1), (1, 2), (0, 2)], shape=dup, seed=4)
    emitted = emit_randomly(wire, 0.02, 5.0)
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1
    assert all(len(s.timeline) == emitted for s in wire.sessions)
    assert sum(s.node.stats.events_duplicate for s in wire.sessions) > 0
    assert sum(s.node.dropped["replayed"] for s in wire.sessions) > 0


def test_garbage_wrong_room_and_wrong_config_are_dropped_and_counted() -> None:
    wire = make_network([(0, 1)])
    wire.run(1.0)
    victim = wire.sessions[0]
    before = victim.state_hash(), victim.tick
    victim.pump(now=wire.now, datagrams=[(b"\x00garbage and more garbage bytes", "x")])
    victim.pump(now=wire.now, datagrams=[(b"AP" + bytes((VERSION,)) + bytes(30), "x")])
    outsider = WireCodec("another-room").encode(9, 1, 1, Hello(50, 10, True))
    victim.pump(now=wire.now, datagrams=[(outsider, "x")])
    wrong_fps = WireCodec("lobby").encode(9, 1, 1, Hello(60, 10, True))
    victim.pump(now=wire.now, datagrams=[(wrong_fps, "y")])
    wrong_period = WireCodec("lobby").encode(9, 1, 3, Hello(50, 25, True))
    victim.pump(now=wire.now, datagrams=[(wrong_period, "y")])
    stranger_events = WireCodec("lobby").encode(9, 1, 2, Events(()))
    victim.pump(now=wire.now, datagrams=[(stranger_events, "z")])
    dropped = victim.stats().dropped
    assert dropped["bad_magic"] == 1
    assert dropped["bad_mac"] == 2
    assert dropped["config_mismatch"] == 2
    assert dropped["unlinked"] >= 1
    assert victim.stats().neighbours == 1
    assert (victim.state_hash(), victim.tick) == before


def test_a_peer_that_goes_silent_is_dropped_and_comes_back() -> None:
    wire = make_network([(0, 1)])
    wire.run(1.0)
    assert wire.sessions[0].stats().neighbours == 1
    wire.edges.clear()
    wire.run(4.0)
    assert wire.sessions[0].stats().neighbours == 0
    wire.edges |= {(0, 1), (1, 0)}
    wire.run(2.0)
    assert wire.sessions[0].stats().neighbours == 1


def test_stamping_is_now_plus_delta_and_keeps_the_log_increasing() -> None:
    config = SessionConfig(delay_ms=200, presence=False)  # 10 ticks at 50 fps; no @join
    session = Session(MovingRectApp(), peer_id=1, config=config, now=0.0)
    session.pump_ticks(now=1.0)
    first = session.emit("key", "up", now=1.0)
    assert first.tick == 50 + 10
    second = session.emit("key", "up", now=1.0)
    assert second.tick == first.tick + 1
    assert (first.seq, second.seq) == (1, 2)


def test_bad_configuration_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        Session(MovingRectApp(), peer_id=-1, now=0.0)
    with pytest.raises(UsageError):
        Session(MovingRectApp(), peer_id=1, config=SessionConfig(fps=0), now=0.0)
    for name in ("fast", "paper"):  # a name is converted explicitly: ClockMode("paper")
        with pytest.raises(UsageError, match="ClockMode"):
            SessionConfig(clock=name).validate()
    session = Session(MovingRectApp(), peer_id=1, now=0.0)
    with pytest.raises(UsageError):
        session.emit("key", object(), now=0.0)


def test_the_node_lists_a_dialled_peer_until_it_answers() -> None:
    """Sans-io: an unanswered dial is listed (with what came back); an answer clears it."""
    config = SessionConfig(delay_ms=100)
    caller = Session(MovingRectApp(), peer_id=1, config=config, now=0.0)
    stranger = Session(MovingRectApp(), peer_id=2, config=replace(config, room="other"), now=0.0)
    caller.add_peer("callee", now=0.0)
    assert [link.address for link in caller.node.unanswered(since=0.0)] == ["callee"]
    assert caller.node.unanswered(since=-1.0) == []  # not dialled that long ago
    hello = caller.pump(now=0.0)
    stranger.add_peer("caller", now=0.0)
    other_room = [(data, "callee") for data, _ in stranger.pump(now=0.0)]
    caller.pump(now=0.1, datagrams=other_room)  # another room answers
    (link,) = caller.node.unanswered(since=3.0)
    assert link.dialled_at == 0.0 and link.last_drop == "bad_mac"
    callee = Session(MovingRectApp(), peer_id=3, config=config, now=0.0)
    answer = callee.pump(now=0.2, datagrams=[(data, "caller") for data, _ in hello])
    caller.pump(now=0.3, datagrams=[(data, "callee") for data, _ in answer])
    assert caller.node.neighbours() == ["callee"]
    assert caller.node.unanswered(since=3.0) == []
