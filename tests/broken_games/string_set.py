"""Trap: the simulation iterates over a set of strings (its order depends on the hash seed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from arcade_p2p.window import SymmetricWindow

TEAMS = ("red", "green", "blue", "gold", "cyan", "pink", "grey", "teal")


@dataclass
class League:
    teams: set[str] = field(default_factory=lambda: set(TEAMS))
    points: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TEAMS, 0))


class Serve(SymmetricWindow):
    WIDTH_PX = 200
    HEIGHT_PX = 150

    def on_start(self) -> None:
        self.state = League()

    def on_update(self, delta_time: float) -> None:
        for team in self.state.teams:  # "the first team" serves: set order, not a rule
            self.state.points[team] += 1
            break

    def on_draw(self) -> None:
        self.clear()
