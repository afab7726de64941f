"""Honest simulator figures: catch-up replay apart, unfinished recoveries, network speed."""

from __future__ import annotations

from dataclasses import replace

import pytest

import arcade_p2p.sim.runner as runner
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.sim.workload import PeerPlan
from arcade_p2p.timeline import Timeline

CALM = SimConfig(
    topology="ring",
    peers=4,
    latency_ms=20.0,
    rate_per_min=120.0,
    duration_s=30.0,
    warmup_s=5.0,
    quiet_s=5.0,
    start_spread_s=1.0,
)


def test_catch_up_replay_and_the_rollbacks_into_it_are_counted_apart() -> None:
    timeline = Timeline()
    machine = TimeMachine(MovingRectApp(), timeline)
    machine.advance(100, catch_up=True)  # a joiner replays ticks 0..100 at once
    machine.advance(150)  # then runs in real time
    event = Event(50, 7, 1, "key", "up")
    timeline.insert(event)
    machine.note_event(event)
    machine.repair()
    stats = machine.stats
    assert stats.live_ticks == 151 and stats.catch_up_ticks == 101
    assert stats.rollback_ticks == 101  # the paper's metric: present - tick
    assert stats.catch_up_rollback_ticks == 51  # ticks 50..100 were catch-up replay
    assert machine.last_rollback_depth == 101 and machine.rollback_depths.count == 1


def test_late_starters_catch_up_outside_the_rollback_denominator() -> None:
    late = replace(CALM, start_spread_s=20.0)
    result = run_simulation(late)
    assert result.converged
    assert result.catch_up_ticks > 0  # peers that started after the warm-up replayed
    assert result.rollback_pct == 0.0 or result.rollback_count > 0


def _plans(return_at: float, spell_s: float | None = None) -> list[PeerPlan]:
    """Slot 1 leaves at 10 s and comes back at ``return_at`` (for ``spell_s``, or to the
    end); the others stay."""
    end = CALM.duration_s
    keys = tuple((float(t), "key", "up") for t in range(1, 25))
    plans = [PeerPlan(slot, ((0.0, end),), keys if slot == 0 else ()) for slot in range(4)]
    back_until = end if spell_s is None else return_at + spell_s
    plans[1] = PeerPlan(1, ((0.0, 10.0), (return_at, back_until)), ())
    return plans


def test_a_return_at_the_very_end_recovers_in_the_settle_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "plan_peers", lambda *args: _plans(CALM.duration_s - 0.005))
    result = run_simulation(CALM)
    assert result.recoveries == 1 and result.recoveries_in_settle == 1
    assert result.recoveries_incomplete == 0
    assert result.recovery_s_max is not None and result.recovery_s_max > 0.005


def test_a_return_that_never_recovers_is_incomplete_and_counts_its_elapsed_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner, "plan_peers", lambda *args: _plans(CALM.duration_s - 0.005))
    monkeypatch.setattr(runner, "SETTLE_MAX_S", 0.002)  # no time to recover after the run
    monkeypatch.setattr(runner, "SETTLE_CHECK_S", 0.001)
    result = run_simulation(CALM)
    assert result.recoveries == 0 and result.recoveries_incomplete == 1
    assert result.recovery_s_max is not None and result.recovery_s_max >= 0.005


def test_a_calm_network_keeps_time() -> None:
    result = run_simulation(CALM)
    assert result.speed_error_pct == pytest.approx(0.0, abs=0.1)
    assert result.memory_mb_per_peer is not None and result.memory_mb_per_peer > 0


def test_input_a_peer_held_while_joining_and_took_along_is_unsent_not_lost() -> None:
    churn = replace(
        CALM,
        peers=6,
        rate_per_min=600.0,
        duration_s=60.0,
        churn_on_s=2.0,  # peers often leave again before they are in step
        churn_off_s=2.0,
        seed=2,
    )
    result = run_simulation(churn)
    assert result.converged and result.events_unsent > 0
    assert result.events_lost + result.events_unsent <= result.events_total


def test_a_return_cut_short_by_going_offline_is_counted_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A peer that goes offline again before it recovered is neither a recovery nor a
    return left incomplete at the end: its spell was shorter than the recovery."""
    monkeypatch.setattr(runner, "plan_peers", lambda *args: _plans(12.0, spell_s=0.001))
    result = run_simulation(CALM)
    assert result.recoveries_cut_short == 1
    assert result.recoveries == 0 and result.recoveries_incomplete == 0
