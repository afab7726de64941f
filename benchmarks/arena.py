"""Cost of the physics arena sample: one step, one snapshot, one restore, one rollback.

Prints figures; asserts nothing (timings on a shared machine are noisy). The arena runs
without a window: three players hold changing keys among the 116 crates and gold balls
(119 dynamic bodies), as in a game. Medians of repeated batches are reported.

    python benchmarks/arena.py          # readable
    python benchmarks/arena.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import time

from sample_games.physics_arena import SNAPSHOT_EVERY_TICKS, Arena, new_arena, set_keys, step_arena

FPS = 50
DT = 1.0 / FPS
WARM_UP_TICKS = 300
BATCHES = 15
STEPS_PER_BATCH = 50
ROLLBACK_TICKS = 30
"""Depth of the rollback timed: restore a snapshot, then re-simulate this many ticks."""
KEY_CHANGE_EVERY_TICKS = 40


def busy_arena() -> Arena:
    """An arena after a few seconds of play by three players."""
    arena = new_arena()
    for tick in range(WARM_UP_TICKS):
        _play(arena, tick)
        step_arena(arena, DT)
    return arena


def _play(arena: Arena, tick: int) -> None:
    if tick % KEY_CHANGE_EVERY_TICKS == 0:
        for source in (1, 2, 3):
            set_keys(arena, source, (tick // KEY_CHANGE_EVERY_TICKS * 5 + source * 3) % 16)


def measure() -> dict[str, float]:
    """Median step, snapshot save and restore times (ms), snapshot size and rollback cost."""
    arena = busy_arena()
    steps, saves, loads = [], [], []
    tick = WARM_UP_TICKS
    for _ in range(BATCHES):
        start = time.perf_counter()
        for _ in range(STEPS_PER_BATCH):
            _play(arena, tick)
            step_arena(arena, DT)
            tick += 1
        steps.append((time.perf_counter() - start) / STEPS_PER_BATCH * 1e3)
        start = time.perf_counter()
        blob = pickle.dumps(arena, protocol=pickle.HIGHEST_PROTOCOL)
        saves.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        arena = pickle.loads(blob)
        loads.append((time.perf_counter() - start) * 1e3)
    step_ms = statistics.median(steps)
    save_ms, load_ms = statistics.median(saves), statistics.median(loads)
    return {
        "bodies": len(arena.crates) + len(arena.players),
        "step_ms": step_ms,
        "snapshot_save_ms": save_ms,
        "snapshot_restore_ms": load_ms,
        "snapshot_bytes": len(blob),
        "snapshot_every_ticks": SNAPSHOT_EVERY_TICKS,
        "rollback_ticks": ROLLBACK_TICKS,
        "rollback_ms": load_ms + ROLLBACK_TICKS * step_ms,
        "live_ms_per_tick": step_ms + (save_ms + load_ms) / SNAPSHOT_EVERY_TICKS,
    }


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    figures = measure()
    if parser.parse_args().json:
        print(json.dumps(figures, sort_keys=True))
        return
    print(f"physics arena, {figures['bodies']} dynamic bodies")
    print(f"  step                      {figures['step_ms']:.3f} ms")
    print(
        f"  snapshot save / restore   {figures['snapshot_save_ms']:.2f} /"
        f" {figures['snapshot_restore_ms']:.2f} ms ({figures['snapshot_bytes']} bytes,"
        f" every {SNAPSHOT_EVERY_TICKS} ticks)"
    )
    print(
        f"  live cost per tick        {figures['live_ms_per_tick']:.2f} ms (step + snapshot share)"
    )
    print(f"  {ROLLBACK_TICKS}-tick rollback          {figures['rollback_ms']:.2f} ms")


if __name__ == "__main__":
    main()
