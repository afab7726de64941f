"""A secret room key: same room and key play together, another key is refused.

Unit tests of the codec and the configuration, the simulator with a key, and three real
``arcade-p2p peer`` processes over UDP on loopback (port 0) where two share a key.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from arcade_p2p.demo import PeerProcess
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.peer_options import add_peer_options, peer_options
from arcade_p2p.peer_report import PeerReport
from arcade_p2p.protocol.wire import Hello, WireCodec, room_key
from arcade_p2p.session import SessionConfig
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation

DEADLINE_S = 30.0
KEYED_IDS = (31, 2**50 + 32)
STRANGER_ID = 33
RUN = ["--room", "r", "--seconds", "2", "--settle", "2", "--rate", "600", "--delay-ms", "60",
       "--json"]  # fmt: skip
HELLO = Hello(50, 10, True)


def test_a_codec_with_the_same_room_and_key_decodes_what_another_key_cannot() -> None:
    sent = WireCodec("r", "correct horse").encode(1, 2, 3, HELLO)
    assert WireCodec("r", "correct horse").decode(sent).message == HELLO
    strangers = (WireCodec("r", "battery staple"), WireCodec("r"), WireCodec("s", "correct horse"))
    for stranger in strangers:
        with pytest.raises(RemoteError) as caught:
            stranger.decode(sent)
        assert caught.value.reason == "bad_mac"
    open_room = WireCodec("r").encode(1, 2, 3, HELLO)
    with pytest.raises(RemoteError, match="bad_mac"):
        WireCodec("r", "correct horse").decode(open_room)


def test_the_key_is_stretched_per_room_and_never_sent() -> None:
    assert room_key("r", "k") == room_key("r", "k")
    assert len({room_key("r", "k"), room_key("s", "k"), room_key("r", "k2"), room_key("r")}) == 4
    datagram = WireCodec("r", "a very secret passphrase").encode(1, 2, 3, HELLO)
    assert b"a very secret passphrase" not in datagram
    assert room_key("r", "a very secret passphrase") not in datagram


def test_the_key_stays_out_of_reprs_and_results_and_must_not_be_empty() -> None:
    assert "hunter2" not in repr(SessionConfig(key="hunter2"))
    assert "hunter2" not in repr(SimConfig(key="hunter2"))
    assert SimConfig(key="hunter2").to_dict()["key"] == "set"
    assert SimConfig().to_dict()["key"] is None
    with pytest.raises(UsageError):
        SessionConfig(key="").validate()
    with pytest.raises(UsageError):
        WireCodec("r", "")
    with pytest.raises(UsageError):
        SimConfig(key="").validate()


def test_the_shared_peer_options_carry_the_key_into_the_session_config() -> None:
    parser = argparse.ArgumentParser()
    add_peer_options(parser, SessionConfig())
    assert peer_options(parser.parse_args(["--key", "k1"]), SessionConfig()).config.key == "k1"
    assert peer_options(parser.parse_args([]), SessionConfig()).config.key is None
    with pytest.raises(UsageError):
        peer_options(parser.parse_args(["--key", ""]), SessionConfig())


def test_a_simulation_with_a_key_runs_exactly_like_one_without() -> None:
    config = SimConfig(
        topology="ring", peers=4, latency_ms=20.0, rate_per_min=120.0, duration_s=15.0,
        warmup_s=2.0, quiet_s=4.0, start_spread_s=1.0, fps=25, loss=0.05,
    )  # fmt: skip
    plain = run_simulation(config).to_dict()
    keyed = run_simulation(replace(config, key="s3cret")).to_dict()
    assert keyed["converged"] and keyed["events_lost"] == 0
    for name in ("wall_seconds", "sim_ticks_per_wall_s"):
        plain.pop(name)
        keyed.pop(name)
    # Each keyed peer also holds its stretched key: a few bytes more memory.
    assert keyed.pop("memory_mb_per_peer") == pytest.approx(plain.pop("memory_mb_per_peer"), 0.01)
    assert keyed == plain  # same sizes, same timing: only the MAC bytes differ


@pytest.fixture(scope="module")
def keyed_room() -> Iterator[dict[int, PeerReport]]:
    """Room "r": two peers with key "k1", then a third with key "k2" dialing both."""
    processes: list[PeerProcess] = []
    try:
        addresses: list[str] = []
        for index, peer_id in enumerate(KEYED_IDS):
            dial = [arg for address in addresses for arg in ("--peer", address)]
            argv = ["--id", str(peer_id), "--key", "k1", *RUN, *dial]
            processes.append(PeerProcess(index, argv))
            addresses.append(processes[-1].read_address(time.monotonic() + DEADLINE_S))
        dial = [arg for address in addresses for arg in ("--peer", address)]
        processes.append(PeerProcess(2, ["--id", str(STRANGER_ID), "--key", "k2", *RUN, *dial]))
        processes[-1].read_address(time.monotonic() + DEADLINE_S)
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


def test_peers_sharing_a_key_agree(keyed_room: dict[int, PeerReport]) -> None:
    keyed = [keyed_room[peer_id] for peer_id in KEYED_IDS]
    assert all(r.events_emitted > 0 for r in keyed)
    assert keyed[0].state_hash == keyed[1].state_hash
    assert all(r.final_tick == r.end_tick for r in keyed)
    assert all(r.events == sum(k.events_emitted for k in keyed) for r in keyed)
    assert all(r.neighbours == 1 for r in keyed)


def test_a_peer_with_another_key_is_refused_and_stays_alone(
    keyed_room: dict[int, PeerReport],
) -> None:
    stranger = keyed_room[STRANGER_ID]
    assert stranger.events_emitted > 0
    assert stranger.events == stranger.events_emitted
    assert stranger.neighbours == 0
    assert stranger.bytes_in == 0  # its HELLOs are dropped unanswered
    for peer_id in KEYED_IDS:
        report = keyed_room[peer_id]
        assert report.dropped.get("bad_mac", 0) > 0
        assert report.state_hash != stranger.state_hash
