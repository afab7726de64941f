"""The rollback % that perfectly synchronised clocks would still see: the topology's floor.

Usage::

    python benchmarks/sweep_floor.py [--csv results/sweep/sweep.csv] [--mults 1] [--samples 400]

How this works: with clocks that agree exactly, an event emitted at time t is stamped
t + Delta and reaches a peer when the flood's fastest path delivers it. Each hop of each
datagram takes Normal(L, L/5) clipped at 0 (the simulator's link model), so the arrival
time at every peer is a shortest path with freshly drawn edge weights (Dijkstra, Monte
Carlo over ``--samples`` events per source). A peer reached after t + Delta must roll back
by the difference. Summed over peers, times the number of events the sweep emits in the
measured window, divided by the live ticks in that window, this gives the rollback % no
clock rule can go below on this topology (up to tick rounding, and an over-estimate where
several late events share one rollback). With ``--csv``, each cell is printed next to
the measured figures of both clocks.
"""

from __future__ import annotations

import argparse
import heapq
import random
from pathlib import Path

from arcade_p2p.sim.config import PAPER_AVG_HOPS, SimConfig
from arcade_p2p.sim.sweep import PAPER_LATENCIES_MS, PAPER_MULTS, PAPER_RATES_PER_MIN, read_csv
from arcade_p2p.sim.topologies import build_topology

MS_PER_S = 1000.0
SECONDS_PER_MINUTE = 60.0
JITTER_FRACTION = 0.2
"""Per-hop latency standard deviation as a fraction of L (the paper's netem set-up)."""


def mean_late_s_per_event(latency_ms: float, delta_ms: float, samples: int, seed: int) -> float:
    """Mean over events of the summed lateness (seconds) at every other peer of paper21."""
    neighbours = build_topology("paper21").neighbours()
    rng = random.Random(seed)
    latency_s, jitter_s, delta_s = (
        latency_ms / MS_PER_S,
        latency_ms * JITTER_FRACTION / MS_PER_S,
        delta_ms / MS_PER_S,
    )
    total = 0.0
    for source in range(len(neighbours)):
        for _ in range(samples):
            arrival = {source: 0.0}
            heap = [(0.0, source)]
            done: set[int] = set()
            while heap:
                t, node = heapq.heappop(heap)
                if node in done:
                    continue
                done.add(node)
                for nxt in neighbours[node]:
                    reach = t + max(0.0, rng.gauss(latency_s, jitter_s))
                    if reach < arrival.get(nxt, float("inf")):
                        arrival[nxt] = reach
                        heapq.heappush(heap, (reach, nxt))
            total += sum(max(0.0, t - delta_s) for t in arrival.values())
    return total / (len(neighbours) * samples)


def floor_pct(late_s_per_event: float, rate: float) -> float:
    """Rollback % of a cell in the sweep's measured window (the defaults of SimConfig)."""
    base = SimConfig()
    events = rate / SECONDS_PER_MINUTE * (base.duration_s - base.warmup_s - base.quiet_s)
    live_ticks = base.peers * (base.duration_s - base.warmup_s) * base.fps
    return 100.0 * events * late_s_per_event * base.fps / live_ticks


def main() -> None:
    """Print the floor of each cell (and the measured figures with ``--csv``)."""
    parser = argparse.ArgumentParser(description="Rollback floor of perfectly synced clocks.")
    parser.add_argument("--csv", type=Path, help="a sweep CSV to compare with")
    parser.add_argument("--mults", default="1", help="comma-separated multipliers (default 1)")
    parser.add_argument("--samples", type=int, default=400, help="events per source (400)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    mults = [float(m) for m in args.mults.split(",")]
    measured: dict[tuple[float, float, float, str], list[float]] = {}
    for row in read_csv(args.csv) if args.csv else []:
        key = (row["latency_ms"], row["rate_per_min"], row["mult"], row["clock"])
        measured.setdefault(key, []).append(float(row["rollback_pct"]))
    print("L ms  rate/min  mult  floor %  paper %  default %")
    for mult in (m for m in PAPER_MULTS if m in mults):
        for latency in PAPER_LATENCIES_MS:
            delta_ms = latency * PAPER_AVG_HOPS * mult
            late_s = mean_late_s_per_event(latency, delta_ms, args.samples, args.seed)
            for rate in PAPER_RATES_PER_MIN:
                floor = floor_pct(late_s, rate)
                shown = [
                    f"{sum(v) / len(v):9.2f}"
                    if (v := measured.get((latency, rate, mult, c)))
                    else "        -"
                    for c in ("paper", "default")
                ]
                print(f"{latency:4g}  {rate:8g}  {mult:4g}  {floor:7.2f}{''.join(shown)}")


if __name__ == "__main__":
    main()
