"""The simulator's driver: many real sessions, virtual time, simulated links.

How this works: every topology slot holds at most one live :class:`~arcade_p2p.session.Session`
(the real one, unchanged); only time and the network are simulated. The
:class:`~arcade_p2p.sim.scheduler.Scheduler` runs four kinds of entries:

* **wake** -- a peer wakes at ``session.network_timer()`` to run its due protocol timers
  (and, with ``tick_wakes``, at ``session.next_wakeup(now)``, which also covers the next
  tick, like a game loop);
* **deliver** -- a datagram arrives after its link's delay and is handed to the session at
  that slot (dropped if the slot is offline: the process is dead);
* **plan** -- a peer comes online, goes offline or presses a key, as planned by
  :mod:`arcade_p2p.sim.workload`; partitions cut and heal links;
* **measure** -- the warm-up ends, a pace sample is taken (every simulated second), a
  returning peer's recovery is checked (every tick while someone is recovering).

With ``desync_peer`` the state of that peer is made to diverge silently when the warm-up
ends (``diverge``); every session's ``on_desync`` hook counts the reports, and the time
from the divergence to the first one is the detection time.

A wake and a delivery are each one :meth:`Session.pump <arcade_p2p.session.Session.pump>`,
the same driver step the UDP runner and the game window use, so the simulator measures
what real peers do. That step runs the ticks due by ``now`` before it takes anything in,
and an input or a measurement first runs them too (:meth:`Session.pump_ticks`), so
before anything touches a session it is in exactly the state a game loop running every
tick would have left it in: ticks are deterministic, and a tick-only wake sends nothing.
That is why waking at every tick is optional -- it changes no result, only the speed (a
test checks this). The step's outgoing datagrams are put on the links and the peer's next
wake is moved earlier if needed (stale wakes are ignored by token).

Each peer runs the application of a :class:`~arcade_p2p.sim.games.SimGame` (``--app``):
by default the paper's moving rectangle with inputs planned up front; a game that plays
by itself has its player called at each planned input time.

A run has two phases. The *main* phase lasts ``duration_s`` and is measured after the
warm-up. The *settle* phase then heals every link, brings every slot online (a new
session for each offline one), runs until every timeline has the same digest (at most
:data:`SETTLE_MAX_S`), picks a final tick one second past the most advanced peer and lets
every peer run to exactly that tick (``Session.pump(max_tick=...)``) before comparing
state hashes.

Measures (see :class:`~arcade_p2p.sim.metrics.SimResult`): the lag of a peer is the
highest tick among the online peers of its connected component minus its own tick; peers
still recovering from a return are not pace-sampled (their catch-up is what recovery
measures). A returning peer has recovered when it holds every event its component held
when it came back (among those some peer of its current component still holds), or has it
in the snapshot state it started from (the older history it fetches afterwards only
serves others; its simulation already contains those events), and its
tick is within ``max(2 ticks, the clock's tolerance)`` of its component's highest tick
(the tolerance is Delta for the paper's clock). A recovery still under way when the
main phase ends goes on during the settle phase and is counted as finished there
(``recoveries_in_settle``); one that never finishes is counted as incomplete, and its
elapsed time enters the recovery figures as a lower bound; one that ends because the peer
goes offline again first is counted apart (``recoveries_cut_short``). The network's speed is the
highest tick among online peers at the end of the measured window minus the same at its
start, against ``fps`` times its length (``speed_error_pct``). Memory is the retained size
of the live sessions (:mod:`arcade_p2p.sim.memory`) at the end of the main phase, and,
if asked, every ``memory_every_s`` seconds; the event history they archived to disk is
measured at the same moments (``history_disk_mb_per_peer``). A session that goes offline
for good is closed, which deletes its archive.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from arcade_p2p.app import App
from arcade_p2p.clock import ClockSettings
from arcade_p2p.desync import DesyncReport
from arcade_p2p.errors import UsageError
from arcade_p2p.session import Session
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.games import MOVING_RECT, Player, SimGame
from arcade_p2p.sim.links import Link, Links
from arcade_p2p.sim.memory import measure_peers
from arcade_p2p.sim.metrics import (
    Ledger,
    PaceStats,
    RecoveryTarget,
    SimResult,
    WindowTotals,
    mean,
    percentile,
)
from arcade_p2p.sim.moving_rect import diverge
from arcade_p2p.sim.scheduler import Scheduler
from arcade_p2p.sim.topologies import Topology, build_topology, components
from arcade_p2p.sim.workload import plan_peers
from arcade_p2p.timeline import Timeline

__all__ = ["SETTLE_MAX_S", "run_simulation"]

PACE_SAMPLE_S = 1.0
"""Period of the pace samples."""
SETTLE_CHECK_S = 0.25
"""How often the settle phase checks whether it is done."""
SETTLE_MAX_S = 60.0
"""Longest simulated time given to histories to agree, then to peers to reach the final tick."""
FINAL_MARGIN_S = 1.0
"""The final tick is this far past the most advanced peer when it is chosen."""
RECOVERY_TOLERANCE_TICKS = 2
"""A returning peer's tick must be within this (or the clock's tolerance) of its component's."""
PROGRESS_STEPS = 100
"""How many times the progress callback is called during the main phase."""
INFINITY = float("inf")


class _Slot:
    """One place in the topology and the session currently living there."""

    __slots__ = (
        "incarnations",
        "index",
        "links",
        "neighbours",
        "player",
        "session",
        "suspended",
        "wake_at",
        "wake_token",
    )

    def __init__(self, index: int, neighbours: list[int], links: dict[int, Link]) -> None:
        self.index = index
        self.neighbours = neighbours
        self.links = links
        self.session: Session | None = None
        self.suspended: Session | None = None
        self.player: Player | None = None
        self.incarnations = 0
        self.wake_at = INFINITY
        self.wake_token = 0


@dataclass(slots=True)
class _Recovery:
    """A returning peer that has not yet caught up."""

    since: float
    target: RecoveryTarget


def run_simulation(
    config: SimConfig,
    *,
    progress: Callable[[float], None] | None = None,
    game: SimGame = MOVING_RECT,
    tick_wakes: bool = False,
    memory_every_s: float | None = None,
) -> SimResult:
    """Run one simulated experiment.

    Args:
        config: The experiment.
        progress: Called now and then with the fraction (0..1) of simulated time done.
        game: What every peer runs (default: the paper's moving rectangle with ``"key"``
            inputs; see :func:`arcade_p2p.sim.games.load_game`).
        tick_wakes: Also wake every peer at every tick, like a game loop does. The
            results are identical either way (a peer runs its due ticks before anything
            touches it); waking only when there is work is faster.
        memory_every_s: Also measure the memory per peer every this many simulated
            seconds (``memory_mb_per_peer_series``); None: only at the end.

    Returns:
        Every figure of the run.

    Raises:
        UsageError: The configuration is invalid.
    """
    wall_start = time.perf_counter()
    if config.desync_peer is not None and game.diverge is None:
        raise UsageError(f"--desync-peer cannot make {game.name} diverge (moving_rect can)")
    if memory_every_s is not None and memory_every_s <= 0:
        raise UsageError("the memory sampling period must be > 0 s")
    simulation = _Simulation(config, game, tick_wakes=tick_wakes)
    simulation.memory_every_s = memory_every_s
    simulation.run(progress)
    return simulation.result(time.perf_counter() - wall_start)


class _Simulation:
    def __init__(self, config: SimConfig, game: SimGame, *, tick_wakes: bool) -> None:
        config.validate()
        self.tick_wakes = tick_wakes
        self.config = config
        self.topology: Topology = build_topology(
            config.topology, config.peers, degree=config.degree, seed=config.seed
        )
        peers = self.topology.peers
        for partition in config.partitions:
            if not all(0 <= slot < peers for slot in partition.side):
                raise UsageError(f"a partition names a slot outside 0..{peers - 1}")
        self.session_config = config.session_config()
        if game.snapshot_every_ticks is not None:
            self.session_config = replace(
                self.session_config, snapshot_every_ticks=game.snapshot_every_ticks
            )
        self.session_config.validate()
        self.links = Links(self.topology.edges, config.link_model(), config.seed)
        self.slots = [
            _Slot(i, row, {n: self._link(i, n) for n in row})
            for i, row in enumerate(self.topology.neighbours())
        ]
        self.game = game
        self.plans = plan_peers(config, peers, game.plan_input)
        self.scheduler = Scheduler()
        self.ledger = Ledger()
        self.pace = PaceStats(violation_ticks=config.fps)
        self.recovering: dict[int, _Recovery] = {}
        self.recovery_times: list[float] = []
        self.recoveries_incomplete = 0
        self.recoveries_cut_short = 0
        self.recoveries_in_settle = 0
        self.main_over = False
        self.emitted: dict[int, int] = {}
        self.unsent: set[tuple[int, int]] = set()
        """Input held by peers that went offline while joining (never sent)."""
        """Highest seq emitted by each source (a source's seqs are 1, 2, 3, ...)."""
        clock = ClockSettings.for_mode(config.clock, self.session_config.delta_ticks)
        self.recovery_tolerance = max(RECOVERY_TOLERANCE_TICKS, clock.tolerance_ticks)
        self.max_tick: int | None = None
        self.next_peer_id = peers
        self.window: WindowTotals | None = None
        self.settle_s = 0.0
        self._labels: dict[int, int] | None = None
        self._checking = False
        self.make_diverge: Callable[[App], None] = game.diverge or diverge
        self.desyncs: list[DesyncReport] = []
        self.diverged_at: float | None = None
        self.memory_every_s: float | None = None
        self.memory_series: list[tuple[float, float]] = []
        self.disk_series: list[tuple[float, float]] = []
        self.memory_mb = self.history_mb = self.disk_mb = 0.0
        self.window_ticks: tuple[int, int] | None = None
        """The network's highest tick at the start and at the end of the measured window."""

    def _link(self, src: int, dst: int) -> Link:
        link = self.links.get(src, dst)
        assert link is not None  # every topology edge has both directions
        return link

    # ------------------------------------------------------------------ phases
    def run(self, progress: Callable[[float], None] | None) -> None:
        config = self.config
        end = config.duration_s
        self._schedule_plans()
        call_at = self.scheduler.call_at
        call_at(config.warmup_s, self._open_window)
        call_at(config.warmup_s, self._sample_pace)
        if self.memory_every_s is not None:
            call_at(self.memory_every_s, self._sample_memory)
        if config.desync_peer is not None:
            call_at(config.warmup_s, self._diverge, self.slots[config.desync_peer])
        for step in range(1, PROGRESS_STEPS + 1):
            self.scheduler.run_until(end * step / PROGRESS_STEPS)
            if progress is not None:
                progress(step / PROGRESS_STEPS)
        self._run_due_ticks()
        self.window = self.ledger.close_window()
        assert self.window_ticks is not None  # the window opened at the warm-up
        self.window_ticks = (self.window_ticks[0], self._network_tick())
        memory = measure_peers(self._live())
        self.memory_mb, self.history_mb = memory.mb_per_peer, memory.history_mb_per_peer
        self.disk_mb = memory.disk_mb_per_peer
        self.main_over = True
        self._settle()
        now = self.scheduler.now
        for recovery in self.recovering.values():  # never finished, even with every link up
            self.recovery_times.append(now - recovery.since)
            self.recoveries_incomplete += 1
        self.recovering.clear()

    def _schedule_plans(self) -> None:
        end = self.config.duration_s
        call_at = self.scheduler.call_at
        for plan in self.plans:
            slot = self.slots[plan.slot]
            for i, (online, offline) in enumerate(plan.spells):
                call_at(online, self._go_online, slot, i > 0)
                if offline < end:
                    call_at(offline, self._go_offline, slot)
            for when, name, payload in plan.inputs:
                call_at(when, self._input, slot, name, payload)
        for partition in self.config.partitions:
            if partition.start_s < end:  # the settle phase heals everything anyway
                call_at(partition.start_s, self._set_partition, partition.side, False)
            if partition.end_s < end:
                call_at(partition.end_s, self._set_partition, partition.side, True)

    def _settle(self) -> None:
        scheduler = self.scheduler
        start = scheduler.now
        self.links.heal_all()
        self._labels = None
        for slot in self.slots:
            if slot.session is None:
                self._go_online(slot, False)
        deadline = start + SETTLE_MAX_S
        while scheduler.now < deadline and len({s.timeline.digest() for s in self._live()}) > 1:
            scheduler.run_until(scheduler.now + SETTLE_CHECK_S)
        self.settle_s = scheduler.now - start
        self._run_due_ticks()
        final = max(max(s.tick, s.timeline.last_tick) for s in self._live())
        self.max_tick = final + round(FINAL_MARGIN_S * self.config.fps)
        deadline = scheduler.now + SETTLE_MAX_S
        while scheduler.now < deadline and any(s.tick <= self.max_tick for s in self._live()):
            scheduler.run_until(scheduler.now + SETTLE_CHECK_S)
            self._run_due_ticks()

    # ------------------------------------------------------------------ peers
    def _live(self) -> list[Session]:
        return [slot.session for slot in self.slots if slot.session is not None]

    def _run_due_ticks(self) -> None:
        """Bring every online peer up to now (before a measure), as its game loop would."""
        now = self.scheduler.now
        for slot in self.slots:
            session = slot.session
            if session is not None:
                session.pump_ticks(now=now, max_tick=self.max_tick)
                self._arm_wake(slot, session, now)  # the ticks may have set a timer

    def _go_online(self, slot: _Slot, returning: bool) -> None:
        now = self.scheduler.now
        if slot.suspended is not None:  # churn_mode "suspend": the same process thaws
            session, slot.suspended = slot.suspended, None
            slot.session = session
            self._labels = None
            self._start_recovery(slot)
            self._step(slot, session, now)
            return
        peer_id = slot.index if slot.incarnations == 0 else self._new_id()
        slot.incarnations += 1
        app, bind_player = self.game.new_app()
        session = Session(
            app,
            peer_id=peer_id,
            config=self.session_config,
            now=now,
            rng=random.Random(f"{self.config.seed}:session:{peer_id}"),
        )
        if bind_player is not None:
            slot.player = bind_player(
                session, random.Random(f"{self.config.seed}:autopilot:{peer_id}")
            )
        session.on_desync = self.desyncs.append
        for neighbour in slot.neighbours:
            session.add_peer(neighbour, now=now)
        slot.session = session
        self.ledger.add(session)
        self._labels = None
        if returning:
            self._start_recovery(slot)
        self._step(slot, session, now)

    def _new_id(self) -> int:
        peer_id = self.next_peer_id
        self.next_peer_id += 1
        return peer_id

    def _go_offline(self, slot: _Slot) -> None:
        session = slot.session
        assert session is not None  # spells do not overlap
        session.pump_ticks(now=self.scheduler.now, max_tick=self.max_tick)  # it ran until now
        if self.config.churn_mode == "suspend":
            slot.suspended = session
        else:
            self.ledger.retire(session)  # the process died: only its counters remain
            session.close()  # and its archive's file with it
            self.unsent.update((session.peer_id, seq) for seq in session.held_seqs)
            slot.player = None
        slot.session = None
        slot.wake_at = INFINITY
        slot.wake_token += 1
        self._labels = None
        if self.recovering.pop(slot.index, None) is not None:
            self.recoveries_cut_short += 1

    def _input(self, slot: _Slot, name: str | None, payload: object) -> None:
        session = slot.session
        assert session is not None  # inputs are planned inside online spells
        now = self.scheduler.now
        session.pump_ticks(now=now, max_tick=self.max_tick)
        if name is not None:
            events = [session.emit(name, payload, now=now)]
        else:
            assert slot.player is not None  # games without planned inputs have players
            events = slot.player(now)
        for event in events:
            self.emitted[event.source] = max(self.emitted.get(event.source, 0), event.seq)
        self._step(slot, session, now)

    def _diverge(self, slot: _Slot) -> None:
        session = slot.session
        if session is None:  # offline at that moment: nothing to diverge
            return
        session.pump_ticks(now=self.scheduler.now, max_tick=self.max_tick)
        self._arm_wake(slot, session, self.scheduler.now)
        self.make_diverge(session.app)
        self.diverged_at = self.scheduler.now

    def _set_partition(self, side: tuple[int, ...], up: bool) -> None:
        self.links.set_partition(side, up=up)
        self._labels = None

    def _wake(self, slot: _Slot, token: int) -> None:
        session = slot.session
        if token != slot.wake_token or session is None:
            return
        slot.wake_at = INFINITY
        self._step(slot, session, self.scheduler.now)

    def _deliver(self, slot: _Slot, data: bytes, source: int) -> None:
        session = slot.session
        if session is not None:
            self._step(slot, session, self.scheduler.now, ((data, source),))

    def _step(
        self,
        slot: _Slot,
        session: Session,
        now: float,
        datagrams: tuple[tuple[bytes, int], ...] = (),
    ) -> None:
        """One driver step; put what it sends on the links; wake again when there is work."""
        call_at = self.scheduler.call_at
        outgoing = session.pump(now=now, datagrams=datagrams, max_tick=self.max_tick)
        if outgoing:
            links = slot.links
            deliver = self._deliver
            slots = self.slots
            index = slot.index
            for data, address in outgoing:
                destination = address
                assert isinstance(destination, int)
                for delay in links[destination].transmit():
                    call_at(now + delay, deliver, slots[destination], data, index)
        self._arm_wake(slot, session, now)

    def _arm_wake(self, slot: _Slot, session: Session, now: float) -> None:
        """Wake ``slot`` at its session's next timer (or next tick, with ``tick_wakes``)."""
        if self.tick_wakes:
            when = session.next_wakeup(now, max_tick=self.max_tick)
        else:
            when = session.network_timer()
        when = max(now, when)
        if when < slot.wake_at:
            slot.wake_at = when
            slot.wake_token += 1
            self.scheduler.call_at(when, self._wake, slot, slot.wake_token)

    # ------------------------------------------------------------------ measures
    def _open_window(self) -> None:
        self._run_due_ticks()
        self.ledger.open_window()
        self.window_ticks = (self._network_tick(), 0)

    def _network_tick(self) -> int:
        """The highest tick among the online peers (the network's "real time")."""
        return max((session.tick for session in self._live()), default=0)

    def _sample_memory(self) -> None:
        now = self.scheduler.now
        self._run_due_ticks()
        memory = measure_peers(self._live())
        self.memory_series.append((now, memory.mb_per_peer))
        self.disk_series.append((now, memory.disk_mb_per_peer))
        assert self.memory_every_s is not None  # only scheduled with a period
        if now + self.memory_every_s <= self.config.duration_s:
            self.scheduler.call_at(now + self.memory_every_s, self._sample_memory)

    def _component_labels(self) -> dict[int, int]:
        if self._labels is None:
            online = [slot.index for slot in self.slots if slot.session is not None]
            links = self.links
            self._labels = components(
                online, lambda a: (b for b in self.slots[a].neighbours if links.is_up(a, b))
            )
        return self._labels

    def _component_max_ticks(self) -> dict[int, int]:
        """Run every online peer's due ticks; the highest tick of each component."""
        self._run_due_ticks()
        labels = self._component_labels()
        highest: dict[int, int] = {}
        for slot in self.slots:
            session = slot.session
            if session is not None:
                label = labels[slot.index]
                highest[label] = max(highest.get(label, 0), session.tick)
        return highest

    def _sample_pace(self) -> None:
        now = self.scheduler.now
        highest = self._component_max_ticks()
        labels = self._component_labels()
        for slot in self.slots:
            session = slot.session
            if session is not None and slot.index not in self.recovering:
                self.pace.lags.add(highest[labels[slot.index]] - session.tick)
        if now + PACE_SAMPLE_S <= self.config.duration_s:
            self.scheduler.call_at(now + PACE_SAMPLE_S, self._sample_pace)

    def _mates(self, index: int) -> list[Timeline]:
        """Timelines of the other online peers in the component of slot ``index``."""
        labels = self._component_labels()
        mine = labels[index]
        return [
            other.session.timeline
            for other in self.slots
            if other.session is not None and other.index != index and labels[other.index] == mine
        ]

    def _start_recovery(self, slot: _Slot) -> None:
        target = RecoveryTarget(self._mates(slot.index))
        self.recovering[slot.index] = _Recovery(self.scheduler.now, target)
        if not self._checking:
            self._checking = True
            self.scheduler.call_at(self.scheduler.now, self._check_recoveries)

    def _check_recoveries(self) -> None:
        now = self.scheduler.now
        highest = self._component_max_ticks()
        labels = self._component_labels()
        for index, recovery in list(self.recovering.items()):
            session = self.slots[index].session
            assert session is not None  # going offline ends a recovery
            caught_up = session.tick >= highest[labels[index]] - self.recovery_tolerance
            mates = self._mates(index)
            if caught_up and recovery.target.met_by(
                session.timeline, mates, session.machine.started_with
            ):
                self.recovery_times.append(now - recovery.since)
                self.recoveries_in_settle += self.main_over
                del self.recovering[index]
        if self.recovering:
            self.scheduler.call_at(now + 1.0 / self.config.fps, self._check_recoveries)
        else:
            self._checking = False

    # ------------------------------------------------------------------ result
    def result(self, wall_seconds: float) -> SimResult:
        config = self.config
        window = self.window
        assert window is not None  # run() closes the window
        finals = self._live()
        hashes = {session.state_hash() for session in finals}
        digests = {session.timeline.digest() for session in finals}
        final_tick = self.max_tick if self.max_tick is not None else 0
        reached = all(session.tick == final_tick + 1 for session in finals)
        lost = orphaned = unsent = 0
        for source, highest in self.emitted.items():
            for seq in range(1, highest + 1):
                if (source, seq) in self.unsent:
                    unsent += 1
                    continue
                held = sum(1 for s in finals if s.timeline.knows(source, seq))
                if held < len(finals):
                    lost += 1
                    orphaned += held == 0
        depths = window.rollback_depths
        lags = self.pace.lags
        tick_ms = 1000.0 / config.fps
        window_s = config.duration_s - config.warmup_s
        assert self.window_ticks is not None  # run() measured both ends
        start_tick, end_tick = self.window_ticks
        return SimResult(
            peers=self.topology.peers,
            sim_seconds=config.duration_s,
            delta_ms=config.delta_ms,
            delta_auto=config.auto,
            delta_ms_mean=(
                tick_ms * window.delta_ticks_total / window.events_emitted
                if window.events_emitted
                else None
            ),
            late_events_pct=100.0 * window.late_deliveries / max(window.deliveries, 1),
            events_total=sum(self.emitted.values()),
            events_lost=lost,
            events_orphaned=orphaned,
            events_unsent=unsent,
            converged=len(hashes) == 1 and len(digests) == 1 and reached,
            final_tick=final_tick,
            settle_s=self.settle_s,
            rollback_pct=window.realtime_rollback_pct,
            rollback_count=depths.count,
            rollback_depth_p50=depths.quantile(0.5),
            rollback_depth_p95=depths.quantile(0.95),
            rollback_depth_max=depths.max,
            pace_samples=lags.count,
            pace_violation_pct=self.pace.violation_pct,
            lag_ticks_p50=lags.quantile(0.5),
            lag_ticks_p95=lags.quantile(0.95),
            lag_ticks_max=lags.max,
            recoveries=len(self.recovery_times) - self.recoveries_incomplete,
            recoveries_incomplete=self.recoveries_incomplete,
            recoveries_cut_short=self.recoveries_cut_short,
            recovery_s_mean=mean(self.recovery_times),
            recovery_s_p95=percentile(self.recovery_times, 0.95),
            recovery_s_max=max(self.recovery_times, default=None),
            bytes_per_peer_per_s=window.bytes_out / (self.topology.peers * window_s),
            wall_seconds=wall_seconds,
            sim_ticks_per_wall_s=self.ledger.total_live_ticks() / max(wall_seconds, 1e-9),
            desyncs_detected=len(self.desyncs),
            desync_detect_s=self._detect_s(),
            app=self.game.name,
            catch_up_ticks=window.catch_up_ticks,
            recoveries_in_settle=self.recoveries_in_settle,
            speed_error_pct=100.0 * ((end_tick - start_tick) / (window_s * config.fps) - 1.0),
            memory_mb_per_peer=self.memory_mb,
            memory_history_mb_per_peer=self.history_mb,
            memory_mb_per_peer_series=(
                tuple(self.memory_series) if self.memory_every_s is not None else None
            ),
            history_disk_mb_per_peer=self.disk_mb,
            history_disk_mb_per_peer_series=(
                tuple(self.disk_series) if self.memory_every_s is not None else None
            ),
        )

    def _detect_s(self) -> float | None:
        if self.diverged_at is None or not self.desyncs:
            return None
        return min(report.found_at for report in self.desyncs) - self.diverged_at
