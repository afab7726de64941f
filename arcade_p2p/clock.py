"""The leaderless clock: which tick should have run by ``now``.

How this works: a peer's clock position (in ticks) is
``floor((now - origin) * fps) + offset + catch-up progress`` -- integers counted from a
fixed origin, never a float accumulated frame by frame. There is no leader: the highest
tick in the network is "real time". Neighbours tell each other their positions in SYNC
messages; a peer that finds itself behind by more than its tolerance starts a *catch-up*:
it adds the missing ticks gradually over ``catch_up_s`` seconds (frames come faster; no tick
is skipped). Clocks never slow down.

Two modes:

* ``paper`` -- as in the seed paper: SYNC every second with the peer's own tick, taken at
  face value (no latency compensation), catch up only when behind by more than Delta.
* ``default`` -- SYNC four times a second; the received position is advanced by half the
  smallest recently measured round-trip time; peers forward their best estimate of the
  network's maximum (so news crosses many hops without waiting for each hop to catch
  up); tolerance one tick.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from enum import Enum

from arcade_p2p.errors import UsageError

__all__ = ["Clock", "ClockMode", "ClockSettings", "RttFilter"]


class ClockMode(str, Enum):
    """Clock synchronisation rule."""

    PAPER = "paper"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """How a clock synchronises.

    Attributes:
        mode: ``paper`` or ``default``.
        sync_interval_s: Seconds between SYNC messages to each neighbour.
        tolerance_ticks: A peer catches up only when behind by more than this.
        catch_up_s: Seconds over which a catch-up is spread.
        compensate_latency: Advance received positions by half the minimum RTT.
        forward_estimate: SYNC carries the best network estimate, not the own position.
        stamp_from_estimate: Local events are stamped from the network estimate (not the
            own tick) while this peer is still catching up.
    """

    mode: ClockMode
    sync_interval_s: float
    tolerance_ticks: float
    catch_up_s: float
    compensate_latency: bool
    forward_estimate: bool
    stamp_from_estimate: bool

    @classmethod
    def for_mode(cls, mode: ClockMode | str, delta_ticks: int) -> ClockSettings:
        """The settings of a mode for a given Delta (in ticks)."""
        try:
            mode = ClockMode(mode)
        except ValueError:
            raise UsageError(f"unknown clock mode {mode!r}; use 'paper' or 'default'") from None
        if mode is ClockMode.PAPER:
            return cls(mode, 1.0, float(delta_ticks), 1.0, False, False, False)
        return cls(mode, 0.25, 1.0, 1.0, True, True, True)


class RttFilter:
    """Minimum of the last few round-trip samples (a conservative one-way estimate).

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


class Clock:
    """Tick clock of one peer.

    Args:
        fps: Ticks per second.
        settings: Synchronisation rule.
        now: The driver's time (seconds) at which tick 0 is due.
    """

    def __init__(self, fps: int, settings: ClockSettings, *, now: float) -> None:
        if fps < 1:
            raise UsageError("fps must be >= 1")
        self.fps = fps
        self.settings = settings
        self._origin = now
        self._offset = 0
        self._slew_start = now
        self._slew_ticks = 0
        self._network: dict[Hashable, tuple[float, float]] = {}
        self.catch_ups = 0

    def position(self, now: float) -> float:
        """Clock position in ticks (fractional) at ``now``."""
        elapsed = (now - self._origin) * self.fps
        return elapsed + self._offset + self._slew_progress(now)

    def due_tick(self, now: float) -> int:
        """The last tick that should have run by ``now``."""
        return math.floor((now - self._origin) * self.fps) + self._offset + self._slew_progress(now)

    def next_due_time(self, now: float) -> float:
        """The earliest time after ``now`` at which :meth:`due_tick` grows."""
        current = self.due_tick(now)
        base_ticks = math.floor((now - self._origin) * self.fps)
        when = self._origin + (base_ticks + 1) / self.fps
        progress = self._slew_progress(now)
        if progress < self._slew_ticks:
            span = self.settings.catch_up_s
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
        """Best estimate of the network's highest clock position at ``now`` (>= own)."""
        best = self.position(now)
        fps = self.fps
        for position, at in self._network.values():
            best = max(best, position + (now - at) * fps)
        return best

    def sync_value(self, now: float) -> float:
        """What this peer puts in its SYNC messages."""
        if self.settings.forward_estimate:
            return self.network_estimate(now)
        return float(self.due_tick(now))

    def on_sync(
        self, neighbour: Hashable, value: float, *, min_rtt_s: float | None, now: float
    ) -> None:
        """Take a neighbour's SYNC into account and start a catch-up if behind.

        Args:
            neighbour: Who sent it (any hashable key).
            value: The position the neighbour reported.
            min_rtt_s: Smallest recent RTT to that neighbour, if known.
            now: Receive time.
        """
        if self.settings.compensate_latency and min_rtt_s is not None:
            value += min_rtt_s / 2.0 * self.fps
        self._network[neighbour] = (value, now)
        self._maybe_catch_up(now)

    def forget(self, neighbour: Hashable) -> None:
        """Drop what a neighbour said (its link went down)."""
        self._network.pop(neighbour, None)

    def lag_ticks(self, now: float) -> float:
        """How far this clock is behind the network estimate, in ticks."""
        return self.network_estimate(now) - self.position(now)

    def _maybe_catch_up(self, now: float) -> None:
        deficit = self.lag_ticks(now)
        if deficit <= self.settings.tolerance_ticks:
            return
        progress = self._slew_progress(now)
        remaining = self._slew_ticks - progress
        needed = math.ceil(deficit)
        if needed <= remaining:
            return
        self._offset += progress
        self._slew_start = now
        self._slew_ticks = needed
        self.catch_ups += 1

    def _slew_progress(self, now: float) -> int:
        if self._slew_ticks == 0:
            return 0
        span = self.settings.catch_up_s
        done = (now - self._slew_start) / span if span > 0 else 1.0
        if done >= 1.0:
            return self._slew_ticks
        return math.floor(self._slew_ticks * max(done, 0.0))
