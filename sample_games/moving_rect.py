"""The paper's guiding example as a real window: a rectangle every peer steers.

How this works: ``self.state`` is a :class:`~arcade_p2p.sim.moving_rect.Rect` (position
and direction, four integers). ``on_start`` centres it, ``on_update`` moves it one step,
``on_event`` turns it when a ``"key"`` event arrives; the arrow keys (or WASD) broadcast
those events and ``on_draw`` paints the rectangle where the state says it is. The rules
are the simulator's reference app, so this window agrees with ``arcade-p2p sim`` and
``arcade-p2p peer`` tick for tick.

With ``--autopilot SEED`` it presses a random arrow key now and then.

Run two peers on one machine::

    python -m sample_games.moving_rect                 # prints: listening on 127.0.0.1:PORT
    python -m sample_games.moving_rect --peer 127.0.0.1:PORT
    python -m sample_games.moving_rect --autopilot 1   # steers by itself
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import arcade

from arcade_p2p import Event, SymmetricWindow
from arcade_p2p.sim.moving_rect import ARENA_HEIGHT, ARENA_WIDTH, Rect

__all__ = ["BACKGROUND_COLOR", "RECT_COLOR", "RECT_SIZE_PX", "MovingRect", "main"]

RECT_SIZE_PX = 40
RECT_COLOR = arcade.color.ORANGE
BACKGROUND_COLOR = arcade.color.DARK_SLATE_GRAY
TEXT_COLOR = arcade.color.WHITE_SMOKE
TITLE = "Moving Rectangle"
HELP = "arrows / WASD: turn  ·  every peer steers the same rectangle"
TEXT_MARGIN_PX = 10
AUTOPILOT_TURN_CHANCE = 0.03
"""Chance per frame that the autopilot presses an arrow key (about 1.5 a second)."""
AUTOPILOT_KEYS = (arcade.key.LEFT, arcade.key.RIGHT, arcade.key.UP, arcade.key.DOWN)
KEY_DIRECTIONS = {
    arcade.key.LEFT: "left",
    arcade.key.RIGHT: "right",
    arcade.key.UP: "up",
    arcade.key.DOWN: "down",
    arcade.key.A: "left",
    arcade.key.D: "right",
    arcade.key.W: "up",
    arcade.key.S: "down",
}


class MovingRect(SymmetricWindow):
    """The moving rectangle, shared by every peer of the room."""

    WIDTH_PX = ARENA_WIDTH
    HEIGHT_PX = ARENA_HEIGHT
    STATE_MODULES = ("arcade_p2p.sim.moving_rect",)  # where Rect, the state's class, lives

    state: Rect

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("title", TITLE)
        super().__init__(*args, **kwargs)
        self._title = arcade.Text(
            TITLE, TEXT_MARGIN_PX, self.height - 30, TEXT_COLOR, 16, bold=True
        )
        self._help = arcade.Text(HELP, TEXT_MARGIN_PX, TEXT_MARGIN_PX, TEXT_COLOR, 10)

    def on_start(self) -> None:
        self.state = Rect.centred()

    def on_update(self, delta_time: float) -> None:
        self.state.move()

    def on_event(self, event: Event) -> None:
        if event.name == "key":
            self.state.turn(event.payload)

    def on_draw(self) -> None:
        self.clear(BACKGROUND_COLOR)
        arcade.draw_lbwh_rectangle_filled(
            self.state.x - RECT_SIZE_PX // 2,
            self.state.y - RECT_SIZE_PX // 2,
            RECT_SIZE_PX,
            RECT_SIZE_PX,
            RECT_COLOR,
        )
        self._title.draw()
        self._help.draw()

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol in KEY_DIRECTIONS:
            self.broadcast("key", KEY_DIRECTIONS[symbol])

    def autopilot(self, rng: random.Random) -> None:
        """Turn at random: an arrow key every so often."""
        if rng.random() < AUTOPILOT_TURN_CHANCE:
            self.on_key_press(rng.choice(AUTOPILOT_KEYS), 0)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the moving rectangle from the command line (see ``--help``)."""
    MovingRect.main(argv)


if __name__ == "__main__":
    main()
