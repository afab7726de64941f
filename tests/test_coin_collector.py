"""The ported Arcade example (sample_games.coin_collector) plays the same on every peer.

Headless windows over real UDP on loopback (stepped on a virtual clock, as in
``test_window``), then three real OS processes each running the game on real time with
its autopilot, which must end at the same state. The determinism checker runs it from
the command line in ``test_check`` (every sample there).
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import arcade
import pytest
import test_window
from test_window import INSTANT, frames, settle

from sample_games.coin_collector import CoinCollector, MenuView, aim_point

pytestmark = pytest.mark.skipif(
    not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS before this module"
)

windows = test_window.windows  # the fixture that opens windows and closes them after
ROOT = Path(__file__).resolve().parent.parent
PROCESS_TIMEOUT_S = 120
START_LEAD_S = 2.0
"""Time for three processes that have imported Arcade to open their windows."""
PEER = """
import json, os, random, sys, time
os.environ["ARCADE_HEADLESS"] = "1"
from arcade_p2p.session import SessionConfig
from sample_games.coin_collector import CoinCollector

room, seed, max_tick, linger_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    float(sys.argv[4])
print("ready", flush=True)
start_at, *peers = sys.stdin.readline().split()  # tick 0 time, then addresses to dial
config = SessionConfig(fps=25, delay_ms=80, room=room)
addresses = [(p.split(":")[0], int(p.split(":")[1])) for p in peers]
window = CoinCollector(config=config, peers=addresses, max_tick=max_tick, now=float(start_at))
print("%s:%d" % window.address, flush=True)
rng = random.Random(seed)
done_at = None
while done_at is None or time.monotonic() < done_at + linger_s:
    now = time.monotonic()
    window.step_frame(now)
    if window.finished:
        done_at = done_at or now
    else:
        window.autopilot(rng)
    time.sleep(1 / config.fps)  # a game loop's pacing (the test waits on the processes)
field = window.state
print(json.dumps({
    "hash": window.session.state_hash(),
    "events": len(window.session.timeline),
    "rollbacks": window.session.stats().rollbacks,
    "scores": sorted(p.score for p in field.players.values()),
}), flush=True)
window.close()
"""


def test_aim_payloads_from_the_network_are_checked() -> None:
    assert aim_point([10, 20]) == (10, 20)
    assert aim_point([-5, 10_000]) == (0, 600)  # clamped to the field
    for bad in (None, [1], [1, 2, 3], [1.5, 2], ["1", 2], {"x": 1}, [True, 2]):
        assert aim_point(bad) is None


def test_two_windows_race_for_coins_and_agree(windows: Callable[..., Any]) -> None:
    a = windows(CoinCollector, config=INSTANT, max_tick=160)
    b = windows(CoinCollector, config=INSTANT, max_tick=160, peers=[a.address])
    assert isinstance(a.current_view, MenuView)  # the local menu comes first

    def enter(window: CoinCollector) -> None:
        window.dispatch_event("on_mouse_press", 400, 300, arcade.MOUSE_BUTTON_LEFT, 0)

    targets: list[int] = []

    def aim(window: CoinCollector, pick: Callable[[Any], int]) -> None:
        coin_id = pick(window.state.coins)  # the lowest or highest coin id still there
        targets.append(coin_id)
        x, y = window.state.coins[coin_id]
        for step in range(10, 0, -1):  # a sweep of motion that ends on the coin
            window.dispatch_event("on_mouse_motion", x + step, y, -1, 0)
        window.dispatch_event("on_mouse_motion", x, y, -1, 0)

    inputs = {
        3: lambda: (enter(a), enter(b)),
        6: lambda: (aim(a, min), aim(b, max)),
        70: lambda: (aim(a, min), aim(b, max)),
    }
    now = frames([a, b], 120, inputs)
    assert a.current_view is a.game_view and b.current_view is b.game_view
    sent = a.game_view.aim.released + b.game_view.aim.released
    assert 2 <= sent <= 4 < a.game_view.aim.offered  # a sweep of 11 motions -> 1 event
    settle([a, b], now, events=sent)
    assert a.session.state_hash() == b.session.state_hash()
    assert a.state == b.state
    field = a.state
    assert set(field.players) == {a.session.peer_id, b.session.peer_id}
    assert len(set(targets)) == 4 and not set(targets) & set(field.coins)  # all reached
    assert all(p.score >= 2 for p in field.players.values())
    a.step_frame(now + 1.0)  # draw the final state: one sprite per coin and per player
    assert len(a.game_view.coin_sprites) == len(field.coins)
    assert len(a.game_view.player_sprites) == 2


def test_three_processes_with_autopilots_converge() -> None:
    """Three game processes, each playing with its own autopilot, end at one state.

    All three import Arcade first and say "ready"; then they get one tick-0 time (the
    monotonic clock is the machine's), the first opens its window and the others dial it.
    """
    room, max_tick, linger_s = f"coins-{uuid.uuid4().hex[:10]}", 150, "3"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    argv = [sys.executable, "-c", PEER, room, "", str(max_tick), linger_s]
    pipe = subprocess.PIPE
    processes = []
    try:
        for seed in (1, 2, 3):
            argv[4] = str(seed)
            process = subprocess.Popen(
                argv, stdin=pipe, stdout=pipe, stderr=pipe, text=True, env=env
            )
            processes.append(process)
        streams = [(p.stdin, p.stdout) for p in processes]
        for _, out in streams:
            assert out is not None and out.readline().strip() == "ready"
        start_at = f"{time.monotonic() + START_LEAD_S}"
        first_in, first_out = streams[0]
        assert first_in is not None and first_out is not None
        first_in.write(start_at + "\n")
        first_in.flush()
        first = first_out.readline().strip()
        for joiner_in, _ in streams[1:]:
            assert joiner_in is not None
            joiner_in.write(f"{start_at} {first}\n")
            joiner_in.flush()
        results = [p.communicate(timeout=PROCESS_TIMEOUT_S) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert [p.returncode for p in processes] == [0, 0, 0], results
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in results]
    assert len({r["hash"] for r in reports}) == 1, reports
    assert len({r["events"] for r in reports}) == 1 and reports[0]["events"] > 10
    assert len(reports[0]["scores"]) == 3  # all three joined the race (aimed in time)
