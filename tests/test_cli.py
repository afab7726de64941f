"""The command line: every option is documented; bad values are one-line errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from arcade_p2p.cli import build_parser, main

CLI_DOC = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", ["check", "sim", "sweep", "demo", "peer", "play", "replay"])
def test_every_option_is_in_the_cli_reference(name: str) -> None:
    text = CLI_DOC.read_text()
    assert f"`arcade-p2p {name}" in text
    for action in subcommands()[name]._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert f"`{option}" in text, f"{name} {option} is not documented"


@pytest.mark.parametrize(
    "argv",
    [
        ["sim", "--loss", "2"],
        ["sim", "--churn", "40"],
        ["peer", "--fps", "0"],
        ["peer", "--emulate-loss", "-1"],
        ["peer", "--peer", "nonsense"],
        ["check", "no_such_module_here"],
        ["check", "sample_games"],
        ["check", "sample_games.moving_rect", "--ticks", "0"],
    ],
)
def test_bad_values_are_one_line_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"arcade-p2p {argv[0]}: error:")
    assert "\n" not in err
