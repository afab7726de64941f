"""The join/return state machine: when a session holds its simulation to fetch history.

How this works: a :class:`JoinState` is either *settled* or *holding*. It starts to hold
when the session dials its first neighbour before simulating past START (a *join*), or
when the driver has not run ticks for longer than the link timeout (a *return*: a frozen
process, a sleeping laptop -- the world moved on meanwhile). While holding, the session
runs no tick past START, its clock catches up at once instead of gradually (nothing is
shown yet, so there is no transition to smooth) and its gossip node tells neighbours it is
joining. It settles again once the gossip node calls :meth:`JoinState.note_synced`: a
neighbour that is not itself joining reports the same history digest, or the session
holds every event its settled neighbours have advertised holding without a gap that its
state needs (at game rates two histories are rarely equal at any instant; a session
started from a snapshot needs only the events above what the snapshot contains).
Otherwise it settles when ``timeout_s`` passes. Meanwhile it runs nothing (not even
repairs), so the history it fetched is applied in one forward pass instead of a rollback
per arrival. While a snapshot to start from is being fetched (see
:mod:`arcade_p2p.protocol.transfer`), a matching history does not end the hold: the
snapshot saves replaying the history from START (only the timeout does). A session whose
snapshot turns out to lack an older event (:meth:`JoinState.note_behind`) needs the whole
history again.

This module is the only owner of these flags: the session, the clock and the gossip node
read them here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = ["JoinState"]


class JoinState:
    """Whether the session is joining (or returning) and when it lets go.

    Args:
        timeout_s: Longest hold while waiting for the history.
        return_gap_s: A gap between two tick runs longer than this counts as a return.
        now: The driver's time at creation (counts as the first tick run).
    """

    __slots__ = (
        "_deadline",
        "_last_run",
        "_synced",
        "held_since",
        "return_gap_s",
        "snapshot_pending",
        "timeout_s",
    )

    def __init__(self, *, timeout_s: float, return_gap_s: float, now: float) -> None:
        self.timeout_s = timeout_s
        self.return_gap_s = return_gap_s
        self._deadline: float | None = None
        self._synced = False
        self.held_since = now
        """When the current (or last) hold began: what neighbours said before is stale."""
        self._last_run = now
        self.snapshot_pending: Callable[[], bool] = _never
        """Whether a snapshot to start from is on its way (set by the session)."""

    @property
    def joining(self) -> bool:
        """Whether the session holds its simulation while it fetches the history."""
        return self._deadline is not None

    @property
    def deadline(self) -> float:
        """When the current hold times out (infinity: not holding)."""
        return math.inf if self._deadline is None else self._deadline

    @property
    def instant_catch_up(self) -> bool:
        """Whether the clock should catch up at once rather than gradually."""
        return self._deadline is not None

    def dialled(self, *, tick: int, now: float) -> None:
        """The session dials a neighbour; before START has passed, that starts a join."""
        if self._deadline is None and tick <= 1:
            self._hold(now)

    def note_synced(self) -> None:
        """The session holds what its settled neighbours hold (all its state needs)."""
        self._synced = True

    def note_behind(self) -> None:
        """The session needs more history than it was synced with (it lost its snapshot)."""
        self._synced = False

    def limit(self, target: int, *, tick: int, now: float) -> int:
        """The last tick the session may run now, given the clock's ``target``.

        Called every time the session runs its due ticks: notices a return, lets go of a
        finished hold and otherwise keeps the session at START (which still runs, so the
        application always has a state to draw).

        Args:
            target: The last tick the clock says is due.
            tick: The session's next tick to simulate.
            now: The driver's current time.
        """
        if now - self._last_run > self.return_gap_s:
            self._hold(now)
        self._last_run = now
        if self._deadline is None:
            return target
        if (self._synced and not self.snapshot_pending()) or now >= self._deadline:
            self._deadline = None
            return target
        return min(target, max(0, tick - 1))

    def _hold(self, now: float) -> None:
        self._deadline = now + self.timeout_s
        self._synced = False
        self.held_since = now


def _never() -> bool:
    return False
