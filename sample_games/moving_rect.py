"""The paper's guiding example as a real window: a rectangle every peer steers.

How this works: the model is :class:`arcade_p2p.moving_rect.MovingRectApp` (the same one
the simulator and the headless peers run), so the window only glues it to the hooks of
:class:`~arcade_p2p.window.SymmetricWindow`: ``self.state`` is the model's
:class:`~arcade_p2p.moving_rect.Rect`, arrow keys (or WASD) broadcast ``"key"`` events,
and ``on_draw`` paints the rectangle where the state says it is.

Run two peers on one machine::

    python -m sample_games.moving_rect                 # prints: listening on 127.0.0.1:PORT
    python -m sample_games.moving_rect --peer 127.0.0.1:PORT
"""

from __future__ import annotations

from collections.abc import Sequence

import arcade

from arcade_p2p.events import Event
from arcade_p2p.moving_rect import ARENA_HEIGHT, ARENA_WIDTH, MovingRectApp, Rect
from arcade_p2p.window import SymmetricWindow

__all__ = ["RECT_COLOR", "RECT_SIZE_PX", "MovingRect", "main"]

RECT_SIZE_PX = 40
RECT_COLOR = arcade.color.ORANGE
BACKGROUND_COLOR = arcade.color.DARK_SLATE_GRAY
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
    STATE_MODULES = ("arcade_p2p.moving_rect",)  # where Rect, the state's class, lives

    state: Rect

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._model = MovingRectApp()
        self.background_color = BACKGROUND_COLOR

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

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol in KEY_DIRECTIONS:
            self.broadcast("key", KEY_DIRECTIONS[symbol])


def main(argv: Sequence[str] | None = None) -> None:
    """Run the moving rectangle from the command line (see ``--help``)."""
    MovingRect.main(argv)


if __name__ == "__main__":
    main()
