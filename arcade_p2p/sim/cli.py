"""The ``arcade-p2p sim`` command: one simulated experiment, as a table or as JSON.

How this works: every flag overrides one field of the embedded default
:class:`~arcade_p2p.sim.config.SimConfig` (the paper's centre cell: paper21, L = 50 ms,
25 events/min network-wide, multiplier 2, 300 s at 50 fps, seed 1); a flag left out keeps
that default, which its help shows. The event rate is given either network-wide
(``--net-rate``, the paper's figure) or per peer (``--rate``, as every other command
counts it). ``--app`` chooses what every peer runs (:mod:`arcade_p2p.sim.games`) and
``--memory-every`` adds a series of memory samples; neither is part of the experiment's
configuration. Bad values are one-line :class:`~arcade_p2p.errors.UsageError` s. The
run's progress is drawn on stderr by tqdm when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tqdm import tqdm

from arcade_p2p.cli_support import check_delay_ms, delay_arg, history_arg, history_s
from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import UsageError
from arcade_p2p.sim.config import CHURN_MODES, SimConfig
from arcade_p2p.sim.games import APPS, DEFAULT_APP, load_game
from arcade_p2p.sim.metrics import SimResult
from arcade_p2p.sim.real import run_real
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.sim.topologies import PAPER21_PEERS, TOPOLOGIES

__all__ = ["config_from_args", "register"]

PROGRESS_STEPS = 1000
"""Resolution of the progress bar (the run reports fractions of its duration)."""


@dataclass(frozen=True, slots=True)
class _Option:
    flag: str
    field: str
    type: Callable[[str], Any]
    metavar: str
    help: str


_OPTIONS = (
    _Option("--peers", "peers", int, "N", f"number of peers (paper21 has {PAPER21_PEERS})"),
    _Option("--degree", "degree", int, "N", "average degree of --topology random"),
    _Option("--latency-ms", "latency_ms", float, "MS", "mean one-way latency of every hop (L)"),
    _Option("--jitter-ms", "jitter_ms", float, "MS", "standard deviation of that latency"),
    _Option("--net-rate", "rate_per_min", float, "PER_MIN", "events per minute, network-wide"),
    _Option("--mult", "mult", float, "MULT", "Delta multiplier: Delta = L x 5 x mult"),
    _Option(
        "--delay-ms",
        "delay_ms",
        delay_arg,
        "MS",
        "Delta in milliseconds (overrides --mult), or auto: each source chooses its own, "
        "starting from L x 5 x mult",
    ),
    _Option("--duration", "duration_s", float, "S", "simulated seconds"),
    _Option("--warmup", "warmup_s", float, "S", "seconds left out of the metrics at the start"),
    _Option("--quiet", "quiet_s", float, "S", "no new events during the last S seconds"),
    _Option("--fps", "fps", int, "N", "ticks per second"),
    _Option("--loss", "loss", float, "P", "probability that a datagram is lost, in [0, 1)"),
    _Option("--seed", "seed", int, "N", "seed of every random choice"),
    _Option(
        "--history-s",
        "history_s",
        history_arg,
        "S",
        "seconds of event history each peer keeps in memory, or all (older events move to "
        "an archive in a temporary file, still served and replayed; history_disk_mb_per_peer)",
    ),
    _Option(
        "--desync-peer",
        "desync_peer",
        int,
        "ID",
        "make peer ID's state silently diverge once after the warm-up (desync detection)",
    ),
)
_DEFAULT_WORDS = {"jitter_ms": "L/5", "delay_ms": "L x 5 x mult"}
"""How the help shows a default that depends on other options."""


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
    parser.add_argument(
        "--topology",
        choices=list(TOPOLOGIES),
        help=f"who is linked to whom (default: {default.topology})",
    )
    for option in _OPTIONS:
        value = _DEFAULT_WORDS.get(option.field, getattr(default, option.field))
        parser.add_argument(
            option.flag,
            dest=option.field,
            type=option.type,
            metavar=option.metavar,
            help=f"{option.help} (default: {value})",
        )
    parser.add_argument(
        "--rate",
        type=float,
        metavar="PER_MIN",
        help="events per minute, per peer (instead of --net-rate; default: --net-rate's "
        "events spread over the peers)",
    )
    parser.add_argument(
        "--churn",
        metavar="ON_S:OFF_S",
        help="peers go offline and come back: mean online and offline seconds, e.g. 40:20 "
        "(default: no churn)",
    )
    parser.add_argument(
        "--churn-mode",
        choices=CHURN_MODES,
        help="what offline means: restart (new process, empty memory) or suspend (frozen "
        f"process that comes back with its memory) (default: {default.churn_mode})",
    )
    parser.add_argument(
        "--clock",
        choices=[mode.value for mode in ClockMode],
        help=f"clock rule (default: {default.clock.value})",
    )
    parser.add_argument(
        "--key",
        metavar="PASSPHRASE",
        help="secret room key shared by every peer (costs one key stretching per run; "
        "default: none)",
    )
    parser.add_argument(
        "--app",
        default=DEFAULT_APP,
        metavar="APP",
        help=f"what every peer runs: {', '.join(APPS)} (the pymunk sample "
        "sample_games.physics_arena, driven by its autopilot), or MODULE:CLASS, a "
        "SymmetricWindow or StateApp game as for arcade-p2p check (default: "
        f"{DEFAULT_APP})",
    )
    parser.add_argument(
        "--memory-every",
        type=float,
        metavar="S",
        help="also measure memory_mb_per_peer every S simulated seconds "
        "(memory_mb_per_peer_series; default: only at the end). Memory is the retained "
        "size of the live sessions' objects per peer",
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
    changes: dict[str, Any] = {
        option.field: getattr(args, option.field)
        for option in _OPTIONS
        if getattr(args, option.field) is not None
    }
    for name in ("topology", "churn_mode", "key"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.churn is not None:
        on, sep, off = args.churn.partition(":")
        try:
            changes["churn_on_s"], changes["churn_off_s"] = float(on), float(off)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(f"--churn needs ON_S:OFF_S (for example 40:20), got {args.churn!r}")
    if args.clock is not None:
        changes["clock"] = ClockMode(args.clock)
    if args.history_s is not None:
        changes["history_s"] = history_s(args.history_s)
    config = replace(SimConfig(), **changes)
    if args.degree is not None and config.topology != "random":
        raise UsageError(f"--degree only applies to --topology random, not {config.topology}")
    if args.rate is not None:
        if args.rate_per_min is not None:
            raise UsageError("give --rate (per peer) or --net-rate (network-wide), not both")
        peers = PAPER21_PEERS if config.topology == "paper21" else config.peers
        config = replace(config, rate_per_min=args.rate * peers)
    if args.delay_ms is not None:
        check_delay_ms(args.delay_ms, config.fps)
    config.validate()
    return config


def run(args: argparse.Namespace) -> int:
    """Run ``arcade-p2p sim``."""
    config = config_from_args(args)
    with tqdm(
        total=PROGRESS_STEPS,
        desc="simulating" if not args.real else "running",
        disable=not sys.stderr.isatty(),
        bar_format="{desc} {bar} {percentage:3.0f}% [{elapsed}<{remaining}]",
        leave=False,
    ) as bar:

        def progress(fraction: float) -> None:
            bar.update(round(fraction * PROGRESS_STEPS) - bar.n)

        if args.real:
            if config.desync_peer is not None:
                raise UsageError("--desync-peer works in the simulator only, not with --real")
            if args.app != DEFAULT_APP or args.memory_every is not None:
                raise UsageError("--app and --memory-every work in the simulator only")
            result = run_real(config, progress=progress)
        else:
            game = load_game(args.app, fps=config.fps)
            result = run_simulation(
                config, progress=progress, game=game, memory_every_s=args.memory_every
            )
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_table(config, result))
    return 0


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
        (
            "events",
            f"{config.rate_per_min:g}/min network-wide"
            f" ({config.rate_per_min / r.peers:.3g}/min per peer)",
        ),
        ("Delta", f"{_delta(config, r)} ({config.clock} clock, {config.fps} fps)"),
        ("late events", f"{r.late_events_pct:.3f} % of deliveries"),
        ("duration", f"{config.duration_s:g} s, warm-up {config.warmup_s:g} s, seed {config.seed}"),
        ("churn", churn),
        ("", ""),
        ("app", r.app),
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
        ("catch-up replay", f"{r.catch_up_ticks} ticks (not in rollback %)"),
        (
            "recovery",
            f"mean {_fmt(r.recovery_s_mean, ' s')}, p95 {_fmt(r.recovery_s_p95, ' s')}, "
            f"max {_fmt(r.recovery_s_max, ' s')} ({r.recoveries} returns, "
            f"{r.recoveries_in_settle} in the settle phase, "
            f"{r.recoveries_incomplete} incomplete, {r.recoveries_cut_short} cut short)",
        ),
        ("network speed", f"{_fmt(r.speed_error_pct, ' %', 3)} off {config.fps} ticks/s"),
        ("converged", f"{_fmt(r.converged)} (final tick {r.final_tick})"),
        ("events lost", _lost(r)),
        (
            "desyncs",
            f"{r.desyncs_detected} reported, first {_fmt(r.desync_detect_s, ' s')} "
            "after the divergence",
        ),
        ("traffic", f"{r.bytes_per_peer_per_s:.0f} bytes/s per peer"),
        (
            "memory",
            f"{_fmt(r.memory_mb_per_peer, ' MiB', 3)} per peer "
            f"({_fmt(r.memory_history_mb_per_peer, ' MiB', 3)} event history)",
        ),
        ("history on disk", f"{_fmt(r.history_disk_mb_per_peer, ' MiB', 3)} per peer (archive)"),
        ("wall time", f"{r.wall_seconds:.2f} s ({r.sim_ticks_per_wall_s:,.0f} ticks/s)"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" if name else "" for name, value in rows)


def _lost(result: SimResult) -> str:
    text = f"{result.events_lost} of {result.events_total} ({result.events_orphaned} orphaned)"
    if result.events_unsent:  # shown only when there are any (the common case has none)
        text += f", {result.events_unsent} never sent (held by peers that left joining)"
    return text


def _delta(config: SimConfig, result: SimResult) -> str:
    """Delta as run: a value below one tick is reported as the one tick it becomes."""
    delta_ms = result.delta_ms
    if result.delta_auto:
        return f"auto, mean {_fmt(result.delta_ms_mean, ' ms', 1)} (started at {delta_ms:g} ms)"
    tick_ms = 1000.0 / config.fps
    if round(delta_ms / tick_ms) >= 1:
        return f"{delta_ms:g} ms"
    return f"{delta_ms:g} ms, below one tick: {tick_ms:g} ms used"
