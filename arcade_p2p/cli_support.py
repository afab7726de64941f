"""What every ``arcade-p2p`` command line shares: its parser class and a few checks.

How this works: :class:`CommandParser` is an :class:`argparse.ArgumentParser` whose help
shows every option's default (an option whose default is None says what it means in its
own help text) and whose mistakes raise :class:`CommandLineError` instead of printing a
usage banner and exiting, so that the caller prints one line and returns exit code 2.
``arcade-p2p`` (:mod:`arcade_p2p.cli`) and every game's ``main()`` use it. The checks
here turn values that would otherwise be silently clamped into one-line usage errors.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

from arcade_p2p.errors import UsageError

__all__ = [
    "EXIT_USAGE",
    "CommandLineError",
    "CommandParser",
    "DefaultsHelpFormatter",
    "check_delay_ms",
    "check_positive",
    "delay_arg",
    "format_delay",
]

EXIT_USAGE = 2
"""Exit code of a command-line mistake (as argparse uses)."""
MS_PER_S = 1000.0
AUTO = "auto"
"""The ``--delay-ms`` word for a Delta each source chooses itself."""


class CommandLineError(UsageError):
    """A mistake on the command line; ``str()`` is the one line to print.

    Args:
        prog: The command that was given it (``arcade-p2p sim``, a game's name).
        message: What is wrong.
    """

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: error: {message}")
        self.prog = prog


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends every option's text with its default, unless the text names one.

    Flags (``store_true``) and options whose default is None show nothing: a flag is off
    unless given, and a None default is described in the option's own words.
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default == argparse.SUPPRESS
        shown = not hidden and action.nargs != 0
        if shown and "default" not in text and "%(default)" not in text:
            if isinstance(default, list):
                return text if not default else f"{text} (default: {' '.join(default)})"
            text += " (default: %(default)s)"
        return text


class CommandParser(argparse.ArgumentParser):
    """An argument parser with defaults in its help and one-line errors.

    Its subcommand parsers (``add_subparsers().add_parser``) are of the same class.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Raise :class:`CommandLineError` (argparse would print usage and exit)."""
        raise CommandLineError(self.prog, message)


def check_positive(flag: str, value: float | None, *, allow_zero: bool = False) -> None:
    """Refuse a value that is not a finite number > 0 (>= 0 with ``allow_zero``).

    Raises:
        UsageError: It is NaN, infinite or too small (None passes: the option was not given).
    """
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{flag} must be a finite number {bound}, got {value!r}")


def delay_arg(text: str) -> float | str:
    """Argparse type of ``--delay-ms``: a number of milliseconds or ``auto``.

    Raises:
        ValueError: Neither (argparse turns it into a one-line usage error).
    """
    if text.strip().lower() == AUTO:
        return AUTO
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


delay_arg.__name__ = "Delta (milliseconds or auto)"  # how argparse names it in errors

ALL_HISTORY = "all"
"""``--history-s`` value that keeps the whole event history in memory (no archive)."""


def history_arg(text: str) -> float | str:
    """Argparse type of ``--history-s``: seconds of history to keep in memory, or ``all``
    (:func:`history_s` turns the value into ``SessionConfig.history_s``).

    Raises:
        ValueError: Neither a positive number nor ``all``.
    """
    if text.strip().lower() == ALL_HISTORY:
        return ALL_HISTORY
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(text)
    return value


history_arg.__name__ = "history (seconds or all)"


def history_s(value: float | str) -> float | None:
    """``SessionConfig.history_s`` for a value of :func:`history_arg` (``all``: None)."""
    return None if value == ALL_HISTORY else float(value)


def format_delay(delay_ms: float | str) -> str:
    """A Delta for people: ``100 ms`` or ``auto``."""
    return delay_ms if isinstance(delay_ms, str) else f"{delay_ms:g} ms"


def check_delay_ms(delay_ms: float | str, fps: int, *, flag: str = "--delay-ms") -> None:
    """Refuse a Delta below one tick, which would silently become one tick (``auto`` passes).

    Raises:
        UsageError: ``delay_ms`` is shorter than one tick at ``fps``.
    """
    if isinstance(delay_ms, str) or fps < 1 or round(delay_ms * fps / MS_PER_S) >= 1:
        return  # a bad fps is refused elsewhere
    tick_ms = MS_PER_S / fps
    raise UsageError(
        f"{flag} {delay_ms:g} is below one tick ({tick_ms:g} ms at {fps} fps): local "
        f"input is stamped at least one tick ahead; give {flag} {tick_ms:g} or more"
    )
