"""The ``arcade-p2p sim`` command: one simulated experiment, as a table or as JSON.

How this works: every flag overrides one field of the embedded default
:class:`~arcade_p2p.sim.config.SimConfig` (the paper's centre cell: paper21, L = 50 ms,
25 events/min, multiplier 2, 300 s at 50 fps, seed 1). Flags are read as text and
converted here, so that a bad value is reported as one line through
:class:`~arcade_p2p.errors.UsageError` (argparse would add a usage banner). The run's
progress is drawn on stderr when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import UsageError
from arcade_p2p.sim.config import CHURN_MODES, SimConfig
from arcade_p2p.sim.metrics import SimResult
from arcade_p2p.sim.real import run_real
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.sim.topologies import TOPOLOGIES

__all__ = ["config_from_args", "register"]

PROGRESS_BAR_CHARS = 30


@dataclass(frozen=True, slots=True)
class _Option:
    flag: str
    field: str
    convert: Callable[[str, str], Any]
    help: str


def _int(flag: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{flag} needs an integer, got {text!r}") from None


def _float(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{flag} needs a number, got {text!r}") from None


def _text(flag: str, text: str) -> str:
    return text


_OPTIONS = (
    _Option("--topology", "topology", _text, f"one of {', '.join(TOPOLOGIES)}"),
    _Option("--peers", "peers", _int, "number of peers (paper21 always has 21)"),
    _Option("--degree", "degree", _int, "average degree of random graphs"),
    _Option("--latency-ms", "latency_ms", _float, "mean one-way latency per hop (L)"),
    _Option("--jitter-ms", "jitter_ms", _float, "latency standard deviation (default L/5)"),
    _Option("--rate", "rate_per_min", _float, "network-wide events per minute"),
    _Option("--mult", "mult", _float, "Delta multiplier: Delta = L x 5 x mult"),
    _Option("--delay-ms", "delay_ms", _float, "Delta in ms (overrides --mult)"),
    _Option("--duration", "duration_s", _float, "simulated seconds"),
    _Option("--warmup", "warmup_s", _float, "seconds left out of the metrics at the start"),
    _Option("--quiet", "quiet_s", _float, "no new events during the last this many seconds"),
    _Option("--fps", "fps", _int, "ticks per second"),
    _Option("--loss", "loss", _float, "probability that a datagram is lost, in [0, 1)"),
    _Option("--seed", "seed", _int, "seed of every random choice"),
    _Option(
        "--desync-peer",
        "desync_peer",
        _int,
        "make this peer's state silently diverge once after the warm-up (desync detection)",
    ),
)


def register(subparsers: Any) -> None:
    """Add the ``sim`` subcommand to the ``arcade-p2p`` parser."""
    default = SimConfig()
    parser = subparsers.add_parser(
        "sim",
        help="run one simulated experiment in virtual time",
        description=(
            "Run many real sessions in one process over simulated links, in virtual time, "
            "and print the paper's metrics. Without flags: the paper's centre cell."
        ),
    )
    for option in _OPTIONS:
        value = getattr(default, option.field)
        shown = "" if value is None else f" (default {value})"
        parser.add_argument(option.flag, dest=option.field, metavar="X", help=option.help + shown)
    parser.add_argument(
        "--churn",
        metavar="ON_S:OFF_S",
        help="peers go offline and come back: mean online and offline seconds, e.g. 40:20",
    )
    parser.add_argument(
        "--churn-mode",
        metavar="MODE",
        help="what offline means: restart (new process, empty memory; the default) or "
        "suspend (frozen process that comes back with its memory)",
    )
    parser.add_argument(
        "--clock",
        metavar="MODE",
        help=f"clock rule: paper or default (default {default.clock})",
    )
    parser.add_argument(
        "--key",
        metavar="PASSPHRASE",
        help="secret room key shared by every peer (costs one key stretching per run)",
    )
    parser.add_argument(
        "--real",
        action="store_true",
        help="run the same experiment for real: one OS process per peer over UDP on "
        "loopback with user-space latency emulation (takes the run's duration in real time)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The embedded default with the flags given on the command line applied.

    Raises:
        UsageError: A flag's value cannot be read or the configuration is impossible.
    """
    changes: dict[str, Any] = {}
    for option in _OPTIONS:
        text = getattr(args, option.field)
        if text is not None:
            changes[option.field] = option.convert(option.flag, text)
    if args.churn is not None:
        on, sep, off = args.churn.partition(":")
        if not sep:
            raise UsageError(f"--churn needs ON_S:OFF_S (for example 40:20), got {args.churn!r}")
        changes["churn_on_s"] = _float("--churn", on)
        changes["churn_off_s"] = _float("--churn", off)
    if args.churn_mode is not None:
        if args.churn_mode not in CHURN_MODES:
            raise UsageError(
                f"--churn-mode must be one of {', '.join(CHURN_MODES)}, got {args.churn_mode!r}"
            )
        changes["churn_mode"] = args.churn_mode
    if args.clock is not None:
        changes["clock"] = ClockMode.from_name(args.clock)
    if args.key is not None:
        changes["key"] = args.key
    config = replace(SimConfig(), **changes)
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    """Run ``arcade-p2p sim``."""
    config = config_from_args(args)
    progress = _draw_progress if sys.stderr.isatty() else None
    if args.real:
        if config.desync_peer is not None:
            raise UsageError("--desync-peer works in the simulator only, not with --real")
        result = run_real(config, progress=progress)
    else:
        result = run_simulation(config, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_table(config, result))
    return 0


def _draw_progress(fraction: float) -> None:
    done = round(fraction * PROGRESS_BAR_CHARS)
    bar = "#" * done + "." * (PROGRESS_BAR_CHARS - done)
    print(f"\rsimulating [{bar}] {fraction:4.0%}", end="", file=sys.stderr, flush=True)


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        value = f"{value:.{digits}f}"
    return f"{value}{unit}"


def format_table(config: SimConfig, result: SimResult) -> str:
    """A readable two-column report of one run."""
    r = result
    churn = "none"
    if config.churn:
        churn = f"{config.churn_on_s:g} s on / {config.churn_off_s:g} s off ({config.churn_mode})"
    rows: list[tuple[str, str]] = [
        ("topology", f"{config.topology}, {r.peers} peers"),
        (
            "latency per hop",
            f"{config.latency_ms:g} ms +- {config.jitter:g} ms, loss {config.loss:g}",
        ),
        ("events", f"{config.rate_per_min:g}/min network-wide"),
        ("Delta", f"{r.delta_ms:g} ms ({config.clock} clock, {config.fps} fps)"),
        ("duration", f"{config.duration_s:g} s, warm-up {config.warmup_s:g} s, seed {config.seed}"),
        ("churn", churn),
        ("", ""),
        ("rollback", f"{r.rollback_pct:.3f} % of ticks, {r.rollback_count} rollbacks"),
        (
            "rollback depth",
            f"p50 {_fmt(r.rollback_depth_p50)}, p95 {_fmt(r.rollback_depth_p95)}, "
            f"max {_fmt(r.rollback_depth_max)} ticks",
        ),
        ("pace violations", f"{r.pace_violation_pct:.3f} % of {r.pace_samples} samples"),
        (
            "lag",
            f"p50 {_fmt(r.lag_ticks_p50)}, p95 {_fmt(r.lag_ticks_p95)}, "
            f"max {_fmt(r.lag_ticks_max)} ticks",
        ),
        (
            "recovery",
            f"mean {_fmt(r.recovery_s_mean, ' s')}, p95 {_fmt(r.recovery_s_p95, ' s')}, "
            f"max {_fmt(r.recovery_s_max, ' s')} ({r.recoveries} returns)",
        ),
        ("converged", f"{_fmt(r.converged)} (final tick {r.final_tick})"),
        ("events lost", f"{r.events_lost} of {r.events_total} ({r.events_orphaned} orphaned)"),
        (
            "desyncs",
            f"{r.desyncs_detected} reported, first {_fmt(r.desync_detect_s, ' s')} "
            "after the divergence",
        ),
        ("traffic", f"{r.bytes_per_peer_per_s:.0f} bytes/s per peer"),
        ("wall time", f"{r.wall_seconds:.2f} s ({r.sim_ticks_per_wall_s:,.0f} ticks/s)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" if name else "" for name, value in rows)
