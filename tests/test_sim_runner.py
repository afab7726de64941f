"""Seeded simulator scenarios: loss, churn, a healing partition, determinism, own apps."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

import pytest

from arcade_p2p.app import StateApp
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.sim.config import Partition, SimConfig
from arcade_p2p.sim.games import SimGame
from arcade_p2p.sim.runner import run_simulation

WALL_CLOCK_KEYS = ("wall_seconds", "sim_ticks_per_wall_s")
REQUIRED_KEYS = (
    "rollback_pct",
    "rollback_count",
    "rollback_depth_p50",
    "rollback_depth_p95",
    "rollback_depth_max",
    "pace_violation_pct",
    "lag_ticks_p50",
    "lag_ticks_p95",
    "lag_ticks_max",
    "recovery_s_mean",
    "recovery_s_p95",
    "recovery_s_max",
    "converged",
    "events_lost",
    "events_total",
    "peers",
    "sim_seconds",
    "wall_seconds",
    "sim_ticks_per_wall_s",
    "bytes_per_peer_per_s",
    "app",
    "catch_up_ticks",
    "recoveries_incomplete",
    "recoveries_cut_short",
    "recoveries_in_settle",
    "speed_error_pct",
    "memory_mb_per_peer",
)

SHORT = SimConfig(
    topology="ring",
    peers=6,
    latency_ms=20.0,
    rate_per_min=60.0,
    duration_s=40.0,
    warmup_s=5.0,
    quiet_s=5.0,
    start_spread_s=2.0,
    fps=25,
)

CHURN = SimConfig(
    topology="ring",
    peers=6,
    latency_ms=20.0,
    rate_per_min=60.0,
    duration_s=60.0,
    warmup_s=5.0,
    quiet_s=5.0,
    fps=25,
    churn_on_s=12.0,
    churn_off_s=6.0,
    seed=2,
)


def without_wall_clock(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in WALL_CLOCK_KEYS}


def test_twenty_percent_loss_converges_without_losing_events() -> None:
    result = run_simulation(
        SimConfig(
            topology="line",
            peers=5,
            latency_ms=20.0,
            rate_per_min=60.0,
            duration_s=40.0,
            warmup_s=5.0,
            quiet_s=5.0,
            fps=25,
            loss=0.2,
            seed=4,
        )
    )
    assert result.events_total > 20
    assert result.converged
    assert result.events_lost == 0
    assert result.rollback_count > 0  # lost floods arrive late, by anti-entropy


def test_churn_converges_and_loses_only_events_that_died_with_their_holders() -> None:
    result = run_simulation(CHURN)
    assert result.converged
    assert result.recoveries >= 5
    assert result.recovery_s_mean is not None and result.recovery_s_mean < 5.0
    assert result.recovery_s_max is not None and result.recovery_s_p95 is not None
    assert result.events_lost == result.events_orphaned


def test_suspended_peers_come_back_with_their_memory_and_nothing_is_lost() -> None:
    result = run_simulation(replace(CHURN, churn_mode="suspend"))
    assert result.converged
    assert result.recoveries >= 5
    assert result.events_total > 20
    assert result.events_lost == 0


def test_an_unknown_churn_mode_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        run_simulation(replace(SHORT, churn_on_s=10.0, churn_off_s=5.0, churn_mode="nap"))


def test_a_partition_that_heals_converges_after_deep_rollbacks() -> None:
    split = Partition(start_s=10.0, end_s=25.0, side=(0, 1, 2))
    result = run_simulation(
        SimConfig(
            topology="line",
            peers=6,
            latency_ms=20.0,
            rate_per_min=90.0,
            duration_s=40.0,
            warmup_s=5.0,
            quiet_s=5.0,
            fps=25,
            partitions=(split,),
        )
    )
    assert result.converged
    assert result.events_lost == 0
    # events of one side reach the other only at the heal, seconds after their ticks
    assert result.rollback_depth_max is not None and result.rollback_depth_max > 25


def test_same_seed_gives_the_same_result_and_another_seed_does_not() -> None:
    config = replace(SHORT, loss=0.05, duplicate=0.05, churn_on_s=10.0, churn_off_s=5.0)
    first = without_wall_clock(run_simulation(config).to_dict())
    again = without_wall_clock(run_simulation(config).to_dict())
    other = without_wall_clock(run_simulation(replace(config, seed=9)).to_dict())
    assert first == again
    assert first != other  # the runs differ only in their seed


def test_waking_every_tick_changes_nothing_but_speed() -> None:
    config = replace(SHORT, churn_on_s=10.0, churn_off_s=5.0, loss=0.1)
    lazy = without_wall_clock(run_simulation(config).to_dict())
    eager = without_wall_clock(run_simulation(config, tick_wakes=True).to_dict())
    # Memory is measured, and the same data can sit in containers grown in other steps.
    assert lazy.pop("memory_mb_per_peer") == pytest.approx(eager.pop("memory_mb_per_peer"), 0.01)
    assert lazy == eager


def test_result_has_the_documented_keys_and_progress_is_reported() -> None:
    fractions: list[float] = []
    result = run_simulation(SHORT, progress=fractions.append).to_dict()
    assert fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert set(REQUIRED_KEYS) <= set(result)
    assert result["recovery_s_mean"] is None  # no churn
    assert result["peers"] == 6 and result["sim_seconds"] == 40.0
    assert result["pace_violation_pct"] == 0.0


@dataclass
class Tally:
    total: int = 0


class CounterApp(StateApp):
    """A user's own app: adds the payload of every "add" event."""

    state: Tally

    def start(self) -> None:
        self.state = Tally()

    def event(self, event: Event) -> None:
        if event.name == "add":
            self.state.total += int(event.payload)


def test_users_plug_in_their_own_app_and_input() -> None:
    def add_input(rng: random.Random) -> tuple[str, Any]:
        return "add", rng.randint(1, 9)

    game = SimGame("counter", lambda: (CounterApp(), None), plan_input=add_input)
    result = run_simulation(SHORT, game=game)
    assert result.events_total > 10
    assert result.converged


def test_a_partition_outside_the_topology_is_a_usage_error() -> None:
    bad = replace(SHORT, partitions=(Partition(1.0, 2.0, (99,)),))
    with pytest.raises(UsageError, match="partition"):
        run_simulation(bad)
