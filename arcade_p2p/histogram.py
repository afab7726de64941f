"""A histogram of non-negative integers in fixed buckets: bounded memory, exact small values.

How this works: counters that see one value per rollback or per sample (rollback depths,
lag samples) would grow forever as lists, so they count values in buckets instead. Values
below :data:`EXACT_LIMIT` each have their own bucket, so every figure computed from them
is exact; a larger value falls into one of :data:`SUB_BUCKETS` equal slices of its power
of two and stands for the slice's lower bound (at most 1/16 = 6.25 % below the value).
The count, the sum and the largest value are kept exactly whatever the value. At most
``EXACT_LIMIT + SUB_BUCKETS x 54`` buckets ever exist, whatever the number of values.

:meth:`Histogram.quantile` interpolates linearly between order statistics, the same rule
as :func:`arcade_p2p.sim.metrics.percentile` on the list of values, so a histogram of
values below :data:`EXACT_LIMIT` gives exactly the figures the list gave.
:meth:`Histogram.minus` gives what was added since an earlier copy (a measured window).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["EXACT_LIMIT", "SUB_BUCKETS", "Histogram"]

EXACT_LIMIT = 1024
"""Values below this are counted exactly, one bucket each."""
SUB_BUCKETS = 16
"""Buckets per power of two above :data:`EXACT_LIMIT`."""
_SUB_BITS = SUB_BUCKETS.bit_length() - 1


def bucket_floor(value: int) -> int:
    """The smallest value of ``value``'s bucket (``value`` itself below :data:`EXACT_LIMIT`)."""
    if value < EXACT_LIMIT:
        return value
    shift = value.bit_length() - 1 - _SUB_BITS
    return (value >> shift) << shift


class Histogram:
    """Counts of non-negative integers in fixed buckets (see the module header)."""

    __slots__ = ("_buckets", "count", "max", "total")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self.count = 0
        """How many values were added."""
        self.total = 0
        """Their exact sum."""
        self.max: int | None = None
        """The largest value added, exactly (None: none yet)."""

    def add(self, value: int) -> None:
        """Count one value.

        Raises:
            ValueError: ``value`` is negative.
        """
        if value < 0:
            raise ValueError(f"a histogram counts values >= 0, got {value}")
        key = bucket_floor(value)
        self._buckets[key] = self._buckets.get(key, 0) + 1
        self.count += 1
        self.total += value
        if self.max is None or value > self.max:
            self.max = value

    def __len__(self) -> int:
        return self.count

    @property
    def buckets(self) -> int:
        """How many buckets hold at least one value (the memory it uses)."""
        return len(self._buckets)

    def mean(self) -> float | None:
        """The exact mean, or None if empty."""
        return self.total / self.count if self.count else None

    def count_above(self, threshold: int) -> int:
        """How many values exceed ``threshold`` (exact for thresholds below EXACT_LIMIT)."""
        return sum(n for key, n in self._buckets.items() if key > threshold)

    def quantile(self, fraction: float) -> float | None:
        """The ``fraction`` quantile (0..1), interpolated between order statistics.

        Returns:
            None if empty. Values in the coarse buckets stand for their bucket's lower
            bound, except that the largest value is always exact.
        """
        if not self.count:
            return None
        position = fraction * (self.count - 1)
        low_rank = math.floor(position)
        high_rank = min(low_rank + 1, self.count - 1)
        low = self._value_at(low_rank)
        high = self._value_at(high_rank)
        return low + (high - low) * (position - low_rank)

    def _value_at(self, rank: int) -> int:
        """The value of order statistic ``rank`` (0-based), as its bucket's lower bound."""
        if rank == self.count - 1 and self.max is not None:
            return self.max
        seen = 0
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if rank < seen:
                return key
        raise AssertionError("rank beyond the count")  # pragma: no cover - callers clamp

    def copy(self) -> Histogram:
        """An independent copy (a baseline for :meth:`minus`)."""
        other = Histogram()
        other._buckets = dict(self._buckets)
        other.count, other.total, other.max = self.count, self.total, self.max
        return other

    def merge(self, other: Histogram) -> None:
        """Add every value counted by ``other``."""
        for key, n in other._buckets.items():
            self._buckets[key] = self._buckets.get(key, 0) + n
        self.count += other.count
        self.total += other.total
        if other.max is not None and (self.max is None or other.max > self.max):
            self.max = other.max

    def minus(self, earlier: Histogram) -> Histogram:
        """What was added since ``earlier``, a copy of this histogram taken before.

        The difference's largest value is exact when this histogram's maximum grew since
        ``earlier`` (it was added in between); otherwise it is its top bucket's lower bound.
        """
        diff = Histogram()
        for key, n in self._buckets.items():
            left = n - earlier._buckets.get(key, 0)
            if left > 0:
                diff._buckets[key] = left
        diff.count = self.count - earlier.count
        diff.total = self.total - earlier.total
        if diff._buckets:
            grew = self.max is not None and (earlier.max is None or self.max > earlier.max)
            diff.max = self.max if grew else max(diff._buckets)
        return diff

    def to_dict(self) -> dict[int, int]:
        """The non-empty buckets: lower bound -> count (JSON-ready after ``str`` keys)."""
        return dict(sorted(self._buckets.items()))

    @classmethod
    def from_dict(cls, buckets: dict[Any, Any]) -> Histogram:
        """A histogram whose values are the bucket lower bounds of :meth:`to_dict`'s output
        (keys and counts may be strings, as after a JSON round trip).

        Raises:
            ValueError: A key is negative or not a bucket's lower bound, or a count < 1.
        """
        histogram = cls()
        for key, n in buckets.items():
            key, n = int(key), int(n)
            if key < 0 or bucket_floor(key) != key or n < 1:
                raise ValueError(f"not a bucket count: {key}: {n}")
            histogram._buckets[key] = histogram._buckets.get(key, 0) + n
            histogram.count += n
            histogram.total += key * n
            histogram.max = key if histogram.max is None else max(histogram.max, key)
        return histogram
