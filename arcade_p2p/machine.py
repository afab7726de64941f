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
then continues. Rollbacks are counted as the paper does: ``rollback_ticks`` adds
``present - dirty`` per rollback; their depths go into a fixed-bucket
:class:`~arcade_p2p.histogram.Histogram`, so the counters stay the same size however long
the session runs. A joiner's catch-up replay (:meth:`TimeMachine.advance` with
``catch_up=True``) is counted apart from the ticks simulated in real time, and the part
of a later rollback that re-runs that replay is counted apart too.
"""

from __future__ import annotations

from dataclasses import dataclass

from arcade_p2p.app import App, state_hash
from arcade_p2p.events import Event
from arcade_p2p.histogram import Histogram
from arcade_p2p.snapshots import SnapshotStore
from arcade_p2p.timeline import Timeline

__all__ = ["MachineStats", "TimeMachine"]


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
    """

    live_ticks: int = 0
    catch_up_ticks: int = 0
    live_events: int = 0
    rollbacks: int = 0
    rollback_ticks: int = 0
    catch_up_rollback_ticks: int = 0
    resim_ticks: int = 0
    max_rollback_depth: int = 0


class TimeMachine:
    """Drives an :class:`~arcade_p2p.app.App` along a :class:`~arcade_p2p.timeline.Timeline`.

    Args:
        app: The deterministic application.
        timeline: The events to apply (shared with the gossip layer).
        snapshot_every_ticks: Snapshot period K; snapshots are taken at ``tick % K == 0``.
        dense_snapshots: How many recent snapshots are kept before older ones are thinned.
    """

    def __init__(
        self,
        app: App,
        timeline: Timeline,
        *,
        snapshot_every_ticks: int = 10,
        dense_snapshots: int = 16,
    ) -> None:
        self.app = app
        self.timeline = timeline
        self.snapshots = SnapshotStore(snapshot_every_ticks, dense_snapshots)
        self.stats = MachineStats()
        self.rollback_depths = Histogram()
        """Depth of every rollback, in ticks."""
        self.last_rollback_depth = 0
        """Depth of the latest rollback (0: none yet)."""
        self._realtime_from = 0
        """Ticks below this were a catch-up replay, not simulated in real time."""
        self._tick = 0
        self._dirty: int | None = None

    @property
    def tick(self) -> int:
        """The next tick to simulate (ticks ``0 .. tick-1`` have run)."""
        return self._tick

    def note_event(self, event: Event) -> None:
        """Tell the machine that ``event`` was just added to the timeline.

        An event for a tick that has already run marks that tick dirty; the rollback
        happens at the next :meth:`advance`, once for all late events seen meanwhile.
        """
        self.mark_dirty(event.tick)

    def mark_dirty(self, tick: int) -> None:
        """Make the next :meth:`advance` roll back to ``tick`` if it has already run.

        Late events do this through :meth:`note_event`; the determinism checker calls it
        directly to force rollbacks without changing the input.
        """
        if tick < self._tick and (self._dirty is None or tick < self._dirty):
            self._dirty = tick

    def resume_at(self, tick: int) -> None:
        """Continue from the app's current state, taken as the state at the start of ``tick``.

        The caller has loaded that state into the app (a snapshot ``tick`` whose own
        ticks ``0 .. tick-1`` this machine never ran); the next :meth:`advance` simulates
        ``tick`` first. Used to re-simulate a stretch of history offline.
        """
        self._tick = tick
        self._dirty = None

    def advance(self, target_tick: int, *, catch_up: bool = False) -> int:
        """Repair any late events, then simulate live up to and including ``target_tick``.

        Args:
            target_tick: The last tick to have run when this returns.
            catch_up: These ticks replay history at once (a joiner or a returning peer
                catching up), not real-time simulation: they count as ``catch_up_ticks``.

        Returns:
            The number of live ticks simulated.
        """
        self.repair()
        start = self._tick
        if target_tick < start:
            return 0
        applied = self._simulate(start, target_tick + 1, fresh_from_snapshot=False)
        self.stats.live_ticks += target_tick + 1 - start
        if catch_up:
            self.stats.catch_up_ticks += target_tick + 1 - start
            self._realtime_from = target_tick + 1
        self.stats.live_events += applied
        return target_tick + 1 - start

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
        if snapshot is None or snapshot[0] == 0:
            restored = 0
            self._simulate(0, present, fresh_from_snapshot=False)
        else:
            restored, blob = snapshot
            self.app.load_state(blob)
            self._simulate(restored, present, fresh_from_snapshot=True)
        self.stats.resim_ticks += present - restored

    def state_hash(self) -> str:
        """Hex digest of the app state after tick ``tick - 1``."""
        self.repair()
        return state_hash(self.app)

    def _simulate(self, first: int, end: int, *, fresh_from_snapshot: bool) -> int:
        """Run ticks ``first .. end-1`` from the state at the start of ``first``.

        Returns:
            The number of events applied.
        """
        app = self.app
        at = self.timeline.at
        every = self.snapshots.every_ticks
        put = self.snapshots.put
        tick = first
        applied = 0
        while tick < end:
            if tick == 0:
                app.start()
            else:
                if tick % every == 0 and not (fresh_from_snapshot and tick == first):
                    blob = app.save_state()
                    put(tick, blob)
                    app.load_state(blob)
                app.tick()
            events = at(tick)
            if events:
                applied += len(events)
                for event in events:
                    app.event(event)
            tick += 1
        self._tick = end
        return applied
