"""Shared test set-up: deterministic property tests, and LAN discovery kept to this run.

Hypothesis draws its examples from a fixed seed derived from each test (``derandomize``)
and keeps no example database, so every run (locally and in CI) tries the same inputs and
a failure reproduces exactly, as the design asks of every test tier. To search with fresh
random inputs instead, run ``python -m pytest --hypothesis-profile explore``.

Peers started by the tests (in-process or as child processes, which inherit the
environment) use a multicast group and port of their own, so that the tests of several
runs on one machine never find each other's peers.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator

import pytest
from hypothesis import settings

from arcade_p2p.transport.discovery import GROUP_ENV, PORT_ENV

settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("deterministic")


def free_udp_port() -> int:
    """A UDP port the operating system considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True, scope="session")
def private_discovery() -> Iterator[None]:
    """Give this test run its own discovery group and port."""
    rng = random.SystemRandom()
    group = f"239.192.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(GROUP_ENV, group)
        patch.setenv(PORT_ENV, str(free_udp_port()))
        yield
