"""Real windows under Xvfb: real key presses into three game processes, identical pixels.

``arcade-p2p play moving_rect --local 3`` opens three real (not headless) windows on an
X server of the test's own (Xvfb, on a display number it picks itself). xdotool finds the
windows, checks that they are tiled without overlapping, gives each the focus and presses
arrow keys into it through the X server, as a keyboard would. The peers stop at one agreed
tick, each saves its final frame, and the frames must be identical, pixel for pixel, with
every key press in every peer's timeline. Every wait polls for a window, a line or an exit,
with generous deadlines (a loaded two-core machine starts Arcade slowly).

CI runs it: ``.ci/run`` installs Xvfb and xdotool when they are missing. Without them the
test is skipped and says why.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # this process only reads the sample's title

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arcade_p2p.xvfb import missing_tools, virtual_display
from sample_games.moving_rect import TITLE

PIL_Image = pytest.importorskip("PIL.Image")

pytestmark = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"{' and '.join(missing_tools())} not installed (apt-get install xvfb xdotool;"
    " .ci/run installs them)",
)

PEERS = 3
SECONDS = 30
SETTLE = 3
FPS = 50
SCREEN = (2000, 1100)
"""Room for three 640x480 windows side by side."""
KEYS_PER_WINDOW = (("Up", "Left"), ("Down",), ("Right", "Up"))
"""Arrow keys pressed into window 1, 2 and 3 (each press is one ``key`` event)."""
START_TIMEOUT_S = 180.0
RUN_TIMEOUT_S = SECONDS + 240.0


@pytest.fixture
def display() -> Iterator[str]:
    """A fresh Xvfb server; yields its ``DISPLAY`` value."""
    with virtual_display(SCREEN) as name:
        yield name


def xdotool(display: str, *args: str) -> str:
    done = subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


def geometry(display: str, window: str) -> tuple[int, int, int, int]:
    fields = dict(
        line.split("=", 1)
        for line in xdotool(display, "getwindowgeometry", "--shell", window).split()
    )
    return int(fields["X"]), int(fields["Y"]), int(fields["WIDTH"]), int(fields["HEIGHT"])


def tiled(boxes: list[tuple[int, int, int, int]]) -> bool:
    """Whether every box is on the screen and no two overlap."""
    for index, (x, y, w, h) in enumerate(boxes):
        if x < 0 or y < 0 or x + w > SCREEN[0] or y + h > SCREEN[1]:
            return False
        for ox, oy, ow, oh in boxes[index + 1 :]:
            if not (x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y):
                return False
    return True


def wait_for_tiled_windows(display: str, play: subprocess.Popen[str]) -> list[str]:
    """The ids of the game's windows, once all are mapped and in their tiles (a window
    appears where the X server puts it and then moves to its tile)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    boxes: list[tuple[int, int, int, int]] = []
    while time.monotonic() < deadline:
        assert play.poll() is None, "play ended before its windows appeared"
        windows = xdotool(display, "search", "--onlyvisible", "--name", f"^{TITLE}$").split()
        if len(windows) == PEERS:
            boxes = [geometry(display, window) for window in windows]
            if tiled(boxes):
                return sorted(windows, key=lambda w: geometry(display, w)[:2])  # tile order
        time.sleep(0.2)  # polling for the windows, not waiting for an outcome
    raise AssertionError(f"{PEERS} windows were not tiled without overlapping: {boxes}")


def test_key_presses_in_real_windows_end_in_identical_frames(display: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARCADE_HEADLESS"}
    env["DISPLAY"] = display
    command = [sys.executable, "-m", "arcade_p2p", "play", "moving_rect", "--local", str(PEERS)]
    run = ["--seconds", str(SECONDS), "--settle", str(SETTLE), "--json"]
    play = subprocess.Popen(
        [*command, *run, "--screenshot", str(tmp_path / "final.png")],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        windows = wait_for_tiled_windows(display, play)
        for window, keys in zip(windows, KEYS_PER_WINDOW, strict=True):
            xdotool(display, "windowfocus", "--sync", window, "key", "--delay", "80", *keys)
        out, err = play.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if play.poll() is None:
            play.kill()
            play.wait()
    assert play.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])
    presses = sum(len(keys) for keys in KEYS_PER_WINDOW)
    assert summary["converged"] is True
    assert summary["final_tick"] == (SECONDS + SETTLE) * FPS
    assert [r["events"] for r in summary["reports"]] == [presses] * PEERS
    assert sorted(r["events_emitted"] for r in summary["reports"]) == sorted(
        len(keys) for keys in KEYS_PER_WINDOW
    )
    frames = [PIL_Image.open(tmp_path / f"final-{i + 1}.png") for i in range(PEERS)]
    assert frames[0].size == (640, 480)
    assert all(frame.tobytes() == frames[0].tobytes() for frame in frames[1:])
    assert len(frames[0].getcolors(maxcolors=1 << 16) or []) >= 2  # the rectangle is drawn
