"""The history archive: a timeline's old events, on disk, out of memory.

How this works: a :class:`~arcade_p2p.timeline.Timeline` that archives moves the events
it no longer needs at hand (older than its in-memory window, behind a kept snapshot, never
past a gap in any source) into a :class:`HistoryArchive`, one *batch* per archive step.
A batch is the msgpack encoding of its events in application order, appended to an
anonymous temporary file (:func:`tempfile.TemporaryFile`: it has no name, and the
operating system reclaims it when the archive is closed or the process ends). The file is
made at the first batch, so a session that never archives has none.

What stays in memory is a small index: per batch its tick range, its place in the file
and the sum of its events' digest numbers (so a digest that reaches into the archive
reads only the batches that straddle its tick); per source, the seq ranges the batches
hold. Archiving never passes a gap, so a batch holds, per source, one contiguous seq
range that starts where the previous one ended: per source the index is the list of each
range's last seq, and the batch it is in. The index grows by one entry per batch (plus
one per source that had events in it): a few kilobytes an hour.

Reading an event or a tick decodes its whole batch; the last :data:`CACHED_BATCHES`
decoded batches are kept, so a replay that reads tick after tick reads each batch once.
Batches may overlap in ticks (an event stamped long ago that arrived late is archived
with the events of its archive step), so the batches holding a tick are found by
walking back from the last batch that starts at or before it while the running maximum
of their last ticks still reaches it: usually one batch, never a scan of the file.

The file is this peer's own storage, written and read by this module only: its bytes
never come from the network.
"""

from __future__ import annotations

import bisect
import heapq
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import msgpack

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event

__all__ = ["CACHED_BATCHES", "HistoryArchive"]

CACHED_BATCHES = 4
"""How many decoded batches an archive keeps in memory for the next reads."""


@dataclass(frozen=True, slots=True)
class _Batch:
    """Where one batch lies and what it holds.

    Attributes:
        first_tick: Lowest tick of its events.
        last_tick: Highest tick of its events.
        offset: Where its bytes start in the file.
        length: How many bytes it takes.
        number_sum: Sum (mod 2**64) of its events' digest numbers.
        count: How many events it holds.
    """

    first_tick: int
    last_tick: int
    offset: int
    length: int
    number_sum: int
    count: int


@dataclass(slots=True)
class _Decoded:
    """A batch read back: its events by tick (in application order) and by identity."""

    by_tick: dict[int, list[Event]] = field(default_factory=dict)
    by_ident: dict[tuple[int, int], Event] = field(default_factory=dict)


@dataclass(slots=True)
class _SourceRanges:
    """The batches one source's archived seqs are in: range ``i`` ends at ``last_seqs[i]``
    (and starts after the previous one) and lies in batch ``batches[i]``."""

    last_seqs: list[int] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)


class HistoryArchive:
    """Archived events of one timeline (see the module header).

    Args:
        number: An event's digest number (the timeline's
            :func:`~arcade_p2p.timeline.event_number`), for digests that reach into a batch.
    """

    def __init__(self, number: Callable[[Event], int]) -> None:
        self._number = number
        self._file: IO[bytes] | None = None
        self._size = 0
        self._batches: list[_Batch] = []
        self._reach: list[int] = []
        """``_reach[i]``: the highest last tick of batches ``0..i`` (for :meth:`at`)."""
        self._starts: list[int] = []
        """``_starts[i]``: the first tick of batch ``i`` (the batches sorted by it)."""
        self._order: list[int] = []
        """Batch numbers sorted by first tick (``_starts`` is in that order)."""
        self._sources: dict[int, _SourceRanges] = {}
        self._count = 0
        self._cache: OrderedDict[int, _Decoded] = OrderedDict()

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        """Bytes the archive's file takes on disk."""
        return self._size

    @property
    def batch_count(self) -> int:
        """How many batches were written."""
        return len(self._batches)

    @property
    def last_tick(self) -> int:
        """Highest tick of any archived event (-1: none)."""
        return self._reach[-1] if self._reach else -1

    def append(self, events: list[Event], number_sum: int) -> None:
        """Write one batch.

        Args:
            events: The events to archive, in application order; per source a contiguous
                seq range that continues the source's archived range.
            number_sum: The sum (mod 2**64) of their digest numbers.
        """
        if not events:
            return
        packed = msgpack.packb(
            [(e.tick, e.source, e.seq, e.name, e.payload) for e in events], use_bin_type=True
        )
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 -- closed by close()
        self._file.seek(self._size)
        self._file.write(packed)
        number = len(self._batches)
        batch = _Batch(
            events[0].tick, events[-1].tick, self._size, len(packed), number_sum, len(events)
        )
        self._batches.append(batch)
        self._size += len(packed)
        self._count += len(events)
        place = bisect.bisect_right(self._starts, batch.first_tick)
        self._starts.insert(place, batch.first_tick)
        self._order.insert(place, number)
        self._reach = list(_running_max(self._batches[n].last_tick for n in self._order))
        last_seq: dict[int, int] = {}
        for event in events:
            last_seq[event.source] = max(last_seq.get(event.source, 0), event.seq)
        for source, seq in last_seq.items():
            ranges = self._sources.setdefault(source, _SourceRanges())
            ranges.last_seqs.append(seq)
            ranges.batches.append(number)

    def get(self, source: int, seq: int) -> Event | None:
        """The archived event ``(source, seq)``, or None if it is not archived."""
        ranges = self._sources.get(source)
        if ranges is None or seq < 1:
            return None
        i = bisect.bisect_left(ranges.last_seqs, seq)
        if i == len(ranges.last_seqs):
            return None
        return self._read(ranges.batches[i]).by_ident.get((source, seq))

    def at(self, tick: int) -> list[Event]:
        """The archived events of ``tick``, in application order."""
        found: list[Event] = []
        several = False
        for number in self._batches_at(tick):
            events = self._read(number).by_tick.get(tick)
            if events:
                several = bool(found)
                found.extend(events)
        if several:
            found.sort(key=_order_key)
        return found

    def sum_from(self, first_tick: int) -> int:
        """Sum (unbounded) of the digest numbers of the archived events stamped at or
        after ``first_tick``."""
        total = 0
        for batch_number, batch in enumerate(self._batches):
            if batch.last_tick < first_tick:
                continue
            if batch.first_tick >= first_tick:
                total += batch.number_sum
            else:
                total += self._sum_in(batch_number, first_tick)
        return total

    def events(self) -> Iterator[Event]:
        """Every archived event in application order (it reads every batch: for tools
        and tests, not for a running session)."""
        return heapq.merge(*(self._events_of(n) for n in self._order), key=_order_key)

    def _events_of(self, number: int) -> Iterator[Event]:
        decoded = self._read(number)
        for tick in sorted(decoded.by_tick):
            yield from decoded.by_tick[tick]

    def close(self) -> None:
        """Delete the file; nothing archived can be read afterwards."""
        if self._file is not None:
            self._file.close()
        self._cache.clear()

    def _sum_in(self, number: int, first_tick: int) -> int:
        decoded = self._read(number)
        return sum(
            self._number(event)
            for tick, events in decoded.by_tick.items()
            if tick >= first_tick
            for event in events
        )

    def _batches_at(self, tick: int) -> Iterable[int]:
        """The batches whose tick range holds ``tick``."""
        i = bisect.bisect_right(self._starts, tick) - 1
        while i >= 0 and self._reach[i] >= tick:
            number = self._order[i]
            if self._batches[number].last_tick >= tick:
                yield number
            i -= 1

    def _read(self, number: int) -> _Decoded:
        """Batch ``number``, decoded (from the cache when it was read lately)."""
        cached = self._cache.get(number)
        if cached is not None:
            self._cache.move_to_end(number)
            return cached
        batch = self._batches[number]
        if self._file is None or self._file.closed:
            raise UsageError("the history archive was closed")
        self._file.seek(batch.offset)
        rows = msgpack.unpackb(self._file.read(batch.length), raw=False, use_list=True)
        decoded = _Decoded()
        for tick, source, seq, name, payload in rows:
            event = Event(tick, source, seq, name, payload)
            decoded.by_tick.setdefault(tick, []).append(event)
            decoded.by_ident[(source, seq)] = event
        self._cache[number] = decoded
        if len(self._cache) > CACHED_BATCHES:
            self._cache.popitem(last=False)
        return decoded


def _running_max(values: Iterable[int]) -> Iterator[int]:
    highest = -1
    for value in values:
        highest = max(highest, value)
        yield highest


def _order_key(event: Event) -> tuple[int, int, int]:
    return event.order_key
