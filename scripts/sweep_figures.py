"""Redraw the evaluation page's sweep heat maps and tables from the committed sweep CSVs.

How this works: the sweeps behind ``docs/evaluation.md`` are committed as CSV files in
``docs/data/`` (one row per run, as ``arcade-p2p sweep`` writes them; the page gives the
commands and the commit). This script reads them all with
:func:`arcade_p2p.sim.sweep.read_csv` and, without running any simulation,

- draws the heat maps with :func:`arcade_p2p.sim.sweep.write_report` and puts them into
  ``docs/img/`` as ``sweep_rollback_<variant>.png`` (``paper``, ``default``, ``auto``,
  ``ratio``); CSVs that hold only some of the paper's multipliers give
  ``sweep_<mults>x_rollback_<variant>.png`` instead (``sweep_2x_...`` for the 2x region
  alone), so a partial sweep does not replace the full grid's figures; or
- prints the sweep's summary table (``--summary``), or
- prints a markdown table of the cells run with the automatic Delta, beside the fixed Delta
  with both clocks (``--auto-table``).

The two tables are included in the page from ``docs/outputs/`` (``scripts/docs_outputs.py``
runs this script to make them).

    python scripts/sweep_figures.py                # heat maps into docs/img
    python scripts/sweep_figures.py --summary      # the summary table
    python scripts/sweep_figures.py --auto-table   # auto beside the fixed Delta, per cell
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arcade_p2p.sim import heatmap
from arcade_p2p.sim.heatmap import CellKey, CellStats
from arcade_p2p.sim.sweep import PAPER_MULTS, read_csv, write_report

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "docs" / "data"
IMAGE_DIR = ROOT / "docs" / "img"
IMAGE_PREFIX = "sweep_"


def image_prefix(rows: Sequence[dict[str, Any]]) -> str:
    """``sweep_`` for the paper's three multipliers, else ``sweep_<mults>x_``."""
    mults = sorted({float(r["mult"]) for r in rows}, reverse=True)
    if mults == sorted(PAPER_MULTS, reverse=True):
        return IMAGE_PREFIX
    return f"{IMAGE_PREFIX}{'-'.join(f'{m:g}' for m in mults)}x_"


def load_rows(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Every run of the given CSVs (default: every ``docs/data/sweep_*.csv``)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows.extend(read_csv(path))
    if not rows:
        raise SystemExit(f"no sweep runs in {', '.join(map(str, paths)) or DATA_DIR}")
    return rows


def draw(rows: Sequence[dict[str, Any]]) -> list[Path]:
    """Draw the heat maps into ``docs/img``; returns the files written."""
    seeds = len({r["seed"] for r in rows})
    durations = sorted({float(r["duration_s"]) for r in rows})
    subtitle = f"{'/'.join(f'{d:g}' for d in durations)} s runs, {seeds} seed(s) per cell"
    prefix = image_prefix(rows)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for path in write_report(rows, Path(scratch), subtitle=subtitle):
            target = IMAGE_DIR / f"{prefix}{path.name}"
            shutil.move(path, target)
            written.append(target)
    return written


def auto_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown: per cell run with the automatic Delta, the fixed Delta's figures beside it
    (a clock that was not run has no column)."""
    stats = heatmap.cell_stats(rows)
    auto = stats.get("auto", {})
    paper, default = stats.get("paper"), stats.get("default", {})
    header = ["L (ms)", "rate/min", "mult", "fixed Δ (ms)"]
    header += ["rollback % paper clock"] if paper is not None else []
    header += ["rollback % default clock", "rollback % auto", "late % fixed", "late % auto"]
    header += ["mean Δ auto (ms)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in sorted(auto):
        latency, rate, mult = key
        fixed = default.get(key)
        cells = [f"{latency:g}", f"{rate:g}", f"{mult:g}x", _delta(fixed)]
        cells += [_rollback(paper, key)] if paper is not None else []
        cells += [_rollback(default, key), _rollback(auto, key), _late(fixed), _late(auto[key])]
        cells += [_delta(auto[key])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _rollback(cells: Mapping[CellKey, CellStats], key: CellKey) -> str:
    stats = cells.get(key)
    if stats is None:
        return "—"
    return f"{stats.rollback_pct:.2f}" + ("!" if stats.faulty else "")


def _late(stats: CellStats | None) -> str:
    if stats is None or stats.late_events_pct is None:
        return "—"
    return f"{stats.late_events_pct:.1f}"


def _delta(stats: CellStats | None) -> str:
    if stats is None or stats.delta_ms_mean is None:
        return "—"
    return f"{stats.delta_ms_mean:.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="*", type=Path, help="sweep CSVs (default: docs/data)")
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument("--summary", action="store_true", help="print the summary table")
    shown.add_argument("--auto-table", action="store_true", help="print the auto table")
    args = parser.parse_args(argv)
    rows = load_rows(args.csv or sorted(DATA_DIR.glob("sweep_*.csv")))
    if args.summary:
        print(heatmap.summary_table(rows))
    elif args.auto_table:
        print(auto_table(rows), end="")
    else:
        for path in draw(rows):
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
