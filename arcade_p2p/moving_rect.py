"""The paper's guiding example: a rectangle that moves and turns on key events.

How this works: the whole state is four integers. Every TICK moves the rectangle by its
velocity, wrapping around a fixed arena; a ``"key"`` event whose payload is one of
``"left" "right" "up" "down"`` sets the velocity. Integer arithmetic keeps it bit-exact
everywhere, so it is the reference app of the simulator, the benchmarks and the demo.
"""

from __future__ import annotations

from dataclasses import dataclass

from arcade_p2p.app import StateApp
from arcade_p2p.events import Event

__all__ = ["ARENA_HEIGHT", "ARENA_WIDTH", "DIRECTIONS", "MovingRectApp", "Rect"]

ARENA_WIDTH = 640
ARENA_HEIGHT = 480
SPEED_PX_PER_TICK = 2
DIRECTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, 1),
    "down": (0, -1),
}


@dataclass(slots=True)
class Rect:
    """Position (pixels) and direction (unit steps) of the rectangle."""

    x: int
    y: int
    dx: int
    dy: int


class MovingRectApp(StateApp):
    """Headless model of the moving rectangle."""

    state: Rect

    def start(self) -> None:
        """Centre the rectangle, moving right."""
        self.state = Rect(ARENA_WIDTH // 2, ARENA_HEIGHT // 2, 1, 0)

    def tick(self) -> None:
        """Move one step, wrapping at the arena's edges."""
        s = self.state
        s.x = (s.x + s.dx * SPEED_PX_PER_TICK) % ARENA_WIDTH
        s.y = (s.y + s.dy * SPEED_PX_PER_TICK) % ARENA_HEIGHT

    def event(self, event: Event) -> None:
        """Turn on a ``"key"`` event (other events and unknown keys are ignored)."""
        if event.name == "key" and event.payload in DIRECTIONS:
            self.state.dx, self.state.dy = DIRECTIONS[event.payload]
