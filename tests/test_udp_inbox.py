"""The UDP inbox is bounded: a driver that stops taking datagrams loses the surplus, counted."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from arcade_p2p.transport import UdpTransport

DATAGRAM_BYTES = 1_000
LIMIT_BYTES = 10 * DATAGRAM_BYTES
SENT = 40
DEADLINE_S = 10.0


def test_a_full_inbox_drops_arrivals_counts_them_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="arcade_p2p.transport")
    with (
        UdpTransport("127.0.0.1", 0, inbox_limit_bytes=LIMIT_BYTES) as transport,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        for i in range(SENT):
            sender.sendto(bytes([i]) * DATAGRAM_BYTES, transport.address)
        deadline = time.monotonic() + DEADLINE_S
        while transport.stats().datagrams_received < SENT and time.monotonic() < deadline:
            transport.wait(0.05)  # returns at once while datagrams wait: a bounded poll
        stats = transport.stats()
        taken = transport.receive_ready(time.monotonic())
        assert stats.datagrams_received == SENT
        assert len(taken) == LIMIT_BYTES // DATAGRAM_BYTES
        assert stats.inbox_dropped == SENT - len(taken)
        assert [data[0] for data, _ in taken] == list(range(len(taken)))  # the first ones
        # Once taken, the inbox has room again.
        sender.sendto(b"again", transport.address)
        deadline = time.monotonic() + DEADLINE_S
        again: list[tuple[bytes, object]] = []
        while not again and time.monotonic() < deadline:
            transport.wait(0.05)
            again = list(transport.receive_ready(time.monotonic()))
        assert [data for data, _ in again] == [b"again"]
    warnings = [r for r in caplog.records if "inbox full" in r.getMessage()]
    assert len(warnings) == 1
