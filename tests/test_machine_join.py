"""A time machine that starts from another peer's snapshot: exact, pymunk included."""

from __future__ import annotations

import pytest
from test_physics import EVENTS, TICKS, BallsApp

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.machine import Coverage, TimeMachine
from arcade_p2p.protocol.transfer import _pack_payload, _parse_payload
from arcade_p2p.timeline import InsertOutcome, Timeline

JOIN_TICK = 100
EXTRA = Event(120, 3, 1, "push", [40, 90])
"""An event after the join tick, arriving late at both machines."""
OLD = Event(60, 4, 1, "drop", [100, 200])
"""An event before the join tick that the snapshot lacks (a healed partition)."""


def veteran(events: list[Event], until: int) -> TimeMachine:
    machine = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    for tick in range(until + 1):
        for event in events:
            if event.tick == tick:
                machine.timeline.insert(event)
                machine.note_event(event)
        machine.advance(tick)
    return machine


def joiner_of(source: TimeMachine, tick: int) -> TimeMachine:
    found = source.settled_snapshot(tick)
    assert found is not None
    coverage, blob = found
    assert coverage.tick == tick
    machine = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    app = machine.app
    assert isinstance(app, BallsApp)
    machine.start_from(coverage, blob, load=app.load_remote_state)
    return machine


def deliver(machine: TimeMachine, events: list[Event]) -> None:
    for event in events:
        if machine.timeline.insert(event) is InsertOutcome.NEW:
            machine.note_event(event)


def test_a_joiner_from_a_physics_snapshot_stays_bit_identical() -> None:
    old = veteran(EVENTS, JOIN_TICK + 30)
    new = joiner_of(old, JOIN_TICK)
    assert new.tick == JOIN_TICK and new.base_tick == JOIN_TICK
    before = [e for e in EVENTS if e.tick < JOIN_TICK]
    assert before and all(new.started_with(e) for e in before)  # in its state, not held
    assert not new.started_with(EXTRA) and not new.started_with(OLD)
    assert not old.started_with(before[0])  # a machine from START has no snapshot base
    deliver(new, EVENTS)  # the history arrives: the snapshot covers what is before T
    assert new.stats.rollbacks == 0
    new.advance(JOIN_TICK + 30)
    assert new.state_hash() == old.state_hash()
    for machine in (old, new):  # a late event after the join tick: ordinary rollbacks
        deliver(machine, [*EVENTS, EXTRA])
        machine.advance(TICKS)
    assert new.stats.rollbacks == 1
    assert new.state_hash() == old.state_hash()
    assert new.base_tick == JOIN_TICK


def test_an_event_older_than_the_snapshot_replays_the_history_and_converges() -> None:
    old = veteran(EVENTS, JOIN_TICK + 30)
    new = joiner_of(old, JOIN_TICK)  # the snapshot lacks OLD
    deliver(new, EVENTS)
    new.advance(JOIN_TICK + 30)
    for machine in (old, new):
        deliver(machine, [*EVENTS, OLD])
        machine.advance(TICKS)
    assert new.base_tick is None  # it fell back to the whole history
    assert new.state_hash() == old.state_hash()
    assert new.state_hash() == veteran([*EVENTS, OLD], TICKS).state_hash()


def test_an_uncovered_event_that_comes_before_the_rest_of_the_history_still_converges() -> None:
    old = veteran(EVENTS, JOIN_TICK + 30)
    new = joiner_of(old, JOIN_TICK)
    deliver(old, [OLD])
    deliver(new, [OLD])  # the replay from START lacks EVENTS for now...
    new.advance(JOIN_TICK + 30)
    for machine in (old, new):  # ...which then roll it back like any late events
        deliver(machine, EVENTS)
        machine.advance(TICKS)
    assert new.state_hash() == old.state_hash()


def test_the_coverage_stops_below_the_events_stamped_at_or_after_the_snapshot_tick() -> None:
    """The sender holds events stamped at the snapshot's tick or later (its newest input):
    they are not in the state, so the mark stops below them and a joiner, whose floor the
    mark is, fetches them first and holds until it has them."""
    source = 7
    pushes = [Event(90 + 5 * i, source, i + 1, "push", [10 * i, 50]) for i in range(6)]
    old = veteran([*EVENTS, *pushes], JOIN_TICK + 30)  # ticks 90, 95, then 100 to 115
    found = old.settled_snapshot(JOIN_TICK)
    assert found is not None
    coverage = found[0]
    assert coverage.marks[source] == 2 and not coverage.extra
    assert [e for e in pushes if coverage.covers(e)] == pushes[:2]
    new = joiner_of(old, JOIN_TICK)
    deliver(new, [*EVENTS, *pushes])
    new.advance(JOIN_TICK + 30)
    assert new.stats.rollbacks == 0 and new.state_hash() == old.state_hash()


def test_only_a_machine_at_start_can_start_from_a_snapshot() -> None:
    old = veteran(EVENTS, JOIN_TICK)
    found = old.settled_snapshot(JOIN_TICK)
    assert found is not None
    with pytest.raises(UsageError):
        old.start_from(*found)
    fresh = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    with pytest.raises(UsageError):
        fresh.start_from(Coverage(JOIN_TICK + 5, {}, found[0].events_digest), found[1])
    assert old.settled_snapshot(5) is None  # START's state: a joiner has it anyway


def test_events_held_above_a_gap_are_covered_one_by_one() -> None:
    holey = [*EVENTS, Event(30, 9, 1, "push", [5, 5]), Event(50, 9, 3, "push", [9, 0])]
    old = veteran(holey, JOIN_TICK + 30)  # seq 2 of source 9 never arrived
    found = old.settled_snapshot(JOIN_TICK)
    assert found is not None
    coverage, blob = found
    assert coverage.marks[9] == 1 and (9, 3) in coverage.extra
    parsed, same_blob = _parse_payload(
        coverage.tick, coverage.events_digest, _pack_payload(coverage, blob)
    )
    assert parsed == coverage and same_blob == blob
    new = joiner_of(old, JOIN_TICK)
    deliver(new, holey)
    assert new.stats.rollbacks == 0 and new.base_tick == JOIN_TICK  # nothing to replay
    late = Event(40, 9, 2, "drop", [50, 300])  # the missing one, older than the snapshot
    for machine in (old, new):
        deliver(machine, [*holey, late])
        machine.advance(TICKS)
    assert new.base_tick is None
    assert new.state_hash() == old.state_hash()
