"""Simulator speed: wall time of the default ``arcade-p2p sim`` run (21 peers x 300 s x 50 fps).

Prints figures; asserts nothing (timings on a shared machine are noisy). The target is
<= 10 s of wall time for the default run on a 2-core machine.

    python benchmarks/sim_speed.py                 # the default run, both wake modes
    python benchmarks/sim_speed.py --profile 20    # plus the 20 costliest functions
    python benchmarks/sim_speed.py --json          # one JSON object
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats

from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation


def measure(*, tick_wakes: bool) -> dict[str, float]:
    """Wall time and live ticks per wall second of the default run."""
    result = run_simulation(SimConfig(), tick_wakes=tick_wakes)
    return {
        "wall_seconds": round(result.wall_seconds, 2),
        "sim_ticks_per_wall_s": round(result.sim_ticks_per_wall_s),
    }


def profile(top: int) -> str:
    """cProfile of the default run: the ``top`` functions by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(run_simulation, SimConfig())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", type=int, metavar="N", help="show the N costliest functions")
    args = parser.parse_args()
    figures = {
        "default": measure(tick_wakes=False),
        "tick_wakes": measure(tick_wakes=True),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for mode, numbers in figures.items():
            print(
                f"{mode:<11} {numbers['wall_seconds']:6.2f} s wall  "
                f"{numbers['sim_ticks_per_wall_s']:>9,.0f} ticks/s"
            )
    if args.profile:
        print(profile(args.profile))


if __name__ == "__main__":
    main()
