"""The ``arcade-p2p`` command.

How this works: each subcommand lives in the module that owns its feature and exposes
``register(subparsers)``, which adds its parser and sets ``run`` (a function taking the
parsed arguments and returning an exit code). Only the module of the subcommand being run
is imported (all of them for ``arcade-p2p --help``), so a light subcommand such as ``peer``
starts quickly; none of them imports arcade, and only drawing heat maps imports
matplotlib. Every parser is a :class:`~arcade_p2p.cli_support.CommandParser` (defaults in
the help). Usage errors print one line, not a traceback, and exit with code 2; output
piped into a command that stops reading early (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from arcade_p2p import __version__
from arcade_p2p.cli_support import EXIT_USAGE, CommandLineError, CommandParser
from arcade_p2p.errors import UsageError

__all__ = ["SUBCOMMAND_MODULES", "build_parser", "main"]

SUBCOMMAND_MODULES = {
    "check": "arcade_p2p.check.cli",
    "demo": "arcade_p2p.demo",
    "peer": "arcade_p2p.peer",
    "play": "arcade_p2p.play",
    "replay": "arcade_p2p.desync_replay",
    "sim": "arcade_p2p.sim.cli",
    "sweep": "arcade_p2p.sim.sweep",
}
"""Subcommand name -> the module that registers and runs it."""
EXIT_INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as shells report it."""
EXIT_BROKEN_PIPE = 141
"""Exit code when the reader of stdout went away (128 + SIGPIPE), as shells report it."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with ``command`` registered or (if unknown or None) every one."""
    parser = CommandParser(
        prog="arcade-p2p",
        description="Serverless peer-to-peer rollback middleware for Arcade.",
    )
    parser.add_argument("--version", action="version", version=f"arcade-p2p {__version__}")
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    names = [command] if command in SUBCOMMAND_MODULES else list(SUBCOMMAND_MODULES)
    for name in names:
        importlib.import_module(SUBCOMMAND_MODULES[name]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            return _run(argv)
        finally:  # also after --help and --version: a closed pipe shows here, not at exit
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader stopped reading (``| head``): say nothing more, and keep Python from
        # failing again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _run(argv: list[str]) -> int:
    parser = build_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
    except CommandLineError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.run(args)
    except UsageError as exc:
        print(f"arcade-p2p {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
