"""Reports of a sweep: heat maps laid out like the paper's Figure 7, and a summary table.

How this works: a sweep yields one *row* per cell x clock x Delta rule x repetition, a
plain dict with every :class:`~arcade_p2p.sim.config.SimConfig` field and every result
key. A row's *variant* is its clock's name, or ``auto`` for an automatic Delta with the
default clock (``auto-paper`` with the paper's). :func:`cell_stats` folds the
repetitions of each (latency, rate, multiplier) cell of a variant into one
:class:`CellStats` (with an automatic Delta the multiplier only sets the starting Delta).
:func:`plot_rollback` draws three panels side by side, one per Delta
multiplier (5x, 2x, 1x, in the paper's order), with latency down and event rate across;
each cell shows its mean rollback % and is coloured by band:

- white: rollback < 1 % (good);
- yellow: 1 % <= rollback < 5 % (moderate);
- red: 5 % <= rollback < 20 % (poor);
- black: rollback >= 20 %, or a run that did not converge or lost an event (faulty; such
  cells are also marked "!").

The paper calls its thresholds arbitrary and withholds its table; these bands put its
three framed examples (0.1, 3.1 and 7.2 %) in white, yellow and red, as its text says.
:func:`plot_ratio` compares two clocks cell by cell (default / paper rollback %; n/a where
the paper clock is under 1 %). :func:`summary_table` gives pace, convergence and loss per
clock, and the cells where the default clock does not at least halve the paper clock's
rollbacks. Figures use matplotlib's object API on the Agg canvas (no pyplot, no global
state) and have a fixed pixel size, so they can be compared and tested. matplotlib is an
optional dependency (the ``plots`` extra), imported only when a figure is drawn:
:func:`can_plot` says whether it is installed; the table never needs it.
"""

from __future__ import annotations

import importlib.util
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arcade_p2p.clock import ClockMode
from arcade_p2p.session import AUTO_DELAY

__all__ = [
    "FIGURE_DPI",
    "FIGURE_SIZE_IN",
    "RATIO_FLOOR_PCT",
    "RATIO_GOAL",
    "CellKey",
    "CellStats",
    "Row",
    "PLOTS_INSTALL",
    "band_colour",
    "can_plot",
    "cell_stats",
    "variant",
    "missed_goal",
    "plot_ratio",
    "plot_rollback",
    "ratios",
    "summary_table",
]

Row = Mapping[str, Any]
"""One simulation of a sweep: config fields and result keys."""

CellKey = tuple[float, float, float]
"""A grid cell: (latency in ms, events per minute, Delta multiplier)."""

WHITE_BELOW_PCT = 1.0
"""Rollback % under this is good (white)."""
YELLOW_BELOW_PCT = 5.0
"""Rollback % under this is moderate (yellow)."""
RED_BELOW_PCT = 20.0
"""Rollback % under this is poor (red); at or above it, faulty (black)."""

RATIO_FLOOR_PCT = 1.0
"""Cells where the paper clock rolls back less than this % are not compared (n/a)."""
RATIO_GOAL = 0.5
"""The default clock should roll back at most this fraction of the paper clock's ticks."""

WHITE = "#ffffff"
YELLOW = "#ffd43b"
RED = "#e03131"
BLACK = "#000000"
GREY = "#d9d9d9"
GREEN = "#b2f2bb"

PLOTS_INSTALL = 'pip install "arcade-p2p[plots]"'
"""The command that installs matplotlib, which only the figures need."""

FIGURE_SIZE_IN = (15.0, 5.6)
"""Width and height of every figure, in inches."""
FIGURE_DPI = 100
"""Pixels per inch: figures are 1500 x 560 pixels."""

ROLLBACK_LEGEND = (
    (WHITE, f"< {WHITE_BELOW_PCT:g} % good"),
    (YELLOW, f"< {YELLOW_BELOW_PCT:g} % moderate"),
    (RED, f"< {RED_BELOW_PCT:g} % poor"),
    (BLACK, f">= {RED_BELOW_PCT:g} % or faulty (!: diverged or lost events)"),
    (GREY, "not run"),
)
RATIO_LEGEND = (
    (GREEN, f"<= {RATIO_GOAL:g}: goal met"),
    (YELLOW, "< 1: better, not half"),
    (RED, ">= 1: no better"),
    (GREY, f"n/a: paper clock < {RATIO_FLOOR_PCT:g} %"),
)


@dataclass(frozen=True, slots=True)
class CellStats:
    """The repetitions of one cell for one clock, folded.

    Attributes:
        rollback_pct: Mean rollback % over the repetitions.
        converged: Whether every repetition converged.
        events_lost: Events lost, summed over the repetitions.
        reps: Number of repetitions.
        delta_ms_mean: Mean Delta of the events, in ms (None: not recorded or no event).
        late_events_pct: Mean % of event deliveries that came late (None: not recorded).
    """

    rollback_pct: float
    converged: bool
    events_lost: int
    reps: int
    delta_ms_mean: float | None = None
    late_events_pct: float | None = None

    @property
    def faulty(self) -> bool:
        """A repetition diverged or lost an event."""
        return not self.converged or self.events_lost > 0


def cell_key(row: Row) -> CellKey:
    """The grid cell a row belongs to."""
    return (float(row["latency_ms"]), float(row["rate_per_min"]), float(row["mult"]))


def variant(row: Row) -> str:
    """What a row is compared as: its clock's name, or ``auto`` (``auto-paper``)."""
    clock = str(row["clock"])
    if row.get("delay_ms") != AUTO_DELAY:
        return clock
    return AUTO_DELAY if clock == ClockMode.DEFAULT.value else f"{AUTO_DELAY}-{clock}"


def _mean_of(reps: Sequence[Row], key: str) -> float | None:
    """Mean of a figure over repetitions; None where a row lacks it (older CSVs)."""
    values = [r.get(key) for r in reps]
    present = [float(v) for v in values if v is not None]
    return statistics.fmean(present) if present and len(present) == len(values) else None


def cell_stats(rows: Iterable[Row]) -> dict[str, dict[CellKey, CellStats]]:
    """Fold repetitions: variant (see :func:`variant`) -> cell -> :class:`CellStats`."""
    groups: dict[str, dict[CellKey, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        groups[variant(row)][cell_key(row)].append(row)
    return {
        clock: {
            key: CellStats(
                rollback_pct=statistics.fmean(float(r["rollback_pct"]) for r in reps),
                converged=all(bool(r["converged"]) for r in reps),
                events_lost=sum(int(r["events_lost"]) for r in reps),
                reps=len(reps),
                delta_ms_mean=_mean_of(reps, "delta_ms_mean"),
                late_events_pct=_mean_of(reps, "late_events_pct"),
            )
            for key, reps in cells.items()
        }
        for clock, cells in groups.items()
    }


def band_colour(stats: CellStats) -> str:
    """The paper-style colour of a cell: white, yellow, red or black."""
    if stats.faulty or stats.rollback_pct >= RED_BELOW_PCT:
        return BLACK
    if stats.rollback_pct >= YELLOW_BELOW_PCT:
        return RED
    if stats.rollback_pct >= WHITE_BELOW_PCT:
        return YELLOW
    return WHITE


def ratios(
    paper: Mapping[CellKey, CellStats], default: Mapping[CellKey, CellStats]
) -> dict[CellKey, float | None]:
    """Default / paper rollback % for cells run with both clocks (None: paper under 1 %)."""
    return {
        key: (
            default[key].rollback_pct / paper[key].rollback_pct
            if paper[key].rollback_pct >= RATIO_FLOOR_PCT
            else None
        )
        for key in paper.keys() & default.keys()
    }


def missed_goal(cell_ratios: Mapping[CellKey, float | None]) -> list[CellKey]:
    """Compared cells where the default clock does not at least halve the rollbacks."""
    return sorted(
        key for key, ratio in cell_ratios.items() if ratio is not None and ratio > RATIO_GOAL
    )


def can_plot() -> bool:
    """Whether matplotlib is installed, so :func:`plot_rollback` and :func:`plot_ratio` work."""
    return importlib.util.find_spec("matplotlib") is not None


def _format_pct(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def plot_rollback(
    cells: Mapping[CellKey, CellStats], path: Path, *, title: str, show_delta: bool = False
) -> None:
    """Write the Figure 7 style heat map of rollback % for one variant to a PNG.

    With ``show_delta`` each cell also shows its mean Delta in ms (for an automatic Delta).
    """
    faulty_mark = {True: "!", False: ""}
    shown = {
        key: (
            band_colour(s),
            _format_pct(s.rollback_pct)
            + faulty_mark[s.faulty]
            + (f"\n{s.delta_ms_mean:.0f} ms" if show_delta and s.delta_ms_mean is not None else ""),
        )
        for key, s in cells.items()
    }
    _draw(shown, path, title=title, legend=ROLLBACK_LEGEND)


def plot_ratio(
    paper: Mapping[CellKey, CellStats],
    default: Mapping[CellKey, CellStats],
    path: Path,
    *,
    title: str,
) -> None:
    """Write the heat map of default / paper rollback % to a PNG."""
    shown: dict[CellKey, tuple[str, str]] = {}
    for key, ratio in ratios(paper, default).items():
        if ratio is None:
            shown[key] = (GREY, "n/a")
        else:
            colour = GREEN if ratio <= RATIO_GOAL else YELLOW if ratio < 1 else RED
            shown[key] = (colour, f"{ratio:.2f}")
    _draw(shown, path, title=title, legend=RATIO_LEGEND)


def _draw(
    shown: Mapping[CellKey, tuple[str, str]],
    path: Path,
    *,
    title: str,
    legend: Sequence[tuple[str, str]],
) -> None:
    """Three-region layout: one panel per multiplier (largest first), latency x rate."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    latencies = sorted({k[0] for k in shown})
    rates = sorted({k[1] for k in shown})
    mults = sorted({k[2] for k in shown}, reverse=True)
    fig = Figure(figsize=FIGURE_SIZE_IN, dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(mults), squeeze=False)[0]
    for ax, mult in zip(axes, mults, strict=True):
        ax.set_title(f"Δ multiplier {mult:g}x")
        ax.set_xlim(-0.5, len(rates) - 0.5)
        ax.set_ylim(len(latencies) - 0.5, -0.5)
        ax.set_xticks(range(len(rates)), [f"{r:g}" for r in rates])
        ax.set_yticks(range(len(latencies)), [f"{lat:g}" for lat in latencies])
        ax.set_xlabel("events per minute")
        ax.set_ylabel("per-hop latency (ms)")
        ax.tick_params(length=0)
        for row, latency in enumerate(latencies):
            for col, rate in enumerate(rates):
                colour, text = shown.get((latency, rate, mult), (GREY, ""))
                cell = Rectangle((col - 0.5, row - 0.5), 1, 1, facecolor=colour, edgecolor=GREY)
                ax.add_patch(cell)
                ink = WHITE if colour == BLACK else BLACK
                ax.text(col, row, text, ha="center", va="center", color=ink, fontsize=10)
    fig.suptitle(title)
    fig.legend(
        handles=[Patch(facecolor=c, edgecolor=BLACK, label=label) for c, label in legend],
        loc="outside lower center",
        ncols=len(legend),
        frameon=False,
    )
    fig.savefig(path)


def summary_table(rows: Sequence[Row]) -> str:
    """Per clock: cells, convergence, loss, rollback, worst pace; then the clock comparison.

    Args:
        rows: Every simulation of a sweep (all clocks and repetitions).

    Returns:
        Plain text, several lines, no trailing newline.
    """
    stats = cell_stats(rows)
    header = (
        "clock",
        "cells",
        "converged",
        "events lost",
        "mean rollback %",
        "mean Delta ms",
        "mean late %",
        "worst pace violation %",
        "worst lag p95 (ticks)",
    )
    body = []
    for clock, cells in stats.items():
        runs = [r for r in rows if variant(r) == clock]
        body.append(
            (
                clock,
                str(len(cells)),
                f"{sum(s.converged for s in cells.values())}/{len(cells)}",
                f"{sum(int(r['events_lost']) for r in runs)} of "
                f"{sum(int(r['events_total']) for r in runs)}",
                f"{statistics.fmean(s.rollback_pct for s in cells.values()):.2f}",
                _mean_text([s.delta_ms_mean for s in cells.values()]),
                _mean_text([s.late_events_pct for s in cells.values()], digits=2),
                f"{max(float(r['pace_violation_pct']) for r in runs):.3f}",
                _worst(r["lag_ticks_p95"] for r in runs),
            )
        )
    lines = _table(header, body)
    paper, default = stats.get(ClockMode.PAPER.value), stats.get(ClockMode.DEFAULT.value)
    if paper is not None and default is not None:
        lines.append("")
        lines.extend(_comparison(paper, default))
    auto = stats.get(AUTO_DELAY)
    if auto is not None and default is not None:
        lines.append("")
        lines.extend(_auto_comparison(default, auto))
    return "\n".join(lines)


def _mean_text(values: Iterable[float | None], digits: int = 0) -> str:
    """Mean of the values present; ``n/a`` if there is none."""
    present = [v for v in values if v is not None]
    return f"{statistics.fmean(present):.{digits}f}" if present else "n/a"


def _auto_comparison(
    fixed: Mapping[CellKey, CellStats], auto: Mapping[CellKey, CellStats]
) -> list[str]:
    """Automatic against fixed Delta (both with the default clock), cell by cell."""
    keys = sorted(fixed.keys() & auto.keys())
    no_more = sum(auto[k].rollback_pct <= fixed[k].rollback_pct for k in keys)
    smaller = sum((auto[k].delta_ms_mean or 0.0) < (fixed[k].delta_ms_mean or 0.0) for k in keys)
    return [
        f"auto vs fixed Delta (default clock): {len(keys)} cells; auto rolls back no more "
        f"in {no_more} of them and uses a smaller mean Delta in {smaller}"
    ]


def _worst(values: Iterable[float | None]) -> str:
    """Largest value, ignoring runs without samples (None); ``n/a`` if there is none."""
    present = [float(v) for v in values if v is not None]
    return f"{max(present):g}" if present else "n/a"


def _comparison(
    paper: Mapping[CellKey, CellStats], default: Mapping[CellKey, CellStats]
) -> list[str]:
    cell_ratios = ratios(paper, default)
    compared = sum(r is not None for r in cell_ratios.values())
    missed = missed_goal(cell_ratios)
    lines = [
        f"default vs paper clock: {compared} cells with paper >= {RATIO_FLOOR_PCT:g} % "
        f"rollback; default <= {RATIO_GOAL:g} x paper in {compared - len(missed)} of them"
    ]
    if missed:
        lines.append(f"cells where default > {RATIO_GOAL:g} x paper:")
    for key in missed:
        latency, rate, mult = key
        lines.append(
            f"  L={latency:g} ms, {rate:g}/min, {mult:g}x: paper {paper[key].rollback_pct:.2f} %,"
            f" default {default[key].rollback_pct:.2f} % (ratio {cell_ratios[key] or 0:.2f})"
        )
    return lines


def _table(header: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """Fixed-width columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: Sequence[str]) -> str:
        first = line[0].ljust(widths[0])
        return "  ".join([first, *(v.rjust(w) for v, w in zip(line[1:], widths[1:], strict=True))])

    return [fmt(header), *(fmt(line) for line in body)]
