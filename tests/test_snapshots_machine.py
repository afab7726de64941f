"""Snapshot store and time machine: bounded memory, exact rollback, the paper's counters."""

from __future__ import annotations

import random

import pytest

from arcade_p2p.app import StateApp, state_hash
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.snapshots import SnapshotStore
from arcade_p2p.timeline import Timeline


class TraceApp(StateApp):
    """Records every call in its state, so order is visible in the hash and the trace."""

    def start(self) -> None:
        self.state = [("start",)]

    def tick(self) -> None:
        self.state.append(("tick",))

    def event(self, event: Event) -> None:
        self.state.append(("event", event.tick, event.source, event.seq))


def test_snapshot_store_keeps_memory_bounded_over_a_long_session() -> None:
    store = SnapshotStore(every_ticks=10, dense_count=16)
    for tick in range(10, 50 * 3600 * 10, 10):  # ten hours at 50 fps
        store.put(tick, b"x")
    assert len(store) < 16 + 8 * 20
    ticks = store.ticks
    assert ticks[-16:] == list(range(ticks[-1] - 150, ticks[-1] + 1, 10))
    # Old snapshots remain, sparser with age: something within 2x the age is always there.
    newest = ticks[-1]
    for age in (1_000, 10_000, 100_000, 1_000_000):
        found = store.at_or_before(newest - age)
        assert found is not None
        assert newest - found[0] <= 2 * age + 160


def test_snapshot_store_discards_the_rewritten_future_and_validates() -> None:
    store = SnapshotStore(every_ticks=5)
    for tick in (5, 10, 15, 20):
        store.put(tick, str(tick).encode())
    store.put(10, b"again")
    assert store.ticks == [5, 10]
    assert store.at_or_before(12) == (10, b"again")
    assert store.at_or_before(4) is None
    with pytest.raises(UsageError):
        SnapshotStore(every_ticks=0)


def run_live(events: list[Event], until: int, late: bool, seed: int = 0) -> TimeMachine:
    """Run to ``until``; with ``late`` every event is inserted after its tick ran."""
    timeline = Timeline()
    machine = TimeMachine(TraceApp(), timeline, snapshot_every_ticks=4)
    pending = sorted(events, key=lambda e: e.order_key)
    rng = random.Random(seed)
    for tick in range(until + 1):
        while pending and (pending[0].tick <= tick if not late else pending[0].tick < tick - 3):
            event = pending.pop(rng.randrange(min(len(pending), 2)))
            timeline.insert(event)
            machine.note_event(event)
        machine.advance(tick)
    for event in pending:
        timeline.insert(event)
        machine.note_event(event)
    machine.repair()
    return machine


def test_tick_then_events_in_order_and_start_at_tick_zero() -> None:
    events = [Event(2, 9, 1, "k"), Event(2, 1, 1, "k"), Event(3, 1, 2, "k")]
    machine = run_live(events, until=3, late=False)
    assert machine.app.state == [  # type: ignore[attr-defined]
        ("start",),
        ("tick",),
        ("tick",),
        ("event", 2, 1, 1),
        ("event", 2, 9, 1),
        ("tick",),
        ("event", 3, 1, 2),
    ]


def test_late_events_roll_back_to_the_same_state_as_on_time() -> None:
    rng = random.Random(7)
    events = [Event(rng.randrange(1, 200), rng.randrange(3), i + 1, "k") for i in range(60)]
    on_time = run_live(events, until=220, late=False)
    late = run_live(events, until=220, late=True, seed=3)
    assert on_time.stats.rollbacks == 0
    assert late.stats.rollbacks > 0
    assert state_hash(on_time.app) == state_hash(late.app)
    assert on_time.app.state == late.app.state  # type: ignore[attr-defined]


def test_rollback_counts_the_papers_metric() -> None:
    timeline = Timeline()
    machine = TimeMachine(MovingRectApp(), timeline, snapshot_every_ticks=10)
    machine.advance(99)  # ticks 0..99 ran; the present is 100
    event = Event(40, 1, 1, "key", "up")
    timeline.insert(event)
    machine.note_event(event)
    machine.advance(99)
    assert machine.stats.rollbacks == 1
    assert machine.stats.rollback_ticks == 60
    assert machine.stats.resim_ticks == 60  # restored the snapshot at tick 40 exactly
    machine.note_event(Event(100, 1, 2, "key", "up"))  # not in the past: no rollback
    machine.advance(120)
    assert machine.stats.rollbacks == 1


def test_several_late_events_cost_one_rollback_from_the_earliest() -> None:
    timeline = Timeline()
    machine = TimeMachine(MovingRectApp(), timeline)
    machine.advance(49)
    for seq, tick in enumerate((30, 20, 45), start=1):
        e = Event(tick, 1, seq, "key", "down")
        timeline.insert(e)
        machine.note_event(e)
    machine.advance(49)
    assert (machine.stats.rollbacks, machine.stats.rollback_ticks) == (1, 30)


def test_rollback_restores_from_the_loaded_copy_exactly_like_the_live_run() -> None:
    """The live run continues from a loaded snapshot at snapshot ticks, like a replay does."""

    class CountingLoads(StateApp):
        def start(self) -> None:
            self.state = {"loads": 0, "t": 0}

        def tick(self) -> None:
            self.state["t"] += 1

        def load_state(self, blob: bytes) -> None:
            super().load_state(blob)
            self.state["loads"] += 1  # a state that remembers being loaded

    timeline = Timeline()
    machine = TimeMachine(CountingLoads(), timeline, snapshot_every_ticks=5)
    machine.advance(22)
    live = machine.app.state  # type: ignore[attr-defined]
    e = Event(12, 1, 1, "noop")
    timeline.insert(e)
    machine.note_event(e)
    machine.repair()
    assert machine.app.state == live  # type: ignore[attr-defined]
