"""The command line a newcomer meets: version, helpful help, one-line errors, no silence.

Every check runs the real command (``python -m arcade_p2p`` or a sample game) in a
subprocess where what is checked is the process's output: its stdout, its stderr and its
exit code. Ports are chosen by the operating system; waits have deadlines, not sleeps.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from arcade_p2p import __version__
from arcade_p2p.cli import build_parser
from arcade_p2p.cli_support import DefaultsHelpFormatter
from arcade_p2p.session import SessionConfig

DEADLINE_S = 60.0
GAME = [sys.executable, "-m", "sample_games.moving_rect"]
CLI = [sys.executable, "-m", "arcade_p2p"]
VALUE_OPTIONS_WITH_CHOICES = ("--clock", "--churn-mode", "--topology")


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=DEADLINE_S, check=False, env=env
    )


def unique_room() -> str:
    return f"newcomer-{uuid.uuid4().hex[:12]}"


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser a user meets: each subcommand's and a game's."""
    from arcade_p2p.window import _argument_parser
    from sample_games.moving_rect import MovingRect

    root = build_parser()
    action = next(a for a in root._actions if isinstance(a, argparse._SubParsersAction))
    return {**action.choices, "game": _argument_parser(MovingRect)}


def test_version() -> None:
    done = run([*CLI, "--version"])
    assert done.returncode == 0
    assert done.stdout.strip() == f"arcade-p2p {__version__}"


@pytest.mark.parametrize("name", ["sim", "sweep", "demo", "peer", "check", "play", "game"])
def test_every_help_shows_defaults_real_metavars_and_choices(name: str) -> None:
    parser = parsers()[name]
    formatter = DefaultsHelpFormatter(parser.prog)
    for action in parser._actions:
        if action.nargs == 0 or not action.option_strings:  # flags, --help, the game's name
            continue
        option = action.option_strings[0]
        shown = formatter._get_help_string(action) or ""
        assert "default" in shown, f"{name} {option} does not say its default"
        assert action.metavar != "X", f"{name} {option} has an X metavar"
        if option in VALUE_OPTIONS_WITH_CHOICES:
            assert action.choices, f"{name} {option} is not a choice"
    assert "(default: " in parser.format_help()


def test_peer_json_prints_exactly_one_json_document_and_plays() -> None:
    done = run([*CLI, "peer", "--seconds", "3", "--rate", "60", "--json", "--room", unique_room()])
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # the whole of stdout is one document
    fps = SessionConfig().fps
    assert report["end_tick"] == report["final_tick"] == (3 + 3) * fps
    assert report["events_emitted"] == report["events"] >= 0
    assert len(report["state_hash"]) == 32
    assert done.stderr.startswith("listening on 127.0.0.1:")


def test_games_with_seconds_stop_at_one_agreed_tick() -> None:
    """Two game processes started seconds apart stop at the same tick with the same state.

    The second one starts while the first runs (its start-up alone takes a second or two),
    joins, follows the network's clock and stops at the same agreed tick.
    """
    fps, seconds = 20, 8
    common = ["--headless", "--no-discover", "--json", "--fps", str(fps)]
    common += ["--seconds", str(seconds)]
    common += ["--settle", "1", "--room", unique_room()]
    first = subprocess.Popen(
        [*GAME, *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert first.stderr is not None
        line = first.stderr.readline()
        assert line.startswith("listening on "), line
        address = line.removeprefix("listening on ").strip()
        second = run([*GAME, *common, "--peer", address])
        out, err = first.communicate(timeout=DEADLINE_S)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 0 and second.returncode == 0, err + second.stderr
    reports = [json.loads(out), json.loads(second.stdout)]
    assert [r["final_tick"] for r in reports] == [(seconds + 1) * fps] * 2
    assert reports[0]["state_hash"] == reports[1]["state_hash"]
    assert reports[0]["neighbours"] == reports[1]["neighbours"] == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["--max-tick", "-5"],
        ["--width", "-10"],
        ["--height", "0"],
        ["--seconds", "0"],
        ["--delay-ms", "0"],
        ["--clock", "sundial"],
    ],
)
def test_game_mistakes_are_one_line_errors(argv: list[str]) -> None:
    done = run([*GAME, "--headless", *argv])
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "error: " in done.stderr and "Traceback" not in done.stderr


def test_game_without_a_display_says_to_add_headless() -> None:
    hidden = ("DISPLAY", "WAYLAND_DISPLAY", "ARCADE_HEADLESS")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    done = run(GAME, env=env)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "--headless" in done.stderr and "DISPLAY" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--peers", "5"],  # paper21 has 21
        ["--topology", "random", "--peers", "10", "--degree", "100"],
        ["--topology", "line", "--peers", "4", "--degree", "3"],  # degree would be ignored
        ["--delay-ms", "0"],  # below one tick
        ["--rate", "10", "--net-rate", "100"],
    ],
)
def test_values_that_would_be_ignored_or_clamped_are_refused(argv: list[str]) -> None:
    done = run([*CLI, "sim", *argv])
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("arcade-p2p sim: error: ")


def test_output_piped_into_a_reader_that_stops_ends_quietly() -> None:
    argv = [*CLI, "sim", "--topology", "line", "--peers", "3", "--duration", "5"]
    process = subprocess.Popen(
        [*argv, "--warmup", "1", "--quiet", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader went away before the table is printed (``| head``)
    _, err = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 141
    assert "Traceback" not in err and "Exception" not in err, err


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_dialling_nobody_says_so_within_three_seconds() -> None:
    port = free_udp_port()
    argv = [*CLI, "peer", "--no-discover", "--peer", f"127.0.0.1:{port}", "--json"]
    process = subprocess.Popen(
        [*argv, "--seconds", "3", "--settle", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        started = process.stderr.readline()
        assert started.startswith("listening on "), started
        listening_at = time.monotonic()
        warning = process.stderr.readline()
        waited_s = time.monotonic() - listening_at
        out, _ = process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert f"no answer from 127.0.0.1:{port} after 2.5 s" in warning, warning
    assert "room 'lobby'" in warning
    assert waited_s < DEADLINE_S  # it came while the peer ran, not at its exit
    assert json.loads(out)["neighbours"] == 0
