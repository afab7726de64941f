"""Trap: a float accumulated in ``on_draw`` and read by the simulation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arcade_p2p.window import SymmetricWindow


@dataclass
class Pulse:
    size: float = 10.0


class Pulsing(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.glow = 0.0

    def on_start(self) -> None:
        self.state = Pulse()

    def on_update(self, delta_time: float) -> None:
        self.state.size += self.glow * delta_time  # on_draw's value: not re-simulated

    def on_draw(self) -> None:
        self.clear()
        self.glow += 0.02  # animation phase, one step per real-time frame
