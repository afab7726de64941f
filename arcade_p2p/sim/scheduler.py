"""A tiny deterministic discrete-event scheduler with a virtual clock.

How this works: the scheduler keeps a heap of ``(time, order, callback, args)`` entries.
:meth:`Scheduler.run_until` pops them in time order, sets :attr:`Scheduler.now` to each
entry's time and calls its callback. ``order`` is an insertion counter, so entries due at
the same time run in the order they were scheduled and a run never depends on comparing
callbacks. Nothing here reads a real clock: virtual time only moves when an entry runs or
:meth:`Scheduler.run_until` reaches its end time. There is no cancellation; callers that
reschedule keep a token and ignore stale entries, which is cheaper than deleting from a heap.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from arcade_p2p.errors import UsageError

__all__ = ["Scheduler"]


class Scheduler:
    """Runs callbacks at virtual times, earliest first, ties in insertion order.

    Args:
        start: The initial virtual time in seconds.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        """Number of pending entries (stale ones included)."""
        return len(self._heap)

    def call_at(self, when: float, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback(*args)`` at virtual time ``when``.

        Raises:
            UsageError: ``when`` is in the virtual past.
        """
        if when < self.now:
            raise UsageError(f"cannot schedule at {when} before now ({self.now})")
        heapq.heappush(self._heap, (when, next(self._order), callback, args))

    def run_until(self, end: float) -> None:
        """Run every entry due at or before ``end``, then set the clock to ``end``.

        Callbacks may schedule more entries; those due by ``end`` run in this call too.
        """
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= end:
            when, _, callback, args = pop(heap)
            self.now = when
            callback(*args)
        self.now = max(self.now, end)
