"""LAN discovery: beacons, whom each peer dials, and real peers finding each other.

Tiers: the beacon format and the sans-io :class:`Neighbourhood` with ``now`` stepped by
hand; :class:`Discovery` with real multicast sockets on loopback; sessions pumped
in-process over real UDP; and real ``arcade-p2p peer`` processes with no ``--peer``.
Every test uses a room of its own (random suffix) and the test run's private discovery
group and port (see ``conftest.py``), so parallel runs on one machine never meet. Waits
are polls with a deadline, except where a peer starting later is the scenario itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported (window test)

import contextlib
import random
import secrets
import time
from collections.abc import Callable, Iterator

import arcade
import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arcade_p2p.demo import PeerProcess
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.peer_report import PeerReport
from arcade_p2p.protocol.beacon import (
    BEACON_VERSION,
    Beacon,
    Neighbourhood,
    decode_beacon,
    encode_beacon,
)
from arcade_p2p.protocol.wire import Hello, WireCodec
from arcade_p2p.runner import PeerRunner, discover_room
from arcade_p2p.session import Session, SessionConfig
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport
from arcade_p2p.transport.discovery import (
    GROUP_ENV,
    PORT_ENV,
    Discovery,
    discovery_endpoint,
)
from arcade_p2p.window import SymmetricWindow

DEADLINE_S = 30.0
FORGET_S = 3.0


def unique_room(label: str = "room") -> str:
    return f"{label}-{secrets.token_hex(6)}"


def wait_until(condition: Callable[[], bool], timeout_s: float = DEADLINE_S) -> None:
    """Poll ``condition`` until it holds (fails the test at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.01)


# --------------------------------------------------------------------- beacon format
def test_a_beacon_round_trips_in_its_room_only() -> None:
    room = WireCodec("alpha")
    beacon = Beacon(peer=2**62 + 5, port=40_000, running=True)
    data = encode_beacon(room, beacon)
    assert decode_beacon(room, data) == beacon
    with pytest.raises(RemoteError) as other:
        decode_beacon(WireCodec("beta"), data)
    assert other.value.reason == "bad_mac"
    tampered = bytearray(data)
    tampered[5] ^= 1
    with pytest.raises(RemoteError) as bad:
        decode_beacon(room, bytes(tampered))
    assert bad.value.reason == "bad_mac"
    game_datagram = room.encode(1, 1, 1, Hello(fps=50, snapshot_every_ticks=10, reply=False))
    with pytest.raises(RemoteError) as magic:
        decode_beacon(room, game_datagram)
    assert magic.value.reason in {"bad_magic", "oversized"}
    with pytest.raises(RemoteError) as wire:
        room.decode(data)  # a beacon is never a game datagram either
    assert wire.value.reason == "bad_magic"


@given(st.binary(max_size=80))
def test_beacon_decoder_decodes_or_raises_the_remote_error(data: bytes) -> None:
    room = WireCodec("fuzz")
    with contextlib.suppress(RemoteError):
        decode_beacon(room, data)


def test_signed_beacons_with_bad_fields_are_malformed() -> None:
    room = WireCodec("alpha")
    for body in ([1, 0, True], [1, 70_000, True], [-1, 5, True], [1, 5, 1], [1, 5]):
        signed = b"AB" + bytes((BEACON_VERSION,)) + msgpack.packb(body)
        with pytest.raises(RemoteError) as bad:
            decode_beacon(room, signed + room.mac(signed))
        assert bad.value.reason == "malformed", body


# --------------------------------------------------------------------- neighbourhood
def heard(hood: Neighbourhood, peer: int, now: float, *, running: bool = True) -> None:
    hood.hear(Beacon(peer, 1000 + peer, running), f"10.0.0.{peer % 250}", now)


def test_join_dials_running_peers_only_and_at_most_the_bound() -> None:
    hood = Neighbourhood(50, max_dials=2, forget_after_s=FORGET_S, rng=random.Random(1))
    heard(hood, 50, 0.0)  # its own beacon, looped back
    heard(hood, 7, 0.0, running=False)  # a newcomer still probing
    assert hood.join(0.0) == []
    for peer in (60, 70, 80):
        heard(hood, peer, 0.1)
    joined = hood.join(0.1)
    assert len(joined) == 2
    assert {port for _, port in joined} <= {1060, 1070, 1080}
    assert hood.heard(0.1) == 4


def test_choose_dials_lower_running_unlinked_peers_up_to_the_bound() -> None:
    hood = Neighbourhood(50, max_dials=2, forget_after_s=FORGET_S, rng=random.Random(2))
    heard(hood, 60, 0.0)  # higher id: it dials us, not the other way round
    heard(hood, 10, 0.0, running=False)
    heard(hood, 20, 0.0)
    assert hood.choose(0.0, linked=[("10.0.0.20", 1020)]) == []  # already a neighbour
    heard(hood, 10, 0.5)  # now running
    assert hood.choose(0.5, linked=[("10.0.0.20", 1020)]) == [("10.0.0.10", 1010)]
    assert hood.choose(0.5, linked=[]) == [("10.0.0.20", 1020)]  # that link went down
    heard(hood, 30, 0.6)
    assert hood.choose(0.6, linked=[]) == []  # two dials already
    # Peer 10 goes silent: it is forgotten and its place goes to 30.
    for now in (1.0, 2.0, 3.0, 4.0):
        heard(hood, 20, now)
        heard(hood, 30, now)
    assert hood.choose(4.0, linked=[]) == [("10.0.0.30", 1030)]


def test_a_peer_heard_on_two_interfaces_is_dialled_at_the_first_address() -> None:
    hood = Neighbourhood(50, max_dials=3, forget_after_s=FORGET_S, rng=random.Random(3))
    hood.hear(Beacon(5, 4000, True), "127.0.0.1", 0.0)
    hood.hear(Beacon(5, 4000, True), "192.0.2.2", 0.0)
    assert hood.choose(0.0, linked=[]) == [("127.0.0.1", 4000)]


@pytest.mark.parametrize("seed", range(20))
def test_the_discovered_graph_is_connected_with_bounded_dials(seed: int) -> None:
    """Peers start one after another in random order; each joins, then keeps choosing."""
    rng = random.Random(seed)
    n, max_dials = rng.randrange(2, 40), rng.randrange(1, 4)
    ids = rng.sample(range(10_000), n)
    hoods = {
        p: Neighbourhood(p, max_dials=max_dials, forget_after_s=FORGET_S, rng=random.Random(p))
        for p in ids
    }
    address = {("10.0.0.1", p): p for p in ids}
    edges: set[frozenset[int]] = set()
    dials: dict[int, int] = dict.fromkeys(ids, 0)
    running: list[int] = []

    def dial(me: int, found: list[tuple[str, int]]) -> None:
        dials[me] += len(found)
        edges.update(frozenset((me, address[a])) for a in found)

    def linked(me: int) -> list[tuple[str, int]]:
        return [("10.0.0.1", q) for e in edges if me in e for q in e if q != me]

    for now, newcomer in enumerate(ids):
        for p in running:  # the newcomer's probe reaches everyone and they answer
            hoods[p].hear(Beacon(newcomer, newcomer, False), "10.0.0.1", now)
            hoods[newcomer].hear(Beacon(p, p, True), "10.0.0.1", now)
        dial(newcomer, hoods[newcomer].join(now))
        running.append(newcomer)
        for p in running:  # a round of periodic beacons, then each peer's choice
            for q in running:
                hoods[q].hear(Beacon(p, p, True), "10.0.0.1", now + 0.5)
        for p in running:
            dial(p, hoods[p].choose(now + 0.5, linked(p)))
    assert max(dials.values()) <= max_dials
    reached, frontier = {ids[0]}, [ids[0]]
    while frontier:
        p = frontier.pop()
        for e in edges:
            if p in e:
                for q in e - reached:
                    reached.add(q)
                    frontier.append(q)
    assert reached == set(ids)


# --------------------------------------------------------------------- real sockets
def open_discovery(room: str, peer_id: int, port: int = 40_000) -> Discovery:
    return Discovery(WireCodec(room), peer_id=peer_id, game_address=("127.0.0.1", port))


def test_discovery_on_loopback_links_a_room_and_ignores_another() -> None:
    room = unique_room()
    with (
        open_discovery(room, 1, 40_001) as first,
        open_discovery(unique_room("other"), 3, 40_003) as stranger,
    ):
        assert first.join(timeout_s=0.0) == []  # nobody running yet: it starts alone
        stranger.join(timeout_s=0.0)
        with open_discovery(room, 2, 40_002) as second:
            assert second.join() == [("127.0.0.1", 40_001)]  # the running peer answered
            wait_until(lambda: second.stats().dropped.get("bad_mac", 0) > 0)
            assert second.stats().peers_heard == 1
            assert first.choose(linked=[]) == []  # 2 > 1: the higher id dials, not us
        wait_until(lambda: stranger.stats().dropped.get("bad_mac", 0) >= 2)
        assert stranger.stats().peers_heard == 0
        assert stranger.choose(linked=[]) == []
        assert first.stats().beacons_sent > 0


def test_another_group_on_the_same_port_is_not_heard(monkeypatch: pytest.MonkeyPatch) -> None:
    """What keeps parallel test runs apart: each has a group (and port) of its own."""
    with open_discovery(unique_room("a"), 1) as first:
        monkeypatch.setenv(GROUP_ENV, "239.192.255.254")
        with open_discovery(unique_room("b"), 2) as second:
            first.join(timeout_s=0.0)
            second.join(timeout_s=0.0)
            wait_until(lambda: min(first.stats().beacons_sent, second.stats().beacons_sent) >= 2)
            for discovery in (first, second):
                assert discovery.stats().dropped == {}  # not even as another room's


def test_a_bad_override_of_the_discovery_port_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PORT_ENV, "seventy")
    with pytest.raises(UsageError):
        discovery_endpoint()


def pump_until(runners: list[PeerRunner], done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline, "peers did not finish before the deadline"
        for runner in runners:
            runner.pump(time.monotonic())
        runners[0].transport.wait(0.005)


@pytest.mark.parametrize("alone_id", [1, 9])
def test_a_peer_that_ran_alone_then_discovers_the_room_converges(alone_id: int) -> None:
    """The late discovery is dialled from either side (lower ids are dialled)."""
    config = SessionConfig(delay_ms=60, room=unique_room())
    end_tick = 150
    with UdpTransport() as t_room, UdpTransport() as t_alone:
        now = time.monotonic()
        room = Session(MovingRectApp(), peer_id=5, config=config, now=now)
        alone = Session(MovingRectApp(), peer_id=alone_id, config=config, now=now)
        with discover_room(room, t_room, now=now) as d_room:
            r_room = PeerRunner(room, t_room, max_tick=end_tick, discovery=d_room)
            r_alone = PeerRunner(alone, t_alone, max_tick=end_tick)
            # The lone peer emits on its own for 20 ticks, unseen by the room.
            room.emit("key", "up", now=now)
            alone.emit("key", "left", now=now)
            pump_until([r_room, r_alone], lambda: alone.tick > 20)
            alone.emit("key", "down", now=time.monotonic())
            assert alone.stats().neighbours == room.stats().neighbours == 0
            with Discovery(
                alone.node.codec, peer_id=alone_id, game_address=t_alone.address
            ) as d_alone:
                for address in d_alone.join(timeout_s=0.0):  # too late to be a joiner
                    alone.add_peer(address, now=time.monotonic())
                r_alone.discovery = d_alone
                pump_until([r_room, r_alone], lambda: r_room.finished and r_alone.finished)
                pump_until(
                    [r_room, r_alone],
                    lambda: (
                        room.stats().events == alone.stats().events == 3
                        and room.timeline.digest() == alone.timeline.digest()
                    ),  # presence too
                )
                assert room.stats().neighbours == alone.stats().neighbours == 1
    assert room.state_hash() == alone.state_hash()


class Ticks(SymmetricWindow):
    WIDTH_PX = 80
    HEIGHT_PX = 60

    def on_start(self) -> None:
        self.state = 0

    def on_update(self, delta_time: float) -> None:
        self.state += 1


@pytest.mark.skipif(not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS")
def test_two_windows_with_discovery_become_neighbours() -> None:
    config = SessionConfig(room=unique_room())
    first = Ticks(config=config, discover=True)
    try:
        second = Ticks(config=config, discover=True)
        try:
            deadline = time.monotonic() + DEADLINE_S
            while second.session.stats().neighbours == 0 or first.session.stats().neighbours == 0:
                assert time.monotonic() < deadline
                for window in (first, second):
                    window.step_frame(time.monotonic())
            assert second.session.peer_id != first.session.peer_id
        finally:
            second.close()
    finally:
        first.close()


# --------------------------------------------------------------------- peer processes
LATE_START_S = 1.0
RUN = ["--delay-ms", "60", "--rate", "300", "--seconds", "6", "--settle", "2", "--json"]
END_TICK = 400


def start_peer(index: int, *argv: str) -> PeerProcess:
    process = PeerProcess(index, [*RUN, *argv])
    process.read_address(time.monotonic() + DEADLINE_S)
    return process


def finish(process: PeerProcess) -> PeerReport:
    assert process.process.wait(timeout=DEADLINE_S) == 0, process.error_tail()
    report = process.report()
    assert report is not None
    return report


@pytest.fixture(scope="module")
def lan() -> Iterator[dict[str, PeerReport]]:
    """Peer "early" of room R and "stranger" of another room start together; "late" of
    room R starts a second after "early" is up (a joiner found by discovery). Nobody is
    given an address. Runs are long enough for slow process start-ups on a busy machine.
    """
    room = unique_room()
    early = PeerProcess(0, [*RUN, "--room", room])
    stranger = PeerProcess(1, [*RUN, "--room", unique_room("other")])
    processes = [early, stranger]
    try:
        for process in processes:
            process.read_address(time.monotonic() + DEADLINE_S)
        time.sleep(LATE_START_S)  # the scenario (a late joiner), not a synchronisation
        processes.append(start_peer(2, "--room", room))
        names = ("early", "stranger", "late")
        yield {name: finish(process) for name, process in zip(names, processes)}
    finally:
        for process in processes:
            process.stop()


def test_two_peers_of_a_room_find_each_other_and_agree(lan: dict[str, PeerReport]) -> None:
    early, late = lan["early"], lan["late"]
    assert early.neighbours == late.neighbours == 1
    assert late.discovered >= 1  # the late joiner found the running peer
    assert early.final_tick == late.final_tick == early.end_tick == END_TICK
    assert early.state_hash == late.state_hash
    emitted = early.events_emitted + late.events_emitted
    assert early.events == late.events == emitted  # the joiner caught up on everything


def test_a_peer_of_another_room_stays_alone(lan: dict[str, PeerReport]) -> None:
    stranger = lan["stranger"]
    assert stranger.neighbours == 0
    assert stranger.discovered == 0
    assert stranger.events == stranger.events_emitted > 0
    assert stranger.beacons_dropped.get("bad_mac", 0) > 0
    for name in ("early", "late"):
        assert lan[name].beacons_dropped.get("bad_mac", 0) > 0  # its beacons were dropped
        assert lan[name].dropped == {}  # and it never sent them a game datagram


def test_no_discover_opens_no_beacon_socket() -> None:
    room = unique_room()
    with open_discovery(room, 1) as listener:
        listener.join(timeout_s=0.0)  # a running peer of the room, answering probes
        peer = start_peer(0, "--room", room, "--no-discover", "--seconds", "1", "--settle", "1")
        report = finish(peer)
        assert listener.stats().beacons_received == 0  # it never sent a beacon
    assert report.discovered == 0
    assert report.beacons_dropped == {}
    assert report.neighbours == 0
