"""What continuous input costs: mouse motion sent raw versus coalesced, between two peers.

Two headless ``sample_games.coin_collector`` windows talk over real UDP on loopback,
stepped on a virtual clock (one frame per tick). Peer A's mouse sweeps the field with
``--motion-per-frame`` motion callbacks every frame (a 125 Hz mouse gives 2-3 at 50 fps)
for ``--seconds``. Three runs: no motion (the idle protocol traffic), motion broadcast
raw (one event per callback, as a naive port does), and motion coalesced by the sample's
``coalesce("aim", AIM_RATE_HZ)``. Prints events sent, A's bytes out above idle, bytes per
event, and the rollbacks the events cause at B (B steps first in each frame, so A's
events reach it after their tick whenever Delta is one tick).

    python benchmarks/input_cost.py
    python benchmarks/input_cost.py --json
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

from arcade_p2p.clock import ClockMode
from arcade_p2p.session import SessionConfig
from sample_games.coin_collector import AIM_RATE_HZ, HEIGHT_PX, WIDTH_PX, CoinCollector

FPS = 50
INSTANT = SessionConfig(fps=FPS, delay_ms=0, clock=ClockMode.PAPER)


class RawAim(CoinCollector):
    """The naive port: one broadcast per motion callback."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.game_view.on_mouse_motion = self._raw_motion  # type: ignore[method-assign]

    def _raw_motion(self, x: int, y: int, dx: int, dy: int) -> None:
        self.broadcast("aim", [int(x), int(y)])


def run(kind: str, seconds: float, motion_per_frame: int) -> dict[str, float]:
    cls = RawAim if kind == "raw" else CoinCollector
    a = cls(now=0.0, config=INSTANT)
    b = CoinCollector(now=0.0, config=INSTANT, peers=[a.address])
    try:
        for view_window in (a, b):
            view_window.show_view(view_window.game_view)
        frames = int(seconds * FPS)
        callbacks = 0
        for frame in range(frames):
            now = (frame + 0.5) / FPS
            b.step_frame(now)
            a.step_frame(now)
            if kind != "idle":
                for step in range(motion_per_frame):
                    x = (frame * motion_per_frame + step) * 3 % WIDTH_PX
                    a.game_view.on_mouse_motion(x, HEIGHT_PX // 2, 3, 0)
                    callbacks += 1
        for extra in range(FPS):  # let the last events arrive
            now = (frames + extra + 0.5) / FPS
            b.step_frame(now)
            a.step_frame(now)
        log = a.session.timeline.source_log(a.session.peer_id)
        return {
            "callbacks": callbacks,
            "events": 0 if log is None else log.highest,
            "bytes_out": a.session.stats().bytes_out,
            "rollbacks_at_b": b.session.stats().rollbacks,
            "rollback_ticks_at_b": b.session.stats().rollback_ticks,
        }
    finally:
        a.close()
        b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of mouse motion")
    parser.add_argument("--motion-per-frame", type=int, default=3, help="callbacks per frame")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = {
        kind: run(kind, args.seconds, args.motion_per_frame)
        for kind in ("idle", "raw", "coalesced")
    }
    idle = results["idle"]["bytes_out"]
    for kind in ("raw", "coalesced"):
        r = results[kind]
        extra = r["bytes_out"] - idle
        r["extra_bytes_out"] = extra
        r["bytes_per_event"] = round(extra / r["events"], 1) if r["events"] else 0.0
        r["events_per_s"] = round(r["events"] / args.seconds, 1)
    report = {"fps": FPS, "aim_rate_hz": AIM_RATE_HZ, "seconds": args.seconds, **results}
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{args.seconds:g} s of mouse motion, {args.motion_per_frame} callbacks per frame "
        f"at {FPS} fps; idle traffic from A: {idle} bytes"
    )
    for kind in ("raw", "coalesced"):
        r = results[kind]
        print(
            f"{kind:>9}: {r['events']} events ({r['events_per_s']}/s) from {r['callbacks']} "
            f"callbacks, {r['extra_bytes_out']} bytes out above idle "
            f"({r['bytes_per_event']} per event), B rolled back {r['rollbacks_at_b']} times "
            f"({r['rollback_ticks_at_b']} ticks)"
        )


if __name__ == "__main__":
    main()
