"""``arcade-p2p sweep``: the paper's 108-cell grid, run in parallel, saved as CSV and heat maps.

How this works: :func:`build_grid` expands one base :class:`SimConfig` over latency x event
rate x Delta multiplier x clock x Delta rule x seed with :func:`dataclasses.replace` (the
paper's grid: 6 x 6 x 3 = 108 cells; the Delta rule is the paper's fixed one, an
automatic one starting from it, or both side by side). :func:`run_grid` hands the configs
to a pool of *spawned* worker processes (so it behaves the same on every platform and
shares no state with the parent); each worker calls :func:`run_simulation` on one config
and returns one row: every config field, then every result key. A tqdm progress bar on
stderr shows the runs done and an ETA on a terminal; elsewhere (a CI log) each finished
run prints one line with the same figures. The rows, in grid order, go to ``sweep.csv``;
:mod:`arcade_p2p.sim.heatmap` draws one heat map per clock and per automatic-Delta
variant (with its mean Delta per cell), their ratio with ``--clock both``, and the summary
table printed on stdout.
``--plot-only`` redraws the figures and the table from an existing CSV. Without matplotlib
(the optional ``plots`` extra) the CSV and the table are still written, and the command
says how to install it and redraw.

Warm-up and quiet periods are the paper's 30 s each, or 10 % of ``--duration`` when that
is shorter (the paper's 300 s runs have exactly 10 %).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import math
import multiprocessing
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import UsageError
from arcade_p2p.session import AUTO_DELAY
from arcade_p2p.sim import heatmap
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.heatmap import Row
from arcade_p2p.sim.runner import run_simulation

__all__ = [
    "PAPER_LATENCIES_MS",
    "PAPER_MULTS",
    "PAPER_RATES_PER_MIN",
    "SweepProgress",
    "build_grid",
    "format_duration",
    "read_csv",
    "register",
    "run_grid",
    "write_csv",
    "write_report",
]

PAPER_LATENCIES_MS = (5.0, 25.0, 50.0, 100.0, 250.0, 500.0)
"""Per-hop one-way latencies of the paper's grid (rows of Figure 7)."""
PAPER_RATES_PER_MIN = (5.0, 10.0, 25.0, 50.0, 100.0, 200.0)
"""Network-wide event rates of the paper's grid (columns of Figure 7)."""
PAPER_MULTS = (5.0, 2.0, 1.0)
"""Delta multipliers of the paper's grid (the three regions of Figure 7, in its order)."""

DEFAULT_DURATION_S = 300.0
DEFAULT_OUT_DIR = "results/sweep"
PHASE_FRACTION = 0.1
"""Warm-up and quiet periods are at most this fraction of the duration."""
CSV_NAME = "sweep.csv"
RATIO_PNG_NAME = "rollback_ratio.png"
BOTH_CLOCKS = "both"
FIXED_DELAY = "fixed"
DELAY_CHOICES = (FIXED_DELAY, AUTO_DELAY, BOTH_CLOCKS)
"""``--delay-ms``: the multiplier rule, automatic, or both side by side."""
_DELAYS: dict[str, list[float | str | None]] = {
    FIXED_DELAY: [None],
    AUTO_DELAY: [AUTO_DELAY],
    BOTH_CLOCKS: [None, AUTO_DELAY],
}
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
LIBRARY_LOGGER = "arcade_p2p"


def build_grid(
    base: SimConfig,
    *,
    latencies_ms: Sequence[float] = PAPER_LATENCIES_MS,
    rates_per_min: Sequence[float] = PAPER_RATES_PER_MIN,
    mults: Sequence[float] = PAPER_MULTS,
    clocks: Sequence[ClockMode] = (ClockMode.PAPER, ClockMode.DEFAULT),
    reps: int = 1,
    delays: Sequence[float | str | None] = (None,),
) -> list[SimConfig]:
    """Every run of a sweep, in the order of the paper's figure.

    Both clocks and all repetitions of one cell are adjacent, so a sweep cut short still
    holds complete comparisons.

    Args:
        base: Every other setting (topology, duration, fps, ...).
        latencies_ms: Per-hop latencies L.
        rates_per_min: Network-wide event rates.
        mults: Delta multipliers.
        clocks: Clock modes to run each cell with.
        reps: Repetitions per cell and clock, with seeds 1..reps.
        delays: Delta rules to run each cell with: None (the multiplier rule) and/or
            ``"auto"`` (each source chooses, starting from the rule's Delta).

    Returns:
        One config per cell x clock x Delta rule x repetition.
    """
    return [
        replace(
            base,
            latency_ms=lat,
            rate_per_min=rate,
            mult=mult,
            clock=clock,
            delay_ms=delay,
            seed=seed,
        )
        for mult, lat, rate, clock, delay, seed in itertools.product(
            mults, latencies_ms, rates_per_min, clocks, delays, range(1, reps + 1)
        )
    ]


def run_one(config: SimConfig) -> dict[str, Any]:
    """Run one simulation; the row is every config field, then every result key."""
    return {**config.to_dict(), **run_simulation(config).to_dict()}


def run_grid(
    configs: Sequence[SimConfig],
    *,
    jobs: int,
    on_done: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every config, ``jobs`` at a time, in spawned worker processes.

    Args:
        configs: The runs.
        jobs: Worker processes.
        on_done: Called after each finished run (progress reporting).

    Returns:
        The rows, in the order of ``configs``.
    """
    jobs = max(1, min(jobs, len(configs)))
    rows: dict[int, dict[str, Any]] = {}
    with multiprocessing.get_context("spawn").Pool(jobs, initializer=_init_worker) as pool:
        for index, row in pool.imap_unordered(_run_indexed, enumerate(configs)):
            rows[index] = row
            if on_done is not None:
                on_done()
    return [rows[index] for index in range(len(configs))]


def _init_worker() -> None:
    """Worker set-up: quiet logs and no Ctrl-C (the parent stops the pool on Ctrl-C).

    Per-datagram warnings from simulated peers would bury the progress bar, and workers
    interrupted together with the parent would each print a traceback.
    """
    logging.getLogger(LIBRARY_LOGGER).setLevel(logging.ERROR)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_indexed(item: tuple[int, SimConfig]) -> tuple[int, dict[str, Any]]:
    """Worker entry point: results arrive unordered, so they keep their index."""
    index, config = item
    return index, run_one(config)


def format_duration(seconds: float) -> str:
    """Short human duration: ``42s``, ``3m05s``, ``1h02m``."""
    whole = max(0, round(seconds))
    if whole < SECONDS_PER_MINUTE:
        return f"{whole}s"
    if whole < SECONDS_PER_HOUR:
        return f"{whole // SECONDS_PER_MINUTE}m{whole % SECONDS_PER_MINUTE:02d}s"
    hours, rest = divmod(whole, SECONDS_PER_HOUR)
    return f"{hours}h{rest // SECONDS_PER_MINUTE:02d}m"


class SweepProgress:
    """Progress of a sweep on stderr: a tqdm bar on a terminal, else one line per run.

    Args:
        total: Number of runs.
        stream: Where to write (default: the current ``sys.stderr``).
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self._stream = sys.stderr if stream is None else stream
        self._start = time.monotonic()
        self._bar = tqdm(
            total=total, unit="run", file=self._stream, disable=not self._stream.isatty()
        )

    def elapsed_s(self) -> float:
        """Seconds since the progress started."""
        return time.monotonic() - self._start

    def advance(self) -> None:
        """Count one finished run."""
        self.done += 1
        if self._bar.disable:
            line = tqdm.format_meter(
                self.done, self.total, self.elapsed_s(), unit="run", ascii=True, ncols=80
            )
            print(line, file=self._stream, flush=True)
        else:
            self._bar.update()
        if self.done == self.total:
            self._bar.close()


def write_csv(path: Path, rows: Sequence[Row]) -> None:
    """Write rows with the union of their keys as columns, in first-seen order.

    None becomes an empty cell; lists, tuples and dicts (such as ``partitions``) become JSON.
    """
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _format_cell(v) for k, v in row.items()})


def _format_cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (list, tuple, dict)) else value


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Read rows written by :func:`write_csv`, restoring numbers, booleans and None.

    JSON columns stay text: the reports never read them.
    """
    with path.open(newline="") as file:
        return [{k: _parse_cell(v) for k, v in row.items()} for row in csv.DictReader(file)]


def _parse_cell(text: str) -> Any:
    if text == "":
        return None
    if text in {"True", "False"}:
        return text == "True"
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def write_report(rows: Sequence[Row], out: Path, *, subtitle: str) -> list[Path]:
    """Draw the heat maps (one per clock, plus the ratio with both clocks).

    Args:
        rows: Every run of the sweep.
        out: Directory for the PNG files.
        subtitle: Appended to every figure title (duration, repetitions).

    Returns:
        The files written.
    """
    stats = heatmap.cell_stats(rows)
    written = []
    for name, cells in stats.items():
        path = out / f"rollback_{name}.png"
        auto = name.startswith(AUTO_DELAY)
        what = f"automatic Δ (mean Δ below), {name[len(AUTO_DELAY) + 1 :] or 'default'} clock"
        label = what if auto else f"{name} clock"
        heatmap.plot_rollback(
            cells, path, title=f"Rollback % — {label} — {subtitle}", show_delta=auto
        )
        written.append(path)
    paper, default = stats.get(ClockMode.PAPER.value), stats.get(ClockMode.DEFAULT.value)
    if paper is not None and default is not None:
        path = out / RATIO_PNG_NAME
        heatmap.plot_ratio(
            paper, default, path, title=f"Rollback % default / paper clock — {subtitle}"
        )
        written.append(path)
    return written


def register(subparsers: Any) -> None:
    """Add the ``sweep`` subcommand to the ``arcade-p2p`` parser."""
    parser = subparsers.add_parser(
        "sweep",
        help="run the paper's latency x rate x Delta grid and draw heat maps",
        description=(
            "Run the seed paper's evaluation grid (by default 6 latencies x 6 event rates x "
            "3 Delta multipliers = 108 cells) in parallel, write a CSV and heat maps laid "
            "out like the paper's Figure 7, and print a summary table."
        ),
    )
    parser.add_argument("--reps", type=int, default=1, metavar="N", help="seeds 1..N per cell")
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        default=DEFAULT_DURATION_S,
        help=f"simulated seconds per run (default {DEFAULT_DURATION_S:g})",
    )
    parser.add_argument(
        "--clock",
        choices=[*(m.value for m in ClockMode), BOTH_CLOCKS],
        default=BOTH_CLOCKS,
        help="clock rule to run each cell with (default both, side by side)",
    )
    parser.add_argument(
        "--delay-ms",
        choices=DELAY_CHOICES,
        default=FIXED_DELAY,
        help="Delta of each cell: fixed by the multiplier rule, auto (each source chooses, "
        "starting from that), or both side by side",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: the cores, here %(default)s)",
    )
    parser.add_argument("--out", default=DEFAULT_OUT_DIR, metavar="DIR", help="output directory")
    for flag, values, what in (
        ("--latencies", PAPER_LATENCIES_MS, "per-hop latencies in ms"),
        ("--net-rates", PAPER_RATES_PER_MIN, "network-wide event rates per minute"),
        ("--mults", PAPER_MULTS, "Delta multipliers"),
    ):
        default = ",".join(f"{v:g}" for v in values)
        parser.add_argument(flag, default=default, metavar="LIST", help=f"{what}, comma-separated")
    parser.add_argument(
        "--plot-only",
        action="store_true",
        help=f"redraw the heat maps and the table from OUT/{CSV_NAME} without running",
    )
    parser.set_defaults(run=run_command)


def run_command(args: argparse.Namespace) -> int:
    """The ``sweep`` subcommand: run (or reload), write CSV and PNGs, print the summary."""
    out = Path(args.out)
    csv_path = out / CSV_NAME
    if args.plot_only:
        if not csv_path.is_file():
            raise UsageError(f"no sweep results at {csv_path}")
        rows: list[dict[str, Any]] = read_csv(csv_path)
        if not rows:
            raise UsageError(f"{csv_path} holds no runs")
    else:
        configs = _configs_from_args(args)
        if args.jobs < 1:
            raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
        out.mkdir(parents=True, exist_ok=True)
        jobs = min(args.jobs, len(configs))
        print(f"sweep: {len(configs)} runs on {jobs} processes", file=sys.stderr)
        progress = SweepProgress(len(configs))
        rows = run_grid(configs, jobs=jobs, on_done=progress.advance)
        write_csv(csv_path, rows)
        print(
            f"{len(rows)} runs in {format_duration(progress.elapsed_s())} wall "
            f"with {jobs} processes; rows in {csv_path}",
            file=sys.stderr,
        )
    reps = len({r["seed"] for r in rows})
    seeds = f"mean of {reps} seeds" if reps > 1 else "1 seed"
    subtitle = f"{float(rows[0]['duration_s']):g} s runs, {seeds} per cell"
    if heatmap.can_plot():
        for path in write_report(rows, out, subtitle=subtitle):
            print(f"wrote {path}", file=sys.stderr)
    else:
        replot = f"arcade-p2p sweep --plot-only --out {shlex.quote(str(out))}"
        print(
            f"no heat maps: they need matplotlib. To draw them from {csv_path}, run\n"
            f"  {heatmap.PLOTS_INSTALL}\n  {replot}",
            file=sys.stderr,
        )
    print(heatmap.summary_table(rows))
    return 0


def _configs_from_args(args: argparse.Namespace) -> list[SimConfig]:
    """Validate the flags and expand them into the runs (UsageError on bad values)."""
    if args.reps < 1:
        raise UsageError(f"--reps must be >= 1, got {args.reps}")
    if not (math.isfinite(args.duration) and args.duration > 0):
        raise UsageError(f"--duration must be a number of seconds > 0, got {args.duration:g}")
    paper = SimConfig()
    base = replace(
        paper,
        duration_s=args.duration,
        warmup_s=min(paper.warmup_s, args.duration * PHASE_FRACTION),
        quiet_s=min(paper.quiet_s, args.duration * PHASE_FRACTION),
    )
    clocks = list(ClockMode) if args.clock == BOTH_CLOCKS else [ClockMode(args.clock)]
    configs = build_grid(
        base,
        latencies_ms=_parse_list("--latencies", args.latencies),
        rates_per_min=_parse_list("--net-rates", args.net_rates),
        mults=_parse_list("--mults", args.mults),
        clocks=clocks,
        reps=args.reps,
        delays=_DELAYS[args.delay_ms],
    )
    for config in configs:
        config.validate()
    return configs


def _parse_list(flag: str, text: str) -> list[float]:
    """Comma-separated finite numbers, without duplicates, at least one."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"{flag} needs comma-separated numbers, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{flag} values must be finite, got {text!r}")
    if len(set(values)) != len(values):
        raise UsageError(f"{flag} has a repeated value: {text!r}")
    return values
