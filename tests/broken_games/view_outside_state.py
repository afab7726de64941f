"""Trap: a shared view keeps simulation data on itself instead of in ``self.state``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arcade_p2p.window import SharedView, SymmetricWindow


@dataclass
class Runner:
    distance: int = 0


class ComboView(SharedView):
    def __init__(self, window: SymmetricWindow) -> None:
        super().__init__(window)
        self.combo = 0  # read and written by the simulation, but not restored by rollbacks

    def on_start(self) -> None:
        self.state = Runner()

    def on_update(self, delta_time: float) -> None:
        self.combo += 1
        self.state.distance += self.combo

    def on_draw(self) -> None:
        self.clear()


class ComboViewRunner(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.game_view = ComboView(self)
        self.show_view(self.game_view)
