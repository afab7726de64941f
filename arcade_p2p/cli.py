"""The ``arcade-p2p`` command.

How this works: each subcommand lives in the module that owns its feature and exposes
``register(subparsers)``, which adds its parser and sets ``run`` (a function taking the
parsed arguments and returning an exit code). Usage errors print one line, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from arcade_p2p.errors import UsageError

__all__ = ["main"]

SUBCOMMAND_MODULES = (
    "arcade_p2p.check.cli",
    "arcade_p2p.demo",
    "arcade_p2p.peer",
    "arcade_p2p.sim.cli",
    "arcade_p2p.sim.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="arcade-p2p",
        description="Serverless peer-to-peer rollback middleware for Arcade.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
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
