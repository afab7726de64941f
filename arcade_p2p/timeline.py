"""The timeline: every event this peer knows, in application order.

How this works: events are indexed two ways. ``_by_tick`` maps a tick to the sorted list
of that tick's events, which is what the time machine reads while simulating. ``_by_source``
maps a source to ``{seq: event}``, which gives duplicate suppression, per-source
high-water marks (the highest ``seq`` below which nothing is missing) and the list of gaps
that anti-entropy asks neighbours for. :meth:`Timeline.insert` reports whether an event was
new, so callers learn the earliest tick their simulation has to revisit.

:meth:`Timeline.events_digest` digests the events *before* a tick, independently of the
order they arrived in: each event hashes to a 64-bit number and the digest is the sum
(mod 2**64) over the events. The timeline keeps the total and one sum per tick, so the
digest before a recent tick costs one subtraction per later tick that holds events.

History can be *forgotten* to keep memory bounded (:meth:`Timeline.forget_before`): the
events of each source up to a per-source ``floor`` seq, all stamped before a
:attr:`Timeline.floor_tick`, are dropped from both indexes but stay *known*: a copy that
arrives again is a duplicate, the marks and :func:`len` still count them, and the digests
still include them. A peer forgets what a snapshot of its own covers. An unknown event
stamped before the floor tick can no longer be applied by anyone who forgot that far back:
it is refused as :attr:`InsertOutcome.TOO_OLD`.
A joiner cannot get what its snapshot's sender forgot from anyone: it adopts the sender's
floors (:meth:`Timeline.adopt`) and fetches the rest of the history as usual.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum

import msgpack

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event

__all__ = [
    "NOTHING_FORGOTTEN",
    "Forgotten",
    "InsertOutcome",
    "SourceLog",
    "Timeline",
    "event_number",
]


class InsertOutcome(Enum):
    """What :meth:`Timeline.insert` did with an event."""

    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    """Same ``(source, seq)`` as a known event but different content: dropped."""
    TOO_OLD = "too_old"
    """An unknown event stamped before :attr:`Timeline.floor_tick`: history forgotten."""


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What a timeline forgot (see :meth:`Timeline.forget_before`).

    Attributes:
        tick: Its floor tick: events stamped before it may be forgotten (0: none are).
        floors: ``source -> seq``: every seq up to it is forgotten (sources with none
            forgotten are left out).
        digest: :meth:`Timeline.events_digest` of ``tick``: the forgotten events' digest.
    """

    tick: int
    floors: Mapping[int, int]
    digest: bytes


NOTHING_FORGOTTEN = Forgotten(0, {}, bytes(8))
"""A timeline that holds its whole history."""


@dataclass(slots=True)
class SourceLog:
    """The events of one source.

    Attributes:
        events: ``seq -> event``.
        contiguous: Highest ``seq`` such that every seq in ``1..contiguous`` is present.
        highest: Highest ``seq`` present.
        above: The seqs present above ``contiguous``, sorted (usually few: the events that
            arrived ahead of a gap), so that gaps and ranges are found without scanning
            the whole log or walking a huge seq range one number at a time.
        floor: Every seq in ``1..floor`` is known but no longer held (forgotten history):
            ``floor <= contiguous``, and :attr:`events` holds only seqs above it.
    """

    events: dict[int, Event] = field(default_factory=dict)
    contiguous: int = 0
    highest: int = 0
    above: list[int] = field(default_factory=list)
    floor: int = 0

    def add(self, event: Event) -> None:
        """Store a new event and move the marks."""
        self.events[event.seq] = event
        self.highest = max(self.highest, event.seq)
        if event.seq != self.contiguous + 1:
            bisect.insort(self.above, event.seq)
            return
        self.contiguous += 1
        self._join_above()

    def _join_above(self) -> None:
        """Move ``contiguous`` over the seqs held just above it."""
        above = self.above
        joined = 0
        while joined < len(above) and above[joined] == self.contiguous + 1:
            self.contiguous += 1
            joined += 1
        del above[:joined]

    def discard(self, seq: int) -> None:
        """Drop held seq ``seq`` (above the floor) as if it had never arrived: the marks
        move back, so it is missing again."""
        del self.events[seq]
        if seq <= self.contiguous:
            self.contiguous = seq - 1
            self.above = sorted(held for held in self.events if held > seq)
        else:
            self.above.remove(seq)
        if seq == self.highest:
            self.highest = max(self.floor, max(self.events, default=0))

    def raise_floor(self, floor: int) -> list[Event]:
        """Forget seqs ``1..floor`` (known from now on, held no more); return the events
        this drops from :attr:`events`."""
        if floor <= self.floor:
            return []
        dropped = [
            self.events.pop(seq) for seq in range(self.floor + 1, floor + 1) if seq in self.events
        ]
        self.floor = floor
        self.highest = max(self.highest, floor)
        if floor > self.contiguous:
            self.contiguous = floor
            cut = bisect.bisect_right(self.above, floor)
            del self.above[:cut]
            self._join_above()
        return dropped

    def gaps(self, upto: int, max_ranges: int | None = None) -> list[tuple[int, int]]:
        """Inclusive seq ranges missing in ``contiguous+1 .. upto``, lowest first.

        Args:
            upto: The highest seq of interest.
            max_ranges: Return at most this many (the lowest) ranges.
        """
        ranges: list[tuple[int, int]] = []
        expected = self.contiguous + 1
        for seq in self.above:
            if seq > upto:
                break
            if len(ranges) == max_ranges:
                return ranges
            if seq > expected:
                ranges.append((expected, seq - 1))
            expected = seq + 1
        if expected <= upto and len(ranges) != max_ranges:
            ranges.append((expected, upto))
        return ranges

    def events_in(self, first: int, last: int, limit: int) -> list[Event]:
        """Up to ``limit`` present events with ``first <= seq <= last``, by seq.

        The work is proportional to what is returned (plus a binary search), however wide
        the range: this is what answers a WANT. Forgotten seqs (at or below
        :attr:`floor`) are not returned.
        """
        first = max(first, self.floor + 1)
        found = [
            self.events[seq]
            for seq in range(first, min(last, self.contiguous, first + limit - 1) + 1)
        ]
        if len(found) < limit and last > self.contiguous:
            start = bisect.bisect_left(self.above, max(first, self.contiguous + 1))
            for seq in self.above[start : start + limit - len(found)]:
                if seq > last:
                    break
                found.append(self.events[seq])
        return found


class Timeline:
    """All known events, deduplicated and ordered by ``(tick, source, seq)``."""

    def __init__(self) -> None:
        self._by_tick: dict[int, list[Event]] = {}
        self._by_source: dict[int, SourceLog] = {}
        self._count = 0
        self._last_tick = -1
        self._digest: bytes | None = None
        self._ticks: list[int] = []
        """The ticks that hold events, ascending."""
        self._tick_sums: dict[int, int] = {}
        self._total_sum = 0
        self._floor_tick = 0

    @property
    def floor_tick(self) -> int:
        """Events stamped before this tick may have been forgotten (0: the whole history
        is held). Unknown events stamped before it are refused."""
        return self._floor_tick

    @property
    def held(self) -> int:
        """How many events are held in memory (known ones minus the forgotten)."""
        return sum(len(log.events) for log in self._by_source.values())

    def __len__(self) -> int:
        return self._count

    @property
    def last_tick(self) -> int:
        """Highest tick of any known event, or -1 when the timeline is empty."""
        return self._last_tick

    def insert(self, event: Event) -> InsertOutcome:
        """Add an event unless it is already known.

        Args:
            event: The event to add.

        Returns:
            :attr:`InsertOutcome.NEW` if it was added; otherwise why it was not.
        """
        log = self._by_source.get(event.source)
        if log is None:
            log = self._by_source[event.source] = SourceLog()
        known = log.events.get(event.seq)
        if known is not None:
            return InsertOutcome.DUPLICATE if known == event else InsertOutcome.CONFLICT
        if event.seq <= log.floor:
            return InsertOutcome.DUPLICATE  # forgotten: its content can no longer be compared
        if event.tick < self._floor_tick:
            return InsertOutcome.TOO_OLD
        log.add(event)
        bucket = self._by_tick.get(event.tick)
        if bucket is None:
            self._by_tick[event.tick] = [event]
            bisect.insort(self._ticks, event.tick)
        else:
            bisect.insort(bucket, event, key=_order_key)
        number = event_number(event)
        self._tick_sums[event.tick] = (self._tick_sums.get(event.tick, 0) + number) & _MASK_64
        self._total_sum = (self._total_sum + number) & _MASK_64
        self._count += 1
        self._last_tick = max(self._last_tick, event.tick)
        self._digest = None
        return InsertOutcome.NEW

    def at(self, tick: int) -> list[Event]:
        """The events of ``tick`` in application order (do not mutate the list)."""
        return self._by_tick.get(tick, _EMPTY)

    def get(self, source: int, seq: int) -> Event | None:
        """The event ``(source, seq)`` if held (None also when it was forgotten)."""
        log = self._by_source.get(source)
        return None if log is None else log.events.get(seq)

    def knows(self, source: int, seq: int) -> bool:
        """Whether the event ``(source, seq)`` is held or was forgotten."""
        log = self._by_source.get(source)
        return log is not None and (seq <= log.floor or seq in log.events)

    def forgettable_before(self, tick: int) -> int:
        """The latest tick ``<= tick`` before which every event could be forgotten: no
        source may have a gap below it (a missing event could be stamped before it).

        Ticks are monotonic in seq per source, so a gap's missing events are stamped no
        earlier than the last event held below the gap.
        """
        limit = tick
        for log in self._by_source.values():
            if log.above:
                below_gap = log.events.get(log.contiguous)
                limit = min(limit, self._floor_tick if below_gap is None else below_gap.tick)
        return max(limit, self._floor_tick)

    def forget_before(self, tick: int) -> int:
        """Forget every held event stamped before ``tick`` (see the module header).

        Call it only with a tick from :meth:`forgettable_before`, once the state at the
        start of ``tick`` is kept elsewhere (a snapshot). Returns how many events went.
        """
        floors: dict[int, int] = {}
        for source, log in self._by_source.items():
            seq = log.floor
            while seq < log.contiguous and log.events[seq + 1].tick < tick:
                seq += 1
            floors[source] = seq
        return self._raise_floors(floors, tick)

    def forgotten(self) -> Forgotten:
        """What this timeline forgot, for a joiner to adopt (see :meth:`adopt`)."""
        if not self._floor_tick:
            return NOTHING_FORGOTTEN
        floors = {source: log.floor for source, log in self._by_source.items() if log.floor}
        return Forgotten(self._floor_tick, floors, self.events_digest(self._floor_tick))

    def adopt(self, forgotten: Forgotten) -> int:
        """Forget what another peer forgot: a joiner that starts from its snapshot can get
        those events from nobody, and knows they are in the snapshot's state.

        Held events stamped before ``forgotten.tick`` that it does not cover are dropped
        (nobody who forgot that far back can apply them); the digests go on from the
        other peer's.

        Returns:
            How many held events were dropped that way.
        """
        if forgotten.tick <= self._floor_tick:
            return 0
        for source in forgotten.floors:
            if source not in self._by_source:
                self._by_source[source] = SourceLog()
        self._raise_floors(dict(forgotten.floors), forgotten.tick)
        too_old = [e for e in self.all_events() if e.tick < forgotten.tick]
        for event in too_old:
            self._remove(event)
        later = sum(self._tick_sums.values())
        self._total_sum = (int.from_bytes(forgotten.digest, "little") + later) & _MASK_64
        self._digest = None
        return len(too_old)

    def _raise_floors(self, floors: dict[int, int], tick: int) -> int:
        """Raise each source's floor, drop what goes below it, and set the floor tick."""
        dropped = 0
        for source, floor in floors.items():
            log = self._by_source[source]
            before = log.floor
            gone = log.raise_floor(floor)
            self._count += max(0, floor - before) - len(gone)
            for event in gone:
                self._unindex(event)
            dropped += len(gone)
        self._floor_tick = max(self._floor_tick, tick)
        cut = bisect.bisect_left(self._ticks, self._floor_tick)
        for old in self._ticks[:cut]:  # no event can be inserted there any more
            del self._tick_sums[old]
        del self._ticks[:cut]
        self._digest = None
        return dropped

    def _remove(self, event: Event) -> None:
        """Drop a held event as if it had never arrived."""
        self._by_source[event.source].discard(event.seq)
        self._count -= 1
        number = event_number(event)
        self._total_sum = (self._total_sum - number) & _MASK_64
        if event.tick in self._tick_sums:
            self._tick_sums[event.tick] = (self._tick_sums[event.tick] - number) & _MASK_64
        self._unindex(event)

    def _unindex(self, event: Event) -> None:
        """Take ``event`` out of the per-tick index."""
        bucket = self._by_tick[event.tick]
        bucket.remove(event)
        if not bucket:
            del self._by_tick[event.tick]

    def marks(self) -> dict[int, int]:
        """Per-source high-water marks: ``source -> highest seq present``."""
        return {source: log.highest for source, log in self._by_source.items() if log.highest}

    def floors(self) -> dict[int, int]:
        """Per-source floors: ``source -> seq`` up to which events are forgotten."""
        return {source: log.floor for source, log in self._by_source.items()}

    def source_log(self, source: int) -> SourceLog | None:
        """The log of one source, if any of its events is known."""
        return self._by_source.get(source)

    def missing(
        self, advertised: dict[int, int], *, max_ranges: int | None = None
    ) -> dict[int, list[tuple[int, int]]]:
        """What a neighbour advertising ``advertised`` marks has that this timeline lacks.

        Args:
            advertised: ``source -> highest seq`` the neighbour holds.
            max_ranges: At most this many (the lowest) ranges per source.

        Returns:
            ``source -> inclusive seq ranges`` to ask for (empty when nothing is missing).
        """
        wanted: dict[int, list[tuple[int, int]]] = {}
        for source, highest in advertised.items():
            log = self._by_source.get(source)
            if log is None:
                wanted[source] = [(1, highest)]
            elif highest > log.contiguous:
                gaps = log.gaps(highest, max_ranges)
                if gaps:
                    wanted[source] = gaps
        return wanted

    def all_events(self) -> Iterator[Event]:
        """Every event in application order."""
        for tick in sorted(self._by_tick):
            yield from self._by_tick[tick]

    def digest(self) -> bytes:
        """A short hash of the high-water marks (equal digests: nothing to exchange)."""
        if self._digest is not None:
            return self._digest
        h = hashlib.blake2b(digest_size=8)
        for source in sorted(self._by_source):
            log = self._by_source[source]
            h.update(source.to_bytes(8, "little"))
            h.update(log.highest.to_bytes(8, "little"))
            h.update(log.contiguous.to_bytes(8, "little"))
        self._digest = h.digest()
        return self._digest

    def events_digest(self, before_tick: int, *, base: tuple[int, bytes] | None = None) -> bytes:
        """An 8-byte digest of the set of events with ``tick < before_tick``.

        Two timelines give the same digest exactly when they hold the same events before
        that tick (barring a 64-bit collision), whatever order the events came in. The
        state at the start of ``before_tick`` depends on those events only. Forgotten
        events count; ``before_tick`` must not be below :attr:`floor_tick`.

        Args:
            before_tick: Digest the events stamped before this tick.
            base: ``(tick, digest)``, with ``tick <= before_tick``: the events before
                ``tick`` are the set ``digest`` stands for (a state started from a
                snapshot contains those), not the ones this timeline holds.
        """
        if before_tick < self._floor_tick:
            raise UsageError(
                f"the events before tick {self._floor_tick} were forgotten; "
                f"no digest before tick {before_tick}"
            )
        later = self._sum_from(before_tick)
        if base is None:
            return ((self._total_sum - later) & _MASK_64).to_bytes(8, "little")
        base_tick, base_digest = base
        between = self._sum_from(base_tick) - later
        return ((int.from_bytes(base_digest, "little") + between) & _MASK_64).to_bytes(8, "little")

    def _sum_from(self, first_tick: int) -> int:
        """The sum of the event numbers of the held events with ``tick >= first_tick``."""
        ticks = self._ticks
        later = 0
        for tick in ticks[bisect.bisect_left(ticks, first_tick) :]:
            later += self._tick_sums[tick]
        return later


_EMPTY: list[Event] = []
_MASK_64 = (1 << 64) - 1


def event_number(event: Event) -> int:
    """A 64-bit hash of one event's whole content (summed into :meth:`Timeline.events_digest`)."""
    packed = msgpack.packb(
        (event.tick, event.source, event.seq, event.name, event.payload), use_bin_type=True
    )
    return int.from_bytes(hashlib.blake2b(packed, digest_size=8).digest(), "little")


def _order_key(event: Event) -> tuple[int, int, int]:
    return event.order_key
