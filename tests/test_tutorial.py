"""The tutorial's game is a real file: the page shows it whole and every code fragment of the
page is taken from it, and three peers of it converge when started the way the page says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "tutorial.md"
GAME = ROOT / "docs" / "examples" / "balloon.py"
RUN_TIMEOUT_S = 240.0


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_every_fragment_of_the_page_is_in_the_file_and_the_whole_file_is_shown() -> None:
    page, source = PAGE.read_text(), GAME.read_text()
    blocks = python_blocks(page)
    assert blocks[-1] == source  # "The whole file"
    fragments = blocks[:-1]
    assert len(fragments) >= 6
    for fragment in fragments:
        assert fragment in source, fragment


def test_three_peers_of_the_tutorial_game_converge(tmp_path: Path) -> None:
    play = [sys.executable, "-m", "arcade_p2p", "play", str(GAME), "--local", "3", "--headless"]
    done = subprocess.run(
        [*play, "--seconds", "6", "--settle", "1", "--autopilot", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["converged"] and summary["peers"] == 3 and summary["final_tick"] == 350
    assert summary["events"] > 0  # the default autopilot pressed arrows and space
