"""The leaderless clock: integer pacing, catch-up without skipping, the two modes."""

from __future__ import annotations

import copy
import itertools
import random

import pytest

from arcade_p2p.clock import (
    Clock,
    ClockMode,
    ClockReport,
    ClockSettings,
    NeighbourFilter,
    RttFilter,
)
from arcade_p2p.errors import UsageError
from arcade_p2p.joining import JoinState

FPS = 50
ME = 1
OTHER = 2


def rep(value: float, origin: int) -> ClockReport:
    """A report straight from the origin's own clock."""
    return ClockReport(value, origin, value)


def default_clock(now: float = 0.0) -> Clock:
    return Clock(FPS, ClockSettings.for_mode(ClockMode.DEFAULT, delta_ticks=25), now=now, me=ME)


def test_ticks_come_from_elapsed_time_not_accumulation() -> None:
    clock = default_clock(now=1000.0)
    assert clock.due_tick(1000.0) == 0
    assert clock.due_tick(1000.0 + 0.0199) == 0
    assert clock.due_tick(1000.0 + 0.0201) == 1
    exact = Clock(FPS, ClockSettings.for_mode(ClockMode.DEFAULT, delta_ticks=1), now=0.0)
    assert exact.due_tick(29 / 50) == 29  # exact boundaries despite float rounding
    # after a million ticks' worth of time the tick is exactly elapsed time times fps
    assert clock.due_tick(1000.0 + 20_000.0) == 1_000_000


def test_next_due_time_is_when_the_tick_changes() -> None:
    clock = default_clock()
    clock.on_sync("peer", rep(30.0, OTHER), rtt_s=None, now=0.0)  # during a catch-up too
    now, tick = 0.0, 0
    while now < 3.0:
        now = clock.next_due_time(now)
        assert clock.due_tick(now - 1e-7) == tick  # the earliest such time...
        assert tick < clock.due_tick(now) <= tick + 2  # ...when it grows
        tick = clock.due_tick(now)


def test_catch_up_is_spread_over_a_second_and_never_skips() -> None:
    clock = default_clock()
    clock.on_sync("peer", rep(100.0, OTHER), rtt_s=None, now=0.0)
    assert clock.catch_ups == 1
    ticks = [clock.due_tick(i / 10_000) for i in range(0, 10_001)]
    steps = [b - a for a, b in itertools.pairwise(ticks)]
    assert min(steps) == 0 and max(steps) <= 2  # monotonic, a few ticks at a time
    assert ticks[-1] == 50 + 100  # a second of time plus the deficit
    assert abs(clock.lag_ticks(1.0)) < 1.0


def test_catch_up_never_overshoots_the_estimate() -> None:
    clock = default_clock()
    clock.on_sync("peer", rep(10.9, OTHER), rtt_s=None, now=0.0)
    assert clock.due_tick(2.0) == 100 + 10  # whole ticks only: stays at or behind 110.9
    assert 0.0 <= clock.lag_ticks(2.0) < 1.0


def test_never_slows_down_for_a_peer_behind() -> None:
    clock = default_clock()
    clock.on_sync("peer", rep(0.0, OTHER), rtt_s=None, now=1.0)
    assert clock.due_tick(1.0) == 50
    assert clock.catch_ups == 0


def test_default_mode_compensates_half_the_rtt_of_the_sample() -> None:
    clock = default_clock()
    clock.on_sync("peer", rep(10.0, OTHER), rtt_s=0.2, now=0.0)  # 0.1 s one way = 5 ticks
    assert clock.network_estimate(0.0) == pytest.approx(15.0)
    assert clock.due_tick(1.0) == 50 + 10  # catches up only to what is certain


def test_an_origin_that_stops_reporting_is_dropped() -> None:
    clock = default_clock()
    clock.on_sync("peer", ClockReport(40.0, 77, 40.0), rtt_s=None, now=0.0)
    for i in range(1, 20):  # the neighbour keeps forwarding 77's clock, but 77 is silent
        now = i * 0.25
        clock.on_sync("peer", ClockReport(40.0 + now * FPS, 77, 40.0), rtt_s=None, now=now)
    assert clock.report(2.0).origin == 77
    assert clock.report(4.0).origin == ME
    assert clock.network_estimate(4.0) == clock.position(4.0)


ONE_WAY_S = 0.05
"""Half of every round trip in the split tests: 2.5 ticks, so a claim needs 3.5 ticks' lead."""


def hear(clock: Clock, neighbour: str, origin: int, lead_ticks: float, now: float) -> None:
    """``origin``'s own clock, ``lead_ticks`` ahead of ``clock``'s, as ``neighbour`` sends it."""
    value = (now - ONE_WAY_S) * FPS + lead_ticks
    clock.on_sync(neighbour, ClockReport(value, origin, value), rtt_s=2 * ONE_WAY_S, now=now)


def test_when_the_leader_leaves_the_most_advanced_follower_takes_the_lead() -> None:
    """The split seen under churn: the leader 77 leaves; its follower 88, 2.5 ticks behind
    this clock, notices first and claims the lead. This clock is ahead of 88, though by
    less than the tolerance plus half a round trip: following 88 would leave the network
    2.5 ticks behind its highest clock for as long as this peer stays."""
    clock = default_clock()
    now = 0.0
    for i in range(1, 41):  # ten seconds following 77, level with this clock
        now = i * 0.25
        hear(clock, "leader", 77, 0.0, now)
        hear(clock, "other", 77, 0.0, now)  # 88 forwards 77 (hops aside)
    assert clock.report(now).origin == 77
    left_at = now
    for i in range(1, 41):  # 77 is gone (its link not yet timed out); 88 claims
        now = left_at + i * 0.25
        hear(clock, "other", 88, -2.5, now)
        if now - left_at < 3.0:  # ORIGIN_SILENCE_S
            assert clock.report(now).origin == 77
    assert clock.report(now).origin == ME  # not 88: this clock is ahead of it
    assert clock.catch_ups == 0


def test_a_leader_yields_only_to_a_clock_ahead_of_its_own() -> None:
    """A claimant behind the leader (by less than a claim needs) does not take the lead
    from it; a clock ahead, by however little, does (and is caught up to when it must)."""
    clock = default_clock()
    now = 0.0
    for i in range(1, 21):
        now = i * 0.25
        hear(clock, "behind", 88, -2.5, now)
        assert clock.report(now).origin == ME
    for i in range(21, 41):
        now = i * 0.25
        hear(clock, "ahead", 99, 0.5, now)
    assert clock.report(now).origin == 99
    assert clock.catch_ups == 0  # less than the tolerance ahead: nothing to catch up
    for i in range(41, 61):
        now = i * 0.25
        hear(clock, "ahead", 99, 3.0, now)  # 99 pulled ahead: caught up to, followed
    assert clock.report(now).origin == 99
    assert clock.catch_ups > 0
    assert 0.0 <= clock.lag_ticks(now) <= 1.0  # within the tolerance


def test_the_neighbour_fewest_hops_from_the_origin_is_followed() -> None:
    clock = default_clock()
    clock.on_sync("near", ClockReport(40.0, 77, 40.0, hops=0), rtt_s=None, now=0.0)
    clock.on_sync("far", ClockReport(45.0, 77, 40.0, hops=3), rtt_s=None, now=0.0)
    assert clock.report(0.0).hops == 1
    assert clock.due_tick(2.0) == 100 + 40  # caught up to the near estimate, not the far one


def test_own_clock_reflected_back_is_ignored() -> None:
    clock = default_clock()
    clock.on_sync("peer", rep(40.0, ME), rtt_s=None, now=0.0)
    assert clock.catch_ups == 0
    assert clock.network_estimate(0.0) == 0.0
    assert clock.report(0.0) == ClockReport(0.0, ME, 0.0)


def test_forwarded_estimate_keeps_its_origin_and_counts_hops() -> None:
    clock = default_clock()
    clock.on_sync("peer", ClockReport(40.0, 77, 40.0, hops=2), rtt_s=None, now=0.0)
    report = clock.report(0.5)
    assert (report.origin, report.stamp, report.hops) == (77, 40.0, 3)
    assert report.value == pytest.approx(40.0 + 25.0)


def test_jittery_samples_are_averaged_and_do_not_ratchet_the_clock() -> None:
    """A neighbour exactly in step, seen through heavy symmetric jitter, never pulls us ahead."""
    rng = random.Random(4)
    clock = default_clock()
    now = 0.0
    for _ in range(2000):
        now += 0.25
        out, back = max(0.0, rng.gauss(0.5, 0.1)), max(0.0, rng.gauss(0.5, 0.1))
        sent_at = now - back
        value = sent_at * FPS  # the neighbour's clock equals ours
        clock.on_sync("peer", rep(value, OTHER), rtt_s=out + back, now=now)
    assert clock.position(now) - now * FPS <= 3.0  # not creeping ahead of real time


def test_a_jump_restarts_the_filter() -> None:
    f = NeighbourFilter(window=8)
    for sample in (10.0, 10.2, 9.9, 10.1, 10.0, 10.2, 9.9, 10.1):
        f.add(sample, origin=5, half_rtt_ticks=1.0)
    assert f.uncertainty < 1.0
    f.add(40.0, origin=5, half_rtt_ticks=1.0)
    assert f.mean == 40.0
    assert f.uncertainty == 1.0  # one sample: bounded by half its round trip
    f.add(41.0, origin=6, half_rtt_ticks=1.0)  # another origin: restart too
    assert (f.mean, f.origin) == (41.0, 6)


def test_paper_mode_tolerates_delta_and_ignores_latency() -> None:
    clock = Clock(FPS, ClockSettings.for_mode(ClockMode.PAPER, delta_ticks=25), now=0.0, me=ME)
    clock.on_sync("peer", rep(20.0, OTHER), rtt_s=0.2, now=0.0)
    assert clock.catch_ups == 0  # behind by 20 <= delta
    clock.on_sync("peer", rep(30.0, OTHER), rtt_s=0.2, now=0.0)
    assert clock.catch_ups == 1
    assert clock.due_tick(1.0) == 50 + 30
    assert clock.report(1.0) == ClockReport(80.0, ME, 80.0)


def test_a_held_join_catches_up_at_once_by_any_whole_tick() -> None:
    """Nothing is shown while a join holds: the paper's Delta tolerance would let a joiner
    go up to Delta behind a neighbour it heard, and stay there (it never catches up by
    less)."""
    join = JoinState(timeout_s=3.0, return_gap_s=1.0, now=0.0)
    settings = ClockSettings.for_mode(ClockMode.PAPER, delta_ticks=25)
    clock = Clock(FPS, settings, now=0.0, me=ME, join=join)
    join.dialled(tick=0, now=0.0)
    clock.on_sync("a", rep(20.0, OTHER), rtt_s=0.2, now=0.0)
    assert clock.due_tick(0.0) == 20  # at once, though 20 <= Delta
    clock.on_sync("b", rep(20.5, OTHER + 1), rtt_s=0.2, now=0.0)
    assert clock.catch_ups == 1  # less than a whole tick: nothing to catch up
    join.note_synced()
    join.limit(20, tick=1, now=0.0)
    assert not join.joining
    clock.on_sync("a", rep(40.0, OTHER), rtt_s=0.2, now=0.0)
    assert clock.catch_ups == 1 and clock.due_tick(0.0) == 20  # settled: Delta again


def test_tolerance_one_tick_in_default_mode() -> None:
    clock = default_clock()
    clock.on_sync("a", rep(0.9, OTHER), rtt_s=None, now=0.0)
    assert clock.catch_ups == 0
    clock.on_sync("b", rep(2.5, OTHER), rtt_s=None, now=0.0)
    assert clock.catch_ups == 1


def test_forgetting_a_neighbour_drops_its_estimate() -> None:
    clock = default_clock()
    clock.on_sync("a", rep(0.5, OTHER), rtt_s=None, now=0.0)
    clock.forget("a")
    assert clock.network_estimate(0.0) == 0.0


def test_rtt_filter_keeps_the_recent_minimum() -> None:
    f = RttFilter(window=3)
    assert f.min_rtt_s is None
    for rtt in (0.5, 0.1, 0.3, -1.0, 0.4, 0.2):
        f.add(rtt)
    assert f.min_rtt_s == 0.2


def test_clock_modes_convert_from_names_once() -> None:
    assert ClockMode.from_name("paper") is ClockMode.PAPER
    assert f"{ClockMode.DEFAULT} clock" == "default clock"
    with pytest.raises(UsageError, match="use paper or default"):
        ClockMode.from_name("sundial")


def test_bad_settings_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        Clock(0, ClockSettings.for_mode(ClockMode.PAPER, delta_ticks=1), now=0.0)


def test_the_followed_neighbour_is_remembered_only_while_nothing_could_change_it() -> None:
    """A clock that keeps its answer between SYNCs reports exactly what one that works
    it out afresh reports, as origins lead, fall silent, come back and links go down."""
    rng = random.Random(7)
    clock = default_clock()
    now = 0.0
    lead = {origin: 0.0 for origin in (ME, 3, 4, 5)}  # ticks ahead of this clock's start
    stamps = dict.fromkeys(lead, 0.0)
    followed = 0
    for _ in range(3000):
        now += rng.choice([0.001, 0.02, 0.3, 1.0, 2.9])
        roll = rng.random()
        origin = rng.choice(list(lead))
        if roll < 0.05:
            lead[origin] += rng.uniform(0, 400)  # it pulls ahead
        elif roll < 0.45:
            value = now * FPS + lead[origin]
            if rng.random() < 0.8:  # else: a stale forward of a silent origin
                stamps[origin] = value
            report = ClockReport(value, origin, stamps[origin], rng.randrange(4))
            rtt = rng.choice([None, 0.01, 0.2])
            clock.on_sync(rng.choice("abcd"), report, rtt_s=rtt, now=now)
        elif roll < 0.5:
            clock.forget(rng.choice("abcd"))
        fresh = copy.deepcopy(clock)
        fresh._followed = None  # what the cache stands for
        report = clock.report(now)
        assert report == fresh.report(now)
        assert clock.network_estimate(now) == fresh.network_estimate(now)
        followed += report.origin != ME
    assert followed > 500  # the foreign clocks mattered
