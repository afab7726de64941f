"""What a run measures, and the result record it produces.

How this works: the runner feeds four collectors while virtual time passes.

* :class:`Ledger` knows every session ever created. When the warm-up ends it takes each
  session's counters as a baseline; when the measured window closes it sums the
  differences: rollback ticks, rollbacks and their depth histograms, live and catch-up
  ticks, bytes sent, the Delta of emitted events and late event deliveries -- plain
  counters (a session created inside the window has a zero baseline). A session that
  dies (a restart under churn) is *retired*: its final counters are kept and the session
  itself let go, so a long run holds only the live peers in memory.
* :class:`PaceStats` gets one lag sample (in ticks) per online peer per simulated second,
  counted in a :class:`~arcade_p2p.histogram.Histogram`.
* :class:`RecoveryTarget` is what a returning peer must obtain: every event its connected
  component held when it came back (and some peer of its current component still
  holds). The runner adds the tick condition itself.
* :class:`SimResult` is the frozen outcome; :meth:`SimResult.to_dict` gives the flat,
  stable keys that the CLI's ``--json`` prints and the sweep reads.

Percentiles interpolate linearly between order statistics; statistics of an empty set
are None (for example the recovery times of a run without churn).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from arcade_p2p.events import Event
from arcade_p2p.histogram import Histogram
from arcade_p2p.session import Session
from arcade_p2p.timeline import Timeline

__all__ = [
    "Ledger",
    "PaceStats",
    "RecoveryTarget",
    "SimResult",
    "WindowTotals",
    "mean",
    "percentile",
]

PERCENT = 100.0


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` quantile (0..1) of ``values``, interpolated; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, or None if empty."""
    return sum(values) / len(values) if values else None


@dataclass(slots=True)
class _Counters:
    rollback_ticks: int = 0
    catch_up_rollback_ticks: int = 0
    rollbacks: int = 0
    live_ticks: int = 0
    catch_up_ticks: int = 0
    bytes_out: int = 0
    events_emitted: int = 0
    delta_ticks_total: int = 0
    deliveries: int = 0
    late_deliveries: int = 0
    depths: Histogram = field(default_factory=Histogram)

    @classmethod
    def of(cls, session: Session) -> _Counters:
        m = session.machine.stats
        return cls(
            m.rollback_ticks,
            m.catch_up_rollback_ticks,
            m.rollbacks,
            m.live_ticks,
            m.catch_up_ticks,
            session.node.stats.bytes_out,
            session.events_emitted,
            session.delta_ticks_total,
            session.deliveries,
            session.late_deliveries,
            session.machine.rollback_depths.copy(),
        )


_SUMMED = (
    "rollback_ticks",
    "catch_up_rollback_ticks",
    "live_ticks",
    "catch_up_ticks",
    "bytes_out",
    "events_emitted",
    "delta_ticks_total",
    "deliveries",
    "late_deliveries",
)
"""The counters a window sums (every one but the depth histogram)."""


@dataclass(frozen=True, slots=True)
class WindowTotals:
    """Sums over every session for the measured window.

    Attributes:
        rollback_ticks: Sum of rollback depths.
        live_ticks: Ticks simulated forward (catch-up replay included).
        rollback_depths: Depth of every rollback.
        bytes_out: Bytes sent.
        events_emitted: Events emitted.
        delta_ticks_total: Sum of the Delta (ticks) of those events.
        deliveries: Events received from other sources (not while joining).
        late_deliveries: Of those, the ones that arrived after their tick had run.
        catch_up_ticks: Of the live ticks, history replayed at once after a join or return.
        catch_up_rollback_ticks: Of the rollback ticks, those re-running catch-up replay.
    """

    rollback_ticks: int
    live_ticks: int
    rollback_depths: Histogram
    bytes_out: int
    events_emitted: int = 0
    delta_ticks_total: int = 0
    deliveries: int = 0
    late_deliveries: int = 0
    catch_up_ticks: int = 0
    catch_up_rollback_ticks: int = 0

    @property
    def realtime_rollback_pct(self) -> float:
        """100 x rolled-back real-time ticks / ticks simulated in real time (catch-up
        replay out of both)."""
        rolled = self.rollback_ticks - self.catch_up_rollback_ticks
        return PERCENT * rolled / max(self.live_ticks - self.catch_up_ticks, 1)


@dataclass(slots=True)
class _Entry:
    session: Session | None
    """None once retired: ``final`` holds its last counters."""
    base: _Counters
    final: _Counters | None = None

    def now(self) -> _Counters:
        if self.final is not None:
            return self.final
        assert self.session is not None  # an entry is live or retired
        return _Counters.of(self.session)


class Ledger:
    """Every session of a run, with its counters at the start of the measured window."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._live: dict[int, _Entry] = {}
        """The entries of the sessions not retired, by ``id(session)``."""

    def add(self, session: Session) -> None:
        """Register a newly created session (its counters start at zero)."""
        entry = _Entry(session, _Counters())
        self._entries.append(entry)
        self._live[id(session)] = entry

    def retire(self, session: Session) -> None:
        """A session died: keep its final counters, let go of the session itself."""
        entry = self._live.pop(id(session))
        entry.final = _Counters.of(session)
        entry.session = None

    def open_window(self) -> None:
        """Start measuring: every known session's current counters become its baseline."""
        for entry in self._entries:
            entry.base = entry.now()

    def close_window(self) -> WindowTotals:
        """Sum what every session did since its baseline."""
        total = _Counters()
        for entry in self._entries:
            now = entry.now()
            base = entry.base
            for name in _SUMMED:
                setattr(
                    total, name, getattr(total, name) + getattr(now, name) - getattr(base, name)
                )
            total.depths.merge(now.depths.minus(base.depths))
        return WindowTotals(
            total.rollback_ticks,
            total.live_ticks,
            total.depths,
            total.bytes_out,
            total.events_emitted,
            total.delta_ticks_total,
            total.deliveries,
            total.late_deliveries,
            total.catch_up_ticks,
            total.catch_up_rollback_ticks,
        )

    def total_live_ticks(self) -> int:
        """Live ticks simulated by every session over the whole run."""
        return sum(entry.now().live_ticks for entry in self._entries)


@dataclass(slots=True)
class PaceStats:
    """Lag samples: how far each online peer is behind its component's highest tick.

    Attributes:
        violation_ticks: A sample is a violation when its lag exceeds this (1 s of ticks).
        lags: Every sample, in ticks.
    """

    violation_ticks: int
    lags: Histogram = field(default_factory=Histogram)

    @property
    def violation_pct(self) -> float:
        """Percentage of samples lagging by more than :attr:`violation_ticks`."""
        if not self.lags.count:
            return 0.0
        return PERCENT * self.lags.count_above(self.violation_ticks) / self.lags.count


class RecoveryTarget:
    """The events a returning peer must obtain: what its component held when it came back.

    The union of the members' timelines is kept per source as "every seq up to the
    highest contiguous mark of any member" plus the few seqs some member holds above it.
    An event counts only while some peer of the returning peer's *current* component
    holds it: one that left with the peers that had it cannot be obtained (yet).

    Args:
        timelines: The timelines of the other online members of the component.
    """

    def __init__(self, timelines: Iterable[Timeline]) -> None:
        prefix: dict[int, int] = {}
        extra: dict[int, set[int]] = {}
        timelines = list(timelines)
        for timeline in timelines:
            for source in timeline.marks():
                log = timeline.source_log(source)
                if log is not None:
                    prefix[source] = max(prefix.get(source, 0), log.contiguous)
        for timeline in timelines:
            for source in timeline.marks():
                log = timeline.source_log(source)
                if log is not None and log.highest > prefix[source]:
                    above = (seq for seq in log.events if seq > prefix[source])
                    extra.setdefault(source, set()).update(above)
        self._prefix = prefix
        self._extra = extra

    def missing(self, timeline: Timeline) -> Iterator[tuple[int, int]]:
        """The target events ``(source, seq)`` that ``timeline`` lacks."""
        for source, upto in self._prefix.items():
            log = timeline.source_log(source)
            have = 0 if log is None else log.contiguous
            for seq in range(have + 1, upto + 1):
                if log is None or seq not in log.events:
                    yield source, seq
            for seq in sorted(self._extra.get(source, ())):
                if log is None or seq not in log.events:
                    yield source, seq

    def met_by(
        self,
        timeline: Timeline,
        reachable: Sequence[Timeline],
        in_state: Callable[[Event], bool] = lambda _: False,
    ) -> bool:
        """Whether ``timeline`` holds every target event that a ``reachable`` peer holds,
        or has it in its state already (``in_state``: a joiner's snapshot contains it)."""
        for source, seq in self.missing(timeline):
            if not any(other.knows(source, seq) for other in reachable):
                continue  # nobody it can reach has it
            held = (other.get(source, seq) for other in reachable)
            event = next((e for e in held if e is not None), None)
            if event is None or not in_state(event):
                return False
        return True


@dataclass(frozen=True, slots=True)
class SimResult:
    """The outcome of one simulated run.

    Rollback and pace figures cover the measured window (after the warm-up, up to the
    end of the run); the convergence figures come from the settle phase that follows.

    Attributes:
        peers: Number of peer slots.
        sim_seconds: Simulated seconds of the run (the settle phase excluded).
        delta_ms: The Delta every peer used (with an automatic Delta: the starting one).
        delta_auto: Whether each source chose its own Delta.
        delta_ms_mean: Mean Delta of the events emitted in the window, in ms (None: none).
        late_events_pct: Percentage of event deliveries in the window (each event counted
            once per receiving peer, joiners' history fetches excluded) that arrived after
            the event's tick had run.
        events_total: Events emitted.
        events_lost: Emitted events missing from at least one final timeline.
        events_orphaned: Of those, events no final timeline holds: every peer that had
            one went offline before passing it on (only possible with churn).
        events_unsent: Events emitted, not counted as lost: input a peer held while it
            joined (it is stamped only once the peer is in step) and took along when it
            went offline before that; it was never sent (only possible with churn).
        converged: Every peer reached the same final tick with the same state hash and
            the same event history.
        final_tick: The tick at which state hashes were compared.
        settle_s: Simulated seconds it took, after the run, for all histories to agree.
        rollback_pct: 100 x rolled-back ticks / ticks simulated in real time. A joiner's
            or returning peer's catch-up replay (``catch_up_ticks``) is in neither: a
            rollback reaching into it counts only for its real-time part.
        rollback_count: Number of rollbacks.
        rollback_depth_p50: Median rollback depth in ticks.
        rollback_depth_p95: 95th percentile of rollback depth in ticks.
        rollback_depth_max: Deepest rollback in ticks.
        pace_samples: Number of lag samples (one per online peer per second).
        pace_violation_pct: Percentage of samples lagging by more than one second.
        lag_ticks_p50: Median lag in ticks.
        lag_ticks_p95: 95th percentile of lag in ticks.
        lag_ticks_max: Largest lag in ticks.
        recoveries: Returns to the network that completed their recovery (during the
            run or, for returns still recovering when it ended, during the settle phase).
        recoveries_incomplete: Returns still recovering at the end of the settle phase
            (online to the end, never in step).
        recovery_s_mean: Mean recovery time in seconds (None without churn). Returns
            still recovering at the end count with their elapsed time (a lower bound);
            those cut short by going offline do not count.
        recovery_s_p95: 95th percentile of recovery time.
        recovery_s_max: Longest recovery time.
        bytes_per_peer_per_s: Bytes sent per peer slot per second, in the window.
        wall_seconds: Real seconds the run took.
        sim_ticks_per_wall_s: Live ticks simulated (all peers) per real second.
        desyncs_detected: Desync reports raised (one per peer and neighbour that disagree).
        desync_detect_s: From the injected divergence (``--desync-peer``) to the first
            report, in simulated seconds (None: nothing injected or nothing reported).
        app: The application every peer ran (``--app``).
        catch_up_ticks: Ticks that joining or returning peers replayed at once to catch
            up, in the window (left out of ``rollback_pct``).
        recoveries_in_settle: Of ``recoveries``, those completed during the settle phase
            (every link up, every peer online), after the run proper.
        recoveries_cut_short: Returns that went offline again before they recovered
            (an online spell shorter than the recovery; not in the recovery times).
        speed_error_pct: The network's ticks per second of real time over the window
            (the highest tick among online peers at its end minus at its start, over its
            length) against ``fps``, in percent: + runs fast, - runs slow.
        memory_mb_per_peer: Retained size of the live sessions' structures at the end of
            the run, per live peer, in MiB (measured by walking their objects, see
            :mod:`arcade_p2p.sim.memory`; None: not measured).
        memory_history_mb_per_peer: Of that, the event history (the timelines).
        memory_mb_per_peer_series: ``(simulated second, MiB per peer)`` samples (None:
            not asked for, ``--memory-every``).
        history_disk_mb_per_peer: The event history the live sessions archived to disk
            at the end of the run (their temporary files, outside ``memory_mb_per_peer``;
            ``--history-s``), per live peer, in MiB (None: not measured).
        history_disk_mb_per_peer_series: ``(simulated second, MiB per peer)`` samples of
            it, taken with ``memory_mb_per_peer_series``.
    """

    peers: int
    sim_seconds: float
    delta_ms: float
    delta_auto: bool
    delta_ms_mean: float | None
    late_events_pct: float
    events_total: int
    events_lost: int
    events_orphaned: int
    events_unsent: int
    converged: bool
    final_tick: int
    settle_s: float
    rollback_pct: float
    rollback_count: int
    rollback_depth_p50: float | None
    rollback_depth_p95: float | None
    rollback_depth_max: int | None
    pace_samples: int
    pace_violation_pct: float
    lag_ticks_p50: float | None
    lag_ticks_p95: float | None
    lag_ticks_max: int | None
    recoveries: int
    recoveries_incomplete: int
    recovery_s_mean: float | None
    recovery_s_p95: float | None
    recovery_s_max: float | None
    bytes_per_peer_per_s: float
    wall_seconds: float
    sim_ticks_per_wall_s: float
    desyncs_detected: int = 0
    desync_detect_s: float | None = None
    app: str = "moving_rect"
    catch_up_ticks: int = 0
    recoveries_in_settle: int = 0
    recoveries_cut_short: int = 0
    speed_error_pct: float | None = None
    memory_mb_per_peer: float | None = None
    memory_history_mb_per_peer: float | None = None
    memory_mb_per_peer_series: tuple[tuple[float, float], ...] | None = None
    history_disk_mb_per_peer: float | None = None
    history_disk_mb_per_peer_series: tuple[tuple[float, float], ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of every figure (stable key names, JSON-ready)."""
        return asdict(self)
