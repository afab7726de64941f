"""The determinism checker: samples pass, every trap in tests/broken_games is caught.

Games run in real headless Arcade windows (the checker steps them on a virtual clock);
the second process is a real ``python -m arcade_p2p.check.worker`` under another
``PYTHONHASHSEED``. Each trap must fail within 60 ticks, naming the field or the cause.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import json
import pkgutil
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import arcade
import pytest

import sample_games
from arcade_p2p.check import check_game
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.testing import assert_deterministic
from sample_games.moving_rect import MovingRect

pytestmark = pytest.mark.skipif(
    not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS before this module"
)

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
TRAP_TICKS = 60
SAMPLES = sorted(m.name for m in pkgutil.iter_modules(sample_games.__path__))

# trap module -> (run that must catch it, text the report must contain)
TRAPS = {
    "global_random": ("rollback", ["state.x", "module-level random generator was used"]),
    "event_random": ("rollback", ["state.damage[0]", "module-level random generator was used"]),
    "wall_clock": ("rollback", ["state.started_at", "looks like a reading of time.time()"]),
    "outside_state": ("rollback", ["state.distance", "self.combo lives outside self.state"]),
    "view_outside_state": (
        "rollback",
        ["state.distance", "self.game_view.combo lives outside self.state"],
    ),
    "draw_float": ("rollback", ["state.size", "self.glow is changed by on_draw"]),
    "sleeping_body": ("error", ["sleeping bodies break rollback determinism"]),
    "lambda_handler": ("error", ["state.space.handlers[(1, 2)]['begin'] is a lambda"]),
}


def run_cli(*args: str, hash_seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "arcade_p2p", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_passes_from_the_command_line(sample: str) -> None:
    done = run_cli(f"sample_games.{sample}", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert report["deterministic"] is True
    assert report["first_divergent_tick"] is None and report["diff"] == []
    assert report["ticks"] == 300
    assert report["rollbacks"] >= 10 and report["events"] > 0
    assert report["hash_seed"] == "1"


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_each_trap_is_caught_within_60_ticks_and_named(trap: str) -> None:
    run, needles = TRAPS[trap]
    report = check_game(f"broken_games.{trap}", ticks=TRAP_TICKS, second_process=False)
    assert not report.deterministic
    assert report.run == run
    assert report.first_divergent_tick is not None
    assert report.first_divergent_tick <= TRAP_TICKS
    text = report.summary()
    for needle in needles:
        assert needle in text, text


def test_set_order_is_caught_by_the_second_process_with_json() -> None:
    done = run_cli("broken_games.string_set", "--ticks", str(TRAP_TICKS), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["deterministic"] is False
    assert report["run"] == "hash_seed" and report["hash_seed"] == "1"
    assert report["first_divergent_tick"] <= TRAP_TICKS
    assert {"path", "a", "b"} <= set(report["diff"][0])
    assert report["diff"][0]["path"] == "state.teams"
    assert any("state.teams is a set of strings" in hint for hint in report["hints"])


def test_the_human_report_names_tick_fields_and_cause() -> None:
    done = run_cli("broken_games.outside_state", "--ticks", str(TRAP_TICKS))
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("NOT deterministic: broken_games.outside_state:ComboRunner: ")
    assert "first divergent tick" in lines[0]
    assert any(line.strip().startswith("state.distance: ") for line in lines)


class SteeredRect(MovingRectApp):
    """The moving-rectangle model with an autopilot (a StateApp returns its events)."""

    STATE_MODULES = ("arcade_p2p.sim.moving_rect",)  # Rect is defined there

    def autopilot(self, rng: random.Random) -> list[tuple[str, Any]]:
        return [("key", rng.choice(["left", "right", "up", "down"]))] if rng.random() < 0.2 else []


class PilotedRect(MovingRect):
    """The moving-rectangle window with an autopilot that presses keys like a player."""

    def autopilot(self, rng: random.Random) -> None:
        if rng.random() < 0.2:
            self.dispatch_event("on_key_press", rng.choice([arcade.key.LEFT, arcade.key.UP]), 0)


def test_state_apps_and_autopilots() -> None:
    plain = check_game("arcade_p2p.sim.moving_rect", ticks=100, second_process=False)
    assert plain.deterministic and plain.inputs == "none" and plain.events == 0
    assert plain.target == "arcade_p2p.sim.moving_rect:MovingRectApp"
    steered = check_game(SteeredRect, ticks=100, second_process=False)
    assert steered.deterministic and steered.inputs == "autopilot" and steered.events > 5
    piloted = check_game(PilotedRect, ticks=100, second_process=False)
    assert piloted.deterministic and piloted.inputs == "autopilot" and piloted.events > 5
    assert piloted.rollbacks >= 5


def test_the_pytest_helper_fails_with_the_report() -> None:
    report = assert_deterministic(MovingRectApp, ticks=80)
    assert report.deterministic and report.ticks == 80
    with pytest.raises(AssertionError, match=r"first divergent tick 1\b") as failure:
        assert_deterministic("broken_games.global_random", ticks=TRAP_TICKS)
    assert "state.x: " in str(failure.value)


def test_a_game_that_raises_fails_the_check_with_its_error() -> None:
    class Crashing(MovingRectApp):
        STATE_MODULES = ("arcade_p2p.sim.moving_rect",)

        def tick(self) -> None:
            super().tick()
            if self.state.x > 340:
                raise ZeroDivisionError("boom")

    report = check_game(Crashing, ticks=50)
    assert not report.deterministic and report.run == "error"
    assert report.first_divergent_tick == 11
    assert report.cause == "the game raised at tick 11 in the straight run: ZeroDivisionError: boom"
    assert report.hash_seed is None  # a class defined in a function cannot be re-imported
