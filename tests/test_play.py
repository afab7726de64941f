"""``arcade-p2p play``: game lookup, window tiling, and headless peer processes over real UDP.

The end-to-end tests start ``arcade-p2p play`` as a real process with real headless game
processes under it; they wait for lines the command prints, never for a fixed time.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before a game lookup imports arcade

import json
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from arcade_p2p.cli import build_parser
from arcade_p2p.errors import UsageError
from arcade_p2p.peer_report import PeerReport
from arcade_p2p.play import SAMPLES, find_game_class, play_summary
from arcade_p2p.tiling import TILE_GAP_PX, parse_tile, tile_position

PLAY = [sys.executable, "-m", "arcade_p2p", "play"]
RUN_TIMEOUT_S = 240.0
"""Generous: a loaded two-core machine starts a headless Arcade process in seconds."""
LINE_TIMEOUT_S = 120.0


# --------------------------------------------------------------------------- tiling
def overlaps(a: tuple[int, int], b: tuple[int, int], size: tuple[int, int]) -> bool:
    return abs(a[0] - b[0]) < size[0] and abs(a[1] - b[1]) < size[1]


@pytest.mark.parametrize(
    ("count", "screen", "window"),
    [
        (3, (1920, 1080), (640, 480)),
        (4, (1920, 1080), (640, 480)),
        (2, (1920, 1080), (960, 640)),
        (6, (2560, 1440), (640, 480)),
        (3, (2400, 1400), (640, 480)),
    ],
)
def test_tiles_fit_on_the_screen_without_overlapping(
    count: int, screen: tuple[int, int], window: tuple[int, int]
) -> None:
    corners = [tile_position(i, count, screen=screen, window=window) for i in range(count)]
    for index, corner in enumerate(corners):
        assert corner[0] >= 0 and corner[1] >= 0
        assert corner[0] + window[0] <= screen[0] and corner[1] + window[1] <= screen[1]
        assert not any(overlaps(corner, other, window) for other in corners[index + 1 :])


def test_spare_room_becomes_gaps_no_wider_than_the_edge_gap_at_the_edges() -> None:
    corners = [tile_position(i, 3, screen=(2400, 1400), window=(640, 480)) for i in range(3)]
    assert corners[0] == (TILE_GAP_PX, TILE_GAP_PX)
    assert corners[2][0] + 640 == 2400 - TILE_GAP_PX


def test_tiles_that_cannot_fit_are_spread_over_the_screen() -> None:
    screen, window = (1280, 720), (640, 480)
    corners = [tile_position(i, 4, screen=screen, window=window) for i in range(4)]
    assert len(set(corners)) == 4
    assert all(x + window[0] <= screen[0] and y + window[1] <= screen[1] for x, y in corners)


def test_parse_tile() -> None:
    assert parse_tile("2/3") == (2, 3)
    for bad in ("3/3", "-1/2", "a/b", "2"):
        with pytest.raises(ValueError):
            parse_tile(bad)


# --------------------------------------------------------------------------- games
def test_every_sample_name_resolves_to_its_game() -> None:
    for name, target in SAMPLES.items():
        assert find_game_class(name).__name__ == target.partition(":")[2]


def test_a_module_or_a_file_with_one_game_is_found(tmp_path: Path) -> None:
    assert find_game_class("sample_games.moving_rect").__name__ == "MovingRect"
    source = "from arcade_p2p import SymmetricWindow\n\nclass Mine(SymmetricWindow):\n    pass\n"
    (tmp_path / "my_play_game.py").write_text(source)
    assert find_game_class(str(tmp_path / "my_play_game.py")).__name__ == "Mine"


def test_a_module_with_several_games_needs_a_class_name(tmp_path: Path) -> None:
    source = (
        "from arcade_p2p import SymmetricWindow\n\n"
        "class One(SymmetricWindow):\n    pass\n\nclass Two(SymmetricWindow):\n    pass\n"
    )
    path = tmp_path / "two_play_games.py"
    path.write_text(source)
    with pytest.raises(UsageError, match="found: One, Two"):
        find_game_class(str(path))
    assert find_game_class(f"{path}:Two").__name__ == "Two"
    with pytest.raises(UsageError, match="is not a SymmetricWindow or StateApp subclass"):
        find_game_class(f"{path}:Three")
    with pytest.raises(UsageError, match="cannot import"):
        find_game_class("no_such_module_here")


def test_registering_play_does_not_import_arcade() -> None:
    code = "import sys; from arcade_p2p.cli import build_parser; build_parser('play');"
    code += "print('arcade' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_game_option_is_in_the_cli_reference() -> None:
    from arcade_p2p.window import _argument_parser

    text = (Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md").read_text()
    for action in _argument_parser(find_game_class("moving_rect"))._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in text, f"game option {option} is not documented"


def test_play_options_may_come_before_or_after_the_game() -> None:
    args = build_parser("play").parse_args(["play", "--local", "2", "moving_rect", "--json"])
    assert args.game == "moving_rect" and args.local == 2 and args.game_options == ["--json"]


def report(peer: int, tick: int, state: str) -> PeerReport:
    fields: dict[str, Any] = {name: 0 for name in PeerReport.__dataclass_fields__}
    fields.update(
        peer=peer, address="127.0.0.1:1", end_tick=200, final_tick=tick, state_hash=state,
        dropped={}, send_errors={}, beacons_dropped={},
    )  # fmt: skip
    return PeerReport(**fields)


def test_summary_converges_only_with_equal_states_at_equal_ticks() -> None:
    same = play_summary("g", [report(1, 200, "aa"), report(2, 200, "aa")])
    assert same["converged"] and same["final_tick"] == 200 and same["state_hashes"] == ["aa"] * 2
    assert not play_summary("g", [report(1, 200, "aa"), report(2, 200, "bb")])["converged"]
    assert not play_summary("g", [report(1, 200, "aa"), report(2, 199, "aa")])["converged"]
    missing = play_summary("g", [report(1, 200, "aa"), None])
    assert not missing["converged"] and missing["state_hashes"] == ["aa", None]


# --------------------------------------------------------------------------- processes
@pytest.mark.parametrize("game", ["moving_rect", "whiteboard", "physics_arena"])
def test_local_headless_peers_on_autopilot_stop_at_one_tick_and_converge(game: str) -> None:
    run = ["--seconds", "6", "--settle", "2", "--autopilot", "1", "--json"]
    done = subprocess.run(
        [*PLAY, game, "--local", "3", "--headless", *run],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["peers"] == 3 and summary["converged"] is True
    assert summary["final_tick"] == summary["end_tick"] == (6 + 2) * 50
    assert len(set(summary["state_hashes"])) == 1 and len(summary["state_hashes"]) == 3
    assert summary["events"] > 0
    assert [r["events"] for r in summary["reports"]] == [summary["events"]] * 3
    assert all(r["neighbours"] >= 1 for r in summary["reports"])
    assert "Traceback" not in done.stderr


def test_a_bad_game_option_is_one_usage_line() -> None:
    done = subprocess.run(
        [*PLAY, "moving_rect", "--local", "2", "--headless", "--fps", "0"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("arcade-p2p play: error: ")
    assert "Traceback" not in done.stderr


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(text) for text in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        not Path(f"/proc/{pid}/stat").exists() or " Z " not in Path(f"/proc/{pid}/stat").read_text()
    )


def wait_for_stderr_line(process: subprocess.Popen[str], text: str) -> list[str]:
    """Lines of ``process``'s stderr up to the first containing ``text``."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + LINE_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line)
            if text in line:
                return lines
    raise AssertionError(f"no line with {text!r} in {lines}")


@pytest.mark.parametrize("how", ["ctrl-c", "one-peer-ends"])
def test_stopping_play_or_one_peer_ends_them_all_quietly(how: str) -> None:
    process = subprocess.Popen(
        [*PLAY, "moving_rect", "--local", "2", "--headless"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_stderr_line(process, "peer 2/2 listening")
        children = children_of(process.pid)
        if how == "ctrl-c":
            process.send_signal(signal.SIGINT)
        else:
            assert len(children) == 2
            os.kill(children[1], signal.SIGTERM)  # as when its window is closed
        _, err = process.communicate(timeout=LINE_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == (130 if how == "ctrl-c" else 0), err
    assert "Traceback" not in err
    assert not [pid for pid in children if alive(pid)]
