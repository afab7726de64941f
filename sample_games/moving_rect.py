"""The paper's guiding example as a real window: a rectangle every peer steers.

How this works: the model is :class:`arcade_p2p.moving_rect.MovingRectApp` (the same one
the simulator and the headless peers run), so the window only glues it to the hooks of
:class:`~arcade_p2p.window.SymmetricWindow`: ``self.state`` is the model's
:class:`~arcade_p2p.moving_rect.Rect`, arrow keys (or WASD) broadcast ``"key"`` events,
and ``on_draw`` paints the rectangle where the state says it is.

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

from arcade_p2p.events import Event
from arcade_p2p.moving_rect import ARENA_HEIGHT, ARENA_WIDTH, MovingRectApp, Rect
from arcade_p2p.window import SymmetricWindow

__all__ = ["RECT_COLOR", "RECT_SIZE_PX", "MovingRect", "main"]

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

    state: Rect

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("title", TITLE)
        super().__init__(*args, **kwargs)
        self._model = MovingRectApp()
        self.background_color = BACKGROUND_COLOR
        self._title = arcade.Text(
            TITLE, TEXT_MARGIN_PX, self.height - 30, TEXT_COLOR, 16, bold=True
        )
        self._help = arcade.Text(HELP, TEXT_MARGIN_PX, TEXT_MARGIN_PX, TEXT_COLOR, 10)

    def _bound_model(self) -> MovingRectApp:
        """The model, working on this window's current state (snapshots replace it)."""
        self._model.state = self.state
        return self._model

    def on_start(self) -> None:
        self._model.start()
        self.state = self._model.state

    def on_update(self, delta_time: float) -> None:
        self._bound_model().tick()

    def on_event(self, event: Event) -> None:
        self._bound_model().event(event)

    def on_draw(self) -> None:
        self.clear()
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
