"""Garbage collection while gossip threads run, with real runners over UDP on loopback and
a real headless window: the setup is frozen out of collection, unfrozen after the last
thread; the program's own choices (freezing, disabling, ``ENABLED``) are kept.

Whether an object is frozen is seen by what the collector does: a reference cycle dropped
while frozen survives ``gc.collect()``; one that is not frozen is freed by it.
"""

from __future__ import annotations

import os

os.environ.setdefault("ARCADE_HEADLESS", "1")  # before arcade is imported

import contextlib
import gc
import time
import weakref
from collections.abc import Iterator
from typing import Any

import arcade
import pytest

from arcade_p2p import gc_freeze
from arcade_p2p.runner import PeerRunner
from arcade_p2p.session import Session
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.transport import UdpTransport
from arcade_p2p.window import SymmetricWindow


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def dropped_cycle() -> weakref.ref[Cycle]:
    """A reference cycle nobody holds any more (made in a frame of its own)."""
    return weakref.ref(Cycle())


def freed_by_a_collection(ref: weakref.ref[Cycle]) -> bool:
    gc.collect()
    return ref() is None


@pytest.fixture(autouse=True)
def clean_collector() -> Iterator[None]:
    """Start with nothing frozen and the collector on; leave it so."""
    assert gc.get_freeze_count() == 0, "an earlier test left objects frozen"
    assert gc.isenabled()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


@contextlib.contextmanager
def runner(peer_id: int = 1) -> Iterator[PeerRunner]:
    """A threaded runner over its own UDP socket."""
    with UdpTransport() as transport:
        session = Session(MovingRectApp(), peer_id=peer_id, now=time.monotonic())
        with PeerRunner(session, transport) as started:
            yield started


def test_a_gossip_thread_freezes_what_lives_when_it_starts_until_the_last_one_stops() -> None:
    before = Cycle()
    with runner() as first:
        assert first.gossip is not None and first.gossip.alive
        assert gc.get_freeze_count() > 0
        frozen = weakref.ref(before)
        del before
        assert not freed_by_a_collection(frozen)  # frozen: no collection examines it
        assert freed_by_a_collection(dropped_cycle())  # made later: collected as usual
        between = Cycle()  # made while the first runs: frozen when the second starts
        with runner(2):
            later = weakref.ref(between)
            del between
            assert not freed_by_a_collection(later)
        assert not freed_by_a_collection(frozen)  # one thread still runs
        assert not freed_by_a_collection(later)
    assert gc.get_freeze_count() == 0  # the last thread unfroze
    assert freed_by_a_collection(frozen)
    assert freed_by_a_collection(later)


def test_turned_off_nothing_is_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc_freeze, "ENABLED", False)
    with runner():
        assert gc.get_freeze_count() == 0


def test_a_program_that_disabled_the_collector_is_left_alone() -> None:
    gc.disable()
    with runner():
        assert gc.get_freeze_count() == 0
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_what_the_program_froze_itself_stays_frozen() -> None:
    gc.freeze()
    own = gc.get_freeze_count()
    with runner():
        assert gc.get_freeze_count() >= own
    assert gc.get_freeze_count() >= own > 0


class SetUp(SymmetricWindow):
    """A window whose own ``__init__`` makes objects after the gossip thread started."""

    WIDTH_PX = 64
    HEIGHT_PX = 48

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.level = Cycle()

    def on_start(self) -> None:
        self.state = 0


@pytest.mark.skipif(not arcade.headless, reason="arcade was imported without ARCADE_HEADLESS")
def test_a_window_freezes_its_games_setup_when_its_loop_starts() -> None:
    window = SetUp()
    try:
        level = weakref.ref(window.level)
        window.level = Cycle()  # replaced before the loop: freed as usual
        assert freed_by_a_collection(level)
        level = weakref.ref(window.level)
        window.run(seconds=0.05)
        assert gc.get_freeze_count() > 0
        del window.level  # replaced after: stays until the window closes
        assert not freed_by_a_collection(level)
    finally:
        window.close()
    assert gc.get_freeze_count() == 0
    assert freed_by_a_collection(level)
