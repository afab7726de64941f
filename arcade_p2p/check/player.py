"""The random player: seeded key and mouse input for a window without an autopilot.

How this works: the player acts through the window's own handlers
(``dispatch_event``), so the game's input code broadcasts as it would for a person. It
first probes, one action per frame: a left click, then the keys games use most (arrows,
space, enter, WASD), then the other letters and the digits, each released a few frames
later. Keys whose press made the game broadcast are remembered; afterwards it acts in
about one frame in four, mostly pressing those keys, clicking, or moving the mouse. So a
game reacting to any of these keys or to clicks sees input from the first ticks on.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

__all__ = ["RandomPlayer"]

ACTION_CHANCE_PER_FRAME = 0.25
"""After probing, the player acts in this share of frames (about 12 actions/s at 50 fps)."""
PRODUCTIVE_KEY_CHANCE = 0.75
"""Share of key presses that use a key known to make the game broadcast."""
MAX_KEY_HOLD_FRAMES = 20
MAX_BUTTON_HOLD_FRAMES = 8
MOUSE_LEFT = 1
MOUSE_RIGHT = 4
COMMON_KEYS = ("LEFT", "RIGHT", "UP", "DOWN", "SPACE", "ENTER", "W", "A", "S", "D")
OTHER_KEYS = tuple(c for c in string.ascii_uppercase if c not in COMMON_KEYS) + tuple(
    f"KEY_{d}" for d in string.digits
)


class RandomPlayer:
    """Seeded random input for one window.

    Args:
        window: The game window (a ``SymmetricWindow``).
        emitted: How many events the window has broadcast so far.
    """

    def __init__(self, window: Any, emitted: Callable[[], int]) -> None:
        import arcade  # only windows have a player; the check command registers without it

        self.window = window
        self.emitted = emitted
        self.keys = [getattr(arcade.key, name) for name in (*COMMON_KEYS, *OTHER_KEYS)]
        self.productive: list[int] = []
        self._probes: list[int | None] = [None, *self.keys]  # None: a left click
        self._held: list[tuple[int, str, tuple[Any, ...]]] = []

    def play(self, frame: int, rng: random.Random) -> None:
        """Release what is due, then maybe act (always, while probing)."""
        for release in [held for held in self._held if held[0] <= frame]:
            self._held.remove(release)
            self.window.dispatch_event(release[1], *release[2])
        if self._probes:
            probe = self._probes.pop(0)
            if probe is None:
                self._click(frame, rng, MOUSE_LEFT)
            else:
                self._press(frame, rng, probe)
            return
        if rng.random() >= ACTION_CHANCE_PER_FRAME:
            return
        action = rng.random()
        if action < 0.5:
            known = self.productive and rng.random() < PRODUCTIVE_KEY_CHANCE
            self._press(frame, rng, rng.choice(self.productive if known else self.keys))
        elif action < 0.8:
            self._click(frame, rng, rng.choice((MOUSE_LEFT, MOUSE_LEFT, MOUSE_RIGHT)))
        else:
            x, y = self._point(rng)
            self.window.dispatch_event("on_mouse_motion", x, y, rng.randint(-20, 20), 0)

    def _press(self, frame: int, rng: random.Random, symbol: int) -> None:
        before = self.emitted()
        self.window.dispatch_event("on_key_press", symbol, 0)
        if self.emitted() > before and symbol not in self.productive:
            self.productive.append(symbol)
        release_at = frame + rng.randint(1, MAX_KEY_HOLD_FRAMES)
        self._held.append((release_at, "on_key_release", (symbol, 0)))

    def _click(self, frame: int, rng: random.Random, button: int) -> None:
        x, y = self._point(rng)
        self.window.dispatch_event("on_mouse_press", x, y, button, 0)
        release_at = frame + rng.randint(1, MAX_BUTTON_HOLD_FRAMES)
        self._held.append((release_at, "on_mouse_release", (x, y, button, 0)))

    def _point(self, rng: random.Random) -> tuple[int, int]:
        return rng.randrange(1, self.window.width), rng.randrange(1, self.window.height)
