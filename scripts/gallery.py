"""Make the gallery's screenshots: every sample game, played by its autopilot in real windows.

Usage (needs Xvfb; run from the repository root)::

    python scripts/gallery.py [--seconds 8] [--autopilot 1] [--out docs/img/gallery] [--json]

For each sample that ``arcade-p2p play`` knows, the script starts a private X server and
runs ``arcade-p2p play NAME --local 2 --seconds S --autopilot SEED --screenshot ...``: two
real windows, linked over UDP, fed by the seeded autopilot, that stop at the same tick and
save their final frames. It checks that the peers converged (same state hash at the same
tick), keeps peer 1's frame as ``OUT/NAME.png`` (optimised) and notes whether both frames
are identical (not always: a game may draw the local player's view, such as "you"
labels). It prints one line per sample, or one JSON object with ``--json``; the exit code
is 1 if a sample did not converge.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import PIL.Image

from arcade_p2p.play import SAMPLES
from arcade_p2p.xvfb import missing_tools, virtual_display

SCREEN_PX = (2000, 1100)
"""Room for two of the largest sample windows side by side."""
PEERS = 2
RUN_TIMEOUT_S = 300.0


def shoot(name: str, *, display: str, seconds: float, seed: int, out: Path) -> dict[str, Any]:
    """Play sample ``name`` and save its final frame to ``out / f"{name}.png"``."""
    with tempfile.TemporaryDirectory() as scratch:
        shot = Path(scratch) / "shot.png"
        command = [sys.executable, "-m", "arcade_p2p", "play", name, "--local", str(PEERS)]
        options = ["--seconds", str(seconds), "--autopilot", str(seed), "--json"]
        done = subprocess.run(
            [*command, *options, "--screenshot", str(shot)],
            env={**_without_headless(), "DISPLAY": display},
            capture_output=True,
            text=True,
            timeout=seconds + RUN_TIMEOUT_S,
        )
        lines = done.stdout.splitlines()
        if done.returncode != 0 or not lines:
            return {"game": name, "ok": False, "error": done.stderr.strip()[-500:]}
        summary = json.loads(lines[-1])
        frames = [PIL.Image.open(shot.with_name(f"shot-{i + 1}.png")) for i in range(PEERS)]
        identical = all(frame.tobytes() == frames[0].tobytes() for frame in frames)
        target = out / f"{name}.png"
        frames[0].convert("RGB").save(target, optimize=True)
    return {
        "game": name,
        "ok": bool(summary["converged"]),
        "converged": summary["converged"],
        "identical_frames": identical,
        "final_tick": summary["final_tick"],
        "events": summary["events"],
        "path": str(target),
        "bytes": target.stat().st_size,
    }


def _without_headless() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "ARCADE_HEADLESS"}


def main() -> int:
    """Run the script; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds of autopilot play")
    parser.add_argument("--autopilot", type=int, default=1, help="autopilot seed")
    parser.add_argument("--out", type=Path, default=Path("docs/img/gallery"), help="folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if missing_tools():
        parser.error(f"{' and '.join(missing_tools())} not installed (apt-get install xvfb)")
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with virtual_display(SCREEN_PX) as display:
        for name in SAMPLES:
            result = shoot(
                name, display=display, seconds=args.seconds, seed=args.autopilot, out=args.out
            )
            results.append(result)
            if not args.json:
                print(json.dumps(result), flush=True)
    if args.json:
        print(json.dumps({"samples": results}, sort_keys=True))
    return 0 if all(result["ok"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
