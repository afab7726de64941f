"""The simulator's desync goals, on short runs: no false alarm; an injected one is found."""

from __future__ import annotations

from dataclasses import replace

import pytest

from arcade_p2p.errors import UsageError
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation

SHORT = SimConfig(
    topology="ring",
    peers=6,
    latency_ms=20.0,
    rate_per_min=120.0,
    duration_s=30.0,
    warmup_s=8.0,
    quiet_s=5.0,
    start_spread_s=2.0,
    fps=25,
)


def test_no_desync_is_reported_while_everyone_agrees() -> None:
    result = run_simulation(SHORT)
    assert result.converged
    assert result.desyncs_detected == 0 and result.desync_detect_s is None


def test_no_false_alarm_under_loss_and_churn() -> None:
    config = replace(SHORT, duration_s=60.0, loss=0.2, churn_on_s=12.0, churn_off_s=6.0, seed=3)
    result = run_simulation(config)
    assert result.recoveries > 0  # peers really came and went
    assert result.desyncs_detected == 0


def test_an_injected_divergence_is_reported_by_its_neighbours_within_two_seconds() -> None:
    result = run_simulation(replace(SHORT, desync_peer=2))
    assert not result.converged
    # peer 2 and its two ring neighbours each report the pair that disagrees
    assert result.desyncs_detected >= 2
    assert result.desync_detect_s is not None and 0.0 < result.desync_detect_s <= 2.0


def test_desync_peer_must_be_a_slot() -> None:
    with pytest.raises(UsageError):
        replace(SHORT, desync_peer=6).validate()
