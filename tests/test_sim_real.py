"""The simulator's experiment on real processes over real UDP agrees with the simulator."""

from __future__ import annotations

import pytest

from arcade_p2p.errors import UsageError
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.real import run_real
from arcade_p2p.sim.runner import run_simulation

CELL = SimConfig(
    topology="line",
    peers=4,
    duration_s=14.0,
    warmup_s=5.0,
    quiet_s=4.0,
    start_spread_s=2.0,
    rate_per_min=180.0,
    latency_ms=20.0,
    mult=2.0,
)


def test_real_processes_converge_and_measure_like_the_simulator() -> None:
    real = run_real(CELL)
    simulated = run_simulation(CELL)
    assert real.converged
    assert real.events_lost == 0
    assert real.events_total == simulated.events_total > 10  # the same planned inputs
    assert real.pace_samples > 0 and real.pace_violation_pct == 0.0
    assert real.lag_ticks_p95 is not None and real.lag_ticks_p95 <= 5
    # Same protocol, same timers: traffic within a third of the simulator's.
    ratio = real.bytes_per_peer_per_s / simulated.bytes_per_peer_per_s
    assert 0.67 < ratio < 1.5


def test_churn_is_refused() -> None:
    with pytest.raises(UsageError):
        run_real(SimConfig(churn_on_s=40.0, churn_off_s=20.0))
