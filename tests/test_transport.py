"""The UDP transport on real loopback sockets (port 0), and the sans-io link emulation."""

from __future__ import annotations

import threading
import time

import pytest

from arcade_p2p.errors import UsageError
from arcade_p2p.transport import Address, LinkEmulation, LinkModel, UdpTransport, parse_address

DEADLINE_S = 5.0


def receive(transport: UdpTransport, count: int) -> list[tuple[bytes, Address]]:
    """Poll ``transport`` until ``count`` datagrams are ready or the deadline passes."""
    got: list[tuple[bytes, Address]] = []
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got += transport.receive_ready(time.monotonic())
        if len(got) >= count or time.monotonic() >= deadline:
            return got
        transport.wait(deadline - time.monotonic())


def test_send_and_receive_between_two_sockets() -> None:
    with UdpTransport() as a, UdpTransport() as b:
        assert a.address[0] == "127.0.0.1" and a.address[1] > 0
        assert a.address != b.address
        for i in range(10):
            a.send(b"ping %d" % i, b.address)
        got = receive(b, 10)
        assert sorted(data for data, _ in got) == sorted(b"ping %d" % i for i in range(10))
        assert {source for _, source in got} == {a.address}
        b.send(b"pong", a.address)
        assert receive(a, 1) == [(b"pong", b.address)]
        assert a.stats().datagrams_sent == 10 and a.stats().bytes_sent == 60
        assert b.stats().datagrams_received == 10 and b.stats().bytes_received == 60


def test_receive_ready_does_not_block_when_nothing_arrived() -> None:
    with UdpTransport() as t:
        assert t.receive_ready(time.monotonic()) == []


def test_wait_returns_at_its_timeout_when_nothing_arrives() -> None:
    with UdpTransport() as t:
        start = time.monotonic()
        t.wait(0.05)
        assert time.monotonic() - start >= 0.04
        t.wait(-1.0)  # a deadline in the past returns at once


def test_wait_wakes_up_for_an_arrival_before_its_timeout() -> None:
    with UdpTransport() as a, UdpTransport() as b:
        a.send(b"wake", b.address)
        start = time.monotonic()
        b.wait(60.0)
        assert time.monotonic() - start < DEADLINE_S
        assert receive(b, 1) == [(b"wake", a.address)]


def test_close_is_idempotent_and_stops_the_thread() -> None:
    t = UdpTransport()
    name = f"arcade-p2p-udp-{t.address[1]}"
    assert name in {thread.name for thread in threading.enumerate()}
    t.close()
    t.close()
    assert t.closed and name not in {thread.name for thread in threading.enumerate()}
    t.wait(60.0)  # returns at once on a closed transport
    with pytest.raises(UsageError):
        t.send(b"late", ("127.0.0.1", 9))


def test_context_manager_closes() -> None:
    with UdpTransport() as t:
        pass
    assert t.closed


def test_send_to_a_closed_port_never_raises() -> None:
    with UdpTransport() as gone:
        dead = gone.address
    with UdpTransport() as t:
        for _ in range(20):
            t.send(b"anyone?", dead)
            t.receive_ready(time.monotonic())
        t.send(b"x" * 70_000, dead)  # too big for UDP: counted, not raised
        stats = t.stats()
        assert stats.send_errors.get("EMSGSIZE") == 1
        assert stats.datagrams_sent + sum(stats.send_errors.values()) == 21


def test_binding_a_bad_address_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        UdpTransport("127.0.0.1", 70_000)


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:4000") == ("127.0.0.1", 4000)
    assert parse_address("localhost:4000") == ("127.0.0.1", 4000)
    for bad in ("", "127.0.0.1", ":4000", "127.0.0.1:0", "127.0.0.1:70000", "h:x"):
        with pytest.raises(UsageError):
            parse_address(bad)


# --------------------------------------------------------------------- emulation
def test_emulation_releases_in_order_of_release_time() -> None:
    emulation = LinkEmulation(LinkModel.from_ms(100, 40), seed=3)
    source = ("127.0.0.1", 1)
    for i in range(50):
        emulation.arrive(bytes([i]), source, now=i * 0.001)
    assert emulation.release(now=0.0) == []
    released: list[bytes] = []
    now = 0.0
    while emulation.held:
        next_release = emulation.next_release()
        assert next_release is not None and next_release >= now
        now = next_release
        released += [data for data, _ in emulation.release(now=now)]
    assert sorted(released) == [bytes([i]) for i in range(50)]
    assert released != sorted(released)  # jitter reorders, as on a real network
    assert emulation.stats.delivered == 50 and emulation.next_release() is None


def test_transport_applies_emulated_latency_and_loss() -> None:
    latency_s = 0.08
    emulation = LinkEmulation(LinkModel(latency_s, loss=0.5), seed=11)
    with UdpTransport() as a, UdpTransport(emulation=emulation) as b:
        sent_at = time.monotonic()
        for i in range(40):
            a.send(bytes([i]), b.address)
        deadline = time.monotonic() + DEADLINE_S
        while b.stats().datagrams_received < 40 and time.monotonic() < deadline:
            b.wait(0.01)
        assert b.receive_ready(sent_at) == []  # nothing is due before its delay
        got: list[tuple[bytes, Address]] = []
        while time.monotonic() < deadline:
            got += b.receive_ready(time.monotonic())
            if len(got) + b.stats().emulated_lost == 40:
                break
            b.wait(deadline - time.monotonic())
        assert time.monotonic() - sent_at >= latency_s
        stats = b.stats()
        assert stats.datagrams_received == 40
        assert len(got) + stats.emulated_lost == 40
        assert 10 <= stats.emulated_lost <= 30 and stats.emulated_held == 0
