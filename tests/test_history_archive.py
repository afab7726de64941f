"""Bounded history: events older than ``history_ticks`` move to an on-disk archive and
the machine, the timeline and the sessions behave exactly as if they kept everything
(state hashes, digests, what is served, what converges)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from pairnet import make_network, settle_and_compare
from test_physics import BallsApp

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.history_archive import HistoryArchive
from arcade_p2p.machine import ARCHIVE_EVERY_TICKS, TimeMachine
from arcade_p2p.protocol.transfer import _pack_payload, _parse_payload
from arcade_p2p.session import DEFAULT_HISTORY_S, Session, SessionConfig
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.timeline import InsertOutcome, Timeline, event_number

HISTORY_TICKS = 100
RUN_TICKS = HISTORY_TICKS + 2 * ARCHIVE_EVERY_TICKS + 200


def random_events(seed: int, ticks: int, sources: int = 3) -> list[Event]:
    """Pushes and drops from a few sources, a source's ticks non-decreasing in seq."""
    rng = random.Random(seed)
    events: list[Event] = []
    for source in range(1, sources + 1):
        tick = 0
        for seq in range(1, ticks // 15 + 1):
            tick += rng.randint(1, 25)
            name = rng.choice(["push", "drop"])
            events.append(Event(tick, source, seq, name, [rng.randint(0, 400), 300]))
    return [e for e in events if e.tick < ticks]


def play(machine: TimeMachine, events: list[Event], until: int, late_by: int = 0) -> None:
    """Run to ``until``, each event arriving ``late_by`` ticks after its own."""
    arrivals: dict[int, list[Event]] = {}
    for event in events:
        arrivals.setdefault(event.tick + late_by, []).append(event)
    for tick in range(machine.tick, until + 1):
        for event in arrivals.get(tick, ()):
            if machine.timeline.insert(event) is InsertOutcome.NEW:
                machine.note_event(event)
        machine.advance(tick)


def deliver(machine: TimeMachine, *events: Event) -> None:
    """Events arrive now (whatever their ticks) and are repaired at once."""
    for event in events:
        assert machine.timeline.insert(event) is InsertOutcome.NEW
        machine.note_event(event)
    machine.advance(machine.tick - 1)


def archiver() -> TimeMachine:
    return TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=HISTORY_TICKS)


def keeper() -> TimeMachine:
    return TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10)


def assert_same_history(timeline: Timeline, reference: Timeline, ticks: int) -> None:
    """Everything a timeline answers equals what one that holds everything answers."""
    assert len(timeline) == len(reference)
    assert timeline.marks() == reference.marks()
    assert timeline.digest() == reference.digest()
    assert list(timeline.all_events()) == list(reference.all_events())
    for tick in range(ticks + 1):
        assert timeline.at(tick) == reference.at(tick), tick
    for tick in range(0, ticks + 1, 7):
        assert timeline.events_digest(tick) == reference.events_digest(tick), tick


def test_a_machine_that_archives_stays_bit_identical_to_one_that_keeps_everything() -> None:
    events = random_events(1, RUN_TICKS)
    kept, archived = keeper(), archiver()
    play(kept, events, RUN_TICKS, late_by=3)
    play(archived, events, RUN_TICKS, late_by=3)  # late events roll back in both
    assert archived.stats.rollbacks == kept.stats.rollbacks > 0
    assert archived.state_hash() == kept.state_hash()
    timeline = archived.timeline
    assert timeline.archive_tick >= RUN_TICKS - HISTORY_TICKS - ARCHIVE_EVERY_TICKS
    assert timeline.archive.batch_count >= 2 and timeline.archive.size_bytes > 0
    assert timeline.held < len(kept.timeline) // 2  # far fewer held in memory...
    assert_same_history(timeline, kept.timeline, RUN_TICKS)  # ...the same history


def test_archived_events_are_served_and_recognised_as_duplicates() -> None:
    events = random_events(2, RUN_TICKS)
    kept, archived = keeper(), archiver()
    play(kept, events, RUN_TICKS)
    play(archived, events, RUN_TICKS)
    timeline = archived.timeline
    old = [e for e in events if e.tick < timeline.archive_tick - 50]
    assert old
    for event in old:
        assert timeline.knows(*event.ident) and timeline.get(*event.ident) == event
        assert timeline.insert(event) is InsertOutcome.DUPLICATE
        forged = replace(event, payload=[0, 0])
        assert timeline.insert(forged) is InsertOutcome.CONFLICT
    for source, highest in kept.timeline.marks().items():
        for first, last, limit in ((1, highest, 10_000), (3, highest - 2, 7), (1, 1, 1)):
            served = timeline.events_in(source, first, last, limit)
            assert served == kept.timeline.events_in(source, first, last, limit)
            assert len(served) == min(limit, last - first + 1)
    assert timeline.missing(kept.timeline.marks()) == {}
    assert Timeline().missing(timeline.marks()) == Timeline().missing(kept.timeline.marks())


def test_an_unknown_event_older_than_the_archive_rolls_back_through_archived_ticks() -> None:
    """What forgetting refused as too old: a source nobody heard of whose events are
    stamped long before the archive (a world that started alone meeting the room)."""
    events = random_events(3, RUN_TICKS)
    kept, archived = keeper(), archiver()
    play(kept, events, RUN_TICKS)
    play(archived, events, RUN_TICKS)
    boundary = archived.timeline.archive_tick
    stale = [Event(5 + 40 * i, 9, i + 1, "drop", [5 * i, 5]) for i in range(4)]
    assert stale[-1].tick < boundary - HISTORY_TICKS
    for machine in (kept, archived):
        deliver(machine, *stale)
    assert archived.stats.max_rollback_depth >= RUN_TICKS - stale[0].tick
    assert archived.state_hash() == kept.state_hash()
    fresh = keeper()  # the same events, none of them late
    play(fresh, [*events, *stale], RUN_TICKS)
    assert archived.state_hash() == fresh.state_hash()
    end = RUN_TICKS + HISTORY_TICKS + 2 * ARCHIVE_EVERY_TICKS
    play(kept, [], end)
    play(archived, [], end)  # the old events go to a later batch: batches overlap in ticks
    log = archived.timeline.source_log(9)
    assert log is not None and log.floor == len(stale) and not log.events  # archived
    assert_same_history(archived.timeline, kept.timeline, end)
    deliver(kept, Event(stale[1].tick + 1, 10, 1, "push", [1, 1]))  # into the wide batch
    deliver(archived, Event(stale[1].tick + 1, 10, 1, "push", [1, 1]))
    assert archived.state_hash() == kept.state_hash()


def test_a_source_with_a_gap_keeps_its_history_in_memory_from_the_gap_on() -> None:
    events = random_events(4, RUN_TICKS)
    missing = next(e for e in events if e.source == 2 and e.tick > 100)
    archived = archiver()
    play(archived, [e for e in events if e != missing], RUN_TICKS)
    timeline = archived.timeline
    assert timeline.archive_tick <= missing.tick  # never past the gap
    kept = keeper()
    play(kept, events, RUN_TICKS)
    deliver(archived, missing)
    assert archived.state_hash() == kept.state_hash()
    play(archived, [], RUN_TICKS + HISTORY_TICKS + ARCHIVE_EVERY_TICKS)  # the gap closed:
    assert timeline.archive_tick > missing.tick  # archiving goes on past it


def test_a_machine_archives_nothing_it_caught_up_on_before_it_ran_history_ticks_in_step() -> None:
    """A latecomer that replays the history from START at once has not fetched all of it
    yet (here source 3's events come later): the rule keeps its recent history at hand."""
    events = random_events(7, RUN_TICKS)
    latecomer = archiver()
    for event in events:
        if event.source != 3:
            latecomer.timeline.insert(event)
    latecomer.advance(RUN_TICKS, catch_up=True)
    timeline = latecomer.timeline
    assert timeline.archive_tick == 0 and not timeline.archive.batch_count
    deliver(latecomer, *(e for e in events if e.source == 3))
    kept = keeper()
    play(kept, events, RUN_TICKS)
    assert latecomer.state_hash() == kept.state_hash()
    in_step = RUN_TICKS + HISTORY_TICKS + ARCHIVE_EVERY_TICKS
    latecomer.advance(in_step)  # history_ticks in step: it archives as usual
    assert timeline.archive_tick >= in_step - HISTORY_TICKS - ARCHIVE_EVERY_TICKS
    assert timeline.held < len(timeline) == len(events)


def joiner_of(veteran: TimeMachine, tick: int) -> TimeMachine:
    """A machine that starts from ``veteran``'s snapshot at ``tick``, sent through the
    snapshot payload's codec (and the restricted decoder)."""
    found = veteran.settled_snapshot(tick)
    assert found is not None
    coverage, blob = found
    coverage, blob = _parse_payload(
        coverage.tick, coverage.events_digest, _pack_payload(coverage, blob)
    )
    joiner = archiver()
    app = joiner.app
    assert isinstance(app, BallsApp)
    joiner.start_from(coverage, blob, load=app.load_remote_state)
    return joiner


def test_a_joiner_of_an_archiving_room_fetches_the_whole_history_and_replays_old_events() -> None:
    events = random_events(5, RUN_TICKS)
    veteran = archiver()
    play(veteran, events, RUN_TICKS)
    assert veteran.timeline.archive.batch_count > 0
    joiner = joiner_of(veteran, RUN_TICKS - 20)
    base_tick = joiner.base_tick
    assert base_tick is not None
    for event in veteran.timeline.all_events():  # the whole history, archived ones served
        assert joiner.timeline.insert(event) is InsertOutcome.NEW
        joiner.note_event(event)
    joiner.advance(RUN_TICKS)
    assert joiner.stats.rollbacks == 0  # it only fills the timeline: the state has it
    assert len(joiner.timeline) == len(veteran.timeline)
    assert joiner.timeline.digest() == veteran.timeline.digest()
    assert joiner.timeline.events_digest(RUN_TICKS) == veteran.timeline.events_digest(RUN_TICKS)
    healed = Event(7, 9, 1, "drop", [5, 5])  # older than the veteran's archive
    for machine in (veteran, joiner):
        deliver(machine, healed)
    assert joiner.base_tick is None  # its base lacked it: replayed from START
    assert joiner.state_hash() == veteran.state_hash()
    kept = keeper()
    play(kept, [*events, healed], RUN_TICKS)
    assert joiner.state_hash() == kept.state_hash()


def test_the_archive_reads_each_batch_once_per_replay_and_holds_a_small_index() -> None:
    archive = HistoryArchive(event_number)
    reads = 0
    decode = archive._read

    def counting_read(number: int):  # type: ignore[no-untyped-def]
        nonlocal reads
        reads += number not in archive._cache
        return decode(number)

    archive._read = counting_read  # type: ignore[method-assign]
    batches = 30
    for batch in range(batches):
        events = [Event(batch * 100 + 2 * i, 1, batch * 50 + i + 1, "k", None) for i in range(50)]
        archive.append(events, sum(map(event_number, events)))
    assert len(archive) == batches * 50 and archive.last_tick == batches * 100 - 2
    replayed = [event for tick in range(batches * 100) for event in archive.at(tick)]
    assert reads == batches and replayed == list(archive.events())
    assert archive.get(1, 1) == Event(0, 1, 1, "k", None) and archive.get(1, 10**6) is None
    assert archive.get(2, 1) is None
    assert len(archive._sources[1].last_seqs) == batches  # one index entry per batch
    archive.close()
    with pytest.raises(UsageError):
        archive.at(0)


def test_history_s_is_checked_and_converted_to_ticks() -> None:
    assert SessionConfig().history_s == DEFAULT_HISTORY_S is not None  # bounded by default
    assert SessionConfig(fps=50, history_s=60).history_ticks == 3000
    assert SessionConfig(history_s=None).history_ticks is None
    with pytest.raises(UsageError, match="history_s"):
        SessionConfig(fps=50, history_s=0.1).validate()  # shorter than a snapshot period
    with pytest.raises(UsageError):
        TimeMachine(BallsApp(), Timeline(), snapshot_every_ticks=10, history_ticks=5)


def test_a_world_that_started_alone_meets_an_archiving_room_and_converges() -> None:
    """The churn case forgetting could not heal: a peer that came online while all its
    neighbours were offline starts a world of its own; when it meets the room, the room
    has archived the history the newcomer lacks, and the newcomer's events are older
    than the room's archive. Both sides fetch what they lack and converge."""
    config = SessionConfig(delay_ms=100, presence=False, history_s=2.0)
    wire = make_network([(0, 1)], config=config, app_factory=BallsApp)
    loner = Session(BallsApp(), peer_id=4242, config=config, now=0.0, rng=random.Random(9))
    wire.sessions.append(loner)  # no link yet: a world of its own
    rng = random.Random(3)

    def emit(index: int, session: Session) -> None:
        if rng.random() < 0.05:
            session.emit("push", [rng.randint(0, 400), 300], now=wire.now)

    wire.run(30.0, emit=emit)
    room = wire.sessions[1]
    assert room.timeline.archive.batch_count > 0 and loner.timeline.archive.batch_count > 0
    own = loner.timeline.source_log(loner.peer_id)
    assert own is not None and own.floor > 0  # its old events are archived too...
    oldest = loner.timeline.get(loner.peer_id, 1)
    assert oldest is not None and oldest.tick < room.timeline.archive_tick  # ...and old
    wire.edges |= {(1, 2), (2, 1)}
    loner.add_peer(1, now=wire.now)
    hashes, _ = settle_and_compare(wire, seconds=10.0)
    assert len(hashes) == 1
    assert len({s.timeline.digest() for s in wire.sessions}) == 1
    tick = min(s.tick for s in wire.sessions) - 1
    assert len({s.timeline.events_digest(tick) for s in wire.sessions}) == 1
    assert len(room.timeline) == len(loner.timeline) > 0
    for session in wire.sessions:
        session.close()


def test_a_churn_run_that_did_not_converge_with_forgetting_converges_with_the_archive() -> None:
    """``sim --churn 40:20 --seed 1 --history-s 120`` did not converge when old history
    was forgotten (an old event was refused as too old)."""
    result = run_simulation(SimConfig(churn_on_s=40.0, churn_off_s=20.0, seed=1, history_s=120.0))
    assert result.converged
    assert result.history_disk_mb_per_peer is not None and result.history_disk_mb_per_peer > 0


def test_a_simulated_room_that_archives_converges_with_less_history_in_memory() -> None:
    runs = {
        history_s: run_simulation(
            SimConfig(
                topology="mesh",
                peers=4,
                latency_ms=20,
                rate_per_min=2400,
                duration_s=40,
                warmup_s=5,
                quiet_s=5,
                seed=3,
                history_s=history_s,
            ),
            memory_every_s=10,
        )
        for history_s in (None, 5.0)
    }
    kept, bounded = runs[None], runs[5.0]
    for result in (kept, bounded):
        assert result.converged and result.events_lost == 0
    assert bounded.events_total == kept.events_total
    assert bounded.memory_history_mb_per_peer is not None
    assert kept.memory_history_mb_per_peer is not None
    assert bounded.memory_history_mb_per_peer < kept.memory_history_mb_per_peer / 2
    assert kept.history_disk_mb_per_peer == 0
    assert bounded.history_disk_mb_per_peer is not None and bounded.history_disk_mb_per_peer > 0
    series = bounded.history_disk_mb_per_peer_series
    assert series is not None and len(series) == len(bounded.memory_mb_per_peer_series or ())
