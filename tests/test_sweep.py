"""The sweep: grid, CSV, progress, heat maps, summary table and the command line."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from test_sim_runner import REQUIRED_KEYS

from arcade_p2p import cli
from arcade_p2p.sim import heatmap
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.heatmap import CellStats
from arcade_p2p.sim.sweep import (
    SweepProgress,
    build_grid,
    format_duration,
    read_csv,
    write_csv,
)

WITHOUT_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None; "  # an import of it now fails
    "from arcade_p2p.cli import main; sys.exit(main(sys.argv[1:]))"
)
"""``python -c`` code running ``arcade-p2p`` as if matplotlib were not installed."""

PNG_SIZE = (
    round(heatmap.FIGURE_SIZE_IN[0] * heatmap.FIGURE_DPI),
    round(heatmap.FIGURE_SIZE_IN[1] * heatmap.FIGURE_DPI),
)


def sweep_main(argv: list[str]) -> int:
    """The real ``arcade-p2p`` entry point, running ``sweep``."""
    return cli.main(["sweep", *argv])


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def row(clock: str, latency: float, rate: float, mult: float, pct: float) -> dict[str, Any]:
    """A hand-made row with the columns the reports read."""
    return {
        "clock": clock,
        "latency_ms": latency,
        "rate_per_min": rate,
        "mult": mult,
        "seed": 1,
        "rollback_pct": pct,
        "converged": True,
        "events_lost": 0,
        "events_total": 100,
        "pace_violation_pct": 0.0,
        "lag_ticks_p95": 1.0,
    }


def test_paper_grid_is_108_cells_per_clock_with_adjacent_clocks_and_seeds() -> None:
    base = SimConfig(duration_s=60.0, fps=60)
    grid = build_grid(base, reps=2)
    assert len(grid) == 108 * 2 * 2
    cells = {(c.latency_ms, c.rate_per_min, c.mult) for c in grid}
    assert len(cells) == 108
    assert {c.mult for c in grid} == {5.0, 2.0, 1.0}
    assert [(c.clock, c.seed) for c in grid[:4]] == [
        ("paper", 1),
        ("paper", 2),
        ("default", 1),
        ("default", 2),
    ]
    assert grid[0].mult == 5.0  # the paper's region order: 5x first
    assert all(c.duration_s == 60.0 and c.fps == 60 for c in grid)
    assert len(set(grid)) == len(grid)


def test_sub_grid() -> None:
    grid = build_grid(SimConfig(), latencies_ms=[50], rates_per_min=[25], mults=[2], reps=1)
    assert [(c.latency_ms, c.rate_per_min, c.mult, c.clock) for c in grid] == [
        (50, 25, 2, "paper"),
        (50, 25, 2, "default"),
    ]
    assert grid[0].delta_ms == 500.0


def test_csv_round_trip_keeps_types_and_column_order(tmp_path: Path) -> None:
    rows = [
        {**SimConfig(seed=s).to_dict(), "delta_ms": 500.0, "converged": s == 1, "p95": None}
        for s in (1, 2)
    ]
    path = tmp_path / "sweep.csv"
    write_csv(path, rows)
    with path.open() as file:
        header = next(csv.reader(file))
    assert header == [f.name for f in fields(SimConfig)] + ["delta_ms", "converged", "p95"]
    as_text = [
        {k: json.dumps(v) if isinstance(v, tuple) else v for k, v in r.items()} for r in rows
    ]
    assert read_csv(path) == as_text  # tuples (such as partitions) are written as JSON


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (41.6, "42s"), (185, "3m05s"), (3720, "1h02m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_progress_writes_a_plain_line_per_run_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = SweepProgress(3, stream)
    for _ in range(3):
        progress.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert [line.split("|")[0].strip() for line in lines] == ["33%", "67%", "100%"]
    assert all(f"| {n}/3 [" in line and line.isascii() for n, line in zip((1, 2, 3), lines))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_redrawn_in_place_on_a_terminal() -> None:
    stream = Terminal()
    progress = SweepProgress(3, stream)
    for _ in range(3):
        progress.advance()
    text = stream.getvalue()
    assert "\r" in text and text.count("\n") <= 1
    assert "3/3" in text.split("\r")[-1] and progress.done == 3


def test_bands() -> None:
    def band(pct: float, converged: bool = True) -> str:
        return heatmap.band_colour(CellStats(pct, converged, 0, 1))

    assert [band(0.1), band(3.1), band(7.2), band(20.0)] == [
        heatmap.WHITE,
        heatmap.YELLOW,
        heatmap.RED,
        heatmap.BLACK,
    ]
    assert band(0.0, converged=False) == heatmap.BLACK


def test_heat_maps_have_the_fixed_pixel_size(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = [
        row(clock, lat, rate, mult, pct=lat * rate / 1000 * (1 if clock == "paper" else 0.4))
        for clock in ("paper", "default")
        for mult in (5, 2, 1)
        for lat in (5, 50, 500)
        for rate in (5, 200)
    ]
    stats = heatmap.cell_stats(rows)
    heatmap.plot_rollback(stats["paper"], tmp_path / "p.png", title="t")
    heatmap.plot_ratio(stats["paper"], stats["default"], tmp_path / "r.png", title="t")
    assert png_size(tmp_path / "p.png") == PNG_SIZE
    assert png_size(tmp_path / "r.png") == PNG_SIZE


def test_repetitions_are_averaged() -> None:
    rows = [row("paper", 50, 25, 2, 2.0), {**row("paper", 50, 25, 2, 4.0), "seed": 2}]
    rows[1]["converged"] = False
    (stats,) = heatmap.cell_stats(rows)["paper"].values()
    assert stats == CellStats(rollback_pct=3.0, converged=False, events_lost=0, reps=2)


def test_summary_lists_cells_where_default_does_not_halve_paper() -> None:
    rows = [
        row("paper", 50, 25, 2, 3.0),
        row("default", 50, 25, 2, 1.0),  # ratio 0.33: goal met
        row("paper", 250, 25, 1, 10.0),
        row("default", 250, 25, 1, 6.0),  # ratio 0.6: missed
        row("paper", 5, 5, 5, 0.5),
        row("default", 5, 5, 5, 0.5),  # paper < 1 %: not compared
    ]
    ratios = heatmap.ratios(*heatmap.cell_stats(rows).values())
    assert ratios[(5.0, 5.0, 5.0)] is None
    text = heatmap.summary_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[0] == "clock"
    assert lines[1].split()[:3] == ["paper", "3", "3/3"]
    assert "2 cells with paper >= 1 % rollback; default <= 0.5 x paper in 1 of them" in text
    assert "L=250 ms, 25/min, 1x: paper 10.00 %, default 6.00 % (ratio 0.60)" in text
    assert "L=50 ms" not in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--reps", "0"],
        ["--reps", "two"],
        ["--duration", "-5"],
        ["--duration", "inf"],
        ["--clock", "fast"],
        ["--jobs", "0"],
        ["--latencies", "5,x"],
        ["--net-rates", "5,5"],
        ["--mults", "0"],
        ["--latencies", "-1"],
    ],
)
def test_bad_values_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = sweep_main([*argv, "--out", "/nonexistent/never-written"])
    except SystemExit as exc:  # argparse's own type and choice errors
        code = int(exc.code or 0)
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("arcade-p2p sweep: error:")


def test_tiny_real_sweep_then_replot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "sweep"
    grid = ["--latencies", "50", "--net-rates", "25", "--mults", "2,1"]
    argv = [*grid, "--duration", "20", "--jobs", "2", "--out", str(out)]
    assert sweep_main(argv) == 0
    first = capsys.readouterr()
    rows = read_csv(out / "sweep.csv")
    config_columns = [f.name for f in fields(SimConfig)]
    assert list(rows[0])[: len(config_columns)] == config_columns
    assert set(REQUIRED_KEYS) <= set(rows[0])
    assert [(r["mult"], r["clock"]) for r in rows] == [
        (2.0, "paper"),
        (2.0, "default"),
        (1.0, "paper"),
        (1.0, "default"),
    ]
    assert all(r["duration_s"] == 20.0 and r["warmup_s"] == 2.0 for r in rows)
    assert all(r["converged"] and r["events_lost"] == 0 for r in rows)
    for name in ("rollback_paper.png", "rollback_default.png", "rollback_ratio.png"):
        assert png_size(out / name) == PNG_SIZE
    assert "100%" in first.err and "| 4/4 [" in first.err
    assert first.out.splitlines()[0].split()[0] == "clock"
    assert "default vs paper clock" in first.out
    # the figures and the table can be redrawn from the CSV alone
    assert sweep_main(["--plot-only", "--out", str(out)]) == 0
    assert capsys.readouterr().out == first.out


def test_sweep_without_matplotlib_writes_the_csv_and_says_how_to_get_the_plots(
    tmp_path: Path,
) -> None:
    out = tmp_path / "sweep"
    grid = ["--latencies", "50", "--net-rates", "25", "--mults", "1", "--clock", "paper"]
    argv = ["sweep", *grid, "--duration", "20", "--jobs", "1", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [r["clock"] for r in read_csv(out / "sweep.csv")] == ["paper"]
    assert not list(out.glob("*.png"))
    assert 'pip install "arcade-p2p[plots]"' in done.stderr
    assert f"arcade-p2p sweep --plot-only --out {out}" in done.stderr
    assert done.stdout.splitlines()[0].split()[0] == "clock"  # the table needs no plots
