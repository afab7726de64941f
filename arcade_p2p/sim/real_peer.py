"""One peer of a real multi-process run (started by :mod:`arcade_p2p.sim.real`).

How this works: the parent passes one JSON argument -- the peer id,
session settings, link emulation, neighbours to dial, the planned inputs and the end
tick -- and reads back ``listening on HOST:PORT`` and, at the end, one JSON report. The
peer runs the moving rectangle over real UDP with the real-time
:class:`~arcade_p2p.runner.PeerRunner`, emits its inputs at their planned times, and
samples its counters once per second of the shared monotonic clock (all processes on one
machine read the same ``time.monotonic()``), so the parent can line samples up across
processes.

Run as ``python -m arcade_p2p.sim.real_peer``; it is not meant to be started by hand.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from typing import Any

from arcade_p2p.clock import ClockMode
from arcade_p2p.histogram import Histogram
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.memory import measure_peers
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import LinkEmulation, LinkModel, UdpTransport

__all__ = ["main"]

SAMPLE_PERIOD_S = 1.0
LINGER_S = 1.5
"""Seconds of networking after the end tick, so that stragglers are still repaired."""


def main() -> int:
    """Run one peer from the JSON spec in ``sys.argv[1]``; print the report on stdout."""
    spec: dict[str, Any] = json.loads(sys.argv[1])
    model = LinkModel.from_ms(
        spec["latency_ms"], spec["jitter_ms"], loss=spec["loss"], duplicate=spec["duplicate"]
    )
    emulation = LinkEmulation(model, seed=spec["peer_id"])
    config = SessionConfig(
        fps=spec["fps"],
        delay_ms=spec["delay_ms"],
        auto_start_ms=spec["auto_start_ms"],
        clock=ClockMode(spec["clock"]),
        room=spec["room"],
        key=spec["key"],
        presence=False,  # the simulator's workload (see SimConfig.session_config)
    )
    t0: float = spec["t0"]
    with UdpTransport("127.0.0.1", 0, emulation=emulation) as transport:
        host, port = transport.address
        print(f"listening on {host}:{port}", flush=True)
        now = time.monotonic()
        session = Session(MovingRectApp(), peer_id=spec["peer_id"], config=config, now=now)
        for host_port in spec["dial"]:
            session.add_peer((host_port[0], host_port[1]), now=now)
        with PeerRunner(session, transport, max_tick=spec["end_tick"]) as runner:
            recorder = _Recorder(runner, spec["inputs"], t0)
            runner.run_to_end(linger_s=LINGER_S, on_wake=recorder.wake)
        report = recorder.report()  # the gossip thread has stopped: nothing moves now
    print(json.dumps(report), flush=True)
    return 0


class _Recorder:
    """Emits planned inputs and samples counters once per second."""

    def __init__(self, runner: PeerRunner, inputs: list[list[Any]], t0: float) -> None:
        self.runner = runner
        self.session = runner.session
        self.t0 = t0
        self.inputs = deque((t0 + t, name, payload) for t, name, payload in inputs)
        self.samples: list[list[float]] = []
        self.depths: list[list[Any]] = []
        """``[time, {depth bucket: rollbacks}]``: the rollbacks since the previous sample."""
        self._depths_seen = Histogram()
        self.emitted = 0
        now = time.monotonic()
        self.next_sample = t0 + math.ceil((now - t0) / SAMPLE_PERIOD_S) * SAMPLE_PERIOD_S

    def wake(self, now: float) -> float:
        while self.inputs and self.inputs[0][0] <= now:
            _, name, payload = self.inputs.popleft()
            self.session.emit(name, payload, now=now)
            self.emitted += 1
        if now >= self.next_sample:
            self._sample(self.next_sample, now)
            self.next_sample += SAMPLE_PERIOD_S * math.ceil(
                (now - self.next_sample + 1e-9) / SAMPLE_PERIOD_S
            )
        next_input = self.inputs[0][0] if self.inputs else math.inf
        return min(next_input, self.next_sample)

    def _sample(self, at: float, now: float) -> None:
        session = self.session
        self.runner.pump(now)  # sample the present, not the last wake-up
        stats = session.stats()
        t = round(at - self.t0, 3)
        depths = session.machine.rollback_depths
        new = depths.minus(self._depths_seen)
        if new.count:
            self.depths.append([t, new.to_dict()])
            self._depths_seen = depths.copy()
        self.samples.append(
            [
                t,
                stats.tick,
                stats.live_ticks,
                stats.rollback_ticks,
                stats.rollbacks,
                stats.bytes_out,
                stats.events_emitted,
                stats.delta_ticks_total,
                stats.deliveries,
                stats.late_deliveries,
            ]
        )

    def report(self) -> dict[str, Any]:
        session = self.session
        state_hash = session.state_hash()
        now = time.monotonic()
        self._sample(now, now)
        return {
            "peer_id": session.peer_id,
            "samples": self.samples,
            "depths": self.depths,
            "state_hash": state_hash,
            "digest": session.timeline.digest().hex(),
            "events": len(session.timeline),
            "emitted": self.emitted,
            "final_tick": session.tick - 1,
            "dropped": session.stats().dropped,
            "memory_mb": measure_peers([session]).mb_per_peer,
            "history_mb": measure_peers([session]).history_mb_per_peer,
        }


if __name__ == "__main__":
    sys.exit(main())
