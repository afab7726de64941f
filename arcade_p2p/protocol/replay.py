"""Replay filter: drop datagrams already received.

How this works: every datagram carries ``(sender, epoch, counter)``; a sender counts its
datagrams from 0 in each run (epoch). For each ``(sender, epoch)`` the filter keeps the
highest counter seen and a 64-bit window of the counters just below it -- the
sliding-window scheme of IPsec. A counter seen before, or too old for the window, is a
replay. The number of windows kept is bounded.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["ReplayFilter"]

WINDOW_BITS = 64


class ReplayFilter:
    """Sliding-window replay detection per ``(sender, epoch)``.

    Args:
        max_windows: How many ``(sender, epoch)`` windows are remembered (least recently
            used ones are forgotten).
    """

    def __init__(self, max_windows: int = 4096) -> None:
        self._windows: OrderedDict[tuple[int, int], tuple[int, int]] = OrderedDict()
        self._max_windows = max_windows

    def __len__(self) -> int:
        return len(self._windows)

    def accept(self, sender: int, epoch: int, counter: int) -> bool:
        """Record ``counter`` and say whether it is fresh (False: a replay)."""
        key = (sender, epoch)
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = (counter, 1)
            if len(self._windows) > self._max_windows:
                self._windows.popitem(last=False)
            return True
        self._windows.move_to_end(key)
        highest, bits = window
        if counter > highest:
            shift = counter - highest
            bits = ((bits << shift) | 1) & ((1 << WINDOW_BITS) - 1) if shift < WINDOW_BITS else 1
            self._windows[key] = (counter, bits)
            return True
        age = highest - counter
        if age >= WINDOW_BITS or bits >> age & 1:
            return False
        self._windows[key] = (highest, bits | (1 << age))
        return True
