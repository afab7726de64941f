"""End to end over real UDP on loopback: a peer diverges, its neighbours raise the alarm,
write forensics bundles, and ``arcade-p2p replay`` shows the divergence.

Every socket is bound to port 0. Nothing waits on a sleep: the loop waits in the
transport until the next timer or datagram, with a deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from arcade_p2p.desync import DesyncReport
from arcade_p2p.desync_bundle import DesyncBundle
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp, diverge
from arcade_p2p.transport import UdpTransport

DEADLINE_S = 30.0
DIVERGE_AFTER_S = 1.0
IDS = (101, 202, 303)


def test_a_diverging_peer_is_reported_with_a_bundle_that_replays(tmp_path: Path) -> None:
    config = SessionConfig(delay_ms=100)
    alarms: dict[int, list[DesyncReport]] = {peer_id: [] for peer_id in IDS}
    transports = [UdpTransport() for _ in IDS]
    try:
        now = time.monotonic()
        sessions = [Session(MovingRectApp(), peer_id=i, config=config, now=now) for i in IDS]
        for index, session in enumerate(sessions):
            session.on_desync = alarms[session.peer_id].append
            for earlier in transports[:index]:
                session.add_peer(earlier.address, now=now)
            session.emit("key", ("up", "left", "down")[index], now=now)
        runners = [
            PeerRunner(s, t, desync_dir=tmp_path / str(s.peer_id))
            for s, t in zip(sessions, transports, strict=True)
        ]
        start = now
        diverged = False
        deadline = start + DEADLINE_S
        while time.monotonic() < deadline:
            now = time.monotonic()
            if not diverged and now - start > DIVERGE_AFTER_S:
                sessions[2].pump_ticks(now=now)
                diverge(sessions[2].app)  # peer 303 silently leaves the shared history
                diverged = True
            for runner in runners:
                runner.pump(now)
            if [len(runner.bundles_written) for runner in runners] == [1, 1, 2]:
                break
            wakeup = min(runner.next_wakeup(now) for runner in runners)
            transports[0].wait(wakeup - time.monotonic())
    finally:
        for transport in transports:
            transport.close()
    # The diverging peer disagrees with both others; each of them with it alone.
    assert {r.other for r in alarms[303]} == {101, 202}
    assert [r.other for r in alarms[101]] == [303] and [r.other for r in alarms[202]] == [303]
    assert sessions[0].desync == alarms[101][0]
    assert alarms[101][0].events_digest != "0" * 16  # the events before the tick are shared
    written = runners[0].bundles_written
    assert len(written) == 1
    bundle = DesyncBundle.from_bytes(written[0].read_bytes())
    assert (bundle.peer, bundle.other) == (101, 303)
    assert bundle.other_state is not None  # fetched over UDP
    assert [d["path"] for d in bundle.diff] == ["state.x"]

    done = subprocess.run(
        [sys.executable, "-m", "arcade_p2p", "replay", str(written[0])],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "peer 101: matches the re-simulation" in done.stdout
    assert f"peer 303: first divergent tick {bundle.tick}" in done.stdout
    assert "state.x: re-simulated" in done.stdout

    done = subprocess.run(
        [sys.executable, "-m", "arcade_p2p", "replay", "--json", str(written[0])],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    result = json.loads(done.stdout)
    verdicts = {v["peer"]: v for v in result["peers"]}
    assert verdicts[101]["first_divergent_tick"] is None
    assert verdicts[303]["first_divergent_tick"] == bundle.tick
    assert [f["path"] for f in verdicts[303]["fields"]] == ["state.x"]
