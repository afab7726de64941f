"""Shared pymunk physics: balls in a box that every peer drops and pushes.

How this works: ``self.state`` is a :class:`Balls` holding an
:class:`arcade_p2p.physics.Space` (a pymunk space that snapshots canonically) and the
ball bodies. A mouse click broadcasts ``"drop"`` with the click position (whole pixels);
the arrow keys and space broadcast ``"push"`` with a direction. At its tick, every peer
adds the same ball or applies the same impulse, so the physics stays identical
everywhere, late events included (the time machine rolls the space back).

What keeps it deterministic: the pymunk space lives in the state (never a module global);
each ball's colour is a custom attribute of its body and the bounce count a custom
attribute of the space (pymunk pickles both); the collision handler that counts bounces
is a module-level function, not a lambda, listed in ``STATE_FUNCTIONS`` so that peers
load it from a snapshot; the oldest ball is removed once there are
:data:`MAX_BALLS`.

With ``--autopilot SEED`` it clicks at random places and pushes now and then.

Run two peers on one machine::

    python -m sample_games.physics_balls               # prints: listening on 127.0.0.1:PORT
    python -m sample_games.physics_balls --peer 127.0.0.1:PORT
    python -m sample_games.physics_balls --autopilot 1 # plays by itself
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import arcade
import pymunk

from arcade_p2p import Event, SymmetricWindow
from arcade_p2p.physics import Space, new_space

__all__ = ["Balls", "PhysicsBalls", "drop_ball", "main", "new_balls", "push_balls"]

WIDTH_PX = 640
HEIGHT_PX = 480
GRAVITY_PX_PER_S2 = (0.0, -900.0)
WALL_THICKNESS_PX = 4.0
BALL_RADIUS_PX = 12.0
BALL_MASS_KG = 1.0
BALL_FRICTION = 0.6
BALL_ELASTICITY = 0.7
PUSH_IMPULSE_PX_PER_S = 400.0
"""Velocity change a push gives every ball (impulse per unit mass)."""
SNAPSHOT_EVERY_TICKS = 50
"""Snapshot period (once a second): a pymunk snapshot costs as much as ~100 steps."""
MAX_BALLS = 60
INITIAL_BALLS = 8
BALL_TYPE = 1
WALL_TYPE = 2
PALETTE = (
    arcade.color.ORANGE,
    arcade.color.SKY_BLUE,
    arcade.color.LIME_GREEN,
    arcade.color.HOT_PINK,
    arcade.color.GOLD,
)
PUSH_DIRECTIONS: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, 1.0),
}
KEY_PUSHES = {arcade.key.LEFT: "left", arcade.key.RIGHT: "right", arcade.key.UP: "up"}
KEY_PUSHES[arcade.key.SPACE] = "up"
TEXT_COLOR = arcade.color.WHITE_SMOKE
TEXT_MARGIN_PX = 10
TITLE = "Physics Balls"
HELP = "click: drop a ball  ·  left / right / up or space: push every ball"
AUTOPILOT_DROP_CHANCE = 0.02
"""Chance per frame that the autopilot clicks (about once a second)."""
AUTOPILOT_PUSH_CHANCE = 0.01
AUTOPILOT_KEYS = tuple(KEY_PUSHES)


@dataclass
class Balls:
    """The whole simulation state.

    Attributes:
        space: The pymunk world (walls and balls); ``space.bounces`` counts ball-on-wall
            collisions.
        balls: Ball bodies, oldest first.
    """

    space: Space
    balls: list[pymunk.Body] = field(default_factory=list)


def count_bounce(arbiter: pymunk.Arbiter, space: pymunk.Space, data: Any) -> bool:
    """Collision handler: count a ball hitting a wall (module-level, so it pickles)."""
    space.bounces += 1  # type: ignore[attr-defined]  # a custom attribute, pickled too
    return True


def new_box(width_px: float = WIDTH_PX) -> Balls:
    """An empty walled box ``width_px`` wide, its wall hits counted in ``space.bounces``."""
    space = new_space(GRAVITY_PX_PER_S2)
    corners = [(0, 0), (width_px, 0), (width_px, HEIGHT_PX), (0, HEIGHT_PX)]
    for start, end in zip(corners, corners[1:] + corners[:1]):
        wall = pymunk.Segment(space.static_body, start, end, WALL_THICKNESS_PX)
        wall.friction = BALL_FRICTION
        wall.elasticity = BALL_ELASTICITY
        wall.collision_type = WALL_TYPE
        space.add(wall)
    space.add_collision_handler(BALL_TYPE, WALL_TYPE).begin = count_bounce
    space.bounces = 0  # type: ignore[attr-defined]  # pymunk's types omit custom attributes
    return Balls(space)


def new_balls() -> Balls:
    """The initial state: a walled box and a row of balls."""
    state = new_box()
    for i in range(INITIAL_BALLS):
        drop_ball(state, (i + 1) * WIDTH_PX // (INITIAL_BALLS + 1), HEIGHT_PX * 3 // 4, i)
    return state


def add_ball(state: Balls, x: float, y: float, colour: int) -> None:
    """Add a ball at ``(x, y)``."""
    moment = pymunk.moment_for_circle(BALL_MASS_KG, 0, BALL_RADIUS_PX)
    body = pymunk.Body(BALL_MASS_KG, moment)
    body.position = (x, y)
    body.colour = colour % len(PALETTE)
    shape = pymunk.Circle(body, BALL_RADIUS_PX)
    shape.friction = BALL_FRICTION
    shape.elasticity = BALL_ELASTICITY
    shape.collision_type = BALL_TYPE
    state.space.add(body, shape)
    state.balls.append(body)


def drop_ball(state: Balls, x: int, y: int, colour: int) -> None:
    """Add a ball at ``(x, y)``, removing the oldest one beyond :data:`MAX_BALLS`."""
    add_ball(state, x, y, colour)
    if len(state.balls) > MAX_BALLS:
        oldest = state.balls.pop(0)
        state.space.remove(oldest, *oldest.shapes)


def push_balls(state: Balls, direction: str) -> None:
    """Give every ball the same kick in ``direction`` (unknown directions are ignored)."""
    if direction not in PUSH_DIRECTIONS:
        return
    dx, dy = PUSH_DIRECTIONS[direction]
    for body in state.balls:
        body.apply_impulse_at_local_point(
            (dx * PUSH_IMPULSE_PX_PER_S * body.mass, dy * PUSH_IMPULSE_PX_PER_S * body.mass)
        )


class PhysicsBalls(SymmetricWindow):
    """Pymunk balls shared by every peer: click to drop a ball, arrows/space to push."""

    WIDTH_PX = WIDTH_PX
    HEIGHT_PX = HEIGHT_PX
    CONFIG = dataclasses.replace(SymmetricWindow.CONFIG, snapshot_every_ticks=SNAPSHOT_EVERY_TICKS)
    STATE_FUNCTIONS = (count_bounce,)

    state: Balls

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("title", TITLE)
        super().__init__(*args, **kwargs)
        self.background_color = arcade.color.BLACK
        top = self.height - 30
        self._title = arcade.Text(TITLE, TEXT_MARGIN_PX, top, TEXT_COLOR, 16, bold=True)
        self._help = arcade.Text(HELP, TEXT_MARGIN_PX, top - 22, TEXT_COLOR, 10)
        self._count = arcade.Text("", self.width - TEXT_MARGIN_PX, top, TEXT_COLOR, 12)
        self._count.anchor_x = "right"

    def on_start(self) -> None:
        self.state = new_balls()

    def on_update(self, delta_time: float) -> None:
        self.state.space.step(delta_time)

    def on_event(self, event: Event) -> None:
        if event.name == "drop" and _is_point(event.payload):
            drop_ball(self.state, event.payload[0], event.payload[1], event.source)
        elif event.name == "push":
            push_balls(self.state, event.payload)

    def on_draw(self) -> None:
        self.clear()
        bounces = self.state.space.bounces  # type: ignore[attr-defined]  # custom attribute
        self._count.text = f"{len(self.state.balls)} balls  ·  {bounces} bounces"
        for text in (self._title, self._help, self._count):
            text.draw()  # under the balls
        for body in self.state.balls:
            x, y = body.position
            arcade.draw_circle_filled(x, y, BALL_RADIUS_PX, PALETTE[body.colour])

    def on_mouse_press(self, x: int, y: int, button: int, modifiers: int) -> None:
        self.broadcast("drop", [int(x), int(y)])

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol in KEY_PUSHES:
            self.broadcast("push", KEY_PUSHES[symbol])

    def autopilot(self, rng: random.Random) -> None:
        """Click at random places in the upper half; now and then push."""
        roll = rng.random()
        if roll < AUTOPILOT_DROP_CHANCE:
            margin = int(2 * BALL_RADIUS_PX)
            x = rng.randrange(margin, WIDTH_PX - margin)
            y = rng.randrange(HEIGHT_PX // 2, HEIGHT_PX - 2 * margin)
            self.on_mouse_press(x, y, arcade.MOUSE_BUTTON_LEFT, 0)
        elif roll < AUTOPILOT_DROP_CHANCE + AUTOPILOT_PUSH_CHANCE:
            self.on_key_press(rng.choice(AUTOPILOT_KEYS), 0)


def _is_point(payload: Any) -> bool:
    """Whether a payload is ``[x, y]`` inside the box (a remote peer may send anything)."""
    return (
        isinstance(payload, list)
        and len(payload) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in payload)
        and 0 < payload[0] < WIDTH_PX
        and 0 < payload[1] < HEIGHT_PX
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the physics sample from the command line (see ``--help``)."""
    PhysicsBalls.main(argv)


if __name__ == "__main__":
    main()
