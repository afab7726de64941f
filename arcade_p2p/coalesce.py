"""Coalescing continuous input (mouse motion, analog sticks) to a bounded event rate.

How this works: every broadcast event costs bytes on the wire to every peer and may make
the peers that receive it late roll back, so input that fires on every pixel of mouse
motion must not become one event per callback. A :class:`Coalescer` keeps only the
newest value offered and hands it out at most once per ``1 / rate_hz`` seconds (and
never twice in a row the same value); between two releases the values in between are
dropped, which is right for positions: only the latest one matters. It is sans-io: the
caller passes ``now``. :meth:`SymmetricWindow.coalesce
<arcade_p2p.window.SymmetricWindow.coalesce>` binds one to an event name and releases it
every frame.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

from arcade_p2p.errors import UsageError

__all__ = ["Coalescer"]

T = TypeVar("T")


class Coalescer(Generic[T]):
    """The newest of a stream of values, released at a bounded rate.

    Args:
        rate_hz: Most releases per second (> 0).

    Raises:
        UsageError: ``rate_hz`` is not positive.
    """

    def __init__(self, rate_hz: float) -> None:
        if not rate_hz > 0:
            raise UsageError(f"rate_hz must be > 0, got {rate_hz}")
        self.interval_s = 1.0 / rate_hz
        self._pending: T | None = None
        self._has_pending = False
        self._last: T | None = None
        self._has_last = False
        self._next_release_at = -math.inf
        self.offered = 0
        """How many values were offered (to compare with how many were released)."""
        self.released = 0
        """How many values were released."""

    def offer(self, value: T) -> None:
        """Keep ``value`` as the newest; it replaces any value not released yet."""
        self.offered += 1
        self._pending, self._has_pending = value, True

    def release(self, *, now: float) -> tuple[bool, T | None]:
        """The value to send now, if one is pending and the rate allows it.

        Args:
            now: The current time in seconds.

        Returns:
            ``(True, value)`` to send ``value``; ``(False, None)`` otherwise.
        """
        if not self._has_pending or now < self._next_release_at:
            return False, None
        value, self._pending, self._has_pending = self._pending, None, False
        if self._has_last and value == self._last:
            return False, None  # back where it was last sent: nothing new to say
        self._last, self._has_last = value, True
        self._next_release_at = now + self.interval_s
        self.released += 1
        return True, value
