"""Balloon: a shared balloon that every player pumps up and that slowly lets its air out.

The game of the tutorial "Your first shared game": run three linked windows with
``arcade-p2p play docs/examples/balloon.py --local 3``.
"""

from dataclasses import dataclass

import arcade

from arcade_p2p import Event, SymmetricWindow

WIDTH_PX = 480
HEIGHT_PX = 360
START_RADIUS_PX = 40
LEAK_PX_PER_TICK = 1
PUMP_PX = 12
POP_RADIUS_PX = 160
STEP_PX = 20


@dataclass
class Balloon:
    x: int
    radius: int
    pops: int


class BalloonGame(SymmetricWindow):
    WIDTH_PX = WIDTH_PX
    HEIGHT_PX = HEIGHT_PX

    def on_start(self) -> None:
        self.state = Balloon(x=WIDTH_PX // 2, radius=START_RADIUS_PX, pops=0)

    def on_update(self, delta_time: float) -> None:
        if self.state.radius > START_RADIUS_PX:
            self.state.radius -= LEAK_PX_PER_TICK

    def on_event(self, event: Event) -> None:
        balloon = self.state
        if event.name == "pump":
            balloon.radius += PUMP_PX
            if balloon.radius >= POP_RADIUS_PX:
                balloon.radius = START_RADIUS_PX
                balloon.pops += 1
        elif event.name == "move" and event.payload in (-1, 1):
            balloon.x = min(max(balloon.x + event.payload * STEP_PX, 0), WIDTH_PX)

    def on_draw(self) -> None:
        self.clear(arcade.color.SKY_BLUE)
        balloon = self.state
        y = HEIGHT_PX // 2
        arcade.draw_line(balloon.x, y - balloon.radius, balloon.x, 0, arcade.color.BLACK, 2)
        arcade.draw_circle_filled(balloon.x, y, balloon.radius, arcade.color.RED)
        arcade.draw_text(f"pops: {balloon.pops}", 10, HEIGHT_PX - 30, arcade.color.BLACK, 16)

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol == arcade.key.SPACE:
            self.broadcast("pump")
        elif symbol in (arcade.key.LEFT, arcade.key.RIGHT):
            self.broadcast("move", -1 if symbol == arcade.key.LEFT else 1)


if __name__ == "__main__":
    BalloonGame.main()
