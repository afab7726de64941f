"""The time machine: runs a deterministic app forward and rewinds it for late events.

How this works: ``machine.tick`` is the next tick to simulate; every tick below it has run.
Simulating tick ``t`` means: START at tick 0, otherwise the TICK step, then every event of
``t`` in ``(tick, source, seq)`` order. At ticks that are multiples of the snapshot period
the state is saved *and the live run continues from the saved copy*, exactly like a
re-simulation that starts from that snapshot does; this keeps rollback bit-exact even for
engines (pymunk) whose restored copies are not bit-identical to their originals.

When an event arrives for a tick that has already run, the machine marks that tick dirty.
The next :meth:`TimeMachine.advance` restores the newest snapshot at or before the
earliest dirty tick and re-simulates up to the present in the same order as the live run,
then continues (a driver may let a deep repair wait for a burst of late events to end,
:mod:`arcade_p2p.repair_batching`; the ticks run meanwhile are re-run by it).
Rollbacks are counted as the paper does: ``rollback_ticks`` adds ``present - dirty`` per
rollback; their depths go into a fixed-bucket :class:`~arcade_p2p.histogram.Histogram`, so
the counters stay the same size however long the session runs. A joiner's catch-up
replay (:meth:`TimeMachine.advance` with ``catch_up=True``) is counted apart from the
ticks simulated in real time, and the part of a later rollback that re-runs that replay
is counted apart too.

A joiner can start from another peer's snapshot instead of START
(:meth:`TimeMachine.start_from`): the snapshot's state at the start of tick ``T`` is
loaded, the live run continues from that loaded copy exactly as every peer's live run
continued from its own restored copy at ``T`` (so the join is bit-exact, pymunk included),
and the snapshot is kept as the *base*, the oldest point the machine can return to. A
:class:`Coverage` says which events before ``T`` the snapshot already contains (per
source, every seq up to a mark); such events, when they arrive, only fill the timeline.
An event before ``T`` that the snapshot does not contain (a healed partition) cannot be
applied on top of the base: the machine then drops the base and re-simulates the whole
history from START, after which it is an ordinary machine again (later old events cause
ordinary rollbacks, so the state converges once the history is complete).

With ``history_ticks`` set, memory stays bounded however long the session runs: about
every :data:`ARCHIVE_EVERY_TICKS`, the machine moves the events stamped more than
``history_ticks`` ago out of memory into the timeline's archive on disk
(:meth:`~arcade_p2p.timeline.Timeline.archive_before`, up to the newest kept snapshot that
old and never past a gap in any source). Nothing is forgotten: the timeline reads archived
events back, so an event older than the archive, however late, causes an ordinary rollback
to the newest kept snapshot at or before it (the snapshot store keeps sparse old ones;
START is always there) that re-simulates through the archived ticks, exactly as a
machine that keeps the whole history in memory does. Only a gap in a source shows that an
event is missing, so after a catch-up replay (a joiner or a returning peer, whose history
is still arriving) the machine archives nothing until it has run ``history_ticks`` ticks
in step: the time every peer is given to receive an event.

Presence events (:mod:`arcade_p2p.presence`: a peer's arrival and departure) are applied
to the machine's :attr:`TimeMachine.presence` in the same order, instead of
``app.event``, and call the app's optional ``on_peer_join(peer)``/``on_peer_leave(peer)``
when the set of present peers changes. A snapshot holds the presence beside the app's
blob (:func:`~arcade_p2p.presence.pack_snapshot`), so rollback, a joiner's start and the
state hashes cover it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from arcade_p2p.app import App, StateApp
from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event, is_system_name
from arcade_p2p.histogram import Histogram
from arcade_p2p.presence import Change, Presence, pack_snapshot, unpack_snapshot
from arcade_p2p.snapshots import SnapshotStore
from arcade_p2p.timeline import Timeline

__all__ = ["ARCHIVE_EVERY_TICKS", "MAX_EXTRA_COVERAGE", "Coverage", "MachineStats", "TimeMachine"]

log = logging.getLogger(__name__)

MAX_EXTRA_COVERAGE = 4096
"""Most events held above a gap that a snapshot's coverage names one by one."""
ARCHIVE_EVERY_TICKS = 500
"""How far the oldest held history may run past ``history_ticks`` before it is archived
(an archive step walks the timeline's sources and writes one batch: done in steps, not
every tick)."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which events a snapshot's state already contains.

    Attributes:
        tick: The snapshot tick ``T`` (the state is the one at the start of ``T``).
        marks: ``source -> seq``: the events of that source with ``seq <= mark`` and a tick
            before ``T`` are applied in the state (the sender held every one of them).
        events_digest: The digest of every event applied in the state (those before ``T``
            the sender held, as :meth:`Timeline.events_digest
            <arcade_p2p.timeline.Timeline.events_digest>` computes it): what a state hash
            of this state is compared with.
        extra: ``(source, seq)`` of further events in the state (held above a gap).
    """

    tick: int
    marks: Mapping[int, int]
    events_digest: bytes
    extra: frozenset[tuple[int, int]] = frozenset()

    def covers(self, event: Event) -> bool:
        """Whether ``event`` is already applied in the snapshot's state."""
        return event.tick < self.tick and (
            event.seq <= self.marks.get(event.source, 0) or event.ident in self.extra
        )


@dataclass(slots=True)
class MachineStats:
    """Counters kept by the time machine.

    Attributes:
        live_ticks: Ticks simulated forward (not counting re-simulation), catch-up
            replay included.
        catch_up_ticks: Of those, ticks replayed at once to catch up after a join or a
            return (the history that happened before this peer was in step).
        live_events: Events applied in real time, on their tick.
        rollbacks: Number of rollbacks.
        rollback_ticks: Sum over rollbacks of ``present tick - dirty tick`` (the paper's metric).
        catch_up_rollback_ticks: Of those, ticks that belonged to a catch-up replay (a
            rollback reaching into history this peer never simulated in real time).
        resim_ticks: Ticks re-simulated (from the restored snapshot to the present).
        max_rollback_depth: Deepest single rollback, in ticks.
        late_events: Events noted for a tick that had already run (each one makes a
            repair due or joins the one already due).
    """

    live_ticks: int = 0
    catch_up_ticks: int = 0
    live_events: int = 0
    rollbacks: int = 0
    rollback_ticks: int = 0
    catch_up_rollback_ticks: int = 0
    resim_ticks: int = 0
    max_rollback_depth: int = 0
    late_events: int = 0


class TimeMachine:
    """Drives an :class:`~arcade_p2p.app.App` along a :class:`~arcade_p2p.timeline.Timeline`.

    Args:
        app: The deterministic application.
        timeline: The events to apply (shared with the gossip layer).
        snapshot_every_ticks: Snapshot period K; snapshots are taken at ``tick % K == 0``.
        dense_snapshots: How many recent snapshots are kept before older ones are thinned.
        history_ticks: Archive the events stamped more than this many ticks ago to disk
            (None: keep the whole history in memory; see the module header).
    """

    def __init__(
        self,
        app: App,
        timeline: Timeline,
        *,
        snapshot_every_ticks: int = 10,
        dense_snapshots: int = 16,
        history_ticks: int | None = None,
    ) -> None:
        if history_ticks is not None and history_ticks < snapshot_every_ticks:
            raise UsageError("history_ticks must be at least one snapshot period")
        self.app = app
        self.timeline = timeline
        self.history_ticks = history_ticks
        self.presence = Presence()
        """The peers present at the start of :attr:`tick` (simulation state)."""
        if isinstance(app, StateApp):
            app.bind_presence(self.presence)
        self._peer_hooks = {
            Change.JOIN: getattr(app, "on_peer_join", None),
            Change.LEAVE: getattr(app, "on_peer_leave", None),
        }
        self.snapshots = SnapshotStore(snapshot_every_ticks, dense_snapshots)
        self.stats = MachineStats()
        self.rollback_depths = Histogram()
        """Depth of every rollback, in ticks."""
        self.last_rollback_depth = 0
        """Depth of the latest rollback (0: none yet)."""
        self._realtime_from = 0
        """Ticks below this were a catch-up replay, not simulated in real time (nor
        archived before ``history_ticks`` more have run)."""
        self._tick = 0
        self._dirty: int | None = None
        self._base: tuple[Coverage, bytes] | None = None
        """The snapshot the machine started from, while it has not replayed from START."""
        self._resume_fresh = False
        """The next live tick is the base tick: run it without saving it again."""

    @property
    def tick(self) -> int:
        """The next tick to simulate (ticks ``0 .. tick-1`` have run)."""
        return self._tick

    def note_event(self, event: Event) -> None:
        """Tell the machine that ``event`` was just added to the timeline.

        An event for a tick that has already run marks that tick dirty; the rollback
        happens at the next :meth:`advance`, once for all late events seen meanwhile.
        """
        base = self._base
        if base is not None and base[0].covers(event):
            return  # already in the state the machine started from
        if event.tick < self._tick:
            self.stats.late_events += 1
        self.mark_dirty(event.tick)

    def mark_dirty(self, tick: int) -> None:
        """Make the next :meth:`advance` roll back to ``tick`` if it has already run.

        Late events do this through :meth:`note_event`; the determinism checker calls it
        directly to force rollbacks without changing the input.
        """
        if tick < self._tick and (self._dirty is None or tick < self._dirty):
            self._dirty = tick

    def start_from(
        self, coverage: Coverage, blob: bytes, load: Callable[[bytes], None] | None = None
    ) -> None:
        """Start at tick ``coverage.tick`` from a snapshot received from another peer.

        Args:
            coverage: The snapshot's tick and the events its state contains.
            blob: The snapshot at the start of that tick (presence and the app's blob).
            load: Loads the app's blob into the app (default ``app.load_state``); a joiner
                passes a decoder for untrusted bytes, whose errors propagate and leave the
                machine as it was.

        Raises:
            UsageError: The machine has already simulated past START, or the tick is not
                a snapshot tick.
            RemoteError: The snapshot is malformed (the machine is unchanged).
        """
        tick = coverage.tick
        every = self.snapshots.every_ticks
        if self._tick > 1 or self._base is not None:
            raise UsageError("only a machine still at START can start from a snapshot")
        if tick <= 0 or tick % every:
            raise UsageError(f"a snapshot tick is a positive multiple of {every}, got {tick}")
        entries, app_blob = unpack_snapshot(blob)
        (load or self.app.load_state)(app_blob)
        self.presence.restore(entries)
        self.snapshots = SnapshotStore(every, self.snapshots.dense_count)
        self.snapshots.put(tick, blob)
        self._base = (coverage, blob)
        self._tick = tick
        self._dirty = None
        self._resume_fresh = True
        for event in self.timeline.all_events():  # what arrived before the snapshot did
            if event.tick >= tick:
                break
            if not coverage.covers(event):
                self.note_event(event)  # replay the history from START
                if self._dirty is not None:
                    break

    def settled_snapshot(self, before_tick: int) -> tuple[Coverage, bytes] | None:
        """The newest snapshot at or before ``before_tick`` and what it covers (for a joiner).

        It runs no tick: with a repair pending, it picks a snapshot at or before the
        dirty tick (later ones are stale). So the snapshot contains every event of the
        timeline stamped before its tick; the coverage names, per source, the seqs held
        without a gap up to the newest one stamped before the snapshot's tick (those
        after it are not in the state), plus up to :data:`MAX_EXTRA_COVERAGE` events of
        the state held above a gap (beyond those, a joiner that receives one
        re-simulates from START: rare, and exact either way).

        Returns:
            ``(coverage, blob)``, or None when no snapshot that old is kept (or it is
            START's, which a joiner has anyway).
        """
        limit = min(before_tick, self._tick)
        if self._dirty is not None:  # a pending repair: snapshots after it are stale
            limit = min(limit, self._dirty)
        found = self.snapshots.at_or_before(limit)
        if found is None or found[0] == 0:
            return None
        tick, blob = found
        marks: dict[int, int] = {}
        extra: list[tuple[int, int]] = []
        timeline = self.timeline
        for source in timeline.marks():
            log = timeline.source_log(source)
            assert log is not None  # a source with a mark has a log
            # The newest seqs held are often stamped at ``tick`` or later: not in the state.
            # The mark stops below them, so a joiner counts them among the events its
            # state still needs (it fetches those first and holds until it has them).
            mark = log.contiguous
            while mark > log.floor and log.events[mark].tick >= tick:
                mark -= 1
            marks[source] = mark
            for seq in log.above[: max(0, MAX_EXTRA_COVERAGE - len(extra))]:
                if log.events[seq].tick < tick:
                    extra.append((source, seq))
        return Coverage(tick, marks, self.events_digest(tick), frozenset(extra)), blob

    def events_digest(self, tick: int) -> bytes:
        """The digest of the events the state at the start of ``tick`` contains: what its
        state hash is compared with (see :mod:`arcade_p2p.hash_reports`).

        That is the timeline's digest of the events before ``tick``, except on a machine
        started from a snapshot: there the events before the snapshot's tick are the ones
        the snapshot contains (its coverage's digest), whether or not the timeline holds
        them yet. Call it with no repair pending, for a tick that has run.
        """
        base = self._base
        if base is None or tick < base[0].tick:
            return self.timeline.events_digest(tick)
        coverage = base[0]
        return self.timeline.events_digest(tick, base=(coverage.tick, coverage.events_digest))

    def started_with(self, event: Event) -> bool:
        """Whether ``event`` is applied in the snapshot state this machine started from
        (its base): it is in the simulation without being held in the timeline."""
        base = self._base
        return base is not None and base[0].covers(event)

    @property
    def pending_repair(self) -> int | None:
        """The tick the next :meth:`repair` rolls back to (None: nothing to repair)."""
        return self._dirty

    @property
    def base_tick(self) -> int | None:
        """The tick of the snapshot the machine started from (None: it runs from START)."""
        return None if self._base is None else self._base[0].tick

    def resume_at(self, tick: int) -> None:
        """Continue from the app's current state, taken as the state at the start of ``tick``.

        The caller has loaded that state into the app and the presence (a snapshot
        ``tick`` whose own ticks ``0 .. tick-1`` this machine never ran); the next
        :meth:`advance` simulates ``tick`` first. Used to re-simulate a stretch of history
        offline.
        """
        self._tick = tick
        self._dirty = None

    def advance(self, target_tick: int, *, catch_up: bool = False, repair: bool = True) -> int:
        """Repair any late events, then simulate live up to and including ``target_tick``.

        Args:
            target_tick: The last tick to have run when this returns.
            catch_up: These ticks replay history at once (a joiner or a returning peer
                catching up), not real-time simulation: they count as ``catch_up_ticks``.
            repair: False: leave a pending repair pending (the ticks run now on top of
                the state without the late events, and the repair re-runs them later;
                see :mod:`arcade_p2p.repair_batching`).

        Returns:
            The number of live ticks simulated.
        """
        if repair:
            self.repair()
        start = self._tick
        if target_tick < start:
            return 0
        fresh, self._resume_fresh = self._resume_fresh, False
        applied = self._simulate(start, target_tick + 1, fresh_from_snapshot=fresh)
        self.stats.live_ticks += target_tick + 1 - start
        if catch_up:
            self.stats.catch_up_ticks += target_tick + 1 - start
            self._realtime_from = target_tick + 1
        self.stats.live_events += applied
        self._archive_old_history()
        return target_tick + 1 - start

    def _archive_old_history(self) -> None:
        """Archive what is older than ``history_ticks`` (see the module header)."""
        keep = self.history_ticks
        timeline = self.timeline
        if keep is None or self._tick - timeline.archive_tick < keep + ARCHIVE_EVERY_TICKS:
            return
        if self._tick - keep < self._realtime_from:  # its history may still be coming
            return
        if self._dirty is not None:  # snapshots after the dirty tick are stale
            return
        found = self.snapshots.at_or_before(timeline.archivable_before(self._tick - keep))
        if found is not None and found[0] > timeline.archive_tick:
            timeline.archive_before(found[0])

    def repair(self) -> None:
        """Roll back and re-simulate now if a late event made the past dirty."""
        dirty = self._dirty
        if dirty is None:
            return
        self._dirty = None
        present = self._tick
        depth = present - dirty
        self.stats.rollbacks += 1
        self.stats.rollback_ticks += depth
        self.stats.catch_up_rollback_ticks += max(0, min(present, self._realtime_from) - dirty)
        self.stats.max_rollback_depth = max(self.stats.max_rollback_depth, depth)
        self.rollback_depths.add(depth)
        self.last_rollback_depth = depth
        snapshot = self.snapshots.at_or_before(dirty)
        base = self._base
        if base is not None and dirty < base[0].tick:  # the base lacks it: from START
            self._base = base = None
            self._resume_fresh = False
        if base is not None and (snapshot is None or snapshot[0] < base[0].tick):
            snapshot = (base[0].tick, base[1])  # thinned away, or a received base
        if snapshot is None or snapshot[0] == 0:
            restored = 0
            self._simulate(0, present, fresh_from_snapshot=False)
        else:
            restored, blob = snapshot
            self._load(blob)
            self._simulate(restored, present, fresh_from_snapshot=True)
        self.stats.resim_ticks += present - restored

    def state_hash(self) -> str:
        """Hex digest of the state after tick ``tick - 1`` (the app's and the presence),
        as a snapshot taken now would hash."""
        self.repair()
        blob = pack_snapshot(self.presence, self.app.save_state())
        return hashlib.blake2b(blob, digest_size=16).hexdigest()

    def _load(self, blob: bytes) -> None:
        """Restore a snapshot of this machine's own (the app's state and the presence)."""
        entries, app_blob = unpack_snapshot(blob)
        self.app.load_state(app_blob)
        self.presence.restore(entries)

    def _simulate(self, first: int, end: int, *, fresh_from_snapshot: bool) -> int:
        """Run ticks ``first .. end-1`` from the state at the start of ``first``.

        Returns:
            The number of events applied.
        """
        app = self.app
        presence = self.presence
        at = self.timeline.at
        every = self.snapshots.every_ticks
        put = self.snapshots.put
        tick = first
        applied = 0
        while tick < end:
            if tick == 0:
                presence.clear()
                app.start()
            else:
                if tick % every == 0 and not (fresh_from_snapshot and tick == first):
                    blob = app.save_state()
                    put(tick, pack_snapshot(presence, blob))
                    app.load_state(blob)
                app.tick()
            events = at(tick)
            if events:
                applied += len(events)
                for event in events:
                    if is_system_name(event.name):
                        self._apply_presence(event)
                    else:
                        app.event(event)
            tick += 1
        self._tick = end
        return applied

    def _apply_presence(self, event: Event) -> None:
        """Apply a presence event and call the app's hook if the present peers changed."""
        applied = self.presence.apply(event)
        if applied is not None:
            change, peer = applied
            hook = self._peer_hooks[change]
            if hook is not None:
                hook(peer)
