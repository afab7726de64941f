"""Deterministic pymunk: canonical snapshots, exact restores, rollback under the time machine."""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import math
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pymunk
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymunk._chipmunk_cffi import ffi, lib

from arcade_p2p.app import StateApp, state_hash
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import Event
from arcade_p2p.machine import TimeMachine
from arcade_p2p.physics import Space, new_space
from arcade_p2p.state_codec import StateCodec
from arcade_p2p.timeline import Timeline

FPS = 50
BOX_PX = 400
BALL_RADIUS_PX = 10
BALL, WALL = 1, 2
TICKS = 240


def count_hit(arbiter: pymunk.Arbiter, space: pymunk.Space, data: object) -> bool:
    """A module-level collision handler (so it pickles) that counts in the space."""
    space.hits += 1
    return True


def damped_velocity(body: pymunk.Body, gravity: object, damping: float, dt: float) -> None:
    """A custom velocity function: double damping."""
    pymunk.Body.update_velocity(body, gravity, damping * damping, dt)


def add_ball(space: Space, x: float, y: float) -> pymunk.Body:
    body = pymunk.Body(1, pymunk.moment_for_circle(1, 0, BALL_RADIUS_PX))
    body.position = (x, y)
    body.tag = f"ball {len(space.bodies)}"
    shape = pymunk.Circle(body, BALL_RADIUS_PX)
    shape.elasticity = 0.6
    shape.friction = 0.5
    shape.collision_type = BALL
    space.add(body, shape)
    return body


def build_world(balls: int = 30) -> Space:
    """A box with balls, a pinned pair, a square and a slowed body: most pymunk features."""
    space = new_space((0, -900))
    corners = [(0, 0), (BOX_PX, 0), (BOX_PX, BOX_PX), (0, BOX_PX)]
    for start, end in zip(corners, corners[1:] + corners[:1]):
        wall = pymunk.Segment(space.static_body, start, end, 3)
        wall.elasticity = 0.6
        wall.collision_type = WALL
        space.add(wall)
    space.add_collision_handler(BALL, WALL).begin = count_hit
    space.hits = 0
    bodies = [add_ball(space, 30 + (i * 47) % 340, 40 + (i // 7) * 30) for i in range(balls)]
    space.add(pymunk.PinJoint(bodies[0], bodies[1]))
    square = pymunk.Body(2, pymunk.moment_for_box(2, (30, 30)))
    square.position = (200, 300)
    square.velocity_func = damped_velocity
    space.add(square, pymunk.Poly.create_box(square, (30, 30)))
    return space


def push(space: Space, payload: list[int]) -> None:
    for body in space.bodies:
        body.apply_impulse_at_local_point((payload[0], payload[1]))


class BallsApp(StateApp):
    """Balls in a box; ``"push"`` kicks every body, ``"drop"`` adds a ball."""

    STATE_FUNCTIONS = (count_hit, damped_velocity)
    state: Space

    def start(self) -> None:
        self.state = build_world()

    def tick(self) -> None:
        self.state.step(1 / FPS)

    def event(self, event: Event) -> None:
        if event.name == "push":
            push(self.state, event.payload)
        elif event.name == "drop":
            add_ball(self.state, *event.payload)


def stepped(space: Space, ticks: int) -> Space:
    for _ in range(ticks):
        space.step(1 / FPS)
    return space


class Owner:
    """Game data that points at a body that points back at it (a reference cycle)."""

    def __init__(self, body: pymunk.Body) -> None:
        self.body = body
        body.owner = self


def featured_world() -> Space:
    """:func:`build_world` plus a shape of every kind with every property set."""
    space = build_world(balls=6)
    crate = pymunk.Body(3, 40)
    crate.position = (120, 220)
    crate.angle = 0.4
    crate.center_of_gravity = (1.5, -2)
    crate.angular_velocity = 1.25
    crate.velocity = (30, -5)
    crate.force = (2, 3)
    crate.torque = 0.5
    plank = pymunk.Segment(crate, (-20, 0), (20, 0), 2)
    plank.sensor = False
    plank.surface_velocity = (4, 0)
    plank.filter = pymunk.ShapeFilter(group=2, categories=0b101, mask=0b110)
    plank.tag = "plank"
    wedge = pymunk.Poly(crate, [(0, 0), (15, 0), (0, 10)], radius=0.5)
    wedge.friction = 0.3
    wedge.collision_type = 7
    probe = pymunk.Circle(crate, 5, offset=(3, 4))
    probe.sensor = True
    space.add(crate, plank, wedge, probe)
    dense = pymunk.Body()
    dense.position = (300, 200)
    blob = pymunk.Circle(dense, 8)
    blob.density = 0.02
    space.add(dense, blob)
    Owner(crate)
    return space


def described(space: Space) -> list[object]:
    """Everything pymunk shows about the bodies and shapes of ``space``."""
    rows: list[object] = []
    for body in space.bodies:
        rows.append(
            (
                body.body_type,
                body.mass,
                body.moment,
                tuple(body.center_of_gravity),
                body.angle,
                tuple(body.velocity),
                body.angular_velocity,
                tuple(body.force),
                body.torque,
                body._velocity_func,
                sorted(k for k in body.__dict__ if k[0] != "_"),
            )
        )
    for shape in space.shapes:
        geometry: object
        if isinstance(shape, pymunk.Circle):
            geometry = (shape.radius, tuple(shape.offset))
        elif isinstance(shape, pymunk.Segment):
            geometry = (tuple(shape.a), tuple(shape.b), shape.radius)
        else:
            geometry = ([tuple(v) for v in shape.get_vertices()], shape.radius)
        rows.append(
            (
                type(shape),
                space.bodies.index(shape.body) if shape.body in space.bodies else "static",
                geometry,
                shape.sensor,
                shape.collision_type,
                shape.filter,
                shape.elasticity,
                shape.friction,
                tuple(shape.surface_velocity),
                shape.mass,
                shape.density,
                sorted(k for k in shape.__dict__ if k[0] != "_"),
            )
        )
    return rows


EVENTS = [
    Event(13, 1, 1, "push", [0, 300]),
    Event(40, 2, 1, "drop", [100, 350]),
    Event(40, 1, 2, "push", [-200, 0]),
    Event(77, 2, 2, "drop", [300, 350]),
    Event(151, 1, 3, "push", [250, 250]),
    Event(152, 2, 3, "push", [0, -100]),
]


def run(events: list[Event], *, lateness: dict[int, int] | None = None) -> TimeMachine:
    """Run :class:`BallsApp` to :data:`TICKS`; event ``i`` arrives ``lateness[i]`` ticks late."""
    timeline = Timeline()
    machine = TimeMachine(BallsApp(), timeline, snapshot_every_ticks=10)
    arrivals: dict[int, list[Event]] = {}
    for i, event in enumerate(events):
        arrivals.setdefault(event.tick + (lateness or {}).get(i, 0), []).append(event)
    for tick in range(TICKS):
        for event in arrivals.get(tick, []):
            timeline.insert(event)
            machine.note_event(event)
        machine.advance(tick)
    return machine


@functools.cache
def on_time_hash() -> str:
    return run(EVENTS).state_hash()


def test_snapshot_bytes_depend_only_on_the_simulation() -> None:
    first, second = stepped(build_world(), 150), stepped(build_world(), 150)
    assert first is not second
    assert pickle.dumps(first) == pickle.dumps(second)


@pytest.mark.parametrize("world", ["build_world", "featured_world"])
def test_snapshot_bytes_are_the_same_in_another_process(world: str) -> None:
    script = (
        "import hashlib, pickle, sys; sys.path.insert(0, sys.argv[1]); import test_physics as t;"
        f"print(hashlib.sha256(pickle.dumps(t.stepped(t.{world}(), 150))).hexdigest())"
    )
    here = str(Path(__file__).parent)
    other = subprocess.run(
        [sys.executable, "-c", script, here], capture_output=True, text=True, check=True
    )
    mine = hashlib.sha256(pickle.dumps(stepped(globals()[world](), 150))).hexdigest()
    assert other.stdout.strip() == mine


@pytest.mark.parametrize("world", [build_world, featured_world])
def test_two_restores_of_one_snapshot_stay_identical(world: Callable[[], Space]) -> None:
    blob = pickle.dumps(stepped(world(), 100))
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert pickle.dumps(first) == pickle.dumps(second)
    assert pickle.dumps(stepped(first, 100)) == pickle.dumps(stepped(second, 100))


def test_a_restore_keeps_contacts_handlers_callbacks_and_references() -> None:
    world = stepped(build_world(), 100)
    hero = world.bodies[3]
    state = {"space": world, "hero": hero}
    copy = pickle.loads(pickle.dumps(state))
    space = copy["space"]
    assert isinstance(space, Space)
    assert copy["hero"] is space.bodies[3] and copy["hero"].tag == hero.tag
    assert len(space._get_arbiters()) == 0  # hidden from pymunk's pickling ...
    assert len(super(Space, space)._get_arbiters()) == len(super(Space, world)._get_arbiters())
    assert space.hits == world.hits > 0
    square = space.bodies[-1]
    assert square._velocity_func is damped_velocity
    assert len(space.constraints) == 1
    before = space.hits
    push(space, [0, -2000])
    stepped(space, 30)
    assert space.hits > before  # the restored handler still fires


def test_unsafe_settings_are_refused() -> None:
    with pytest.raises(UsageError, match="threaded"):
        Space(threaded=True)
    space = new_space()
    space.sleep_time_threshold = 0.5
    with pytest.raises(UsageError, match="sleep"):
        pickle.dumps(space)
    space.sleep_time_threshold = math.inf
    pickle.dumps(space)


def test_a_lambda_collision_handler_cannot_be_snapshotted() -> None:
    space = build_world()
    space.add_collision_handler(BALL, BALL).begin = lambda arbiter, space, data: True
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(space)


def test_independent_runs_with_the_same_events_agree() -> None:
    first, second = run(EVENTS), run(EVENTS)
    assert first.state_hash() == second.state_hash()
    assert first.stats.rollbacks == 0
    assert run(EVENTS[:-1]).state_hash() != first.state_hash()


def test_late_events_roll_back_to_the_on_time_result() -> None:
    on_time = run(EVENTS)
    late = run(EVENTS, lateness={0: 3, 1: 25, 3: 1, 4: 60, 5: 9})
    assert late.stats.rollbacks >= 4
    assert late.state_hash() == on_time.state_hash()
    assert state_hash(late.app) == state_hash(on_time.app)


def test_peers_must_share_the_snapshot_period() -> None:
    """The live run continues from each restored snapshot, so the period shapes the physics."""

    def positions(every_ticks: int) -> list[tuple[float, float]]:
        machine = TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=every_ticks)
        machine.advance(TICKS)
        return [tuple(body.position) for body in machine.app.state.bodies]

    assert positions(10) == positions(10)
    assert positions(10) != positions(25)


@settings(max_examples=6, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=70), min_size=len(EVENTS), max_size=len(EVENTS)))
def test_any_lateness_gives_the_same_final_state(lateness: list[int]) -> None:
    assert run(EVENTS, lateness=dict(enumerate(lateness))).state_hash() == on_time_hash()


def test_a_restore_keeps_every_body_and_shape_property() -> None:
    world = stepped(featured_world(), 20)
    copy = pickle.loads(pickle.dumps(world))
    assert described(copy) == described(world)
    for original, restored in zip(world.bodies, copy.bodies):
        assert restored.position == pytest.approx(original.position, abs=1e-9)
        assert type(restored) is pymunk.Body
    assert all(type(s) in (pymunk.Circle, pymunk.Segment, pymunk.Poly) for s in copy.shapes)
    crate = copy.bodies[-2]
    assert crate.owner.body is crate  # the cycle through custom attributes survives
    assert [s.tag for s in crate.shapes if hasattr(s, "tag")] == ["plank"]
    assert pickle.dumps(copy) == pickle.dumps(pickle.loads(pickle.dumps(copy)))


def test_objects_outside_a_physics_space_pickle_the_pymunk_way() -> None:
    plain = pymunk.Space()
    body = pymunk.Body(1, 10)
    body.position = (5, 6)
    body.note = "kept"
    plain.add(body, pymunk.Circle(body, 3))
    loose = pymunk.Body(2, 20)
    copy, loose_copy = pickle.loads(pickle.dumps((plain, loose)))
    assert copy.bodies[0].position == (5, 6) and copy.bodies[0].note == "kept"
    assert loose_copy.mass == 2
    assert b"_RestoredBody" not in pickle.dumps((plain, loose))


LATE_PEER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import test_physics as t
lateness = {int(i): ticks for i, ticks in json.loads(sys.argv[2]).items()}
machine = t.run(t.EVENTS, lateness=lateness)
print(json.dumps([machine.state_hash(), machine.stats.rollbacks, machine.stats.resim_ticks]))
"""


def test_a_late_peer_and_an_on_time_peer_agree_across_processes() -> None:
    """Two OS processes run the same game; one gets most events late and rolls back."""
    here = str(Path(__file__).parent)
    lateness = {0: 3, 1: 25, 2: 11, 3: 1, 4: 60, 5: 35}
    peers = [
        subprocess.Popen(
            [sys.executable, "-c", LATE_PEER, here, json.dumps(late)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for late in ({}, lateness)
    ]
    (on_time, on_time_rollbacks, _), (late, late_rollbacks, resimulated) = [
        json.loads(peer.communicate(timeout=120)[0]) for peer in peers
    ]
    assert on_time_rollbacks == 0
    assert late_rollbacks >= 5 and resimulated > sum(lateness.values())
    assert late == on_time == on_time_hash()


def separate_count(arbiter: pymunk.Arbiter, space: pymunk.Space, data: object) -> None:
    """A module-level separate callback that counts in the space."""
    space.separations += 1


def test_a_dropped_world_is_freed_without_the_cycle_collector() -> None:
    """Bodies, constraints and handlers do not refer to themselves through their handles."""
    blob = pickle.dumps(stepped(build_world(), 60))
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            world = pickle.loads(blob)
            stepped(world, 5)
            assert world.hits > 0
        del world
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_separate_callbacks_of_a_freed_world_see_its_space() -> None:
    space = build_world()
    space.separations = 0
    space.add_collision_handler(BALL, WALL).separate = separate_count
    stepped(space, 60)
    touching = space.separations
    seen: list[int] = []

    def count_on_free(arbiter: pymunk.Arbiter, space: pymunk.Space, data: object) -> None:
        seen.append(space.separations)

    space.add_collision_handler(BALL, WALL).separate = count_on_free
    del space
    gc.collect()
    assert seen and seen[0] == touching  # called with the live space, not a dead reference


def test_a_body_outliving_its_space_keeps_working() -> None:
    space = build_world()
    square = space.bodies[-1]
    space.remove(square, *square.shapes)
    del space
    gc.collect()
    other = new_space((0, -900))
    other.add(square, *square.shapes)
    stepped(other, 3)  # its velocity function (a Python callback) still runs
    assert square.velocity.y < 0
    kept = build_world()
    ball = kept.bodies[2]
    del kept
    gc.collect()
    with pytest.raises(ReferenceError):  # a stale body: pymunk refuses it (no crash)
        new_space().add(ball)


def test_malformed_arbiter_records_are_refused_not_fatal() -> None:
    """Chipmunk aborts on more than two contacts per arbiter: such bytes must be refused."""
    codec = StateCodec(functions=[count_hit, damped_velocity])
    world = stepped(build_world(), 60)
    good = codec.encode(world)
    assert isinstance(codec.decode(good), Space)
    records = world._arbiter_records()
    assert records
    for bad in (
        (*records[0][:11], records[0][11] * 3),
        (*records[0][:11], records[0][11][:-1]),
        (*records[0][:10], 99, records[0][11]),
    ):
        world._arbiter_records = lambda bad=bad: [bad]  # type: ignore[method-assign]
        with pytest.raises(RemoteError, match="malformed"):
            codec.decode(codec.encode(world))


def add_arbiters_with_a_buffer_each(space: Space, records: list[tuple[object, ...]]) -> None:
    """Chipmunk's own way: every arbiter copied into a fresh contact buffer of the space."""
    shapes = [shape._shape for shape in space.shapes]
    for a, b, e, u, svr_x, svr_y, n_x, n_y, swapped, stamp, state, contacts in records:
        arbiter = lib.cpArbiterNew(shapes[a], shapes[b])
        arbiter.e, arbiter.u, arbiter.surface_vr, arbiter.n = e, u, (svr_x, svr_y), (n_x, n_y)
        arbiter.swapped, arbiter.stamp, arbiter.state = swapped, stamp, state
        arbiter.count = len(contacts) // ffi.sizeof("struct cpContact")
        arbiter.contacts = lib.cpContactArrAlloc(arbiter.count)
        ffi.memmove(arbiter.contacts, contacts, len(contacts))
        lib.cpSpaceAddCachedArbiter(space._space, arbiter)


@pytest.mark.parametrize("world", [build_world, featured_world])
def test_restored_contacts_in_one_array_step_like_chipmunks_own_buffers(
    world: Callable[[], Space], monkeypatch: pytest.MonkeyPatch
) -> None:
    blob = pickle.dumps(stepped(world(), 120))
    shared = pickle.loads(blob)
    monkeypatch.setattr(Space, "_add_arbiters", add_arbiters_with_a_buffer_each)
    own = pickle.loads(blob)
    monkeypatch.undo()
    assert len(super(Space, own)._get_arbiters()) == len(super(Space, shared)._get_arbiters()) > 0
    assert pickle.dumps(stepped(shared, 100)) == pickle.dumps(stepped(own, 100))
