"""The leaderless clock: integer pacing, catch-up without skipping, the two modes."""

from __future__ import annotations

import itertools

import pytest

from arcade_p2p.clock import Clock, ClockMode, ClockSettings, RttFilter
from arcade_p2p.errors import UsageError

FPS = 50


def default_clock(now: float = 0.0) -> Clock:
    return Clock(FPS, ClockSettings.for_mode("default", delta_ticks=25), now=now)


def test_ticks_come_from_elapsed_time_not_accumulation() -> None:
    clock = default_clock(now=1000.0)
    assert clock.due_tick(1000.0) == 0
    assert clock.due_tick(1000.0 + 0.0199) == 0
    assert clock.due_tick(1000.0 + 0.0201) == 1
    # after a million small steps the tick is exactly the elapsed time times fps
    assert clock.due_tick(1000.0 + 20_000.0) == 1_000_000


def test_next_due_time_is_when_the_tick_changes() -> None:
    clock = default_clock()
    now = 0.0
    for expected in range(1, 200):
        now = clock.next_due_time(now)
        assert clock.due_tick(now) == expected


def test_catch_up_is_spread_over_a_second_and_never_skips() -> None:
    clock = default_clock()
    clock.on_sync("peer", 100.0, min_rtt_s=None, now=0.0)
    assert clock.catch_ups == 1
    ticks = [clock.due_tick(i / 10_000) for i in range(0, 10_001)]
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert min(steps) == 0 and max(steps) <= 2  # monotonic, a few ticks at a time
    assert ticks[-1] == 50 + 100  # a second of time plus the deficit
    assert abs(clock.lag_ticks(1.0)) < 1.0


def test_never_slows_down_for_a_peer_behind() -> None:
    clock = default_clock()
    clock.on_sync("peer", 0.0, min_rtt_s=None, now=1.0)
    assert clock.due_tick(1.0) == 50
    assert clock.catch_ups == 0


def test_default_mode_compensates_half_the_min_rtt() -> None:
    clock = default_clock()
    clock.on_sync("peer", 10.0, min_rtt_s=0.2, now=0.0)  # 0.1 s one way = 5 ticks
    assert clock.network_estimate(0.0) == pytest.approx(15.0)


def test_paper_mode_tolerates_delta_and_ignores_latency() -> None:
    clock = Clock(FPS, ClockSettings.for_mode(ClockMode.PAPER, delta_ticks=25), now=0.0)
    clock.on_sync("peer", 20.0, min_rtt_s=0.2, now=0.0)
    assert clock.catch_ups == 0  # behind by 20 <= delta
    clock.on_sync("peer", 30.0, min_rtt_s=0.2, now=0.0)
    assert clock.catch_ups == 1
    assert clock.due_tick(1.0) == 50 + 30
    assert clock.sync_value(1.0) == 80.0


def test_tolerance_one_tick_in_default_mode() -> None:
    clock = default_clock()
    clock.on_sync("a", 0.9, min_rtt_s=None, now=0.0)
    assert clock.catch_ups == 0
    clock.on_sync("a", 2.5, min_rtt_s=None, now=0.0)
    assert clock.catch_ups == 1


def test_forgetting_a_neighbour_drops_its_estimate() -> None:
    clock = default_clock()
    clock.on_sync("a", 0.5, min_rtt_s=None, now=0.0)
    clock.forget("a")
    assert clock.network_estimate(0.0) == 0.0


def test_rtt_filter_keeps_the_recent_minimum() -> None:
    f = RttFilter(window=3)
    assert f.min_rtt_s is None
    for rtt in (0.5, 0.1, 0.3, -1.0, 0.4, 0.2):
        f.add(rtt)
    assert f.min_rtt_s == 0.2


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        ClockSettings.for_mode("fast", delta_ticks=1)
    with pytest.raises(UsageError):
        Clock(0, ClockSettings.for_mode("paper", delta_ticks=1), now=0.0)
