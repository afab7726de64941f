"""Physics rollback costs: a pymunk pile through the real time machine.

Prints figures; asserts nothing (timings on a shared machine are noisy). The world is
``sample_games.physics_balls``'s (same balls, walls, gravity, bounce-counting handler) in a
box wide enough for ``--bodies`` balls to settle about four layers deep; every peer-side
cost is measured on a :class:`~arcade_p2p.machine.TimeMachine` driving a
:class:`~arcade_p2p.app.StateApp` whose state holds the :class:`arcade_p2p.physics.Space`.

- ``step_ms``: one TICK step (``space.step``) of the settled pile.
- ``snapshot_save_ms`` / ``snapshot_load_ms``: ``app.save_state()`` / ``app.load_state()``.
- ``rollback30_ms``: the machine is at tick T (ticks ``0 .. T-1`` have run) and an event for
  tick ``T - 30`` arrives: :meth:`TimeMachine.repair` restores the newest snapshot at or
  before ``T - 30`` and re-simulates to T, including the snapshots it takes on the way.
  T advances by a stride coprime with the snapshot period between samples, so every
  phase of the period is sampled alike.
- ``rollback30_steps_ms`` / ``_loads_ms`` / ``_saves_ms``: the parts of one rollback spent
  in steps, loads (freeing the replaced world included) and saves (medians over the
  rollbacks; the rest is events and the machine's bookkeeping).
- ``rollback30_floor_ms``: 30 of the re-simulated steps alone (each rollback's step time
  divided by its steps, times 30): what any rollback of 30 ticks spends however cheap its
  restores and saves, the floor of ``rollback30_ms``.
- ``live_ms_per_tick``: mean cost of a live tick between the samples (its snapshots and
  any automatic garbage collection included).
- ``idle_gc_ms``: with ``--gc idle``, one ``gc.collect()`` after a rollback (untimed in
  ``rollback30_ms``), as a game could run it in the idle rest of a frame.

Garbage collection (``--gc``): ``auto`` leaves Python's automatic collections as they
are; ``freeze`` calls :func:`gc.freeze` once after the pile has settled (so automatic
full collections no longer traverse the start-up heap: arcade, pymunk, the benchmark);
``idle`` also disables automatic collections and collects after each rollback.

Times are CPU time of this thread (:func:`time.thread_time`), so that other processes on
a shared machine do not add their time slices to the figures (they still slow it down
through shared caches and memory bandwidth).

    python benchmarks/physics.py --bodies 200          # readable
    python benchmarks/physics.py --bodies 200 --json   # one JSON object
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import time
from typing import Any

import pymunk

from arcade_p2p.app import StateApp
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.timeline import Timeline
from sample_games.physics_balls import (
    BALL_RADIUS_PX,
    SNAPSHOT_EVERY_TICKS,
    WIDTH_PX,
    Balls,
    add_ball,
    count_bounce,
    new_box,
)

FPS = 50
ROLLBACK_TICKS = 30
SETTLE_TICKS = 150
"""Live ticks before measuring: the balls fall and pile up."""
LAYERS = 4
"""Layers of balls the box is sized for."""
STRIDE_TICKS = 7
"""Live ticks between two rollback samples (coprime with the usual periods)."""
STEP_SAMPLES = 200
SNAPSHOT_SAMPLES = 30
P95 = 0.95


def new_pile(bodies: int) -> Balls:
    """A box wide enough for ``bodies`` balls to lie ``LAYERS`` deep, balls in a grid above."""
    diameter_px = 2 * BALL_RADIUS_PX
    width_px = max(WIDTH_PX, math.ceil(bodies / LAYERS) * diameter_px * 1.1)
    state = new_box(width_px)
    per_row = int((width_px - diameter_px) // (diameter_px * 1.05))
    for i in range(bodies):
        row, column = divmod(i, per_row)
        # Odd rows shifted by a fraction of a radius, so that the pile does not stand in columns.
        x = diameter_px * (1 + column * 1.05) + (row % 2) * BALL_RADIUS_PX * 0.3
        add_ball(state, x, BALL_RADIUS_PX * 2 + row * diameter_px * 1.05, i)
    return state


class PileApp(StateApp):
    """The pile; a ``"push"`` event kicks every ball by its payload ``[dx, dy]`` (px/s)."""

    STATE_MODULES = ("sample_games.physics_balls",)  # where Balls, the state's class, lives
    STATE_FUNCTIONS = (count_bounce,)
    state: Balls

    def __init__(self, bodies: int) -> None:
        self.bodies = bodies
        self.spent_s = {"step": 0.0, "save": 0.0, "load": 0.0}
        """CPU time spent in each kind of work since the last reset."""
        self.steps = 0
        """Steps run since the last reset."""

    def start(self) -> None:
        self.state = new_pile(self.bodies)

    def tick(self) -> None:
        start = time.thread_time()
        self.state.space.step(1 / FPS)
        self.spent_s["step"] += time.thread_time() - start
        self.steps += 1

    def save_state(self) -> bytes:
        start = time.thread_time()
        blob = super().save_state()
        self.spent_s["save"] += time.thread_time() - start
        return blob

    def load_state(self, blob: bytes) -> None:
        start = time.thread_time()
        super().load_state(blob)  # the replaced world is freed here too
        self.spent_s["load"] += time.thread_time() - start

    def event(self, event: Event) -> None:
        dx, dy = event.payload
        for body in self.state.balls:
            body.apply_impulse_at_local_point((dx * body.mass, dy * body.mass))


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1e3, 3)


def p95_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[round(P95 * (len(ordered) - 1))] * 1e3, 3)


def measure(bodies: int, every_ticks: int, rollbacks: int, gc_mode: str) -> dict[str, Any]:
    """All figures for one world size, snapshot period and garbage collection mode."""
    timeline = Timeline()
    app = PileApp(bodies)
    machine = TimeMachine(app, timeline, snapshot_every_ticks=every_ticks)
    seq = 0

    def late_push(tick: int) -> None:
        nonlocal seq
        seq += 1
        event = Event(tick, 1, seq, "push", [(-1) ** seq * 5, 20])
        timeline.insert(event)
        machine.note_event(event)

    start = time.thread_time()
    machine.advance(SETTLE_TICKS - 1)
    settle_s = time.thread_time() - start

    if gc_mode in ("freeze", "idle"):
        gc.collect()
        gc.freeze()
    if gc_mode == "idle":
        gc.disable()
    steps = []
    probe = PileApp(bodies)
    probe.load_state(app.save_state())
    for _ in range(STEP_SAMPLES):
        start = time.thread_time()
        probe.tick()
        steps.append(time.thread_time() - start)

    saves, loads = [], []
    blob = b""
    for _ in range(SNAPSHOT_SAMPLES):
        start = time.thread_time()
        blob = probe.save_state()
        saves.append(time.thread_time() - start)
        start = time.thread_time()
        probe.load_state(blob)
        loads.append(time.thread_time() - start)

    rollback_s = []
    parts_s: dict[str, list[float]] = {kind: [] for kind in app.spent_s}
    floor_s = []
    idle_gc_s = [0.0]
    live_s = 0.0
    live_ticks = 0
    for _ in range(rollbacks):
        start = time.thread_time()
        machine.advance(machine.tick - 1 + STRIDE_TICKS)
        live_s += time.thread_time() - start
        live_ticks += STRIDE_TICKS
        late_push(machine.tick - ROLLBACK_TICKS)
        app.spent_s = dict.fromkeys(app.spent_s, 0.0)
        app.steps = 0
        start = time.thread_time()
        machine.repair()
        rollback_s.append(time.thread_time() - start)
        floor_s.append(app.spent_s["step"] / app.steps * ROLLBACK_TICKS)
        for kind, spent in app.spent_s.items():
            parts_s[kind].append(spent)
        if gc_mode == "idle":
            start = time.thread_time()
            gc.collect()
            idle_gc_s.append(time.thread_time() - start)
    assert machine.stats.rollback_ticks == rollbacks * ROLLBACK_TICKS
    return {
        "bodies": bodies,
        "snapshot_every_ticks": every_ticks,
        "arbiters": len(pymunk.Space._get_arbiters(app.state.space)),
        "settle_ms_per_tick": round(settle_s / SETTLE_TICKS * 1e3, 3),
        "step_ms_median": median_ms(steps),
        "snapshot_save_ms_median": median_ms(saves),
        "snapshot_load_ms_median": median_ms(loads),
        "snapshot_bytes": len(blob),
        "rollback30_ms_median": median_ms(rollback_s),
        "rollback30_ms_p95": p95_ms(rollback_s),
        "rollback30_ms_max": round(max(rollback_s) * 1e3, 3),
        "rollback30_steps_ms_median": median_ms(parts_s["step"]),
        "rollback30_floor_ms_median": median_ms(floor_s),
        "rollback30_floor_ms_p95": p95_ms(floor_s),
        "rollback30_loads_ms_median": median_ms(parts_s["load"]),
        "rollback30_saves_ms_median": median_ms(parts_s["save"]),
        "live_ms_per_tick": round(live_s / live_ticks * 1e3, 3),
        "rollbacks": rollbacks,
        "gc": gc_mode,
        "idle_gc_ms_median": median_ms(idle_gc_s),
    }


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=200, help="balls in the pile")
    parser.add_argument(
        "--every",
        type=int,
        default=SNAPSHOT_EVERY_TICKS,
        help=f"snapshot period in ticks (default {SNAPSHOT_EVERY_TICKS}, physics_balls')",
    )
    parser.add_argument("--rollbacks", type=int, default=100, help="rollback samples")
    parser.add_argument(
        "--gc",
        choices=["auto", "freeze", "idle"],
        default="auto",
        help="auto: Python's automatic collections (default); freeze: gc.freeze() the"
        " start-up heap once, automatic collections stay on; idle: freeze, disable automatic"
        " collections and collect after each rollback, untimed, as a game could in the idle"
        " rest of a frame",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(args.bodies, args.every, args.rollbacks, args.gc)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
