"""Trap: a pymunk space with sleeping enabled (bodies wake differently after a restore)."""

from __future__ import annotations

from dataclasses import dataclass

import pymunk

from arcade_p2p.physics import Space, new_space
from arcade_p2p.window import SymmetricWindow


@dataclass
class World:
    space: Space
    ball: pymunk.Body


class Sleepy(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def on_start(self) -> None:
        space = new_space((0.0, -900.0))
        space.sleep_time_threshold = 0.5
        floor = pymunk.Segment(space.static_body, (0, 10), (200, 10), 2.0)
        ball = pymunk.Body(1.0, pymunk.moment_for_circle(1.0, 0, 8))
        ball.position = (100, 100)
        space.add(floor, ball, pymunk.Circle(ball, 8))
        self.state = World(space, ball)

    def on_update(self, delta_time: float) -> None:
        self.state.space.step(delta_time)

    def on_draw(self) -> None:
        self.clear()
