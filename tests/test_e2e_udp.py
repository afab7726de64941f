"""End to end over real UDP on loopback: peer processes, the demo, and the runner in-process.

Every socket is bound to port 0; processes report their real port on their first line.
Nothing waits on a sleep: each wait is a poll or a blocking call with a deadline.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from arcade_p2p.demo import PeerProcess
from arcade_p2p.peer_report import PeerReport
from arcade_p2p.repair_batching import deep_repair_ticks
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport

DEADLINE_S = 30.0
GOOD_IDS = (11, 2**40 + 22, 2**62 + 33)  # ids need not be contiguous
INTRUDER_ID = 99
RUN = [
    "--seconds", "2", "--settle", "2", "--rate", "600", "--delay-ms", "60",
    "--emulate-latency-ms", "10", "--emulate-jitter-ms", "5", "--emulate-loss", "0.05",
    "--json",
]  # fmt: skip


@pytest.fixture(scope="module")
def network() -> Iterator[dict[int, PeerReport]]:
    """Three peers of room "lobby" in a full mesh, plus one of room "other" dialing all."""
    processes: list[PeerProcess] = []
    try:
        addresses: list[str] = []
        for index, peer_id in enumerate(GOOD_IDS):
            dial = [arg for address in addresses for arg in ("--peer", address)]
            process = PeerProcess(index, ["--id", str(peer_id), *RUN, *dial])
            processes.append(process)
            addresses.append(process.read_address(time.monotonic() + DEADLINE_S))
        dial = [arg for address in addresses for arg in ("--peer", address)]
        intruder = PeerProcess(3, ["--id", str(INTRUDER_ID), "--room", "other", *RUN, *dial])
        processes.append(intruder)
        intruder.read_address(time.monotonic() + DEADLINE_S)
        reports: dict[int, PeerReport] = {}
        for process in processes:
            assert process.process.wait(timeout=DEADLINE_S) == 0, process.error_tail()
            report = process.report()
            assert report is not None
            reports[report.peer] = report
        yield reports
    finally:
        for process in processes:
            process.stop()


def test_peers_over_udp_end_with_the_same_state_and_no_lost_event(
    network: dict[int, PeerReport],
) -> None:
    good = [network[peer_id] for peer_id in GOOD_IDS]
    emitted = sum(r.events_emitted for r in good)
    assert all(r.events_emitted > 0 for r in good)
    assert {r.state_hash for r in good} == {good[0].state_hash}
    assert all(r.final_tick == r.end_tick == 200 for r in good)
    assert all(r.events == emitted for r in good)  # no event lost, no stranger's event
    assert all(r.neighbours == 2 for r in good)


def test_a_peer_of_another_room_is_ignored(network: dict[int, PeerReport]) -> None:
    intruder = network[INTRUDER_ID]
    assert intruder.events_emitted > 0
    assert intruder.events == intruder.events_emitted  # it never got anything either
    assert intruder.neighbours == 0
    for peer_id in GOOD_IDS:
        report = network[peer_id]
        assert report.dropped.get("bad_mac", 0) > 0
        assert report.state_hash != intruder.state_hash


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcade_p2p", *argv],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )


def test_headless_demo_agrees() -> None:
    done = run_cli("demo", "--headless", "--peers", "2", "--seconds", "1", "--settle", "1.5")
    assert done.returncode == 0, done.stderr
    assert "all 2 peers agree: " in done.stdout
    assert "every peer has all" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["peer", "--emulate-loss", "2"],
        ["peer", "--seconds", "0"],
        ["peer", "--max-tick", "-5"],
        ["peer", "--delay-ms", "0"],
        ["demo", "--headless", "--loss", "1"],
        ["peer", "--fps", "0"],
        ["peer", "--peer", "nowhere"],
        ["peer", "--seconds", "nan"],
        ["peer", "--clock", "sundial"],
        ["demo"],
        ["demo", "--headless", "--peers", "1"],
    ],
)
def test_bad_flags_are_one_line_usage_errors(argv: list[str]) -> None:
    done = run_cli(*argv)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "error" in done.stderr


# --------------------------------------------------------------------- runner in-process
def test_runner_pumps_two_sessions_over_udp_to_the_same_state() -> None:
    end_tick = 100
    config = SessionConfig(delay_ms=100)
    with UdpTransport() as ta, UdpTransport() as tb:
        now = time.monotonic()
        a = Session(MovingRectApp(), peer_id=1, config=config, now=now)
        b = Session(MovingRectApp(), peer_id=2, config=config, now=now)
        b.add_peer(ta.address, now=now)
        a.emit("key", "up", now=now)
        b.emit("key", "left", now=now)
        runners = [PeerRunner(a, ta, max_tick=end_tick), PeerRunner(b, tb, max_tick=end_tick)]
        deadline = now + DEADLINE_S
        while time.monotonic() < deadline:
            now = time.monotonic()
            for runner in runners:
                runner.pump(now)
            if all(r.finished and r.session.stats().events == 2 for r in runners):  # not presence
                break
            wakeup = min(runner.next_wakeup(now) for runner in runners)
            ta.wait(wakeup - time.monotonic())
        assert a.tick == b.tick == end_tick + 1
        assert a.state_hash() == b.state_hash()
        assert a.stats().neighbours == b.stats().neighbours == 1


def test_runner_run_stops_when_told_and_calls_its_hook() -> None:
    with UdpTransport() as transport:
        session = Session(MovingRectApp(), peer_id=5, now=time.monotonic())
        runner = PeerRunner(session, transport, max_tick=10, gossip_thread=False)
        wakes: list[float] = []

        def hook(now: float) -> float:
            wakes.append(now)
            return math.inf

        runner.run(until=lambda now: runner.finished, on_wake=hook)
        assert session.tick == 11 and runner.finished
        assert wakes == sorted(wakes) and len(wakes) >= 1
        assert runner.next_wakeup(time.monotonic()) == session.network_timer()


def test_a_runner_is_finished_only_once_an_event_that_reached_it_late_is_repaired() -> None:
    """An event stamped before ``max_tick`` that arrives after the runner simulated it is
    repaired before the runner says it is finished (a deep repair waits a little for more
    late events first), so a finished runner's state hash is final."""
    config = SessionConfig(delay_ms=0)
    late_ticks = 3 * deep_repair_ticks(config.fps, max_delta_ticks=1)
    with UdpTransport() as ta, UdpTransport() as tb:
        now = time.monotonic()
        a = Session(MovingRectApp(), peer_id=1, config=config, now=now)
        b = Session(MovingRectApp(), peer_id=2, config=config, now=now)
        b.add_peer(ta.address, now=now)
        ra = PeerRunner(a, ta, gossip_thread=False)
        rb = PeerRunner(b, tb, gossip_thread=False)
        pump_until([ra, rb], lambda: not b.joining and a.stats().neighbours == 1)
        event = b.emit("key", "up", now=time.monotonic())  # held by b until b is pumped
        ra.max_tick = rb.max_tick = event.tick + late_ticks
        pump_until([ra], lambda: ra.finished)  # b is silent meanwhile
        pump_until([ra, rb], lambda: a.timeline.get(event.source, event.seq) is not None)
        assert a.machine.pending_repair == event.tick  # a deep repair waits a little
        assert not ra.finished
        pump_until([ra, rb], lambda: ra.finished and rb.finished)
        assert a.machine.stats.rollbacks >= 1 and a.state_hash() == b.state_hash()


def pump_until(runners: list[PeerRunner], done: Callable[[], bool]) -> None:
    """Pump ``runners`` in real time until ``done()`` (within :data:`DEADLINE_S`)."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        now = time.monotonic()
        assert now < deadline, [r.session.stats() for r in runners]
        for runner in runners:
            runner.pump(now)
        wakeup = min(runner.next_wakeup(now) for runner in runners)
        runners[0].wait(min(wakeup, now + 0.01) - time.monotonic())
