"""Trap: a pymunk collision handler written as a lambda (pickle cannot save it)."""

from __future__ import annotations

from dataclasses import dataclass

import pymunk

from arcade_p2p.physics import Space, new_space
from arcade_p2p.window import SymmetricWindow

BALL_TYPE = 1
FLOOR_TYPE = 2


@dataclass
class World:
    space: Space
    ball: pymunk.Body


class Bouncer(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def on_start(self) -> None:
        space = new_space((0.0, -900.0))
        floor = pymunk.Segment(space.static_body, (0, 10), (200, 10), 2.0)
        floor.collision_type = FLOOR_TYPE
        ball = pymunk.Body(1.0, pymunk.moment_for_circle(1.0, 0, 8))
        ball.position = (100, 100)
        shape = pymunk.Circle(ball, 8)
        shape.collision_type = BALL_TYPE
        space.add(floor, ball, shape)
        space.add_collision_handler(BALL_TYPE, FLOOR_TYPE).begin = lambda arbiter, sp, data: True
        self.state = World(space, ball)

    def on_update(self, delta_time: float) -> None:
        self.state.space.step(delta_time)

    def on_draw(self) -> None:
        self.clear()
