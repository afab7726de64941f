"""Trap: the simulation reads the wall clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

from arcade_p2p.window import SymmetricWindow


@dataclass
class Round:
    started_at: float
    seconds_left: float


class TimedRound(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def on_start(self) -> None:
        self.state = Round(started_at=time.time(), seconds_left=60.0)

    def on_update(self, delta_time: float) -> None:
        self.state.seconds_left = 60.0 - (time.time() - self.state.started_at)

    def on_draw(self) -> None:
        self.clear()
