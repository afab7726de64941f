"""State codec cost: saving and loading snapshots, plain pickle against the codec.

Two states: the moving rectangle (four integers) and a pymunk world of 200 balls in a box
after 100 steps (so it holds cached contacts). For each: plain ``pickle.dumps`` /
``pickle.loads`` (what ``StateApp`` did before), ``StateApp.save_state`` /
``StateApp.load_state`` (the codec: plain pickle out, the restricted unpickler in) and
``StateCodec.decode`` (what a joiner runs on a neighbour's snapshot), and the time taken to
explain a state that cannot be saved (only paid on failure). Last, re-simulation
throughput of the moving rectangle (a snapshot saved and loaded every 10 ticks) with plain
pickle against the codec. Medians of repeated, interleaved batches.

    python benchmarks/state_codec.py          # readable
    python benchmarks/state_codec.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any

import pymunk

from arcade_p2p.app import StateApp
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.physics import Space, new_space
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.timeline import Timeline

BATCHES = 15
BALLS = 200
SETTLE_TICKS = 100
FPS = 50
BOX_PX = 800
BALL_RADIUS_PX = 8.0
BALL, WALL = 1, 2
ROLLBACK_DEPTH_TICKS = 500


def count_hit(arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> bool:
    """Collision handler of the benchmark world (module-level, declared by the app)."""
    space.hits += 1
    return True


class PhysicsApp(StateApp):
    """200 balls in a box."""

    STATE_FUNCTIONS = (count_hit,)


class PlainPickleRectApp(MovingRectApp):
    """The moving rectangle saved and loaded with plain pickle (StateApp before the codec)."""

    def save_state(self) -> bytes:
        return pickle.dumps(self.state, protocol=5)

    def load_state(self, blob: bytes) -> None:
        self.state = pickle.loads(blob)


def physics_world() -> Space:
    """A box with :data:`BALLS` balls, stepped until they touch each other and the walls."""
    space = new_space((0.0, -900.0))
    corners = [(0, 0), (BOX_PX, 0), (BOX_PX, BOX_PX), (0, BOX_PX)]
    for start, end in zip(corners, corners[1:] + corners[:1]):
        wall = pymunk.Segment(space.static_body, start, end, 4)
        wall.collision_type = WALL
        space.add(wall)
    space.add_collision_handler(BALL, WALL).begin = count_hit
    space.hits = 0
    for i in range(BALLS):
        body = pymunk.Body(1, pymunk.moment_for_circle(1, 0, BALL_RADIUS_PX))
        body.position = (20 + (i * 37) % (BOX_PX - 40), 20 + (i // 20) * 20)
        shape = pymunk.Circle(body, BALL_RADIUS_PX)
        shape.collision_type = BALL
        shape.friction = 0.5
        space.add(body, shape)
    for _ in range(SETTLE_TICKS):
        space.step(1 / FPS)
    return space


def medians_us(actions: dict[str, Callable[[], object]], per_batch: int) -> dict[str, float]:
    """Median time of one call of each action, in microseconds.

    Batches of the actions are interleaved, so that a slow moment of the shared machine
    weighs on all of them alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(BATCHES):
        for name, action in actions.items():
            start = time.perf_counter()
            for _ in range(per_batch):
                action()
            samples[name].append((time.perf_counter() - start) / per_batch * 1e6)
    return {name: round(statistics.median(values), 2) for name, values in samples.items()}


def figures_for(app: StateApp, per_batch: int) -> dict[str, float]:
    """Save/load figures of ``app``'s current state."""
    state = app.state
    blob = app.save_state()
    return {
        "blob_bytes": len(blob),
        **medians_us(
            {
                "pickle_dumps_us": lambda: pickle.dumps(state, protocol=5),
                "save_state_us": app.save_state,
                "pickle_loads_us": lambda: pickle.loads(blob),
                "load_state_us": lambda: app.load_state(blob),
                "decode_us": lambda: app.codec.decode(blob),
            },
            per_batch,
        ),
    }


def explain_failure_ms(app: StateApp) -> float:
    """Time to name the path of a refused callback in the 200-ball world."""
    undeclared = StateApp()
    undeclared.state = app.state
    blob = undeclared.save_state()
    start = time.perf_counter()
    try:
        undeclared.load_state(blob)
    except UsageError:
        return (time.perf_counter() - start) * 1e3
    raise AssertionError("the undeclared collision handler was loaded")


def resim_ticks_per_s(apps: dict[str, StateApp]) -> dict[str, int]:
    """Re-simulation throughput of each app (rollbacks of 500 ticks), batches interleaved."""
    machines = {}
    for name, app in apps.items():
        machine = TimeMachine(app, Timeline())
        machine.advance(10_000)
        machines[name] = machine
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for seq in range(1, BATCHES + 1):
        for name, machine in machines.items():
            event = Event(machine.tick - ROLLBACK_DEPTH_TICKS, 1, seq, "key", "up")
            machine.timeline.insert(event)
            machine.note_event(event)
            before = machine.stats.resim_ticks
            start = time.perf_counter()
            machine.repair()
            elapsed = time.perf_counter() - start
            samples[name].append((machine.stats.resim_ticks - before) / elapsed)
    return {name: round(statistics.median(values)) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rect = MovingRectApp()
    rect.start()
    physics = PhysicsApp()
    physics.state = physics_world()
    figures: dict[str, Any] = {
        "moving_rect": figures_for(rect, per_batch=2000),
        "physics_200_bodies": figures_for(physics, per_batch=3),
        "physics_200_bodies_explain_failure_ms": round(explain_failure_ms(physics), 1),
        "moving_rect_resim_ticks_per_s": resim_ticks_per_s(
            {"plain_pickle": PlainPickleRectApp(), "codec": MovingRectApp()}
        ),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            if isinstance(value, dict):
                for name, figure in value.items():
                    print(f"{key + '.' + name:42} {figure}")
            else:
                print(f"{key:42} {value}")


if __name__ == "__main__":
    main()
