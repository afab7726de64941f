"""The ``arcade-p2p`` command.

How this works: each subcommand lives in the module that owns its feature and exposes
``register(subparsers)``, which adds its parser and sets ``run`` (a function taking the
parsed arguments and returning an exit code). Only the module of the subcommand being run
is imported (all of them for ``arcade-p2p --help``), so a light subcommand such as ``peer``
starts quickly; none of them imports arcade, and only drawing heat maps imports
matplotlib. Usage errors print one line, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from arcade_p2p.errors import UsageError

__all__ = ["SUBCOMMAND_MODULES", "build_parser", "main"]

SUBCOMMAND_MODULES = {
    "check": "arcade_p2p.check.cli",
    "demo": "arcade_p2p.demo",
    "peer": "arcade_p2p.peer",
    "play": "arcade_p2p.play",
    "sim": "arcade_p2p.sim.cli",
    "sweep": "arcade_p2p.sim.sweep",
}
"""Subcommand name -> the module that registers and runs it."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser, with ``command`` registered or (if unknown or None) every one."""
    parser = argparse.ArgumentParser(
        prog="arcade-p2p",
        description="Serverless peer-to-peer rollback middleware for Arcade.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [command] if command in SUBCOMMAND_MODULES else list(SUBCOMMAND_MODULES)
    for name in names:
        importlib.import_module(SUBCOMMAND_MODULES[name]).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
    except UsageError as exc:
        print(f"arcade-p2p {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
