"""One rollback for a burst of very late events (a healed partition), not one per datagram.

How this works: when two parts of a room that were cut off from each other meet again,
each side's events of the whole split reach the other side over many datagrams and round
trips (anti-entropy rounds, then flooding hop by hop). Repairing at once would roll back
to the split's start once per datagram: dozens of rollbacks of thousands of ticks each,
all but the last one wasted. A :class:`RepairBatcher` lets a *deep* repair wait while late
events keep arriving: until :data:`QUIET_S` passes without one, and at most
:data:`MAX_WAIT_S` after the wait began. Deep means further back than ordinary late input
reaches: twice the largest Delta, and at least :data:`DEEP_REPAIR_MIN_S`.
The machine keeps simulating forward meanwhile (the repair re-runs those ticks), so the
game does not freeze; what it shows lacks the other side's history a little longer, as
it did anyway until those events came. Ordinary late input (a shallow repair) is never
delayed.

``ENABLED = False`` makes every repair run at once (to measure what the wait saves, or
for a game that prefers that). The decision depends only on the machine's pending
repair, its count of late events and ``now``. The end of a wait is a wake-up time
(:attr:`RepairBatcher.deadline`), so a driver that only wakes for work repairs at the
same moment as one that wakes every tick.
"""

from __future__ import annotations

import math

from arcade_p2p.machine import TimeMachine

__all__ = [
    "DEEP_REPAIR_MIN_S",
    "ENABLED",
    "MAX_WAIT_S",
    "QUIET_S",
    "RepairBatcher",
    "deep_repair_ticks",
]

ENABLED = True
"""Whether deep repairs wait for the rest of a burst (read at every decision)."""
DEEP_REPAIR_MIN_S = 0.25
"""A repair reaching no further back than this (in seconds of ticks) never waits."""
QUIET_S = 0.15
"""A waiting repair runs once no late event has arrived for this long."""
MAX_WAIT_S = 1.0
"""...and at the latest this long after the wait began."""


def deep_repair_ticks(fps: int, max_delta_ticks: int) -> int:
    """How far back (in ticks) a repair must reach to wait: twice the largest Delta, and at
    least :data:`DEEP_REPAIR_MIN_S`."""
    return max(2 * max_delta_ticks, round(DEEP_REPAIR_MIN_S * fps))


class RepairBatcher:
    """Decides, before each advance, whether a pending deep repair waits.

    Args:
        deep_ticks: A repair reaching further back than this many ticks may wait (see
            :func:`deep_repair_ticks`).
    """

    def __init__(self, deep_ticks: int) -> None:
        self._deep_ticks = deep_ticks
        self._began_at: float | None = None
        self._news_at = 0.0
        self._late_seen = 0

    def holds(self, machine: TimeMachine, now: float) -> bool:
        """Whether ``machine``'s pending repair waits at ``now`` (call it before advancing)."""
        dirty = machine.pending_repair
        if not ENABLED or dirty is None or machine.tick - dirty <= self._deep_ticks:
            self.cancel()
            return False
        late = machine.stats.late_events
        if self._began_at is None:
            self._began_at = self._news_at = now
            self._late_seen = late
        elif late != self._late_seen:
            self._late_seen = late
            self._news_at = now
        if now >= self.deadline:
            self.cancel()
            return False
        return True

    def cancel(self) -> None:
        """Stop waiting (the repair runs at the next advance, or is not deep any more)."""
        self._began_at = None

    @property
    def deadline(self) -> float:
        """When the waiting repair runs at the latest (absolute; inf: none waits)."""
        if self._began_at is None:
            return math.inf
        return min(self._news_at + QUIET_S, self._began_at + MAX_WAIT_S)
