"""Snapshot store: where the time machine can jump back to, in bounded memory.

How this works: a snapshot is the app's serialized state at the *start* of a tick (before
its TICK step), taken only at ticks that are multiples of ``every_ticks`` so that all peers
snapshot (and restore) at the same ticks. Recent snapshots are kept densely; older ones are
thinned so that the spacing between kept snapshots doubles with their age, which keeps
O(dense + log(age)) snapshots however long the session runs (thinning runs once per
``dense_count`` snapshots, so up to ``dense_count`` more may be held in between). A late
event older than every kept snapshot is applied by re-simulating from START.
"""

from __future__ import annotations

import bisect

from arcade_p2p.errors import UsageError

__all__ = ["SnapshotStore"]


class SnapshotStore:
    """Snapshots keyed by tick, thinned with age.

    Args:
        every_ticks: Snapshot period K in ticks (snapshots are taken at ``tick % K == 0``).
        dense_count: How many of the most recent snapshots are kept at full density.
    """

    def __init__(self, every_ticks: int, dense_count: int = 16) -> None:
        if every_ticks < 1:
            raise UsageError("snapshot period must be >= 1 tick")
        if dense_count < 1:
            raise UsageError("dense_count must be >= 1")
        self.every_ticks = every_ticks
        self.dense_count = dense_count
        self._ticks: list[int] = []
        self._blobs: dict[int, bytes] = {}
        self._puts_since_thinning = 0

    def __len__(self) -> int:
        return len(self._ticks)

    @property
    def ticks(self) -> list[int]:
        """Ticks of the kept snapshots, ascending (a copy)."""
        return list(self._ticks)

    def put(self, tick: int, blob: bytes) -> None:
        """Store the state at the start of ``tick`` and drop snapshots now too dense.

        Any snapshot after ``tick`` is discarded: it belongs to a timeline that a
        rollback has just rewritten.
        """
        cut = bisect.bisect_right(self._ticks, tick)
        for stale in self._ticks[cut:]:
            del self._blobs[stale]
        del self._ticks[cut:]
        if not self._ticks or self._ticks[-1] != tick:
            self._ticks.append(tick)
        self._blobs[tick] = blob
        self._puts_since_thinning += 1
        if self._puts_since_thinning >= self.dense_count:  # amortised: O(1) per snapshot
            self._puts_since_thinning = 0
            self._thin(tick)

    def at_or_before(self, tick: int) -> tuple[int, bytes] | None:
        """The newest snapshot taken at or before ``tick``, as ``(tick, blob)``.

        Returns:
            The snapshot, or None when no kept snapshot is that old.
        """
        i = bisect.bisect_right(self._ticks, tick) - 1
        if i < 0:
            return None
        found = self._ticks[i]
        return found, self._blobs[found]

    def _thin(self, newest: int) -> None:
        dense_span = self.dense_count * self.every_ticks
        kept: list[int] = []
        for tick in self._ticks:
            age = newest - tick
            if age < dense_span or tick % self._spacing(age, dense_span) == 0:
                kept.append(tick)
            else:
                del self._blobs[tick]
        self._ticks = kept

    def _spacing(self, age: int, dense_span: int) -> int:
        # Spacing doubles each time the age doubles past the dense span.
        return self.every_ticks << (age // dense_span).bit_length()
