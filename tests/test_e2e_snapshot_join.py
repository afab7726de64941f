"""End to end over real UDP on loopback: a peer joins a running room from a snapshot.

Three in-process peers (real sockets on port 0, real pymunk) play for a while; a fourth
joins, fetches a settled snapshot in chunks, verifies it against the reports of the
others and ends with the same state hash. Nothing waits on a sleep: the loop blocks in
the transport until the next wake-up or a datagram. The deadlines are generous (a loaded
machine may run the loop slowly): the joiner's hold may last as long as the test, so a
slow start cannot turn the snapshot join into a replay from START.
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack

from test_physics import BallsApp

from arcade_p2p.protocol.wire import SNAP_CHUNK_BYTES
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.transport import UdpTransport

DEADLINE_S = 120.0
PLAY_S = 2.0
END_TICK = 400
IDS = (1, 2, 3)
JOINER_ID = 99


def test_a_peer_joins_a_running_room_over_udp_from_a_snapshot() -> None:
    config = SessionConfig(delay_ms=100)
    rng = random.Random(1)
    with ExitStack() as stack:
        transports = [stack.enter_context(UdpTransport()) for _ in range(4)]
        start = time.monotonic()
        sessions = [Session(BallsApp(), peer_id=i, config=config, now=start) for i in IDS]
        for i, session in enumerate(sessions[1:], 1):  # a triangle
            for other in transports[:i]:
                session.add_peer(other.address, now=start)
        runners = [PeerRunner(s, t, max_tick=END_TICK) for s, t in zip(sessions, transports)]
        joiner: Session | None = None
        deadline = start + DEADLINE_S
        next_push = start
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_push and sessions[0].tick < END_TICK - 60:
                pusher = sessions[rng.randrange(3)]
                pusher.emit("push", [rng.randint(-40, 40), rng.randint(0, 60)], now=now)
                next_push = now + 0.1
            if joiner is None and now - start >= PLAY_S:
                joiner = Session(BallsApp(), peer_id=JOINER_ID, config=config, now=now)
                joiner.join.timeout_s = DEADLINE_S  # it lets go once it holds the history
                joiner.add_peer(transports[0].address, now=now)
                joiner.add_peer(transports[1].address, now=now)
                runners.append(PeerRunner(joiner, transports[3], max_tick=END_TICK))
            for runner in runners:
                runner.pump(now)
            counts = {len(r.session.timeline) for r in runners}
            if joiner is not None and all(r.finished for r in runners) and len(counts) == 1:
                break
            wakeup = min(runner.next_wakeup(now) for runner in runners)
            transports[0].wait(max(0.0, min(wakeup, now + 0.01) - time.monotonic()))
        assert joiner is not None
        assert all(r.finished for r in runners), [r.session.tick for r in runners]
        transfer = joiner.node.transfer
        assert transfer is not None
        assert transfer.stats.installed == 1, (transfer.stats, dict(joiner.node.dropped))
        base = joiner.machine.base_tick
        assert base is not None and base >= PLAY_S * config.fps - 50
        assert len(sessions[0].app.save_state()) > 5 * SNAP_CHUNK_BYTES  # several chunks
        assert len({len(r.session.timeline) for r in runners}) == 1
        assert {r.session.state_hash() for r in runners} == {sessions[0].state_hash()}
