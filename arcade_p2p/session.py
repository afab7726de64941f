"""A session: one peer's whole middleware, composed and ready for a driver.

How this works: a :class:`Session` owns the timeline, the time machine, the clock, the
gossip node and the join state, and wires them together: events new to the node are noted
by the machine; SYNC feeds the clock; the clock says which tick should have run; the
:class:`~arcade_p2p.joining.JoinState` says whether ticks are held while the history is
fetched. Every driver (the UDP runner, the game window, the virtual-time simulator, the
test helpers, the benchmarks) does the same two things, always passing its current time
as ``now``: call :meth:`Session.pump` with the datagrams that arrived and send the
datagrams it returns, then sleep until :meth:`Session.next_wakeup` (or until a datagram
arrives).

The driver step, in this order (the only place the order is written down):

1. **ticks** -- run every tick due by ``now`` (:meth:`Session.pump_ticks`). Those ticks
   were due at or before ``now``, so they come before whatever is taken in now: a driver
   that pumps late (a long frame, a simulator that only wakes when there is work) leaves
   the session in exactly the state a loop running every tick on time would have;
2. **network** (:meth:`Session.pump_network`) -- take the datagrams in, run the protocol
   timers that are due (SYNC, anti-entropy, HELLO, liveness), and collect what to send;
3. **ticks again** -- repair at once what the datagrams made late (a rollback; one that
   reaches far back may wait for the rest of a burst, :mod:`arcade_p2p.repair_batching`)
   and run any tick the clock now says is due (a catch-up). Skipped when no datagram came in and no
   timer ran, since it would then change nothing.

The two halves are independent on purpose: ticks queue no datagram (only local events,
like the game's input: held input and presence announcements), and the network half never
runs a tick (it only notes new events for the tick half), so a driver may run
the network half on its own thread and the ticks on the game's thread, each waking at its
own time (:meth:`Session.network_timer`, :meth:`Session.next_tick_time`).

**Hand-off** (:meth:`Session.hand_off`). A driver that does so gives the session a guard
(a lock; the core never imports threading) and the session splits its state in two:

* the *network side* -- the gossip node, its timeline (:attr:`Session.timeline`: every
  event this peer knows, what relaying and anti-entropy answer from), the clock and the
  join state -- is only touched under the guard;
* the *simulation side* -- the time machine, the app and the machine's own timeline
  (:attr:`TimeMachine.timeline <arcade_p2p.machine.TimeMachine.timeline>`: the events the
  simulation has been given) -- belongs to the thread that runs the tick half.

Events new to the node are appended to a list under the guard; the tick half takes the
list (under the guard, a few microseconds) and inserts its events into the machine's
timeline before it runs any tick, then simulates *without* the guard. So the simulation
only sees the timeline change between two ticks, and however long the ticks (a rollback)
or the game's frame take, the network half never waits for them. Local events are
stamped under the guard and enter both timelines at once. Without a hand-off the two
timelines are one object and nothing is locked: :meth:`Session.pump` is unchanged for
single-threaded drivers.

After the ticks, the session's :class:`~arcade_p2p.hash_reports.HashReports` report the
state at its settled snapshot ticks (they travel on SYNC), and its
:class:`~arcade_p2p.desync.DesyncMonitor` raises the alarm when a neighbour's state differs
after the same events (:attr:`Session.desync`, :attr:`Session.on_desync`); forensics
bundles wait in :meth:`Session.take_desync_bundles` for the driver to write them.

Local events are stamped ``max(now + Delta, last known event tick + 1)`` (the paper's
rule, which keeps the log increasing), and never below the previous local event's tick.
In the default clock mode "now" is the network's tick as far as this peer knows it (the
paper mode uses the own tick); the second term only counts within one second past the
first, so a stray far-future event cannot stall everyone's input. Delta is fixed, or with
``delay_ms="auto"`` chosen by this source from the slack its events had at the others
(:mod:`arcade_p2p.delay`); every session measures the slack of the events it receives.

Input emitted while the session is joining (or returning) is *held*: it keeps its seq but
is stamped only once the session is in step, in the order emitted, so that it lands at
the room's tick and never rewrites what the others have shown. After its ticks the
session also announces presence (:mod:`arcade_p2p.presence`): its own arrival once in
step (before the held input), a neighbour gone silent, and, from :meth:`Session.leave`,
its own departure. These are local events like the game's; the tick half stamps them
under the guard.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Hashable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from arcade_p2p.app import App, StateApp
from arcade_p2p.clock import Clock, ClockMode, ClockSettings
from arcade_p2p.delay import DelayController, SlackBoard
from arcade_p2p.desync import DesyncMonitor, DesyncReport
from arcade_p2p.desync_bundle import DesyncBundle
from arcade_p2p.errors import UsageError
from arcade_p2p.events import MAX_SOURCE_ID, Event, canonical_payload, is_system_name
from arcade_p2p.forensics import Forensics
from arcade_p2p.hash_reports import HashReports
from arcade_p2p.joining import JoinState
from arcade_p2p.machine import Coverage, TimeMachine
from arcade_p2p.presence import JOIN_EVENT, LEAVE_EVENT, Announcer, unpack_snapshot
from arcade_p2p.protocol.node import GossipNode, NodeSettings
from arcade_p2p.protocol.transfer import Verdict
from arcade_p2p.protocol.wire import WireCodec
from arcade_p2p.repair_batching import RepairBatcher, deep_repair_ticks
from arcade_p2p.timeline import InsertOutcome, Timeline

__all__ = ["AUTO_DELAY", "HELD_TICK", "Session", "SessionConfig", "SessionStats"]

DEFAULT_FPS = 50
DEFAULT_DELAY_MS = 500.0
AUTO_DELAY = "auto"
"""``delay_ms`` value that lets each source choose its own Delta (see :mod:`arcade_p2p.delay`)."""
DEFAULT_AUTO_START_MS = 100.0
DEFAULT_AUTO_MAX_MS = 10_000.0
MAX_DELAY_MS = 600_000.0
MS_PER_S = 1000.0
DEFAULT_ROOM = "lobby"
DEFAULT_HISTORY_S: float | None = 60.0
"""Seconds of event history a session keeps in memory by default (the rest is archived
to a temporary file; None: all of it in memory; see ``SessionConfig.history_s``)."""
SETTLED_LAG_TICKS = 2.0
"""A peer whose clock lags the network by more than this is still catching up: the slack
it measures says more about its own clock than about the path (see
:meth:`arcade_p2p.delay.SlackBoard.measure`)."""
JOIN_TIMEOUT_S = 3.0
"""Longest a joining session holds at START waiting for the history."""
HELD_TICK = -1
"""The tick of an event :meth:`Session.emit` returns while the session is joining: it is
held and stamped once the session is in step (its source and seq are final)."""
PRESENCE_CHECK_INTERVAL_S = 0.1
"""How often a session looks for neighbours gone silent (to announce their departure)."""


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Settings every peer of a room should share.

    Attributes:
        fps: Ticks per second (all peers must agree).
        delay_ms: Delta, how far in the future local events are stamped, in milliseconds,
            or ``"auto"``: each source chooses its own Delta from how late its events
            arrive at the others (see :mod:`arcade_p2p.delay`).
        auto_start_ms: With ``"auto"``: Delta before the first report arrives.
        auto_max_ms: With ``"auto"``: the largest Delta a source may choose.
        clock: Clock synchronisation rule (``ClockMode.from_name("paper")`` converts a name).
        room: Room name; the MAC key of every datagram is derived from it.
        key: Secret passphrase of the room (None: anyone who knows the room name can
            join). Stretched once per session into the MAC key; it never goes on the wire
            and is left out of ``repr``. Peers with another key are refused (``bad_mac``).
        snapshot_every_ticks: Snapshot period K.
        summary_interval_s: Anti-entropy period.
        link_timeout_s: Silence after which a neighbour is considered gone (and, with
            ``presence``, announced gone once its events have stopped as long).
        presence: Announce this peer's arrival and departure, and neighbours noticed
            gone, as presence events (see :mod:`arcade_p2p.presence`). Every session
            applies the presence events it receives either way.
        history_s: Seconds of event history each peer keeps in memory (default
            :data:`DEFAULT_HISTORY_S`; None: the whole history). Older events move to the
            session's archive, an anonymous temporary file deleted when the session is
            closed or the process ends, which bounds memory in long sessions without
            changing what the session does: archived events are still served to peers
            that lack them and re-simulated when an older event arrives late. See
            :mod:`arcade_p2p.machine`.
    """

    fps: int = DEFAULT_FPS
    delay_ms: float | str = DEFAULT_DELAY_MS
    clock: ClockMode = ClockMode.DEFAULT
    room: str = DEFAULT_ROOM
    snapshot_every_ticks: int = 10
    summary_interval_s: float = 0.5
    link_timeout_s: float = 3.0
    key: str | None = field(default=None, repr=False)
    auto_start_ms: float = DEFAULT_AUTO_START_MS
    auto_max_ms: float = DEFAULT_AUTO_MAX_MS
    presence: bool = True
    history_s: float | None = DEFAULT_HISTORY_S

    @property
    def history_ticks(self) -> int | None:
        """:attr:`history_s` in ticks (None: the whole history is kept)."""
        return None if self.history_s is None else round(self.history_s * self.fps)

    @property
    def auto(self) -> bool:
        """Whether each source chooses its own Delta (``delay_ms == "auto"``)."""
        return self.delay_ms == AUTO_DELAY

    @property
    def delta_ticks(self) -> int:
        """Delta in ticks (at least 1); with ``"auto"``, the starting Delta."""
        delay_ms = self.auto_start_ms if isinstance(self.delay_ms, str) else self.delay_ms
        return self._ticks(delay_ms)

    @property
    def max_delta_ticks(self) -> int:
        """The largest Delta in ticks: ``auto_max_ms`` with ``"auto"``, else Delta itself."""
        return self._ticks(self.auto_max_ms) if self.auto else self.delta_ticks

    def _ticks(self, delay_ms: float) -> int:
        return max(1, round(delay_ms * self.fps / MS_PER_S))

    def validate(self) -> None:
        """Raise :class:`UsageError` for values that cannot work."""
        if not isinstance(self.fps, int) or not 1 <= self.fps <= 1000:
            raise UsageError(f"fps must be an integer in 1..1000, got {self.fps!r}")
        if not (self.auto or _is_delay(self.delay_ms)):
            raise UsageError(
                f"delay_ms must be a number in 0..{MAX_DELAY_MS:g} or {AUTO_DELAY!r}, "
                f"got {self.delay_ms!r}"
            )
        for name in ("auto_start_ms", "auto_max_ms"):
            if not _is_delay(getattr(self, name)):
                raise UsageError(f"{name} must be in 0..{MAX_DELAY_MS:g}")
        if self.auto_max_ms < self.auto_start_ms:
            raise UsageError("auto_max_ms must be >= auto_start_ms")
        if self.snapshot_every_ticks < 1:
            raise UsageError("snapshot_every_ticks must be >= 1")
        if self.summary_interval_s <= 0 or self.link_timeout_s <= 0:
            raise UsageError("intervals must be positive")
        if self.history_s is not None and not (
            isinstance(self.history_s, int | float)
            and self.history_s * self.fps >= self.snapshot_every_ticks
        ):
            raise UsageError(
                f"history_s must be None or at least one snapshot period "
                f"({self.snapshot_every_ticks / self.fps:g} s), got {self.history_s!r}"
            )
        if self.key is not None and (not isinstance(self.key, str) or not self.key):
            raise UsageError("key must be a non-empty string or None")
        if not isinstance(self.clock, ClockMode):
            raise UsageError(f"clock must be a ClockMode, got {self.clock!r}")


def _is_delay(value: object) -> bool:
    """Whether ``value`` is a number of milliseconds a Delta may be."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 <= value <= MAX_DELAY_MS
    )


@dataclass(frozen=True, slots=True)
class SessionStats:
    """A snapshot of a session's counters.

    Attributes:
        tick: Next tick to simulate.
        neighbours: Live neighbours.
        events: Application events in the timeline (presence events not counted).
        events_emitted: Events the application emitted (presence events not counted).
        live_events: Events applied on time.
        rollbacks: Rollbacks performed.
        rollback_ticks: Sum of rollback depths (the paper's metric).
        resim_ticks: Ticks re-simulated.
        live_ticks: Ticks simulated in real time.
        catch_ups: Times the clock started catching up.
        bytes_in: Bytes received.
        bytes_out: Bytes sent.
        dropped: Dropped datagrams by reason.
        delta_ticks: The Delta (in ticks) the next local event gets.
        delta_ticks_total: Sum of the Delta of every local event (ticks).
        deliveries: Events of other sources received (not while joining).
        late_deliveries: Of those, the ones that arrived after their tick had run.
        presence_events: Presence events in the timeline (arrivals and departures).
        events_held: Events of the timeline held in memory (the rest are archived on
            disk, see ``SessionConfig.history_s``; presence events included).
        history_disk_bytes: Size of the timeline's archive file.
    """

    tick: int
    neighbours: int
    events: int
    events_emitted: int
    live_events: int
    rollbacks: int
    rollback_ticks: int
    resim_ticks: int
    live_ticks: int
    catch_ups: int
    bytes_in: int
    bytes_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    delta_ticks: int = 0
    delta_ticks_total: int = 0
    deliveries: int = 0
    late_deliveries: int = 0
    presence_events: int = 0
    events_held: int = 0
    history_disk_bytes: int = 0


class Session:
    """One peer: timeline + time machine + clock + gossip node.

    Args:
        app: The deterministic application.
        peer_id: This session's id, unique in the room for this run (any int in
            ``0 .. 2**63-1``; ids need not be contiguous). A restarted peer should use a
            new id.
        config: Shared settings.
        now: The driver's current time in seconds (tick 0 is due now).
        rng: Seeded randomness for protocol timers and the session epoch.
    """

    def __init__(
        self,
        app: App,
        *,
        peer_id: int,
        config: SessionConfig | None = None,
        now: float,
        rng: random.Random | None = None,
    ) -> None:
        config = config or SessionConfig()
        config.validate()
        if not isinstance(peer_id, int) or not 0 <= peer_id <= MAX_SOURCE_ID:
            raise UsageError(f"peer_id must be an int in 0..2**63-1, got {peer_id!r}")
        self.config = config
        self.peer_id = peer_id
        self.delta_ticks = config.delta_ticks
        """Delta in ticks: fixed, or the starting value of an automatic one."""
        self.delay = DelayController(config.delta_ticks, config.max_delta_ticks, now=now)
        self.slack = SlackBoard(peer_id, relay=config.auto)
        self.delta_ticks_total = 0
        self.deliveries = 0
        self.late_deliveries = 0
        self._now = now
        """The time of the datagrams being taken in (slack is measured against the clock)."""
        rng = rng or random.Random(peer_id)
        clock_settings = ClockSettings.for_mode(config.clock, self.delta_ticks)
        self.timeline = Timeline()
        self.machine = TimeMachine(
            app,
            self.timeline,
            snapshot_every_ticks=config.snapshot_every_ticks,
            history_ticks=config.history_ticks,
        )
        self.reports = HashReports(self.machine, settle_ticks=self.delta_ticks)
        self.join = JoinState(timeout_s=JOIN_TIMEOUT_S, return_gap_s=config.link_timeout_s, now=now)
        self.clock = Clock(config.fps, clock_settings, now=now, me=peer_id, join=self.join)
        self._snapshots = _SnapshotHost(self)
        self._repair_batcher = RepairBatcher(deep_repair_ticks(config.fps, config.max_delta_ticks))
        self.node = GossipNode(
            source=peer_id,
            fps=config.fps,
            snapshot_every_ticks=config.snapshot_every_ticks,
            codec=WireCodec(config.room, config.key),
            timeline=self.timeline,
            clock=self.clock,
            rng=rng,
            settings=NodeSettings(
                sync_interval_s=clock_settings.sync_interval_s,
                summary_interval_s=config.summary_interval_s,
                link_timeout_s=config.link_timeout_s,
                warmup_syncs=clock_settings.warmup_syncs,
            ),
            on_new_event=self._on_new_event,
            join=self.join,
            reports=self.reports,
            snapshots=self._snapshots,
            now=now,
            slack=self.slack,
        )
        transfer = self.node.transfer
        assert transfer is not None  # the session always hands the node a snapshot host
        self.join.snapshot_pending = lambda: (
            transfer.fetching or self._snapshots.received is not None
        )
        forensics = Forensics(app, self.reports, self.node, fps=config.fps)
        self.desyncs = DesyncMonitor(peer_id, self.reports, forensics)
        self._seq = 0
        self._emitted = 0
        self.announcer = Announcer(
            peer_id, silence_s=config.link_timeout_s, enabled=config.presence
        )
        self._held: list[tuple[int, str, Any]] = []
        """``(seq, name, payload)`` emitted while joining, to stamp once in step."""
        self._next_presence_check = now
        self._presence_events = 0
        """Presence events in the node's timeline (network side)."""
        self._guard: AbstractContextManager[Any] = contextlib.nullcontext()
        self._split = False
        self._arrivals: list[Event] = []
        """Events new to the node that the tick half has not taken yet (hand-off only)."""

    def hand_off(self, guard: AbstractContextManager[Any]) -> None:
        """Split the session for a driver that runs the two halves on two threads.

        After this call the network side (node, :attr:`timeline`, clock, join state) is
        touched only while ``guard`` is held, the machine reads its own timeline, and
        events new to the node reach it through a list that :meth:`pump_ticks` takes
        under the guard (see the module header). Every method takes the guard itself,
        for as short as it can: call them without holding it.

        Args:
            guard: A non-reentrant lock shared by the driver's threads (``threading.Lock``).

        Raises:
            UsageError: The session was handed off already.
        """
        if self._split:
            raise UsageError("the session was handed off already")
        applied = Timeline()
        for event in self.timeline.all_events():
            applied.insert(event)
        self.machine.timeline = applied
        self.node.on_new_event = self._on_arrival
        self._guard = guard
        self._split = True

    def _take_arrivals(self) -> None:
        """Give the machine the events the node took in since the last call (hand-off)."""
        with self._guard:
            arrivals = self._arrivals.copy()
            self._arrivals.clear()
        insert = self.machine.timeline.insert
        note = self.machine.note_event
        for event in arrivals:
            if insert(event) is InsertOutcome.NEW:
                note(event)

    @property
    def app(self) -> App:
        """The application driven by this session."""
        return self.machine.app

    @property
    def events_emitted(self) -> int:
        """How many events the application emitted (held ones included)."""
        return self._emitted

    @property
    def tick(self) -> int:
        """Next tick to simulate (ticks below it have run)."""
        return self.machine.tick

    def add_peer(self, address: Hashable, *, now: float) -> None:
        """Connect to a neighbour at ``address`` (the driver's address type).

        A session that has not simulated past START when it first dials someone is
        *joining*: see :attr:`joining`.
        """
        tick = self.machine.tick
        with self._guard:
            self.join.dialled(tick=tick, now=now)
            self.node.add_peer(address, now=now)

    @property
    def held_seqs(self) -> tuple[int, ...]:
        """Seqs of the local events held while joining and not stamped yet: they are in
        no timeline and have not been sent (a process that dies now takes them along)."""
        with self._guard:
            return tuple(seq for seq, _, _ in self._held)

    @property
    def joining(self) -> bool:
        """Whether the session holds its simulation while it fetches the history.

        A joining session (one that dials someone before simulating past START) and a
        returning one (its driver did not run ticks for longer than the link timeout: a
        frozen process, a sleeping laptop) stop simulating until a neighbour shows that
        they lack no event, or ``JOIN_TIMEOUT_S`` passes. The history they fetch is then
        applied in one forward pass instead of a deep rollback (see
        :mod:`arcade_p2p.joining`).
        """
        return self.join.joining

    def emit(self, name: str, payload: Any = None, *, now: float) -> Event:
        """Broadcast an application event; it is applied everywhere at its stamped tick.

        While the session is joining (see :attr:`joining`) the event is held: the returned
        event has its final source and seq but tick :data:`HELD_TICK`, and is stamped and
        sent once the session is in step, after any held before it.

        Raises:
            UsageError: The name or payload cannot be sent (names starting with ``"@"``
                are the session's own).
        """
        payload = canonical_payload(name, payload)
        with self._guard:
            if self.join.joining:
                if not self._held and self.announcer.announces_first_join():
                    self._held.append((self._next_seq(), JOIN_EVENT, None))  # goes first
                seq = self._next_seq()
                self._held.append((seq, name, payload))
                event = Event(HELD_TICK, self.peer_id, seq, name, payload)
            else:
                event = self._stamp(self._next_seq(), name, payload, now=now)
        if self._split and event.tick != HELD_TICK:
            self.machine.timeline.insert(event)
        self._emitted += 1
        return event

    def leave(self, *, now: float) -> Event | None:
        """Announce that this peer leaves (a clean stop); the driver sends it, then stops.

        Input still held (the session never got in step) is dropped. Afterwards the
        session announces nothing more.

        Returns:
            The stamped departure, or None when this peer never announced itself (or
            ``presence`` is off, or it has left already).
        """
        with self._guard:
            self._held.clear()
            join_seq = self.announcer.farewell()
            if join_seq is None:
                return None
            event = self._stamp(self._next_seq(), LEAVE_EVENT, [self.peer_id, join_seq], now=now)
        if self._split:
            self.machine.timeline.insert(event)
        return event

    def close(self) -> None:
        """Delete the history archived on disk (the driver calls it once the session has
        stopped for good; a process that ends deletes it as well)."""
        with self._guard:
            self.timeline.close()
        self.machine.timeline.close()

    def _next_seq(self) -> int:
        """The seq of the next own event (under the guard)."""
        own = self.timeline.source_log(self.peer_id)
        self._seq = max(self._seq, own.highest if own else 0) + 1
        return self._seq

    def _stamp(self, seq: int, name: str, payload: Any, *, now: float) -> Event:
        """Stamp an own event, put it in the timeline and flood it (under the guard;
        with a hand-off the caller also gives it to the machine's timeline)."""
        delay = self.delay
        if self.config.auto:
            facts, spreads = self.slack.take_own()
            delay.on_facts(facts, spreads, now=now)
        base = self.clock.stamp_base(now)
        delta = delay.delta_ticks
        earliest = self.machine.tick
        last = self.timeline.last_tick
        if base + delta <= last <= base + delta + self.config.fps:
            earliest = max(earliest, last + 1)
        tick = delay.stamp(seq, base, earliest)
        event = Event(tick, self.peer_id, seq, name, payload)
        self.timeline.insert(event)
        self.node.broadcast(event)
        if is_system_name(name):  # Delta figures describe the application's events
            self._presence_events += 1
        else:
            self.delta_ticks_total += delta
        return event

    def _announce(self, now: float) -> list[Event]:
        """After the ticks: stamp the held input and the presence events that are due
        (tick half, under the guard); what was stamped."""
        if self.join.joining:
            return []
        stamped: list[Event] = []
        announcer = self.announcer
        for seq, name, payload in self._held:
            stamped.append(self._stamp(seq, name, payload, now=now))
            if name == JOIN_EVENT:
                announcer.joined(stamped[-1])
        self._held.clear()
        machine = self.machine
        if announcer.join_due(tick=machine.tick, presence=machine.presence):
            stamped.append(self._stamp(self._next_seq(), JOIN_EVENT, None, now=now))
            announcer.joined(stamped[-1])
        if announcer.enabled and now >= self._next_presence_check:
            self._next_presence_check = now + PRESENCE_CHECK_INTERVAL_S
            links = self.node.links
            if any(link.up for link in links):  # all down: this peer is the one cut off
                down = [link.peer for link in links if not link.up and link.peer is not None]
                gone = announcer.gone(presence=machine.presence, down=down, now=now)
                for peer, join_seq in gone:
                    notice = [peer, join_seq]
                    stamped.append(self._stamp(self._next_seq(), LEAVE_EVENT, notice, now=now))
        return stamped

    def _on_new_event(self, event: Event) -> None:
        """An event new to this peer arrived: note it for the machine, measure its slack."""
        self.machine.note_event(event)
        self._heard(event)

    def _on_arrival(self, event: Event) -> None:
        """The same after a hand-off: the tick half takes the event later (network side)."""
        self._arrivals.append(event)
        self._heard(event)

    def _heard(self, event: Event) -> None:
        """Presence bookkeeping and slack of a new event (network side)."""
        self.announcer.heard(event.source, self._now)
        self._presence_events += is_system_name(event.name)
        self._measure(event)

    def _measure(self, event: Event) -> None:
        """The slack of a new event against the next tick to simulate (network side)."""
        if self.join.joining:  # a fetched history is late by nature; it says nothing
            return
        settled = self.clock.lag_ticks(self._now) <= SETTLED_LAG_TICKS
        slack = self.slack.measure(
            event.source, event.seq, event.tick, self.machine.tick, settled=settled
        )
        self.deliveries += 1
        self.late_deliveries += slack < 0

    def pump(
        self,
        *,
        now: float,
        datagrams: Iterable[tuple[bytes, Hashable]] = (),
        max_tick: int | None = None,
    ) -> list[tuple[bytes, Hashable]]:
        """One driver step: ticks, network, ticks again (see the module header).

        Args:
            now: The driver's current time.
            datagrams: ``(data, address)`` pairs that arrived since the last step (bad
                ones are dropped and counted).
            max_tick: If given, never run past this tick (late events are still repaired),
                which lets peers stop at an agreed tick and compare state hashes.

        Returns:
            Datagrams the driver must send now, as ``(data, address)`` pairs.
        """
        if self._split:
            self.pump_ticks(now=now, max_tick=max_tick)
            out = self.pump_network(now=now, datagrams=datagrams)
            self.pump_ticks(now=now, max_tick=max_tick)
            return out
        self.pump_ticks(now=now, max_tick=max_tick)
        if self._take_in(now, datagrams):  # else the second pass would be a no-op
            self.pump_ticks(now=now, max_tick=max_tick)
        return self.node.datagrams_to_send(now=now)

    def pump_ticks(self, *, now: float, max_tick: int | None = None) -> int:
        """The tick half of :meth:`pump`: run every tick due by ``now`` (rolling back first
        if an event arrived late), unless the join state holds them.

        A driver calls it alone to bring the session up to ``now`` before it reads the
        session's state (the simulator does, before every measure).

        Args:
            now: The driver's current time.
            max_tick: If given, never run past this tick.

        Returns:
            How many live ticks ran.
        """
        machine = self.machine
        join = self.join
        if self._split:
            self._take_arrivals()
            with self._guard:
                received = self._snapshots.take_received()
                held = join.joining
                target = join.limit(self.clock.due_tick(now), tick=machine.tick, now=now)
                released = held and not join.joining
        else:
            received = self._snapshots.take_received()
            held = join.joining
            target = join.limit(self.clock.due_tick(now), tick=machine.tick, now=now)
            released = held and not join.joining
        if received is not None:  # a verified snapshot: start from it, then ask again
            coverage, blob, state = received
            machine.start_from(coverage, blob, load=lambda _: _set_state(machine.app, state))
            with self._guard:
                if machine.pending_repair is not None:  # it lacks an older event: replay
                    self._snapshots.lost_base()
                target = join.limit(self.clock.due_tick(now), tick=machine.tick, now=now)
                released = held and not join.joining
        if max_tick is not None:
            target = min(target, max_tick)
        # A held join runs nothing, so the history it is fetching is repaired once, when
        # it lets go, rather than in a rollback per arrival (its reports wait as well).
        # The ticks run as a hold ends replay the history at once: a catch-up, not real time.
        # A deep repair may wait for the rest of a burst of late events (a healed split).
        # Not under the guard.
        frozen = join.joining and target < machine.tick
        batcher = self._repair_batcher
        if frozen or released:
            batcher.cancel()  # a join hold batches its repairs itself, and ends with one
        if frozen:
            ran = 0
        elif released or machine.pending_repair is None:
            ran = machine.advance(target, catch_up=released)  # a replay repairs first
        else:  # up to now first, so a repair reaches back from the present however late
            waits = batcher.holds(machine, now)  # a driver woke (the same in any driver)
            ran = machine.advance(target, repair=False)
            if not waits:
                machine.repair()
        with self._guard:  # reports travel on SYNC; forensics fetch through the node
            self._archive_like_the_machine()
            if not frozen and machine.pending_repair is None:
                self.reports.refresh()
            self._snapshots.publish_offer()
            self.desyncs.poll(now=now)
            stamped = self._announce(now)
        if self._split:
            for event in stamped:
                machine.timeline.insert(event)
        return ran

    def _archive_like_the_machine(self) -> None:
        """Split: the node's timeline archives what the machine's archived (under the
        guard), as far as its own gaps allow."""
        archived = self.machine.timeline.archive_tick
        timeline = self.timeline
        if self._split and archived > timeline.archive_tick:
            timeline.archive_before(timeline.archivable_before(archived))

    def pump_network(
        self, *, now: float, datagrams: Iterable[tuple[bytes, Hashable]] = ()
    ) -> list[tuple[bytes, Hashable]]:
        """The network half of :meth:`pump`: take datagrams in, run the protocol timers
        that are due, and return what to send. It never runs a tick.

        Args:
            now: The driver's current time.
            datagrams: ``(data, address)`` pairs that arrived.

        Returns:
            Datagrams the driver must send now, as ``(data, address)`` pairs.
        """
        with self._guard:
            self._take_in(now, datagrams)
            return self.node.datagrams_to_send(now=now)

    def has_output(self) -> bool:
        """Whether the network half has datagrams to send now (after a local event)."""
        with self._guard:
            return self.node.has_output()

    def _take_in(self, now: float, datagrams: Iterable[tuple[bytes, Hashable]]) -> bool:
        """Receive the datagrams, then run the due protocol timers; whether either happened."""
        node = self.node
        self._now = now
        took = False
        for data, address in datagrams:
            node.receive_datagram(data, address, now=now)
            took = True
        if now >= node.get_timer():
            node.handle_timer(now=now)
            took = True
        return took

    def next_wakeup(self, now: float, *, max_tick: int | None = None) -> float:
        """When :meth:`pump` next has work: the next protocol timer or the next tick
        (absolute time; a driver also wakes when a datagram arrives).

        Args:
            now: The driver's current time.
            max_tick: The driver's ``max_tick``; once it has run, ticks no longer wake.
        """
        wakeup = self.network_timer()
        if max_tick is None or self.machine.tick <= max_tick:
            wakeup = min(wakeup, self.next_tick_time(now))
        return wakeup

    def network_timer(self) -> float:
        """When the network half next has work without a datagram arriving (absolute).

        Before :meth:`hand_off`, the end of a join hold by timeout counts too: the input
        held meanwhile is stamped and sent then, so a driver that only wakes for work
        stamps it at the same time as one that wakes every tick (the end of a deep
        repair's wait counts for the same reason). After it, those ends are the tick
        half's (:meth:`next_tick_time`): only :meth:`pump_ticks` ends a hold, so a network
        thread woken for it would find it still due and never sleep again.
        """
        if not self._split:  # called every tick: skip the no-op guard
            return min(self.node.get_timer(), self.join.deadline, self._repair_batcher.deadline)
        with self._guard:
            return self.node.get_timer()

    def next_tick_time(self, now: float) -> float:
        """When the next tick becomes due (the tick half's wake-up); after
        :meth:`hand_off`, also the end of a join hold by timeout and of a deep repair's
        wait (see :meth:`network_timer`)."""
        if not self._split:  # called every tick: skip the no-op guard
            return self.clock.next_due_time(now)
        with self._guard:
            due = min(self.clock.next_due_time(now), self.join.deadline)
        return min(due, self._repair_batcher.deadline)

    @property
    def desync(self) -> DesyncReport | None:
        """The first real desync with a neighbour this session found (None: all agree).

        A heads-up display can show it; :attr:`on_desync` is called for each one.
        """
        return self.desyncs.report

    @property
    def on_desync(self) -> Callable[[DesyncReport], None] | None:
        """Hook called once per neighbour found in a desync (see :mod:`arcade_p2p.desync`)."""
        return self.desyncs.on_desync

    @on_desync.setter
    def on_desync(self, hook: Callable[[DesyncReport], None] | None) -> None:
        self.desyncs.on_desync = hook

    def take_desync_bundles(self) -> list[tuple[DesyncReport, DesyncBundle]]:
        """Forensics bundles finished since the last call; the driver writes them to files."""
        return self.desyncs.take_bundles()

    def state_hash(self) -> str:
        """Digest of the simulation state after the last tick that ran (after repairing
        the events that arrived late, including, with a hand-off, those not yet taken)."""
        if self._split:
            self._take_arrivals()
        return self.machine.state_hash()

    def stats(self) -> SessionStats:
        """Current counters."""
        m = self.machine.stats
        with self._guard:
            n = self.node.stats
            return SessionStats(
                tick=self.machine.tick,
                neighbours=len(self.node.neighbours()),
                events=len(self.timeline) - self._presence_events,
                events_emitted=self._emitted,
                live_events=m.live_events,
                rollbacks=m.rollbacks,
                rollback_ticks=m.rollback_ticks,
                resim_ticks=m.resim_ticks,
                live_ticks=m.live_ticks,
                catch_ups=self.clock.catch_ups,
                bytes_in=n.bytes_in,
                bytes_out=n.bytes_out,
                dropped=dict(self.node.dropped),
                delta_ticks=self.delay.delta_ticks,
                delta_ticks_total=self.delta_ticks_total,
                deliveries=self.deliveries,
                late_deliveries=self.late_deliveries,
                presence_events=self._presence_events,
                events_held=self.timeline.held,
                history_disk_bytes=self.timeline.archive.size_bytes,
            )


class _SnapshotHost:
    """The session's side of the snapshot transfer (see :mod:`arcade_p2p.protocol.transfer`).

    The transfer runs on the network side (under the hand-off guard); the machine belongs
    to the tick half. So the two meet only through two values kept here, both read and
    written under the guard:

    * :attr:`offers` -- published by the tick half whenever its state-hash reports
      change: the snapshots of the settled ticks it reports, with their coverage and the
      digest of the events before them (built once per snapshot, like the reports). A
      joiner asks for the newest of those ticks that another of its neighbours reported
      alike (it can verify that one at once); one that asks for none gets the second
      newest (other peers have most likely reported that tick too). A joining session
      offers none.
    * :attr:`received` -- a verified snapshot, decoded by the game's restricted decoder on
      the network side, waiting for the tick half to start the machine from it.

    A session wants a snapshot while it is joining, has not simulated past START and has
    none waiting, if its app can load a state from another process (a
    :class:`~arcade_p2p.app.StateApp`).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.offers: dict[int, tuple[Coverage, bytes]] = {}
        self._default_offer = 0
        self.received: tuple[Coverage, bytes, Any] | None = None
        self._offered_from: tuple[object, ...] | None = None

    def wants_snapshot(self) -> bool:
        session = self.session
        machine = session.machine
        return (
            session.join.joining
            and self.received is None
            and machine.tick <= 1
            and machine.base_tick is None
            and isinstance(machine.app, StateApp)
        )

    def snapshot_to_offer(self, tick: int) -> tuple[Coverage, bytes] | None:
        if self.session.join.joining:
            return None
        return self.offers.get(tick) or self.offers.get(self._default_offer)

    def corroborated_tick(self, sender: int, witnesses: list[int]) -> int:
        return self.session.reports.newest_corroborated(sender, witnesses) or 0

    def verdict(self, tick: int, state_hash: bytes, events_digest: bytes, sender: int) -> Verdict:
        reported = self.session.reports.reported_hashes(tick)
        others = [
            hashed
            for peer, (hashed, digest) in reported.items()
            if peer != sender and digest == events_digest
        ]
        if state_hash in others:
            return Verdict.MATCH
        return Verdict.MISMATCH if others else Verdict.UNKNOWN

    def install_snapshot(self, coverage: Coverage, blob: bytes) -> None:
        app = self.session.machine.app
        assert isinstance(app, StateApp)  # wants_snapshot() says so
        _, app_blob = unpack_snapshot(blob)  # RemoteError: refused
        self.received = (coverage, blob, app.codec.decode(app_blob))

    # ------------------------------------------------------------ tick half (guarded)
    def publish_offer(self) -> None:
        """Renew :attr:`offers` if the reports changed since (tick half, under the guard)."""
        latest = self.session.reports.latest()
        if not latest or latest == self._offered_from:
            return
        self._offered_from = latest
        found = [self._offer_of(report.tick) for report in latest]
        self.offers = {snapshot[0].tick: snapshot for snapshot in found if snapshot is not None}
        default = found[min(1, len(found) - 1)]
        self._default_offer = 0 if default is None else default[0].tick

    def _offer_of(self, tick: int) -> tuple[Coverage, bytes] | None:
        """The settled snapshot of ``tick``: the published one while the machine still
        holds the same snapshot object (no rollback rewrote it, so no event before ``tick``
        arrived since), so each snapshot's coverage is built once, not on every renewal."""
        kept = self.offers.get(tick)
        if kept is not None and kept[1] is self.session.reports.snapshot(tick):
            return kept
        return self.session.machine.settled_snapshot(tick)

    def lost_base(self) -> None:
        """The machine will replay the history from START after all (tick half, guarded)."""
        transfer = self.session.node.transfer
        assert transfer is not None  # the session always hands the node a snapshot host
        transfer.base = None
        self.session.join.note_behind()

    def take_received(self) -> tuple[Coverage, bytes, Any] | None:
        """The verified snapshot waiting to be started from, once (under the guard)."""
        received, self.received = self.received, None
        return received


def _set_state(app: App, state: Any) -> None:
    """Put a state decoded from a received snapshot into the app (a StateApp)."""
    assert isinstance(app, StateApp)  # only a StateApp asks for snapshots
    app.state = state
