"""The leaderless clock: which tick should have run by ``now``.

How this works: a peer's clock position (in ticks) is
``floor((now - origin) * fps) + offset + catch-up progress`` -- integers counted from a
fixed origin, never a float accumulated frame by frame. There is no leader: the highest
clock in the network is "real time". Neighbours tell each other their clock values in
SYNC messages; a peer that finds itself behind by more than its tolerance starts a
*catch-up*: it adds the missing whole ticks gradually over up to ``catch_up_s`` seconds
(at most double speed for small deficits; frames come faster, no tick is skipped), and a
refined estimate never slows down a catch-up under way. Clocks never slow down.

Two modes:

* ``paper`` -- as in the seed paper: SYNC every second with the peer's own tick, taken at
  face value (no latency compensation), catch up only when behind by more than Delta.
* ``default`` -- SYNC four times a second. Each SYNC is a clock sample advanced by half the
  round-trip time measured with it; a :class:`NeighbourFilter` averages a neighbour's
  recent samples (jitter cancels out) and restarts when the neighbour's clock visibly
  jumps; a peer catches up only as far as its estimate minus its uncertainty (three
  standard errors, or half a round trip while samples are few). Tolerance: one tick.

  Forwarding without a ratchet: a SYNC carries a :class:`ClockReport` -- a value, its
  *origin* (the peer whose own clock it estimates) and that origin's freshness stamp. A
  peer forwards the best live foreign estimate and ignores reports of its own clock
  coming back. So news crosses many hops at network speed without each hop first
  catching up, and measurement noise cannot pull the leading clock forward (a max over
  noisy estimates, fed back, would ratchet the network ahead of real time).

  Who leads: a *follower* (its last report forwarded a live origin) takes the lead only
  when its own clock is clearly ahead of the best estimate -- by the tolerance plus half
  a round trip, or the uncertainty if larger. Followers catch up to noisy averages and
  never slow down, so over time some drift a few ticks ahead of their origin; with a
  smaller margin they would claim the lead, be caught up to and overtaken in turn, and
  move the network ahead of real time. A *leader* (its last report was its own clock)
  keeps the lead until it hears a clock at or above its own, and so does a follower
  whose origin is gone (silent for three seconds, or reported by no neighbour any
  more). So when an origin leaves, the most advanced of its followers takes over, not
  the first to notice, and a claimant behind a leader never takes the lead from it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum

from arcade_p2p.errors import UsageError
from arcade_p2p.joining import JoinState

__all__ = ["Clock", "ClockMode", "ClockReport", "ClockSettings", "NeighbourFilter", "RttFilter"]

JUMP_SIGMAS = 4.0
"""A sample further than this many standard deviations from the mean is a clock jump."""
JUMP_MIN_TICKS = 3.0
"""...and at least this many ticks away (and further than a round trip's worth)."""
MIN_SAMPLES_FOR_STATISTICS = 6
"""Below this many samples the uncertainty is the round-trip bound, not a standard error."""
MARGIN_STANDARD_ERRORS = 3.0
"""A peer catches up only to its estimate minus this many standard errors."""
ORIGIN_SILENCE_S = 3.0
"""An origin whose freshness stamp has not grown for this long, plus one round trip per hop
its news travelled (a far origin's news is delayed and jittered hop by hop), is gone; its
estimates are ignored until it reports again."""
BOUNDARY_EPSILON_TICKS = 1e-9
"""Float slack when deciding whether a tick boundary has been reached."""
MAX_TRACKED_ORIGINS = 64
"""Above this many remembered origins, the silent ones are forgotten."""


class ClockMode(str, Enum):
    """Clock synchronisation rule.

    Settings hold the member itself; a name from a command line or a file is converted
    once, with :meth:`from_name` (or ``ClockMode("paper")``). A mode prints as its name.
    """

    PAPER = "paper"
    DEFAULT = "default"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def from_name(cls, name: str) -> ClockMode:
        """The mode called ``name``.

        Raises:
            UsageError: No mode has that name.
        """
        names = [mode.value for mode in cls]
        if name not in names:
            raise UsageError(f"unknown clock mode {name!r} (use {' or '.join(names)})")
        return cls(name)


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """How a clock synchronises.

    Attributes:
        mode: ``paper`` or ``default``.
        sync_interval_s: Seconds between SYNC messages to each neighbour.
        tolerance_ticks: A peer catches up only when behind by more than this (plus the
            estimate's uncertainty in the default mode).
        catch_up_s: Seconds over which a catch-up is spread.
        compensate_latency: Advance received clock values by half the measured RTT.
        forward_estimate: SYNC carries the best network estimate, not the own position.
        stamp_from_estimate: Local events are stamped from the network estimate (not the
            own tick) while this peer is still catching up.
        samples: How many recent samples per neighbour are averaged (1: the latest only).
        warmup_syncs: A new link's first SYNCs come 20 times a second, this many of them,
            so a joining peer's averages fill quickly (0: no warm-up).
    """

    mode: ClockMode
    sync_interval_s: float
    tolerance_ticks: float
    catch_up_s: float
    compensate_latency: bool
    forward_estimate: bool
    stamp_from_estimate: bool
    samples: int
    warmup_syncs: int

    @classmethod
    def for_mode(cls, mode: ClockMode, delta_ticks: int) -> ClockSettings:
        """The settings of a mode for a given Delta (in ticks)."""
        if mode is ClockMode.PAPER:
            return cls(mode, 1.0, float(delta_ticks), 1.0, False, False, False, 1, 0)
        return cls(mode, 0.25, 1.0, 1.0, True, True, True, 16, 8)


class RttFilter:
    """Minimum of the last few round-trip samples.

    Args:
        window: How many recent samples are kept.
    """

    def __init__(self, window: int = 16) -> None:
        self._samples: deque[float] = deque(maxlen=window)

    def add(self, rtt_s: float) -> None:
        """Record one round-trip time in seconds (negative samples are ignored)."""
        if rtt_s >= 0.0:
            self._samples.append(rtt_s)

    @property
    def min_rtt_s(self) -> float | None:
        """The smallest recent sample, or None before the first."""
        return min(self._samples) if self._samples else None


class NeighbourFilter:
    """Recent clock samples of one neighbour, in this peer's un-slewed time base.

    A sample is ``value - base`` where ``base`` is this peer's elapsed ticks since its
    origin (unaffected by its own catch-ups), so samples stay comparable while this peer
    catches up; a neighbour's estimate at any time is ``base(now) + mean``. Each sample
    was advanced by half its round trip; its true error is at most that much either way,
    which bounds the uncertainty until there are enough samples for a standard error.
    The statistics are recomputed once per sample, not per query.

    Args:
        window: How many samples are averaged.
    """

    def __init__(self, window: int) -> None:
        self._samples: deque[float] = deque(maxlen=window)
        self._half_rtt_ticks = 0.0
        self._spread = 0.0
        self.origin: int | None = None
        self.mean = 0.0
        """Mean of the samples."""
        self.last = 0.0
        """The latest sample (what is forwarded: averaging happens once, at the end)."""
        self.hops = 0
        """Forwarding steps between the origin and this neighbour."""
        self.uncertainty = 0.0
        """How far the mean may be too high, in ticks (a conservative bound)."""

    def add(self, sample: float, origin: int, half_rtt_ticks: float, hops: int = 0) -> None:
        """Record a sample; restart on a new origin or an evident clock jump."""
        self.hops = hops
        if origin != self.origin or (self._samples and self._is_jump(sample)):
            self._samples.clear()
            self._half_rtt_ticks = 0.0
            self.origin = origin
        self._samples.append(sample)
        self.last = sample
        self._half_rtt_ticks = max(self._half_rtt_ticks, half_rtt_ticks)
        self._update_statistics()

    def _update_statistics(self) -> None:
        samples = self._samples
        n = len(samples)
        self.mean = sum(samples) / n
        if n > 1:
            mean = self.mean
            self._spread = math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1))
        else:
            self._spread = 0.0
        if n < MIN_SAMPLES_FOR_STATISTICS:
            self.uncertainty = self._half_rtt_ticks
        else:
            standard_error = self._spread / math.sqrt(n)
            self.uncertainty = min(self._half_rtt_ticks, MARGIN_STANDARD_ERRORS * standard_error)

    @property
    def claim_margin(self) -> float:
        """How far ahead of this estimate a peer must be to claim to lead, in ticks.

        Half a round trip bounds any single sample's error, so a peer that caught up to a
        noisy average can never be that far ahead by accident (claiming the lead by
        accident would move the network clock forward a little each time).
        """
        return max(self.uncertainty, self._half_rtt_ticks)

    def _is_jump(self, sample: float) -> bool:
        noise = max(JUMP_SIGMAS * self._spread, 2.0 * self._half_rtt_ticks)
        return abs(sample - self.mean) > max(JUMP_MIN_TICKS, noise)


@dataclass(frozen=True, slots=True)
class ClockReport:
    """What a peer says about the network clock in a SYNC.

    Attributes:
        value: A clock value in ticks, at the time the SYNC is sent.
        origin: Id of the peer whose own clock ``value`` estimates.
        stamp: Freshness: the highest value the origin itself reported (grows while the
            origin is alive; forwarded unchanged).
        hops: How many forwarding steps the value has taken from its origin (0: the
            sender's own clock).
    """

    value: float
    origin: int
    stamp: float
    hops: int = 0


class Clock:
    """Tick clock of one peer.

    Args:
        fps: Ticks per second.
        settings: Synchronisation rule.
        now: The driver's time (seconds) at which tick 0 is due.
        me: This peer's id (the origin of its own clock value).
        join: The session's join state; while it holds, catch-ups happen at once and by
            any whole tick, whatever the tolerance (nothing is shown yet, so there is no
            transition to smooth).
    """

    def __init__(
        self,
        fps: int,
        settings: ClockSettings,
        *,
        now: float,
        me: int = 0,
        join: JoinState | None = None,
    ) -> None:
        if fps < 1:
            raise UsageError("fps must be >= 1")
        self.fps = fps
        self.settings = settings
        self.me = me
        self._origin = now
        self._offset = 0
        self._slew_start = now
        self._slew_ticks = 0
        self._slew_span = settings.catch_up_s
        self._neighbours: dict[Hashable, NeighbourFilter] = {}
        self._freshness: dict[int, tuple[float, float, float]] = {}
        """origin -> (newest stamp, when it grew, how long it may stay silent)."""
        self._followed: tuple[float, float, NeighbourFilter | None] | None = None
        """:meth:`_best_foreign`'s answer, when it was found, and when the first origin it
        counted as live may count as silent (None: to be found again). Neighbours and
        freshness change only through SYNC and :meth:`forget`; in between, the answer
        changes only when an origin it counted as live falls silent."""
        self._following: int | None = None
        """The origin this peer's last report forwarded (None: it reported its own clock)."""
        self.catch_ups = 0
        self._join = join

    def _base(self, now: float) -> float:
        return (now - self._origin) * self.fps

    def _base_ticks(self, now: float) -> int:
        # The epsilon makes a tick due at its exact boundary despite float rounding
        # (29/50 * 50 is 28.999999999999996).
        return math.floor(self._base(now) + BOUNDARY_EPSILON_TICKS)

    def position(self, now: float) -> float:
        """Clock position in ticks (fractional) at ``now``."""
        return self._base(now) + self._offset + self._slew_progress(now)

    def due_tick(self, now: float) -> int:
        """The last tick that should have run by ``now``."""
        return self._base_ticks(now) + self._offset + self._slew_progress(now)

    def next_due_time(self, now: float) -> float:
        """The earliest time after ``now`` at which :meth:`due_tick` grows."""
        current = self.due_tick(now)
        when = self._origin + (self._base_ticks(now) + 1) / self.fps
        progress = self._slew_progress(now)
        if progress < self._slew_ticks:
            span = self._slew_span
            when = min(when, self._slew_start + (progress + 1) * span / self._slew_ticks)
        step = 1e-9
        while self.due_tick(when) <= current:  # guard against float rounding
            when += step
            step *= 2
        return when

    def stamp_base(self, now: float) -> int:
        """The tick local events are stamped from (before adding Delta)."""
        own = self.due_tick(now)
        if self.settings.stamp_from_estimate:
            return max(own, math.floor(self.network_estimate(now)))
        return own

    def network_estimate(self, now: float) -> float:
        """Best estimate of the network's highest clock at ``now`` (at least the own one)."""
        best = self._best_foreign(now)
        own = self.position(now)
        return own if best is None else max(own, self._base(now) + best.mean)

    def lag_ticks(self, now: float) -> float:
        """How far this clock is behind the network estimate, in ticks."""
        return self.network_estimate(now) - self.position(now)

    def report(self, now: float) -> ClockReport:
        """What this peer puts in its SYNC messages.

        In the default mode a follower forwards the best live foreign clock's estimate
        (keeping its origin) unless its own clock is clearly ahead of it; a leader, or a
        follower whose origin is gone, reports its own clock unless that estimate is at
        or above it (see the module header).
        """
        if not self.settings.forward_estimate:
            own_tick = float(self.due_tick(now))
            return ClockReport(own_tick, self.me, own_tick)
        own = self.position(now)
        best = self._best_foreign(now)
        if best is not None and best.origin is not None:
            base = self._base(now)
            estimate = base + best.mean
            following = self._following
            if following is None or not self._carried(following, now):
                follow = own <= estimate  # leading (or orphaned): yield only to a clock ahead
            else:
                margin = self.settings.tolerance_ticks + best.claim_margin
                follow = own <= estimate + margin  # following: lead only when clearly ahead
            if follow:
                self._following = best.origin
                # Forward the latest sample, not the average: an average of averages
                # would lag two seconds per hop and hide upstream noise from the spread
                # that downstream margins are computed from.
                stamp = self._freshness[best.origin][0]
                return ClockReport(base + best.last, best.origin, stamp, best.hops + 1)
        self._following = None
        return ClockReport(own, self.me, own)

    def _carried(self, origin: int, now: float) -> bool:
        """Whether a neighbour still reports ``origin``'s clock and that origin is alive."""
        return self._alive(origin, now) and any(
            n.origin == origin for n in self._neighbours.values()
        )

    def on_sync(
        self, neighbour: Hashable, report: ClockReport, *, rtt_s: float | None, now: float
    ) -> None:
        """Take a neighbour's SYNC into account and start a catch-up if behind.

        Args:
            neighbour: Who sent it (any hashable key).
            report: The clock report it carried.
            rtt_s: Round-trip time measured with this very SYNC, if any.
            now: Receive time.
        """
        self._followed = None
        if report.origin == self.me:  # our own clock reflected back: no news, only noise
            self._neighbours.pop(neighbour, None)
            return
        patience_s = ORIGIN_SILENCE_S + report.hops * (rtt_s or 0.0)
        self._note_freshness(report.origin, report.stamp, now, patience_s)
        half_rtt_ticks = 0.0
        if self.settings.compensate_latency and rtt_s is not None:
            half_rtt_ticks = rtt_s / 2.0 * self.fps
        entry = self._neighbours.get(neighbour)
        if entry is None:
            entry = self._neighbours[neighbour] = NeighbourFilter(self.settings.samples)
        entry.add(
            report.value + half_rtt_ticks - self._base(now),
            report.origin,
            half_rtt_ticks,
            report.hops,
        )
        self._maybe_catch_up(now)

    def forget(self, neighbour: Hashable) -> None:
        """Drop what a neighbour said (its link went down)."""
        self._followed = None
        self._neighbours.pop(neighbour, None)

    def _note_freshness(self, origin: int, stamp: float, now: float, patience_s: float) -> None:
        known = self._freshness.get(origin)
        if known is None or stamp > known[0]:
            self._freshness[origin] = (stamp, now, patience_s)
        if len(self._freshness) > MAX_TRACKED_ORIGINS:
            for stale in [o for o in self._freshness if not self._alive(o, now)]:
                del self._freshness[stale]

    def _alive(self, origin: int | None, now: float) -> bool:
        known = self._freshness.get(origin) if origin is not None else None
        return known is not None and now - known[1] <= known[2]

    def _best_foreign(self, now: float) -> NeighbourFilter | None:
        """The neighbour to follow: of the leading live origin, the one fewest hops away.

        Following the fewest hops (not the highest estimate) makes clock news flow only
        away from the origin, along shortest paths: a peer never takes back, through a
        cycle, an estimate that it forwarded itself, so noise cannot ratchet upwards.
        """
        followed = self._followed
        if (
            followed is not None
            and followed[0] <= now
            and now <= followed[1]  # as _alive: every one still is
        ):
            return followed[2]
        leading: dict[int, float] = {}
        silent_at = math.inf  # when the first live origin may count as silent
        for neighbour in self._neighbours.values():
            origin = neighbour.origin
            if origin is not None and self._alive(origin, now):
                leading[origin] = max(leading.get(origin, -math.inf), neighbour.mean)
                _, grew_at, patience_s = self._freshness[origin]
                silent_at = min(silent_at, grew_at + patience_s)
        best = None
        if leading:
            origin = max(leading, key=lambda o: (leading[o], o))
            candidates = [n for n in self._neighbours.values() if n.origin == origin]
            best = min(candidates, key=lambda n: (n.hops, -n.mean))
        self._followed = (now, silent_at, best)
        return best

    def _maybe_catch_up(self, now: float) -> None:
        best = self._best_foreign(now)
        if best is None:
            return
        deficit = self._base(now) + best.mean - best.uncertainty - self.position(now)
        # While a join holds, nothing is shown: catch up by any whole tick (the tolerance
        # spares visible speed-ups; a joiner let go up to it behind would stay there).
        instant = self._join is not None and self._join.instant_catch_up
        if deficit <= (1.0 if instant else self.settings.tolerance_ticks):
            return
        progress = self._slew_progress(now)
        remaining = self._slew_ticks - progress
        needed = math.floor(deficit)
        if needed <= remaining:
            return
        # Up to catch_up_s, at most double speed for small deficits, and never slower
        # than a catch-up already under way (refinements must not restart a slow one).
        span = 0.0 if instant else min(self.settings.catch_up_s, needed / self.fps)
        if remaining > 0:
            span = min(span, needed * self._slew_span / self._slew_ticks)
        self._offset += progress
        self._slew_start = now
        self._slew_ticks = needed
        self._slew_span = span
        self.catch_ups += 1

    def _slew_progress(self, now: float) -> int:
        if self._slew_ticks == 0:
            return 0
        span = self._slew_span
        done = (now - self._slew_start) / span if span > 0 else 1.0
        if done >= 1.0:
            return self._slew_ticks
        return math.floor(self._slew_ticks * max(done, 0.0) + BOUNDARY_EPSILON_TICKS)
