"""Where a sweep's time goes: per-clock worker seconds and the slowest cells, from its CSV.

Usage::

    python benchmarks/sweep_costs.py results/sweep/sweep.csv [--jobs 2] [--slowest 5]

Each row of ``arcade-p2p sweep``'s CSV records the real seconds its run took
(``wall_seconds``). Summed per clock and divided by the number of worker processes, this
gives the wall time a sweep of that clock alone would take on an otherwise idle machine
with that many cores (worker start-up and scheduling tail excluded). Timings taken while
other programs competed for the cores are inflated; say so next to any figure.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from arcade_p2p.sim.sweep import format_duration, read_csv

P95 = 0.95


def main() -> None:
    """Print the cost table of one sweep CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--jobs", type=int, default=2, help="cores to project for (default 2)")
    parser.add_argument("--slowest", type=int, default=5, help="slowest runs to list")
    args = parser.parse_args()
    rows = read_csv(args.csv)
    for clock in dict.fromkeys(r["clock"] for r in rows):
        runs = [r for r in rows if r["clock"] == clock]
        walls = sorted(float(r["wall_seconds"]) for r in runs)
        total = sum(walls)
        print(
            f"{clock}: {len(runs)} runs, {format_duration(total)} of worker time; per run "
            f"mean {statistics.fmean(walls):.1f} s, p95 {walls[int(P95 * (len(walls) - 1))]:.1f}"
            f" s, max {walls[-1]:.1f} s; on {args.jobs} cores ~{format_duration(total / args.jobs)}"
        )
        for r in sorted(runs, key=lambda r: -float(r["wall_seconds"]))[: args.slowest]:
            print(
                f"  L={r['latency_ms']:g} ms, {r['rate_per_min']:g}/min, {r['mult']:g}x:"
                f" {float(r['wall_seconds']):.1f} s, {float(r['sim_ticks_per_wall_s']):,.0f}"
                f" ticks/s, rollback {float(r['rollback_pct']):.2f} %"
            )


if __name__ == "__main__":
    main()
