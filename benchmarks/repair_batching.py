"""Repair batching benchmark: a minute of dense input under churn, with and without it.

The simulator's dense churn workload (paper21, 20 ms a hop, 1,200 events a minute per
peer, peers online about 120 s and offline about 20 s; ``--duration`` seconds with 10 s
of warm-up and 10 s of quiet) runs once with deep repairs waiting for the rest of a
burst of late events (:mod:`arcade_p2p.repair_batching`, the default) and once with
every repair at once (``repair_batching.ENABLED = False``), for each ``--seeds`` value.
Printed per run: rollback % (real-time ticks only), rollbacks, rollback depth p95 and
max, recovery mean, and the wall time. The two runs of a seed share the workload but
not their whole trajectory (a repair's timing changes what is sent when, and with it
the simulated links' random delays), so compare them over several seeds.

Prints figures; asserts nothing.

    python benchmarks/repair_batching.py                 # readable
    python benchmarks/repair_batching.py --json          # one JSON object
    python benchmarks/repair_batching.py --seeds 1 2 3 --duration 60
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

from arcade_p2p import repair_batching
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation

FIGURES = ("rollback_pct", "rollback_count", "rollback_depth_p95", "rollback_depth_max")


def run(seed: int, duration_s: float, batching: bool) -> dict[str, Any]:
    """One dense-churn run; its figures."""
    config = replace(
        SimConfig(),
        churn_on_s=120.0,
        churn_off_s=20.0,
        latency_ms=20.0,
        seed=seed,
        duration_s=duration_s,
        warmup_s=10.0,
        quiet_s=10.0,
    )
    config = replace(config, rate_per_min=1200.0 * config.peers)
    repair_batching.ENABLED = batching
    try:
        started = time.perf_counter()
        result = run_simulation(config).to_dict()
    finally:
        repair_batching.ENABLED = True
    figures = {key: result[key] for key in FIGURES}
    figures["recovery_s_mean"] = result["recovery_s_mean"]
    figures["converged"] = result["converged"]
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    runs = {
        f"seed {seed}": {
            "batching": run(seed, args.duration, batching=True),
            "every_repair_at_once": run(seed, args.duration, batching=False),
        }
        for seed in args.seeds
    }
    if args.json:
        print(json.dumps(runs))
        return
    for name, pair in runs.items():
        for mode, figures in pair.items():
            shown = ", ".join(f"{key} {value}" for key, value in figures.items())
            print(f"{name:>7}  {mode:<20}  {shown}")


if __name__ == "__main__":
    main()
