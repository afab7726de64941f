"""Bounded history: events older than ``history_ticks`` are forgotten behind a snapshot,
exactly (state hashes), with what was forgotten still known and refused when too old."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from test_physics import BallsApp

from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import Event
from arcade_p2p.machine import FORGET_EVERY_TICKS, TimeMachine
from arcade_p2p.protocol.transfer import _pack_payload, _parse_payload
from arcade_p2p.session import SessionConfig
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.timeline import InsertOutcome, Timeline

HISTORY_TICKS = 100
RUN_TICKS = HISTORY_TICKS + FORGET_EVERY_TICKS + 300


def random_events(seed: int, ticks: int, sources: int = 3) -> list[Event]:
    """Pushes and drops from a few sources, a source's ticks non-decreasing in seq."""
    rng = random.Random(seed)
    events: list[Event] = []
    for source in range(1, sources + 1):
        tick = 0
        for seq in range(1, ticks // 15 + 1):
            tick += rng.randint(1, 25)
            name = rng.choice(["push", "drop"])
            events.append(Event(tick, source, seq, name, [rng.randint(0, 400), 300]))
    return [e for e in events if e.tick < ticks]


def play(machine: TimeMachine, events: list[Event], until: int, late_by: int = 0) -> None:
    """Run to ``until``, each event arriving ``late_by`` ticks after its own."""
    for tick in range(until + 1):
        for event in events:
            if event.tick + late_by == tick and machine.timeline.insert(event) is (
                InsertOutcome.NEW
            ):
                machine.note_event(event)
        machine.advance(tick)


def test_a_machine_that_forgets_stays_bit_identical_to_one_that_keeps_everything() -> None:
    events = random_events(1, RUN_TICKS)
    keeper = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    forgetter = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    play(keeper, events, RUN_TICKS, late_by=3)
    play(forgetter, events, RUN_TICKS, late_by=3)  # late events roll back in both
    assert forgetter.stats.rollbacks == keeper.stats.rollbacks > 0
    assert forgetter.state_hash() == keeper.state_hash()
    timeline = forgetter.timeline
    assert timeline.floor_tick > 0 and forgetter.base_tick == timeline.floor_tick
    assert timeline.floor_tick >= RUN_TICKS - HISTORY_TICKS - FORGET_EVERY_TICKS
    assert timeline.held < len(keeper.timeline)  # fewer held...
    assert len(timeline) == len(keeper.timeline)  # ...the same known
    assert timeline.marks() == keeper.timeline.marks()
    assert timeline.digest() == keeper.timeline.digest()
    after = RUN_TICKS - 50
    assert timeline.events_digest(after) == keeper.timeline.events_digest(after)
    assert all(tick >= timeline.floor_tick for tick in forgetter.snapshots.ticks)
    first = events[0]
    assert timeline.insert(first) is InsertOutcome.DUPLICATE  # forgotten, still known
    assert timeline.knows(first.source, first.seq) and timeline.get(*first.ident) is None
    with pytest.raises(UsageError):
        timeline.events_digest(timeline.floor_tick - 1)


def test_an_unknown_event_older_than_the_forgotten_history_is_refused() -> None:
    events = random_events(2, RUN_TICKS)
    machine = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    play(machine, events, RUN_TICKS)
    before = machine.state_hash()
    stale = Event(machine.timeline.floor_tick - 1, 9, 1, "drop", [5, 5])
    assert machine.timeline.insert(stale) is InsertOutcome.TOO_OLD
    assert not machine.timeline.knows(9, 1)
    fresh = Event(machine.timeline.floor_tick + 1, 9, 1, "drop", [5, 5])
    assert machine.timeline.insert(fresh) is InsertOutcome.NEW  # within the history: applied
    machine.note_event(fresh)
    machine.advance(RUN_TICKS)
    assert machine.stats.rollbacks == 1 and machine.state_hash() != before


def test_a_source_with_a_gap_keeps_its_history_from_the_gap_on() -> None:
    events = random_events(3, RUN_TICKS)
    missing = next(e for e in events if e.source == 2 and e.tick > 100)
    machine = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    play(machine, [e for e in events if e != missing], RUN_TICKS)
    timeline = machine.timeline
    assert timeline.floor_tick <= missing.tick  # the gap's event can still be applied
    keeper = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    play(keeper, events, RUN_TICKS)
    assert timeline.insert(missing) is InsertOutcome.NEW
    machine.note_event(missing)
    machine.advance(RUN_TICKS)
    assert machine.state_hash() == keeper.state_hash()
    play(machine, [], RUN_TICKS + HISTORY_TICKS + FORGET_EVERY_TICKS)  # the gap closed:
    assert timeline.floor_tick > missing.tick  # forgetting goes on past it


def test_a_machine_forgets_nothing_it_caught_up_on_before_it_ran_history_ticks_in_step() -> None:
    """A latecomer that replays the history from START at once has not fetched all of it
    yet (here source 3's events come later): forgetting right after the replay refused
    them as too old (and every joiner of its snapshots adopted that floor)."""
    events = random_events(7, RUN_TICKS)
    fetched = [e for e in events if e.source != 3]
    latecomer = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    for event in fetched:
        latecomer.timeline.insert(event)
    latecomer.advance(RUN_TICKS, catch_up=True)
    timeline = latecomer.timeline
    assert timeline.floor_tick == 0  # in step only now: nothing forgotten yet
    for event in events:
        if event.source == 3:
            assert timeline.insert(event) is InsertOutcome.NEW
            latecomer.note_event(event)
    latecomer.advance(RUN_TICKS)
    keeper = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    play(keeper, events, RUN_TICKS)
    assert latecomer.state_hash() == keeper.state_hash()
    in_step = RUN_TICKS + HISTORY_TICKS + FORGET_EVERY_TICKS
    latecomer.advance(in_step)  # history_ticks in step: it forgets as usual
    assert timeline.floor_tick >= in_step - HISTORY_TICKS - FORGET_EVERY_TICKS
    assert timeline.held < len(timeline) == len(events)


def joiner_of(veteran: TimeMachine, tick: int) -> TimeMachine:
    """A machine that starts from ``veteran``'s snapshot at ``tick``, sent through the
    snapshot payload's codec (and the restricted decoder)."""
    found = veteran.settled_snapshot(tick)
    assert found is not None
    coverage, blob = found
    coverage, blob = _parse_payload(
        coverage.tick, coverage.events_digest, _pack_payload(coverage, blob)
    )
    joiner = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    app = joiner.app
    assert isinstance(app, BallsApp)
    joiner.start_from(coverage, blob, load=app.load_remote_state)
    return joiner


def test_a_joiner_adopts_what_its_snapshot_s_sender_forgot() -> None:
    events = random_events(4, RUN_TICKS + 200)
    veteran = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    play(veteran, events, RUN_TICKS)
    forgotten = veteran.timeline.forgotten()
    assert forgotten.tick == veteran.timeline.floor_tick > 0 and forgotten.floors
    joiner = joiner_of(veteran, RUN_TICKS - 20)
    timeline = joiner.timeline
    assert timeline.floor_tick == forgotten.tick and timeline.floors() == forgotten.floors
    play(joiner, events, RUN_TICKS)  # the history arrives: the forgotten part is known
    assert joiner.stats.rollbacks == 0  # the rest fills the timeline: the state has it
    assert timeline.held == veteran.timeline.held  # it can serve what the veteran can
    assert len(timeline) == len(veteran.timeline)
    assert timeline.digest() == veteran.timeline.digest()
    assert timeline.events_digest(forgotten.tick) == forgotten.digest
    assert timeline.events_digest(RUN_TICKS) == veteran.timeline.events_digest(RUN_TICKS)
    for machine in (veteran, joiner):
        play(machine, events, RUN_TICKS + 200, late_by=2)
    assert joiner.state_hash() == veteran.state_hash()


def test_an_old_event_a_joiner_s_snapshot_lacks_replays_from_the_history_base() -> None:
    events = random_events(5, RUN_TICKS)
    veteran = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    play(veteran, events, RUN_TICKS)
    joiner = joiner_of(veteran, RUN_TICKS - 20)
    floor_tick = joiner.timeline.floor_tick
    play(joiner, events, RUN_TICKS)  # the history it can still get arrives
    healed = Event(floor_tick + 5, 9, 1, "drop", [5, 5])  # after the forgotten history...
    assert joiner.base_tick is not None and healed.tick < joiner.base_tick  # ...not in it
    for machine in (veteran, joiner):
        assert machine.timeline.insert(healed) is InsertOutcome.NEW
        machine.note_event(healed)
        machine.advance(RUN_TICKS)
    assert joiner.base_tick == floor_tick  # replayed from its sender's history base
    assert joiner.state_hash() == veteran.state_hash()
    keeper = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)
    play(keeper, [*events, healed], RUN_TICKS)  # the same events, none of them late
    assert joiner.state_hash() == keeper.state_hash()
    stale = Event(floor_tick - 1, 9, 2, "drop", [5, 5])
    assert joiner.timeline.insert(stale) is InsertOutcome.TOO_OLD


def test_a_snapshot_payload_s_forgotten_history_is_checked() -> None:
    events = random_events(6, RUN_TICKS)
    veteran = TimeMachine(
        BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS
    )
    play(veteran, events, RUN_TICKS)
    found = veteran.settled_snapshot(RUN_TICKS - 20)
    assert found is not None
    coverage, blob = found
    parsed, _ = _parse_payload(coverage.tick, coverage.events_digest, _pack_payload(coverage, blob))
    assert parsed == coverage
    source = next(iter(coverage.forgotten.floors))
    beyond = {**coverage.forgotten.floors, source: coverage.marks[source] + 1}
    for bad in (
        replace(coverage.forgotten, floors=beyond),  # forgets what the state lacks
        replace(coverage.forgotten, tick=coverage.tick + 10),  # after the snapshot
        replace(coverage.forgotten, digest=b"short"),
    ):
        payload = _pack_payload(replace(coverage, forgotten=bad), blob)
        with pytest.raises(RemoteError, match="forgotten"):
            _parse_payload(coverage.tick, coverage.events_digest, payload)
    assert coverage.history_state  # the sender's history base comes along...
    payload = _pack_payload(replace(coverage, history_state=b""), blob)
    with pytest.raises(RemoteError, match="forgotten history state"):  # ...and must
        _parse_payload(coverage.tick, coverage.events_digest, payload)


def test_history_s_is_checked_and_converted_to_ticks() -> None:
    assert SessionConfig(fps=50, history_s=60).history_ticks == 3000
    assert SessionConfig(history_s=None).history_ticks is None
    with pytest.raises(UsageError, match="history_s"):
        SessionConfig(fps=50, history_s=0.1).validate()  # shorter than a snapshot period
    with pytest.raises(UsageError):
        TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=5)


def test_adopting_drops_held_events_the_room_forgot_without_breaking_a_source_s_log() -> None:
    """Held events older than what the sender forgot, of a source it never forgot (it
    lacked them: a partition), are dropped; the log must still serve a WANT (it crashed
    with a KeyError) and advertise only what it holds."""
    timeline = Timeline()
    for seq, tick in ((1, 5), (2, 50), (3, 100), (4, 110)):
        timeline.insert(Event(tick, 7, seq, "push", [seq, 0]))
    timeline.insert(Event(20, 8, 1, "push", [0, 0]))
    other = Timeline()
    other.insert(Event(20, 8, 1, "push", [0, 0]))
    other.forget_before(60)
    assert timeline.adopt(other.forgotten()) == 2  # source 7's seqs 1 and 2
    log = timeline.source_log(7)
    assert log is not None
    assert [e.seq for e in log.events_in(1, 4, 10)] == [3, 4]
    assert timeline.missing({7: 4}) == {7: [(1, 2)]}  # what it lacks again (refused as too old)
    assert timeline.insert(Event(50, 7, 2, "push", [2, 0])) is InsertOutcome.TOO_OLD
    assert timeline.marks()[7] == 4


def test_a_simulated_room_that_forgets_converges_with_less_history_held() -> None:
    runs = {
        history_s: run_simulation(
            SimConfig(
                topology="mesh",
                peers=4,
                latency_ms=20,
                rate_per_min=2400,
                duration_s=40,
                warmup_s=5,
                quiet_s=5,
                seed=3,
                history_s=history_s,
            ),
            memory_every_s=10,
        )
        for history_s in (None, 5.0)
    }
    kept, bounded = runs[None], runs[5.0]
    for result in (kept, bounded):
        assert result.converged and result.events_lost == 0 and result.events_too_old == 0
    assert bounded.events_total == kept.events_total
    assert bounded.memory_history_mb_per_peer is not None
    assert kept.memory_history_mb_per_peer is not None
    assert bounded.memory_history_mb_per_peer < kept.memory_history_mb_per_peer / 2
