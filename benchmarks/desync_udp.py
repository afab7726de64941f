"""Desync detection over real UDP: three peers on loopback, one silently diverges.

Three sessions of the moving rectangle run in this process over real UDP sockets (port 0)
in real time, in a full mesh, each pressing a key now and then (all along). After the warm-up, peer
303's rectangle is shifted by one pixel without telling anyone
(:func:`arcade_p2p.sim.moving_rect.diverge`). The script prints how long it took until the
first ``on_desync`` alarm and until every forensics bundle was written, and leaves the
bundles in ``--out`` for ``arcade-p2p replay``. It asserts nothing.

    python benchmarks/desync_udp.py --out /tmp/desyncs     # readable figures
    python benchmarks/desync_udp.py --out /tmp/desyncs --json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from arcade_p2p.desync import DesyncReport
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import DIRECTIONS, MovingRectApp, diverge
from arcade_p2p.transport import UdpTransport

IDS = (101, 202, 303)
WARMUP_S = 3.0
KEY_CHANCE_PER_WAKE = 0.05
DEADLINE_S = 30.0


def run(out: Path, seed: int) -> dict[str, object]:
    """Run the three peers until every bundle is written; return the figures."""
    rng = random.Random(seed)
    config = SessionConfig(delay_ms=100)
    transports = [UdpTransport() for _ in IDS]
    alarms: list[tuple[float, DesyncReport]] = []
    try:
        start = time.monotonic()
        sessions = [Session(MovingRectApp(), peer_id=i, config=config, now=start) for i in IDS]
        for index, session in enumerate(sessions):
            session.on_desync = lambda report: alarms.append((time.monotonic(), report))
            for earlier in transports[:index]:
                session.add_peer(earlier.address, now=start)
        runners = [
            PeerRunner(s, t, desync_dir=out) for s, t in zip(sessions, transports, strict=True)
        ]
        diverged_at = None
        while time.monotonic() < start + DEADLINE_S:
            now = time.monotonic()
            if diverged_at is None and now - start >= WARMUP_S:
                sessions[2].pump_ticks(now=now)
                diverge(sessions[2].app)
                diverged_at = now
            for session in sessions:
                if rng.random() < KEY_CHANCE_PER_WAKE:
                    session.pump_ticks(now=now)
                    session.emit("key", rng.choice(sorted(DIRECTIONS)), now=now)
            for runner in runners:
                runner.pump(now)
            if sum(len(r.bundles_written) for r in runners) == 4:  # 2 pairs, both sides
                break
            wakeup = min(runner.next_wakeup(now) for runner in runners)
            transports[0].wait(min(wakeup - time.monotonic(), 0.02))
        done_at = time.monotonic()
    finally:
        for transport in transports:
            transport.close()
    assert diverged_at is not None
    written = [str(path) for r in runners for path in r.bundles_written]
    return {
        "events": len(sessions[0].timeline),
        "desyncs_detected": len(alarms),
        "desync_detect_s": round(min(t for t, _ in alarms) - diverged_at, 3) if alarms else None,
        "bundles_written_s": round(done_at - diverged_at, 3),
        "bundles": written,
        "bundle_bytes": [Path(p).stat().st_size for p in written],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("arcade-p2p-desyncs"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = run(args.out, args.seed)
    if args.json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:18} {value}")


if __name__ == "__main__":
    main()
