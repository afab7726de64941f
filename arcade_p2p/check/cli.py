"""``arcade-p2p check MODULE[:CLASS]``: prove a game deterministic, or show where it is not.

How this works: registering adds the parser only; :func:`run` loads the game (which
imports Arcade, headless) and calls :func:`arcade_p2p.check.check_game`. The exit code is
0 when deterministic and 1 otherwise; ``--json`` prints only the report object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from arcade_p2p.check.checker import DEFAULT_SEED, DEFAULT_TICKS, check_game

__all__ = ["register", "run"]

EXIT_NOT_DETERMINISTIC = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``check`` subcommand."""
    parser = subparsers.add_parser(
        "check",
        help="prove a game deterministic (rollbacks, another hash seed)",
        description="Run a SymmetricWindow or StateApp headless with seeded input, force "
        "rollbacks of random depth and compare every tick with a straight run and with a "
        "straight run in a second process under another PYTHONHASHSEED. Exit code 0 when "
        "deterministic, 1 with the first divergent tick and the differing fields otherwise.",
    )
    parser.add_argument(
        "target",
        metavar="MODULE[:CLASS]",
        help="the game, e.g. sample_games.physics_balls (CLASS: when the module has several)",
    )
    parser.add_argument(
        "--ticks", type=int, default=DEFAULT_TICKS, help="ticks to simulate (default: %(default)s)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed of the input and the rollbacks (default: %(default)s)",
    )
    parser.add_argument(
        "--no-second-process",
        action="store_true",
        help="skip the straight run under another PYTHONHASHSEED",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Check the game; returns the exit code."""
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        report = check_game(
            args.target, ticks=args.ticks, seed=args.seed, second_process=not args.no_second_process
        )  # with --json, whatever the game prints goes to stderr: stdout is the report only
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report.summary())
    return 0 if report.deterministic else EXIT_NOT_DETERMINISTIC
