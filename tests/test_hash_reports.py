"""State-hash reports: the events digest, the exchange and the comparison."""

from __future__ import annotations

import random

from pairnet import make_network

from arcade_p2p.events import Event
from arcade_p2p.hash_reports import HashReport, HashReports
from arcade_p2p.machine import TimeMachine
from arcade_p2p.sim.moving_rect import MovingRectApp
from arcade_p2p.timeline import Timeline


def _events(n: int, seed: int) -> list[Event]:
    rng = random.Random(seed)
    return [Event(rng.randrange(1, 200), rng.randrange(3), i + 1, "key", "up") for i in range(n)]


def test_events_digest_depends_on_the_set_before_the_tick_not_the_order() -> None:
    events = _events(60, 1)
    a, b = Timeline(), Timeline()
    for e in events:
        a.insert(e)
    for e in reversed(events):
        b.insert(e)
    for tick in (0, 1, 50, 120, 199, 500):
        assert a.events_digest(tick) == b.events_digest(tick)
    late = max(events, key=lambda e: e.tick)
    c = Timeline()
    for e in events:
        if e is not late:
            c.insert(e)
    assert c.events_digest(late.tick) == a.events_digest(late.tick)  # before it: same
    assert c.events_digest(late.tick + 1) != a.events_digest(late.tick + 1)


def test_a_digest_on_a_base_counts_the_base_s_events_instead_of_those_held_before_it() -> None:
    events = _events(60, 4)
    full, recent = Timeline(), Timeline()
    for e in events:
        full.insert(e)
        if e.tick >= 100 or e.seq % 2:  # the older history only partly held
            recent.insert(e)
    base = (100, full.events_digest(100))
    for tick in (100, 150, 199, 500):
        assert recent.events_digest(tick, base=base) == full.events_digest(tick)
        assert recent.events_digest(tick) != full.events_digest(tick)


def _machine(events: list[Event], upto: int) -> TimeMachine:
    timeline = Timeline()
    for e in events:
        timeline.insert(e)
    machine = TimeMachine(MovingRectApp(), timeline, snapshot_every_ticks=10)
    machine.advance(upto)
    return machine


def test_equal_states_report_equal_pairs_and_no_mismatch() -> None:
    events = _events(30, 2)
    a = HashReports(_machine(events, 300), settle_ticks=25)
    b = HashReports(_machine(list(reversed(events)), 305), settle_ticks=25)
    a.refresh()
    b.refresh()
    assert a.latest() and b.latest()
    b.receive(1, a.latest())
    a.receive(2, b.latest())
    assert a.take_mismatches() == [] and b.take_mismatches() == []
    shared = {r.tick for r in a.latest()} & {r.tick for r in b.latest()}
    assert shared
    for tick in shared:
        theirs = b.own(tick)
        assert theirs is not None
        assert a.reported_hashes(tick)[2] == (theirs.state_hash, theirs.events_digest)


def test_a_peer_lacking_an_event_is_never_a_false_alarm() -> None:
    events = [Event(100 + 10 * i, 0, i + 1, "key", d) for i, d in enumerate(["up", "down"])]
    full = HashReports(_machine(events, 300), settle_ticks=25)
    lacking = HashReports(_machine(events[:1], 300), settle_ticks=25)
    full.refresh()
    lacking.refresh()
    own = {r.tick: r for r in full.latest()}
    other = {r.tick: r for r in lacking.latest()}
    assert all(own[t].state_hash != other[t].state_hash for t in own)  # states differ...
    full.receive(9, lacking.latest())
    lacking.receive(8, full.latest())
    assert full.take_mismatches() == [] and lacking.take_mismatches() == []  # ...no alarm


def test_a_real_divergence_is_reported_on_both_sides() -> None:
    events = _events(20, 3)
    good = _machine(events, 100)
    bad = _machine(events, 100)
    bad.app.state.x += 1  # type: ignore[attr-defined]
    good.advance(300)
    bad.advance(300)
    a, b = HashReports(good, settle_ticks=25), HashReports(bad, settle_ticks=25)
    a.refresh()
    b.refresh()
    b.receive(1, a.latest())
    a.receive(2, b.latest())
    found_a, found_b = a.take_mismatches(), b.take_mismatches()
    assert found_a and found_b
    first = found_a[0]
    assert first.peer == 2 and first.mine.events_digest == first.theirs.events_digest
    assert first.mine.state_hash != first.theirs.state_hash
    assert a.take_mismatches() == []  # taken once


def test_reports_refresh_after_a_rollback() -> None:
    machine = _machine([], 300)
    reports = HashReports(machine, settle_ticks=25)
    reports.refresh()
    before = {r.tick: r for r in reports.latest()}
    event = Event(200, 0, 1, "key", "up")
    machine.timeline.insert(event)
    machine.note_event(event)
    machine.advance(300)
    reports.refresh()
    after = {r.tick: r for r in reports.latest()}
    assert before.keys() == after.keys()
    changed = [t for t in after if t > 200]
    assert changed
    for t in changed:
        assert after[t].state_hash != before[t].state_hash
        assert after[t].events_digest != before[t].events_digest


def test_neighbours_exchange_reports_over_the_wire_and_agree() -> None:
    wire = make_network([(0, 1), (1, 2)])

    def emit(index: int, session: object) -> None:
        if random.Random(int(wire.now * 100) + index).random() < 0.02:
            wire.sessions[index].emit("key", "up", now=wire.now)

    wire.run(6.0, emit=emit)
    middle = wire.sessions[1]
    heard = {
        peer
        for report in middle.reports.latest()
        for peer in middle.reports.reported_hashes(report.tick)
    }
    assert heard == {wire.sessions[0].peer_id, wire.sessions[2].peer_id}
    assert all(s.reports.take_mismatches() == [] for s in wire.sessions)


def test_report_pairs_are_kept_bounded() -> None:
    reports = HashReports(_machine([], 10), settle_ticks=0)
    for tick in range(0, 5000, 10):
        reports.receive(1, (HashReport(tick, bytes(16), bytes(8)),))
    assert len([t for t in range(0, 5000, 10) if reports.reported_hashes(t)]) == 32


def _joiner(source: TimeMachine, tick: int) -> TimeMachine:
    """A machine started from ``source``'s snapshot of ``tick``, holding no event yet."""
    found = source.settled_snapshot(tick)
    assert found is not None and found[0].tick == tick
    machine = TimeMachine(MovingRectApp(), Timeline(), snapshot_every_ticks=10)
    machine.start_from(*found)
    return machine


def test_a_joiner_reports_the_events_its_snapshot_contains() -> None:
    """A joiner's timeline lacks the history its snapshot covers: its reports must still
    say which events its state contains, or it agrees with a peer lacking those events on
    the digest but not on the state (a false alarm, seen in the loss-and-churn run)."""
    early = Event(50, 4, 1, "key", "up")
    veteran = _machine([early], 150)
    lacking = _machine([], 150)  # never received the early event
    joiner = _joiner(veteran, 100)
    joiner.advance(150)
    assert len(joiner.timeline) == 0  # the history has not arrived yet
    reports = [HashReports(m, settle_ticks=25) for m in (veteran, lacking, joiner)]
    for r in reports:
        r.refresh()
    on_veteran, on_lacking, on_joiner = reports
    for peer, r in enumerate(reports):
        for other in reports:
            if other is not r:
                other.receive(peer, r.latest())
    assert all(r.take_mismatches() == [] for r in reports)
    for report in on_joiner.latest():  # the joiner agrees with the veteran, pair for pair
        assert on_veteran.own(report.tick) == report
        theirs = on_lacking.own(report.tick)
        assert theirs is not None and theirs.events_digest != report.events_digest


def test_a_joiner_that_diverges_is_caught() -> None:
    veteran = _machine([Event(50, 4, 1, "key", "up")], 150)
    joiner = _joiner(veteran, 100)
    joiner.app.state.x += 1  # type: ignore[attr-defined]
    joiner.advance(150)
    a, b = HashReports(veteran, settle_ticks=25), HashReports(joiner, settle_ticks=25)
    a.refresh()
    b.refresh()
    a.receive(2, b.latest())
    found = a.take_mismatches()
    assert found and found[0].mine.events_digest == found[0].theirs.events_digest


def test_the_newest_corroborated_tick_is_the_newest_where_a_witness_reports_alike() -> None:
    early, late = Event(100, 0, 1, "key", "up"), Event(245, 0, 2, "key", "down")
    sender = HashReports(_machine([early, late], 300), settle_ticks=25)
    witness = HashReports(_machine([early], 300), settle_ticks=25)  # lacks the late event
    joiner = HashReports(_machine([], 1), settle_ticks=25)
    for peer, reports in ((1, sender), (2, witness)):
        reports.refresh()
        joiner.receive(peer, reports.latest())
    assert [r.tick for r in sender.latest()] == [270, 260, 250, 240]
    assert joiner.newest_corroborated(1, [2]) == 240  # the last tick before the late event
    assert joiner.newest_corroborated(1, []) is None
    assert joiner.newest_corroborated(1, [3]) is None  # nothing heard from peer 3
