"""``arcade-p2p sim --app``: every simulated peer runs a real game's own simulation."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from arcade_p2p.app import App
from arcade_p2p.cli import main
from arcade_p2p.errors import UsageError
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.games import SimGame, load_game
from arcade_p2p.sim.runner import run_simulation

SHORT = SimConfig(
    topology="ring",
    peers=3,
    latency_ms=20.0,
    rate_per_min=900.0,
    duration_s=8.0,
    warmup_s=2.0,
    quiet_s=2.0,
    start_spread_s=1.0,
)


def recording(game: SimGame) -> tuple[SimGame, list[App]]:
    """The same game, remembering every app it makes (to look at their states)."""
    apps: list[App] = []

    def new_app() -> Any:
        app, bind = game.new_app()
        apps.append(app)
        return app, bind

    return replace(game, new_app=new_app), apps


def test_physics_runs_the_pymunk_sample_driven_by_its_autopilot() -> None:
    game, apps = recording(load_game("physics", fps=SHORT.fps))
    result = run_simulation(SHORT, game=game)
    assert result.app == "physics"
    assert result.converged  # same state hash everywhere at the final tick
    assert result.events_total > 20 and result.events_lost == 0
    players = [app.state.players for app in apps]  # type: ignore[attr-defined]
    assert all(len(p) == 3 for p in players)  # every peer's "move" events made its puck


def test_a_window_game_named_module_class_runs_window_less() -> None:
    game, apps = recording(load_game("sample_games.moving_rect:MovingRect", fps=SHORT.fps))
    result = run_simulation(replace(SHORT, duration_s=20.0), game=game)
    assert result.converged and result.events_total > 20
    assert len({repr(app.state) for app in apps}) == 1  # type: ignore[attr-defined]


def test_a_state_app_plays_through_its_autopilot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tally_game.py").write_text(
        textwrap.dedent(
            """
            from arcade_p2p import StateApp

            class Tally(StateApp):
                def start(self):
                    self.state = [0, 0]

                def tick(self):
                    self.state[0] += 1

                def event(self, event):
                    if event.name == "add":
                        self.state[1] = (self.state[1] * 31 + event.payload) % 1000003

                def autopilot(self, rng):
                    return [("add", rng.randint(1, 9))] if rng.random() < 0.3 else []
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    game, apps = recording(load_game("tally_game", fps=SHORT.fps))
    result = run_simulation(replace(SHORT, duration_s=20.0), game=game)
    assert result.converged and result.events_total > 20
    assert all(app.state[1] != 0 for app in apps)  # type: ignore[attr-defined]


def test_games_that_cannot_run_window_less_are_usage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UsageError, match="SharedView"):
        load_game("sample_games.coin_collector", fps=50)
    whiteboard = load_game("sample_games.whiteboard", fps=50)
    with pytest.raises(UsageError, match="class-level default"):
        run_simulation(replace(SHORT, duration_s=20.0), game=whiteboard)
    (tmp_path / "silent_game.py").write_text(
        "from arcade_p2p import StateApp\n\nclass Silent(StateApp):\n    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="autopilot"):
        load_game("silent_game", fps=50)
    with pytest.raises(UsageError, match="diverge"):
        run_simulation(replace(SHORT, desync_peer=1), game=load_game("physics", fps=50))


def test_the_command_line_names_the_app(capsys: pytest.CaptureFixture[str]) -> None:
    flags = [
        "--topology",
        "ring",
        "--peers",
        "3",
        "--duration",
        "20",
        "--warmup",
        "2",
        "--quiet",
        "2",
    ]
    assert main(["sim", *flags, "--app", "sample_games.moving_rect", "--json"]) == 0
    assert '"app": "sample_games.moving_rect"' in capsys.readouterr().out
    assert main(["sim", *flags, "--app", "no_such_module_here"]) == 2
    assert "cannot import" in capsys.readouterr().err
