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

Old history can be *archived* to keep memory bounded (:meth:`Timeline.archive_before`):
the events of each source up to a per-source ``floor`` seq, all stamped before a tick,
leave both in-memory indexes for the timeline's
:class:`~arcade_p2p.history_archive.HistoryArchive` (an anonymous temporary file). They
stay part of the timeline in every respect: a copy that arrives again is a duplicate,
:meth:`Timeline.get`, :meth:`Timeline.events_in` and :meth:`Timeline.at` read them back,
the marks and :func:`len` count them and the digests include them. Archiving never passes
a gap in any source (:meth:`Timeline.archivable_before`), so what is still missing is
always above the floors, and an unknown event, however old its tick, is held in memory
like any other new one (archived with the next batch that passes its tick).
:meth:`Timeline.close` deletes the file.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import msgpack

from arcade_p2p.events import Event
from arcade_p2p.history_archive import HistoryArchive

__all__ = [
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


@dataclass(slots=True)
class SourceLog:
    """The events of one source held in memory.

    Attributes:
        events: ``seq -> event`` (seqs above :attr:`floor`).
        contiguous: Highest ``seq`` such that every seq in ``1..contiguous`` is present.
        highest: Highest ``seq`` present.
        above: The seqs present above ``contiguous``, sorted (usually few: the events that
            arrived ahead of a gap), so that gaps and ranges are found without scanning
            the whole log or walking a huge seq range one number at a time.
        floor: Every seq in ``1..floor`` is archived (known, but not held in memory):
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

    def raise_floor(self, floor: int) -> list[Event]:
        """Take seqs up to ``floor`` (at most :attr:`contiguous`) out of :attr:`events`
        for the archive; return them by seq."""
        taken = [self.events.pop(seq) for seq in range(self.floor + 1, floor + 1)]
        self.floor = max(self.floor, floor)
        return taken

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
        """Up to ``limit`` held events with ``first <= seq <= last``, by seq.

        The work is proportional to what is returned (plus a binary search), however wide
        the range. Archived seqs (at or below :attr:`floor`) are not returned here
        (:meth:`Timeline.events_in` adds them).
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
        self._archive = HistoryArchive(event_number)
        self._by_tick: dict[int, list[Event]] = {}
        self._by_source: dict[int, SourceLog] = {}
        self._count = 0
        self._last_tick = -1
        self._digest: bytes | None = None
        self._ticks: list[int] = []
        """The ticks that hold events, ascending."""
        self._tick_sums: dict[int, int] = {}
        self._total_sum = 0
        self._archive_tick = 0

    @property
    def archive_tick(self) -> int:
        """The tick of the latest archive step: events stamped before it may be archived
        (0: the whole history is held in memory)."""
        return self._archive_tick

    @property
    def held(self) -> int:
        """How many events are held in memory (the known ones minus the archived)."""
        return self._count - len(self._archive)

    @property
    def archive(self) -> HistoryArchive:
        """Where the archived events are (read-only use: its size, its batches)."""
        return self._archive

    def close(self) -> None:
        """Delete the archive's file (call it when the session ends; the timeline cannot
        read archived events afterwards)."""
        self._archive.close()

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
        if known is None and event.seq <= log.floor:
            known = self._archive.get(event.source, event.seq)
        if known is not None:
            return InsertOutcome.DUPLICATE if known == event else InsertOutcome.CONFLICT
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
        held = self._by_tick.get(tick, _EMPTY)
        if tick > self._archive.last_tick:
            return held
        archived = self._archive.at(tick)
        if not archived:
            return held
        if held:
            archived.extend(held)
            archived.sort(key=_order_key)
        return archived

    def get(self, source: int, seq: int) -> Event | None:
        """The event ``(source, seq)`` if known (read back from the archive if need be)."""
        log = self._by_source.get(source)
        if log is None:
            return None
        if seq <= log.floor:
            return self._archive.get(source, seq)
        return log.events.get(seq)

    def knows(self, source: int, seq: int) -> bool:
        """Whether the event ``(source, seq)`` is known (held or archived)."""
        log = self._by_source.get(source)
        return log is not None and (seq <= log.floor or seq in log.events)

    def events_in(self, source: int, first: int, last: int, limit: int) -> list[Event]:
        """Up to ``limit`` known events of ``source`` with ``first <= seq <= last``, by
        seq (archived ones read back): what answers a WANT.

        The work is proportional to what is returned, however wide the range.
        """
        log = self._by_source.get(source)
        if log is None or limit <= 0:
            return []
        found: list[Event] = []
        get = self._archive.get
        for seq in range(max(first, 1), min(last, log.floor, max(first, 1) + limit - 1) + 1):
            event = get(source, seq)
            assert event is not None  # every seq up to the floor is archived
            found.append(event)
        if len(found) < limit and last > log.floor:
            found.extend(log.events_in(first, last, limit - len(found)))
        return found

    def archivable_before(self, tick: int) -> int:
        """The latest tick ``<= tick`` before which every event could be archived: no
        source may have a gap below it (a missing event could be stamped before it).

        Ticks are monotonic in seq per source, so a gap's missing events are stamped no
        earlier than the last event held below the gap.
        """
        limit = tick
        for log in self._by_source.values():
            if log.above:
                below_gap = log.events.get(log.contiguous)
                limit = min(limit, self._archive_tick if below_gap is None else below_gap.tick)
        return max(limit, self._archive_tick)

    def archive_before(self, tick: int) -> int:
        """Archive every held event stamped before ``tick`` that no gap precedes (see
        the module header): one batch of the archive.

        Call it only with a tick from :meth:`archivable_before`. Returns how many events
        went to the archive.
        """
        batch: list[Event] = []
        for log in self._by_source.values():
            seq = log.floor
            while seq < log.contiguous and log.events[seq + 1].tick < tick:
                seq += 1
            batch.extend(log.raise_floor(seq))
        self._archive_tick = max(self._archive_tick, tick)
        if not batch:
            return 0
        number_sum = 0
        by_tick = self._by_tick
        tick_sums = self._tick_sums
        for event in batch:
            number = event_number(event)
            number_sum += number
            bucket = by_tick[event.tick]
            bucket.remove(event)
            if bucket:
                tick_sums[event.tick] = (tick_sums[event.tick] - number) & _MASK_64
            else:
                del by_tick[event.tick], tick_sums[event.tick]
        self._ticks = [held for held in self._ticks if held in by_tick]
        batch.sort(key=_order_key)
        self._archive.append(batch, number_sum & _MASK_64)
        return len(batch)

    def marks(self) -> dict[int, int]:
        """Per-source high-water marks: ``source -> highest seq present``."""
        return {source: log.highest for source, log in self._by_source.items() if log.highest}

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
        """Every known event in application order (archived ones read back)."""
        held = (event for tick in sorted(self._by_tick) for event in self._by_tick[tick])
        if not len(self._archive):
            yield from held
            return
        yield from heapq.merge(self._archive.events(), held, key=_order_key)

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
        state at the start of ``before_tick`` depends on those events only. Archived
        events count (a tick they reach reads the batches that straddle it).

        Args:
            before_tick: Digest the events stamped before this tick.
            base: ``(tick, digest)``, with ``tick <= before_tick``: the events before
                ``tick`` are the set ``digest`` stands for (a state started from a
                snapshot contains those), not the ones this timeline holds.
        """
        later = self._sum_from(before_tick)
        if base is None:
            return ((self._total_sum - later) & _MASK_64).to_bytes(8, "little")
        base_tick, base_digest = base
        between = self._sum_from(base_tick) - later
        return ((int.from_bytes(base_digest, "little") + between) & _MASK_64).to_bytes(8, "little")

    def _sum_from(self, first_tick: int) -> int:
        """The sum of the event numbers of the known events with ``tick >= first_tick``."""
        ticks = self._ticks
        later = 0 if first_tick > self._archive.last_tick else self._archive.sum_from(first_tick)
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
