"""State-hash reports: what this peer and its neighbours say the state was at settled ticks.

How this works: at every snapshot tick ``T`` (``T % K == 0``) the time machine holds the
state at the start of ``T``, which depends only on the events stamped before ``T``. A
*report* for ``T`` is the pair ``(state hash, events digest)``: the hash of that snapshot
(:func:`arcade_p2p.app.state_hash` of the same state) and the digest of the events that
state contains (:meth:`TimeMachine.events_digest(T)
<arcade_p2p.machine.TimeMachine.events_digest>`: the timeline's events before ``T``, except
that a peer started from another's snapshot counts the events that snapshot contains,
which its timeline may not hold yet). Both are taken together, right after the machine
has repaired every late event, so a report is always a consistent pair, even if a late
event later changes the state at ``T`` (the next report for ``T`` then carries both the
new hash and the new digest).

:meth:`HashReports.refresh` recomputes the reports of the newest
:data:`REPORTS_PER_MESSAGE` snapshot ticks that are at least ``settle_ticks`` old (only
when the machine has moved on or rolled back; a snapshot is hashed once, cached by
identity). The gossip node puts those of :meth:`HashReports.latest` that a neighbour has
not been sent yet on each SYNC to it, and hands what neighbours send to
:meth:`HashReports.receive`. Whenever a peer's
report and this peer's own report for one tick carry the same events digest but
different state hashes, the two peers simulated the same events into different states: a
real desync, queued as a :class:`Mismatch` for :meth:`HashReports.take_mismatches`. A
different events digest proves nothing (one of them lacks an event) and is never
compared. Memory is bounded: :data:`KEPT_TICKS` ticks per peer, :data:`KEPT_PEERS` peers.

Other parts read the reports too: :meth:`HashReports.reported_hashes` gives every
neighbour's report for one tick (for example to verify a snapshot before loading it).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from arcade_p2p.machine import TimeMachine

__all__ = [
    "KEPT_PEERS",
    "KEPT_TICKS",
    "REPORTS_PER_MESSAGE",
    "STATE_HASH_BYTES",
    "HashReport",
    "HashReports",
    "Mismatch",
    "snapshot_hash",
]

REPORTS_PER_MESSAGE = 4
"""How many of its newest settled ticks a peer keeps reports ready for (at most this many
go on one SYNC; usually one is new)."""
KEPT_TICKS = 32
"""How many ticks of reports are kept per peer (own and each neighbour's)."""
KEPT_PEERS = 256
"""How many neighbours' reports are kept (the least recently heard are forgotten)."""
STATE_HASH_BYTES = 16
"""Size of a state hash (blake2b), as :func:`arcade_p2p.app.state_hash` computes it."""
EVENTS_DIGEST_BYTES = 8
"""Size of an events digest."""


@dataclass(frozen=True, slots=True)
class HashReport:
    """One peer's account of the state at the start of a snapshot tick.

    Attributes:
        tick: The snapshot tick.
        state_hash: Hash of the state at the start of ``tick`` (:data:`STATE_HASH_BYTES`).
        events_digest: Digest of the events stamped before ``tick`` (8 bytes).
    """

    tick: int
    state_hash: bytes
    events_digest: bytes


@dataclass(frozen=True, slots=True)
class Mismatch:
    """Two peers hold the same events before ``tick`` but different states at it.

    Attributes:
        tick: The snapshot tick.
        peer: The other peer's id.
        mine: This peer's report.
        theirs: The other peer's report (same events digest, other state hash).
    """

    tick: int
    peer: int
    mine: HashReport
    theirs: HashReport


class HashReports:
    """This peer's reports for settled snapshot ticks and those its neighbours sent.

    Args:
        machine: The time machine whose snapshots are reported.
        settle_ticks: Report a snapshot tick only once the machine is this many ticks
            past it (fewer comparisons that prove nothing because an event is in flight).
    """

    def __init__(self, machine: TimeMachine, *, settle_ticks: int) -> None:
        self.machine = machine
        self.settle_ticks = settle_ticks
        self._own: dict[int, HashReport] = {}
        self._latest: tuple[HashReport, ...] = ()
        self._peers: OrderedDict[int, dict[int, HashReport]] = OrderedDict()
        self._made: dict[int, tuple[bytes, HashReport]] = {}
        """tick -> (snapshot blob, the report made from it): a blob is reported once."""
        self._refreshed_at: tuple[int, int] = (-1, -1)
        self._mismatches: list[Mismatch] = []

    # ------------------------------------------------------------------ own reports
    def refresh(self) -> None:
        """Recompute the newest own reports if the machine moved on or rolled back.

        Call it only when the machine has no pending repair (right after it advanced).
        """
        machine = self.machine
        every = machine.snapshots.every_ticks
        newest = (machine.tick - self.settle_ticks) // every * every
        key = (newest, machine.stats.rollbacks)
        if key == self._refreshed_at or newest <= 0:
            return
        self._refreshed_at = key
        fresh: list[HashReport] = []
        made: dict[int, tuple[bytes, HashReport]] = {}
        for tick in range(newest, max(0, newest - REPORTS_PER_MESSAGE * every), -every):
            blob = self.snapshot(tick)
            if blob is None:
                continue
            cached = self._made.get(tick)
            if cached is not None and cached[0] is blob:
                # The same snapshot object: no rollback rewrote it, so no event before
                # ``tick`` arrived since (one would have): the report stands, compared.
                report = cached[1]
            else:
                report = HashReport(tick, snapshot_hash(blob), machine.events_digest(tick))
                self._own[tick] = report
                self._compare_all(report)
            made[tick] = (blob, report)
            fresh.append(report)
        self._made = made
        self._latest = tuple(fresh)
        _trim(self._own)

    def latest(self) -> tuple[HashReport, ...]:
        """The newest own reports, newest first (what goes to neighbours)."""
        return self._latest

    def snapshot(self, tick: int) -> bytes | None:
        """This peer's snapshot blob at exactly ``tick`` (what its report for ``tick`` hashes,
        if the state at that tick has not changed since), or None if it is not kept."""
        found = self.machine.snapshots.at_or_before(tick)
        return found[1] if found is not None and found[0] == tick else None

    def own(self, tick: int) -> HashReport | None:
        """This peer's report for ``tick``, if it made one."""
        return self._own.get(tick)

    # ------------------------------------------------------------------ neighbours
    def receive(self, peer: int, reports: tuple[HashReport, ...]) -> None:
        """Store reports a neighbour sent and compare them with this peer's own."""
        stored = self._peers.get(peer)
        if stored is None:
            stored = self._peers[peer] = {}
            if len(self._peers) > KEPT_PEERS:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
        for report in reports:
            stored[report.tick] = report
            mine = self._own.get(report.tick)
            if mine is not None:
                self._compare(mine, peer, report)
        _trim(stored)

    def reported_hashes(self, tick: int) -> dict[int, tuple[bytes, bytes]]:
        """What each neighbour reported for ``tick``: ``peer -> (state hash, events digest)``."""
        return {
            peer: (report.state_hash, report.events_digest)
            for peer, stored in self._peers.items()
            if (report := stored.get(tick)) is not None
        }

    def history(self, peer: int | None = None) -> dict[int, HashReport]:
        """The kept reports of neighbour ``peer`` (None: this peer's own), by tick."""
        stored = self._own if peer is None else self._peers.get(peer, {})
        return dict(stored)

    def newest_corroborated(self, peer: int, witnesses: Iterable[int]) -> int | None:
        """The newest tick where ``peer``'s report equals a report of one of ``witnesses``
        (state hash and events digest both: that tick's state can be verified)."""
        others = [self._peers[witness] for witness in witnesses if witness in self._peers]
        return _newest_alike(self._peers.get(peer, {}), others)

    def last_agreed(self, peer: int, before_tick: int) -> int | None:
        """The newest tick before ``before_tick`` where ``peer``'s report equals the own one."""
        return _newest_alike(self._peers.get(peer, {}), [self._own], before_tick)

    def take_mismatches(self) -> list[Mismatch]:
        """The desyncs found since the last call (each comparison that failed, once)."""
        if not self._mismatches:
            return _NONE
        found, self._mismatches = self._mismatches, []
        return found

    # ------------------------------------------------------------------ internals
    def _compare_all(self, mine: HashReport) -> None:
        for peer, stored in self._peers.items():
            theirs = stored.get(mine.tick)
            if theirs is not None:
                self._compare(mine, peer, theirs)

    def _compare(self, mine: HashReport, peer: int, theirs: HashReport) -> None:
        if mine.events_digest == theirs.events_digest and mine.state_hash != theirs.state_hash:
            self._mismatches.append(Mismatch(mine.tick, peer, mine, theirs))


_NONE: list[Mismatch] = []


def snapshot_hash(blob: bytes) -> bytes:
    """The state hash of a saved state, as reported (:func:`arcade_p2p.app.state_hash` in hex)."""
    return hashlib.blake2b(blob, digest_size=STATE_HASH_BYTES).digest()


def _newest_alike(
    reports: dict[int, HashReport],
    others: list[dict[int, HashReport]],
    before_tick: float = float("inf"),
) -> int | None:
    """The newest tick before ``before_tick`` where ``reports`` has the same report as one
    of ``others`` (None: no such tick)."""
    alike = [
        tick
        for tick, report in reports.items()
        if tick < before_tick and any(other.get(tick) == report for other in others)
    ]
    return max(alike, default=None)


def _trim(reports: dict[int, HashReport]) -> None:
    while len(reports) > KEPT_TICKS:
        del reports[min(reports)]
