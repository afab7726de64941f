"""Trap: module-level ``random`` in ``on_event``, behind a key no other game uses ("F")."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import arcade

from arcade_p2p.events import Event
from arcade_p2p.window import SymmetricWindow


@dataclass
class Shots:
    damage: list[int] = field(default_factory=list)


class Fire(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def on_start(self) -> None:
        self.state = Shots()

    def on_event(self, event: Event) -> None:
        if event.name == "fire":
            self.state.damage.append(random.randint(1, 100))  # each run rolls its own dice

    def on_key_press(self, symbol: int, modifiers: int) -> None:
        if symbol == arcade.key.F:
            self.broadcast("fire")

    def on_draw(self) -> None:
        self.clear()
