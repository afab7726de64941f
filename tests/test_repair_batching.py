"""A burst of very late events (a healed split) costs one deep rollback, not one per datagram;
ordinary late input is repaired at once; the result is the same state either way."""

from __future__ import annotations

import random

import pytest
from pairnet import Wire, make_network, settle_and_compare

from arcade_p2p import repair_batching
from arcade_p2p import session as session_module
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.repair_batching import MAX_WAIT_S, QUIET_S, RepairBatcher, deep_repair_ticks
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.timeline import Timeline

FPS = 50
DEEP_TICKS = deep_repair_ticks(FPS, max_delta_ticks=5)  # 2 x Delta is 10 < 0.25 s


def machine_at(tick: int) -> TimeMachine:
    machine = TimeMachine(MovingRectApp(), Timeline(), snapshot_every_ticks=10)
    machine.advance(tick - 1)
    return machine


def arrive(machine: TimeMachine, event: Event) -> None:
    machine.timeline.insert(event)
    machine.note_event(event)


def test_a_shallow_repair_never_waits() -> None:
    machine, batcher = machine_at(200), RepairBatcher(DEEP_TICKS)
    assert DEEP_TICKS == 12
    arrive(machine, Event(200 - DEEP_TICKS, 1, 1, "key", "up"))  # as deep as ordinary input
    assert not batcher.holds(machine, now=0.0)
    assert batcher.deadline == float("inf")


def test_a_deep_repair_waits_while_late_events_keep_coming_then_runs_once() -> None:
    machine, batcher = machine_at(400), RepairBatcher(DEEP_TICKS)
    arrive(machine, Event(100, 1, 1, "key", "up"))
    assert batcher.holds(machine, now=10.0)
    assert batcher.deadline == pytest.approx(10.0 + QUIET_S)
    machine.advance(409, repair=False)  # the game goes on meanwhile
    assert machine.pending_repair == 100 and machine.stats.rollbacks == 0
    arrive(machine, Event(150, 1, 2, "key", "down"))  # more of the burst
    assert batcher.holds(machine, now=10.1)
    assert batcher.deadline == pytest.approx(10.1 + QUIET_S)
    assert not batcher.holds(machine, now=10.1 + QUIET_S)  # quiet: repair now
    machine.advance(410)
    assert machine.stats.rollbacks == 1 and machine.pending_repair is None


def test_a_wait_ends_after_its_longest_even_if_events_keep_coming() -> None:
    machine, batcher = machine_at(400), RepairBatcher(DEEP_TICKS)
    arrive(machine, Event(100, 1, 1, "key", "up"))
    now, seq = 0.0, 1
    while batcher.holds(machine, now=now):
        seq += 1
        arrive(machine, Event(100 + seq, 1, seq, "key", "up"))
        now += QUIET_S / 2
    assert now == pytest.approx(MAX_WAIT_S, abs=QUIET_S)


def test_the_state_after_a_waited_repair_is_the_state_of_an_immediate_one() -> None:
    events = [Event(random.Random(i).randrange(1, 300), 1, i + 1, "key", "up") for i in range(30)]
    at_once, waited = machine_at(300), machine_at(300)
    for event in events:
        arrive(at_once, event)
        at_once.advance(at_once.tick)
        arrive(waited, event)
        waited.advance(waited.tick, repair=False)
    waited.advance(at_once.tick - 1)
    assert at_once.stats.rollbacks == 30 and waited.stats.rollbacks == 1
    assert waited.state_hash() == at_once.state_hash()


def split_and_heal(seed: int) -> Wire:
    """Four peers in a line, typing fast; the middle link is down for eight seconds.

    Delays of 20 to 220 ms spread the heal's datagrams over many driver steps, as a real
    network and a real frame loop do."""
    config = SessionConfig(fps=FPS, delay_ms=60, presence=False)
    wire = make_network(
        [(0, 1), (1, 2), (2, 3)],
        seed=seed,
        config=config,
        shape=lambda r: [0.02 + r.random() * 0.2],
    )
    rng = random.Random(seed)

    def type_keys(index: int, session: Session) -> None:
        if rng.random() < 0.3:
            session.emit("key", rng.choice(["left", "right", "up", "down"]), now=wire.now)

    wire.run(2.0, emit=type_keys)
    wire.edges -= {(1, 2), (2, 1)}
    wire.run(8.0, emit=type_keys)
    wire.edges |= {(1, 2), (2, 1)}
    wire.run(3.0, emit=type_keys)
    return wire


def deep_rollbacks(session: Session) -> int:
    return session.machine.rollback_depths.count_above(FPS)  # a second and more


def test_a_healed_split_costs_each_peer_one_deep_rollback_and_converges() -> None:
    wire = split_and_heal(seed=3)
    assert [deep_rollbacks(s) for s in wire.sessions] == [1, 1, 1, 1]
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1
    assert all(deep_rollbacks(s) <= 2 for s in wire.sessions)  # stragglers: one more at most


def test_without_batching_the_same_heal_costs_many_deep_rollbacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_module, "deep_repair_ticks", lambda *_: 10**9)  # none is deep
    wire = split_and_heal(seed=3)
    hashes, _ = settle_and_compare(wire)
    assert len(hashes) == 1
    assert sum(deep_rollbacks(s) for s in wire.sessions) > 8


def test_switched_off_a_deep_repair_runs_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repair_batching, "ENABLED", False)
    machine, batcher = machine_at(400), RepairBatcher(DEEP_TICKS)
    arrive(machine, Event(100, 1, 1, "key", "up"))
    assert not batcher.holds(machine, now=0.0)
