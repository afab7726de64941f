"""Desync alarms and forensics on in-process peers: the alarm, the chunked state fetch
under loss, the bundle, the restricted decoder, and the offline replay."""

from __future__ import annotations

import pickle
import random
from dataclasses import dataclass

import pytest
from pairnet import make_network

from arcade_p2p.app import StateApp
from arcade_p2p.desync import DesyncReport
from arcade_p2p.desync_bundle import DesyncBundle
from arcade_p2p.desync_replay import replay_bundle
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.presence import Presence, pack_snapshot
from arcade_p2p.protocol.state_fetch import FETCH_TIMEOUT_S, RETRY_S, StateFetch, StateServer
from arcade_p2p.protocol.wire import MAX_CHUNKS_PER_REQUEST, STATE_CHUNK_BYTES, StateRequest
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp, diverge

BIG_CELLS = 3000


@dataclass
class Board:
    """A state large enough to need many chunks."""

    cells: list[int]
    step: int = 0


class BoardApp(StateApp):
    """Every tick advances one cell; a "poke" event bumps a cell."""

    state: Board

    def start(self) -> None:
        self.state = Board([i * 7919 % 1000 for i in range(BIG_CELLS)])

    def tick(self) -> None:
        self.state.step += 1
        self.state.cells[self.state.step % BIG_CELLS] += 1

    def event(self, event: Event) -> None:
        if event.name == "poke" and isinstance(event.payload, int):
            self.state.cells[event.payload % BIG_CELLS] += 3


def _run_until_bundles(wire: object, sessions: list[Session], want: int, limit_s: float) -> list:
    bundles: list = []
    waited = 0.0
    while len(bundles) < want and waited < limit_s:
        wire.run(0.1)  # type: ignore[attr-defined]
        waited += 0.1
        for session in sessions:
            bundles += session.take_desync_bundles()
    return bundles


def test_the_alarm_fires_once_per_neighbour_and_the_bundle_replays() -> None:
    wire = make_network([(0, 1), (1, 2)])
    sessions = wire.sessions
    alarms: list[DesyncReport] = []
    for session in sessions:
        session.on_desync = alarms.append
    sessions[0].emit("key", "up", now=0.0)
    sessions[2].emit("key", "left", now=0.0)
    wire.run(3.0)
    assert all(s.desync is None for s in sessions)
    diverge(sessions[2].app)
    bundles = _run_until_bundles(wire, sessions, 2, 10.0)
    wire.run(3.0)  # more reports: still one alarm per pair
    assert sorted((r.peer, r.other) for r in alarms) == [(1007, 1014), (1014, 1007)]
    assert sessions[0].desync is None
    assert sessions[1].desync in alarms and sessions[2].desync in alarms
    for report, bundle in bundles:
        again = DesyncBundle.from_bytes(bundle.to_bytes())
        assert again == bundle
        assert bundle.app == "arcade_p2p.sim.moving_rect:MovingRectApp"
        assert bundle.base_tick < bundle.tick == report.tick
        assert [d["path"] for d in bundle.diff] == ["state.x"]
        result = replay_bundle(bundle, MovingRectApp())
        verdicts = {v.peer: v for v in result.peers}
        assert verdicts[1007].first_divergent_tick is None
        assert verdicts[1014].first_divergent_tick == bundle.tick
        assert verdicts[1014].last_agreed_tick == bundle.base_tick
        assert [f["path"] for f in verdicts[1014].fields] == ["state.x"]


def test_a_large_state_is_fetched_in_chunks_through_loss() -> None:
    lossy = random.Random(4)
    wire = make_network(
        [(0, 1)],
        config=SessionConfig(delay_ms=100),
        shape=lambda r: [] if lossy.random() < 0.2 else [0.02 + r.random() * 0.01],
    )
    sessions = [
        Session(BoardApp(), peer_id=s.peer_id, config=s.config, now=0.0, rng=random.Random(i))
        for i, s in enumerate(wire.sessions)
    ]
    wire.sessions[:] = sessions
    wire.connect()
    sessions[0].emit("poke", 5, now=0.0)
    wire.run(3.0)
    assert len(sessions[0].reports.snapshot(sessions[0].reports.latest()[0].tick) or b"") > (
        4 * STATE_CHUNK_BYTES
    )
    sessions[1].app.state.cells[17] += 1  # type: ignore[attr-defined]
    bundles = _run_until_bundles(wire, sessions, 2, 15.0)
    assert len(bundles) == 2
    for _, bundle in bundles:
        assert bundle.other_state is not None and bundle.note == ""
        assert [d["path"] for d in bundle.diff] == ["state.cells[17]"]


def test_a_state_naming_a_forbidden_class_is_refused_not_loaded() -> None:
    wire = make_network([(0, 1)])
    sessions = wire.sessions
    wire.run(3.0)
    evil = pack_snapshot(Presence(), pickle.dumps(print))  # print: not a class it allows
    sessions[1].node._state_server = StateServer(lambda tick: evil)
    diverge(sessions[1].app)
    bundles = _run_until_bundles(wire, [sessions[0]], 1, 10.0)
    assert len(bundles) == 1
    bundle = bundles[0][1]
    assert bundle.other_state == evil and bundle.diff == ()
    assert "forbidden_class" in bundle.note


def test_state_fetch_asks_again_for_what_was_lost_and_gives_up_in_time() -> None:
    blob = bytes(range(256)) * 200  # 50 chunks
    server = StateServer(lambda tick: blob if tick == 40 else None)
    fetch = StateFetch(7, 40, now=0.0)
    request = fetch.next_request(now=0.0)
    assert request == StateRequest(40, 0, MAX_CHUNKS_PER_REQUEST)
    chunks = server.answer(request)
    assert len(chunks) == MAX_CHUNKS_PER_REQUEST
    follow_up = None
    for chunk in chunks:
        if chunk.index != 3:  # lost
            follow_up = fetch.on_chunk(chunk, now=0.1) or follow_up
    assert follow_up is None and fetch.next_request(now=0.1) is None  # not yet due
    retry = fetch.next_request(now=RETRY_S + 0.01)
    assert retry is not None and retry.first == 3
    for chunk in server.answer(retry):
        follow_up = fetch.on_chunk(chunk, now=0.5) or follow_up
    while not fetch.done:
        assert follow_up is not None
        request, follow_up = follow_up, None
        for chunk in server.answer(request):
            follow_up = fetch.on_chunk(chunk, now=0.6) or follow_up
    assert fetch.blob == blob

    gone = StateFetch(7, 50, now=0.0)
    request = gone.next_request(now=0.0)
    assert request is not None
    for chunk in server.answer(request):
        gone.on_chunk(chunk, now=0.1)
    assert gone.done and gone.blob is None

    silent = StateFetch(7, 40, now=0.0)
    assert silent.next_request(now=FETCH_TIMEOUT_S) is None and silent.done


def test_a_damaged_bundle_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        DesyncBundle.from_bytes(b"not msgpack \xc1")
    with pytest.raises(UsageError):
        DesyncBundle.from_bytes(b"\x80")  # an empty map
