"""Trap: the simulation draws from the module-level ``random`` generator."""

from __future__ import annotations

import random
from dataclasses import dataclass

from arcade_p2p.window import SymmetricWindow


@dataclass
class Wanderer:
    x: float = 100.0
    y: float = 75.0


class RandomWalk(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def on_start(self) -> None:
        self.state = Wanderer()

    def on_update(self, delta_time: float) -> None:
        self.state.x += random.uniform(-1.0, 1.0)  # shared by every run: not in the state

    def on_draw(self) -> None:
        self.clear()
