"""The simulator's reference app: the paper's rectangle that moves and turns on key events.

How this works: the whole state is a :class:`Rect` of four integers, and the rules are
its methods: :meth:`Rect.centred` is the start, every TICK :meth:`Rect.move` moves it by its
velocity, wrapping around a fixed arena, and a ``"key"`` event whose payload is one of
``"left" "right" "up" "down"`` :meth:`Rect.turn` s it. Integer arithmetic keeps it bit-exact
everywhere. :class:`MovingRectApp` runs these rules headless (the simulator, the benchmarks,
``arcade-p2p peer`` and the demo); the windowed game ``sample_games.moving_rect`` calls the
same methods from its hooks, so every peer, simulated or windowed, agrees.
"""

from __future__ import annotations

from dataclasses import dataclass

from arcade_p2p.app import App, StateApp
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event

__all__ = ["ARENA_HEIGHT", "ARENA_WIDTH", "DIRECTIONS", "MovingRectApp", "Rect", "diverge"]

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
    """Position (pixels) and direction (unit steps) of the rectangle: the whole state."""

    x: int
    y: int
    dx: int
    dy: int

    @classmethod
    def centred(cls) -> Rect:
        """The start: the centre of the arena, moving right."""
        return cls(ARENA_WIDTH // 2, ARENA_HEIGHT // 2, 1, 0)

    def move(self) -> None:
        """One tick: move one step, wrapping at the arena's edges."""
        self.x = (self.x + self.dx * SPEED_PX_PER_TICK) % ARENA_WIDTH
        self.y = (self.y + self.dy * SPEED_PX_PER_TICK) % ARENA_HEIGHT

    def turn(self, direction: object) -> None:
        """Head towards ``direction`` (a key of :data:`DIRECTIONS`; others are ignored)."""
        if isinstance(direction, str) and direction in DIRECTIONS:
            self.dx, self.dy = DIRECTIONS[direction]


class MovingRectApp(StateApp):
    """The moving rectangle, headless."""

    state: Rect

    def start(self) -> None:
        """START: the rectangle at its start."""
        self.state = Rect.centred()

    def tick(self) -> None:
        """TICK: one step."""
        self.state.move()

    def event(self, event: Event) -> None:
        """Turn on a ``"key"`` event (other events are ignored)."""
        if event.name == "key":
            self.state.turn(event.payload)


def diverge(app: App) -> None:
    """Silently shift a :class:`MovingRectApp`'s rectangle by one pixel (a simulated bug).

    This is what ``arcade-p2p sim --desync-peer`` does to one peer: from then on its state
    differs from everyone else's after the same events, which desync detection must report.

    Raises:
        UsageError: ``app`` is not a :class:`MovingRectApp`.
    """
    if not isinstance(app, MovingRectApp):
        raise UsageError(f"cannot make a {type(app).__name__} diverge")
    app.state.x = (app.state.x + 1) % ARENA_WIDTH
