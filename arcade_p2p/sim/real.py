"""The simulator's experiment on real UDP: one OS process per peer, on loopback.

How this works: to check that the virtual-time simulator tells the truth, the same
experiment (same topology, same planned inputs and start times from
:func:`~arcade_p2p.sim.workload.plan_peers`) runs with every peer as a separate process
(:mod:`arcade_p2p.sim.real_peer`) talking real UDP on 127.0.0.1, port 0. Per-hop latency,
jitter, loss and duplication come from the transport's user-space link emulation on each
receiver (kernel netem is not available), which applies the simulator's own
:class:`~arcade_p2p.link_model.LinkModel`; each peer is driven by the same driver step.
Peers are started at their planned times; each dials the neighbours already running.
Every process samples its counters once per second of the shared monotonic clock; this
module lines the samples up and computes the same
:class:`~arcade_p2p.sim.metrics.SimResult` as the simulator: rollback percentage and
depths, pace (lag behind the highest tick at each second), convergence at a common end
tick, events lost and traffic. Churn is not supported here (the simulator covers it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arcade_p2p.errors import UsageError
from arcade_p2p.histogram import Histogram
from arcade_p2p.session import AUTO_DELAY
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.metrics import PaceStats, SimResult, mean
from arcade_p2p.sim.topologies import build_topology
from arcade_p2p.sim.workload import plan_peers

__all__ = ["run_real"]

LAUNCH_LEAD_S = 1.0
"""Time between the launch of the first process and the run's time 0."""
STARTUP_TIMEOUT_S = 30.0
FINISH_MARGIN_S = 60.0
"""How long after the planned end the processes may take to report."""
ROOM = "arcade-p2p real check"
PROGRESS_PERIOD_S = 1.0


@dataclass(slots=True)
class _Peer:
    slot: int
    process: subprocess.Popen[str]
    address: tuple[str, int]


def run_real(config: SimConfig, *, progress: Callable[[float], None] | None = None) -> SimResult:
    """Run ``config`` with one real process per peer and measure it like the simulator.

    Args:
        config: The experiment (``churn`` must be off).
        progress: Called about once a second with the fraction of the run done.

    Raises:
        UsageError: Invalid configuration, or a peer process failed.
    """
    config.validate()
    if config.churn:
        raise UsageError("the real multi-process run does not support churn")
    topology = build_topology(config.topology, config.peers, degree=config.degree, seed=config.seed)
    plans = plan_peers(config, topology.peers)
    neighbours = topology.neighbours()
    end_tick = round(config.duration_s * config.fps)
    wall_start = time.perf_counter()
    t0 = time.monotonic() + LAUNCH_LEAD_S
    peers: dict[int, _Peer] = {}
    try:
        for slot in sorted(range(topology.peers), key=lambda s: plans[s].spells[0][0]):
            start = plans[slot].spells[0][0]
            _sleep_until(t0 + start, t0, config.duration_s, progress)
            dial = [peers[n].address for n in neighbours[slot] if n in peers]
            spec = {
                "peer_id": slot + 1,
                "fps": config.fps,
                "delay_ms": AUTO_DELAY if config.auto else config.delta_ms,
                "auto_start_ms": config.delta_ms,
                "clock": config.clock.value,
                "room": ROOM,
                "key": config.key,
                "latency_ms": config.latency_ms,
                "jitter_ms": config.jitter,
                "loss": config.loss,
                "duplicate": config.duplicate,
                "dial": dial,
                "inputs": [[t, name, payload] for t, name, payload in plans[slot].inputs],
                "end_tick": end_tick,
                "t0": t0,
            }
            peers[slot] = _launch(slot, spec)
        _sleep_until(t0 + config.duration_s, t0, config.duration_s, progress)
        reports = [
            _collect(peer, t0 + config.duration_s + FINISH_MARGIN_S) for peer in peers.values()
        ]
    finally:
        for peer in peers.values():
            if peer.process.poll() is None:
                peer.process.kill()
                peer.process.wait()
    if progress is not None:
        progress(1.0)
    return _result(config, reports, end_tick, time.perf_counter() - wall_start)


def _sleep_until(
    when: float, t0: float, duration_s: float, progress: Callable[[float], None] | None
) -> None:
    while (left := when - time.monotonic()) > 0:
        time.sleep(min(left, PROGRESS_PERIOD_S))
        if progress is not None:
            progress(min(1.0, max(0.0, (time.monotonic() - t0) / duration_s)))


def _launch(slot: int, spec: dict[str, Any]) -> _Peer:
    process = subprocess.Popen(
        [sys.executable, "-m", "arcade_p2p.sim.real_peer", json.dumps(spec)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        _, err = process.communicate(timeout=STARTUP_TIMEOUT_S)
        raise UsageError(f"peer process for slot {slot} did not start: {err.strip()[-300:]}")
    host, _, port = line.removeprefix("listening on ").strip().rpartition(":")
    return _Peer(slot, process, (host, int(port)))


def _collect(peer: _Peer, deadline: float) -> dict[str, Any]:
    try:
        out, err = peer.process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise UsageError(f"peer process for slot {peer.slot} did not finish in time") from None
    if peer.process.returncode != 0 or not out.strip():
        raise UsageError(f"peer process for slot {peer.slot} failed: {err.strip()[-300:]}")
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _result(
    config: SimConfig, reports: list[dict[str, Any]], end_tick: int, wall_s: float
) -> SimResult:
    warm, end = config.warmup_s, config.duration_s
    rollback_ticks = live_ticks = rollbacks = bytes_out = 0
    emitted = delta_ticks = deliveries = late = 0
    ticks_at: dict[int, list[int]] = defaultdict(list)
    depths = Histogram()
    for report in reports:
        window = [s for s in report["samples"] if warm <= s[0] <= end]
        if len(window) >= 2:
            first, last = window[0], window[-1]
            live_ticks += last[2] - first[2]
            rollback_ticks += last[3] - first[3]
            rollbacks += last[4] - first[4]
            bytes_out += last[5] - first[5]
            emitted += last[6] - first[6]
            delta_ticks += last[7] - first[7]
            deliveries += last[8] - first[8]
            late += last[9] - first[9]
        for t, tick, *_ in window:
            if float(t).is_integer():
                ticks_at[int(t)].append(tick)
        for t, buckets in report["depths"]:
            if warm < t <= end:
                depths.merge(Histogram.from_dict(buckets))
    pace = PaceStats(violation_ticks=config.fps)
    for ticks in ticks_at.values():
        top = max(ticks)
        for tick in ticks:
            pace.lags.add(top - tick)
    seconds = sorted(ticks_at)
    speed_error_pct = None
    if len(seconds) >= 2 and seconds[-1] > seconds[0]:
        ticks_per_s = (max(ticks_at[seconds[-1]]) - max(ticks_at[seconds[0]])) / (
            seconds[-1] - seconds[0]
        )
        speed_error_pct = 100.0 * (ticks_per_s / config.fps - 1.0)
    total = sum(r["emitted"] for r in reports)
    hashes = {r["state_hash"] for r in reports}
    digests = {r["digest"] for r in reports}
    lost = total - min(r["events"] for r in reports)
    if len(digests) > 1:  # histories differ: some event is missing somewhere
        lost = max(lost, 1)
    peers = len(reports)
    return SimResult(
        peers=peers,
        sim_seconds=config.duration_s,
        delta_ms=config.delta_ms,
        delta_auto=config.auto,
        delta_ms_mean=1000.0 / config.fps * delta_ticks / emitted if emitted else None,
        late_events_pct=100.0 * late / max(deliveries, 1),
        events_total=total,
        events_lost=lost,
        events_orphaned=0,
        events_unsent=0,
        converged=len(hashes) == 1 and len(digests) == 1,
        final_tick=end_tick,
        settle_s=0.0,
        rollback_pct=100.0 * rollback_ticks / live_ticks if live_ticks else 0.0,
        rollback_count=rollbacks,
        rollback_depth_p50=depths.quantile(0.5),
        rollback_depth_p95=depths.quantile(0.95),
        rollback_depth_max=depths.max,
        pace_samples=pace.lags.count,
        pace_violation_pct=pace.violation_pct,
        lag_ticks_p50=pace.lags.quantile(0.5),
        lag_ticks_p95=pace.lags.quantile(0.95),
        lag_ticks_max=pace.lags.max,
        recoveries=0,
        recoveries_incomplete=0,
        recovery_s_mean=mean([]),
        recovery_s_p95=None,
        recovery_s_max=None,
        bytes_per_peer_per_s=bytes_out / peers / (end - warm),
        wall_seconds=wall_s,
        sim_ticks_per_wall_s=sum(r["samples"][-1][2] for r in reports) / wall_s,
        speed_error_pct=speed_error_pct,
        memory_mb_per_peer=sum(r["memory_mb"] for r in reports) / peers,
        memory_history_mb_per_peer=sum(r["history_mb"] for r in reports) / peers,
    )
