"""Presence: which peers are in the session, a fact every peer sees at the same tick.

How this works: arrivals and departures are events in the timeline, with names reserved
for the session (:data:`~arcade_p2p.events.SYSTEM_PREFIX`; a game cannot emit them):

* :data:`JOIN_EVENT` (no payload): its source is here. A session emits it once it is in
  step (never while it is still joining), and again if it finds itself declared gone
  while it is alive.
* :data:`LEAVE_EVENT` (payload ``[peer, join_seq]``): the peer that joined with the join
  event of seq ``join_seq`` is gone. A session emits it for itself when it stops cleanly,
  and for a neighbour that has gone silent: its link has been down for the link timeout
  and no event of it has arrived for as long (a crash, a cable).

The time machine applies them in timeline order, like any event, to a :class:`Presence`
(the present peers, each with the seq of the join that brought it) and calls the app's
``on_peer_join``/``on_peer_leave`` when the set changes. A join of a peer that is present
and a leave that names another incarnation (a duplicate: several neighbours notice one
crash; or a stale one: the peer came back meanwhile) change nothing, so the first notice
in timeline order wins, on every peer alike. The presence is simulation state: the
machine saves it with every snapshot (:func:`pack_snapshot` puts it beside the app's
blob, so the state hashes cover it), restores it on rollback, and a joiner receives it
inside the snapshot it starts from.

:class:`Announcer` is the session's side: it decides when this peer emits those events.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import Enum
from typing import Any

import msgpack

from arcade_p2p.errors import RemoteError
from arcade_p2p.events import MAX_SOURCE_ID, SYSTEM_PREFIX, Event

__all__ = [
    "JOIN_EVENT",
    "LEAVE_EVENT",
    "MAX_PRESENT_PEERS",
    "Announcer",
    "Change",
    "Presence",
    "check_system_event",
    "pack_snapshot",
    "unpack_snapshot",
]

JOIN_EVENT = SYSTEM_PREFIX + "join"
"""Name of the event by which its source announces itself."""
LEAVE_EVENT = SYSTEM_PREFIX + "leave"
"""Name of the event that says a peer is gone (payload ``[peer, join_seq]``)."""
MAX_PRESENT_PEERS = 4096
"""Most peers present at once; a join beyond it changes nothing (on every peer alike)."""
_MAX_SEQ = 2**63 - 1


class Change(Enum):
    """How a presence event changed the set of present peers."""

    JOIN = "join"
    LEAVE = "leave"


class Presence:
    """The peers present at the machine's current tick (simulation state).

    Each present peer is kept with the seq of the join event that brought it, so that a
    leave for an earlier incarnation is recognised as stale.
    """

    __slots__ = ("_joins",)

    def __init__(self) -> None:
        self._joins: dict[int, int] = {}

    @property
    def peers(self) -> tuple[int, ...]:
        """The present peers' ids, ascending."""
        return tuple(sorted(self._joins))

    def __contains__(self, peer: object) -> bool:
        return peer in self._joins

    def __len__(self) -> int:
        return len(self._joins)

    def join_seq(self, peer: int) -> int | None:
        """The seq of the join event that brought ``peer`` (None: it is not present)."""
        return self._joins.get(peer)

    def apply(self, event: Event) -> tuple[Change, int] | None:
        """Apply one presence event; what changed (and for whom), if anything.

        Anything that is not a well-formed join or leave changes nothing (the wire drops
        such events already; this keeps the rule total and identical on every peer).
        """
        joins = self._joins
        if event.name == JOIN_EVENT:
            if event.payload is not None or event.source in joins:
                return None
            if len(joins) >= MAX_PRESENT_PEERS:
                return None
            joins[event.source] = event.seq
            return Change.JOIN, event.source
        if event.name == LEAVE_EVENT:
            target = _leave_target(event.payload)
            if target is None or joins.get(target[0]) != target[1]:
                return None
            del joins[target[0]]
            return Change.LEAVE, target[0]
        return None

    def entries(self) -> list[list[int]]:
        """``[peer, join_seq]`` pairs, ascending by peer (what a snapshot holds)."""
        return [[peer, self._joins[peer]] for peer in sorted(self._joins)]

    def restore(self, entries: Iterable[Iterable[int]]) -> None:
        """Replace the present peers with ``entries`` (from :meth:`entries`)."""
        self._joins = {peer: seq for peer, seq in entries}

    def clear(self) -> None:
        """Nobody is present (START)."""
        self._joins = {}


def _leave_target(payload: Any) -> tuple[int, int] | None:
    """``(peer, join_seq)`` of a well-formed leave payload, else None."""
    if not isinstance(payload, list) or len(payload) != 2:
        return None
    peer, seq = payload
    if type(peer) is not int or type(seq) is not int:
        return None
    if not (0 <= peer <= MAX_SOURCE_ID and 1 <= seq <= _MAX_SEQ):
        return None
    return peer, seq


def check_system_event(name: str, payload: Any) -> None:
    """Validate a reserved-name event that came from the network.

    Raises:
        RemoteError: ``"malformed"``: an unknown reserved name or a malformed payload.
    """
    if name == JOIN_EVENT and payload is None:
        return
    if name == LEAVE_EVENT and _leave_target(payload) is not None:
        return
    raise RemoteError("malformed", f"system event {name[:40]!r}")


def pack_snapshot(presence: Presence, app_blob: bytes) -> bytes:
    """A snapshot: the present peers beside the app's saved state."""
    packed: bytes = msgpack.packb([presence.entries(), app_blob], use_bin_type=True)
    return packed


def unpack_snapshot(blob: bytes) -> tuple[list[list[int]], bytes]:
    """The presence entries and the app's blob of a snapshot (maybe from the network).

    Raises:
        RemoteError: ``"malformed"``: not a snapshot :func:`pack_snapshot` makes.
    """
    try:
        outer = msgpack.unpackb(blob, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several types for bad bytes
        raise RemoteError("malformed", f"snapshot: {type(exc).__name__}") from None
    if not (isinstance(outer, list) and len(outer) == 2 and isinstance(outer[1], bytes)):
        raise RemoteError("malformed", "snapshot is not [presence, state]")
    entries = outer[0]
    if not isinstance(entries, list) or len(entries) > MAX_PRESENT_PEERS:
        raise RemoteError("malformed", "snapshot presence")
    previous = -1
    for entry in entries:
        target = _leave_target(entry)
        if target is None or target[0] <= previous:
            raise RemoteError("malformed", "snapshot presence entry")
        previous = target[0]
    return entries, outer[1]


class Announcer:
    """When this session announces its own arrival and departure, and a neighbour's.

    The session asks it after running its ticks (its simulation side: the presence it
    reads is the machine's) and emits what it says, stamped like any local event.

    Args:
        me: This session's peer id.
        silence_s: A neighbour whose link is down and whose last event arrived longer ago
            than this is announced gone (the link timeout).
        enabled: Whether this session announces anything (it applies presence events
            either way).
    """

    __slots__ = (
        "_heard",
        "_join_seq",
        "_join_tick",
        "_left",
        "_noticed",
        "enabled",
        "me",
        "silence_s",
    )

    def __init__(self, me: int, *, silence_s: float, enabled: bool = True) -> None:
        self.me = me
        self.silence_s = silence_s
        self.enabled = enabled
        self._join_tick: int | None = None
        """Tick of the last own join emitted (None: never)."""
        self._join_seq: int | None = None
        """Seq of the last own join emitted."""
        self._left = False
        self._heard: dict[int, float] = {}
        """Source -> when its newest event arrived."""
        self._noticed: dict[int, int] = {}
        """Peer -> the join seq this session last announced gone."""

    def heard(self, source: int, now: float) -> None:
        """A new event of ``source`` arrived (network side)."""
        self._heard[source] = now

    def announces_first_join(self) -> bool:
        """Whether this session will announce itself for the first time (so input held
        while it joins goes after its join)."""
        return self.enabled and not self._left and self._join_tick is None

    def join_due(self, *, tick: int, presence: Presence) -> bool:
        """Whether to announce this peer now (the session is in step: not joining): START
        has run, it is absent, and no own join is still on its way to being simulated."""
        if not self.enabled or self._left or tick < 1 or self.me in presence:
            return False
        return self._join_tick is None or self._join_tick < tick

    def joined(self, event: Event) -> None:
        """The own join was emitted (``event``, stamped)."""
        self._join_tick = event.tick
        self._join_seq = event.seq

    def gone(self, *, presence: Presence, down: Iterable[int], now: float) -> list[tuple[int, int]]:
        """The neighbours to announce gone now, as ``(peer, join_seq)``.

        Args:
            presence: The machine's presence.
            down: Peer ids of neighbours whose link is down (silent for the link timeout).
            now: The driver's time.
        """
        if not self.enabled or self._left:
            return []
        found: list[tuple[int, int]] = []
        for peer in down:
            seq = presence.join_seq(peer)
            if seq is None or peer == self.me or self._noticed.get(peer) == seq:
                continue
            if now - self._heard.get(peer, -math.inf) <= self.silence_s:
                continue  # its events still arrive (through others): it is alive
            self._noticed[peer] = seq
            found.append((peer, seq))
        return found

    def farewell(self) -> int | None:
        """The seq of the own join to announce gone when stopping cleanly (None: this
        session never announced itself, or already said farewell).

        Afterwards this session announces nothing.
        """
        seq = None if self._left or not self.enabled else self._join_seq
        self._left = True
        return seq
