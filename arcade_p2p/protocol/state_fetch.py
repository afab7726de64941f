"""Fetching a neighbour's snapshot at one tick, in datagram-sized chunks (desync forensics).

How this works: a snapshot blob is cut into ``STATE_CHUNK_BYTES`` chunks. The fetching side
(:class:`StateFetch`) asks for a window of at most ``MAX_CHUNKS_PER_REQUEST`` chunks starting
at the first one it lacks; the holder (:class:`StateServer`) answers each request with
those chunks only, so a request never costs more than one window of work. Whenever a
window is complete the next one is asked for at once; a lost request or chunk is made good
by asking again from the first missing chunk after ``RETRY_S``. A fetch ends when every
chunk is in, when the holder says it no longer has that snapshot (``total == 0``), or
after ``FETCH_TIMEOUT_S``. The blob is only bytes here: the caller decodes it with the
game's restricted state decoder, never with a plain unpickler.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from arcade_p2p.protocol.chunks import Reassembly, chunk_at, chunk_count
from arcade_p2p.protocol.wire import (
    MAX_CHUNKS_PER_REQUEST,
    STATE_CHUNK_BYTES,
    StateChunk,
    StateRequest,
)

__all__ = ["FETCH_TIMEOUT_S", "RETRY_S", "StateFetch", "StateServer"]

RETRY_S = 0.3
"""Ask again from the first missing chunk after this long without completing a window."""
FETCH_TIMEOUT_S = 10.0
"""Give up a fetch after this long."""
SERVED_BLOBS = 4
"""How many snapshots a server keeps pinned for fetches in progress."""


class StateServer:
    """Answers :class:`StateRequest`\\ s from the snapshots it can look up.

    Args:
        lookup: ``tick -> blob`` of this peer's snapshot at exactly that tick, or None.
    """

    def __init__(self, lookup: Callable[[int], bytes | None]) -> None:
        self._lookup = lookup
        self._pinned: OrderedDict[int, bytes] = OrderedDict()

    def answer(self, request: StateRequest) -> list[StateChunk]:
        """The chunks a request asks for (one ``total == 0`` chunk if the snapshot is gone).

        A snapshot once served stays pinned (the newest few), so a rollback that replaces
        it meanwhile cannot mix two versions in one transfer.
        """
        blob = self._pinned.get(request.tick)
        if blob is None:
            blob = self._lookup(request.tick)
            if blob is None:
                return [StateChunk(request.tick, 0, 0, b"")]
            self._pinned[request.tick] = blob
            if len(self._pinned) > SERVED_BLOBS:
                self._pinned.popitem(last=False)
        total = max(1, chunk_count(len(blob), STATE_CHUNK_BYTES))
        last = min(total, request.first + min(request.count, MAX_CHUNKS_PER_REQUEST))
        return [
            StateChunk(request.tick, i, total, chunk_at(blob, i, STATE_CHUNK_BYTES))
            for i in range(request.first, last)
        ]


class StateFetch:
    """One snapshot being fetched from one peer.

    Args:
        peer: The holder's id.
        tick: The snapshot tick.
        now: The driver's time when the fetch starts.

    Attributes:
        blob: The whole snapshot once :attr:`done` (None if it could not be had).
        done: Whether the fetch has ended (complete, refused or timed out).
    """

    def __init__(self, peer: int, tick: int, *, now: float) -> None:
        self.peer = peer
        self.tick = tick
        self.blob: bytes | None = None
        self.done = False
        self._received: Reassembly | None = None
        """The chunks so far (None until the first one says how many there are)."""
        self._window_end = 0
        """End (exclusive) of the window last asked for."""
        self._gives_up_at = now + FETCH_TIMEOUT_S
        self.retry_at = now

    def next_request(self, *, now: float) -> StateRequest | None:
        """The request to send now, if one is due (and end the fetch if it timed out)."""
        if self.done:
            return None
        if now >= self._gives_up_at:
            self.done = True
            return None
        if now < self.retry_at:
            return None
        return self._request(now)

    def on_chunk(self, chunk: StateChunk, *, now: float) -> StateRequest | None:
        """Take a chunk in; the next window's request when this one is complete."""
        if self.done or chunk.tick != self.tick:
            return None
        if chunk.total == 0:
            self.done = True
            return None
        received = self._received
        if received is None:
            received = self._received = Reassembly(chunk.total)
        elif chunk.total != received.count:
            return None  # a chunk of another version of the snapshot: ignored
        received.add(chunk.index, chunk.data)
        if received.complete:
            self.blob = received.join()
            self.done = True
            return None
        if received.first_missing >= self._window_end:  # the window is complete: the next
            return self._request(now)
        return None

    def _request(self, now: float) -> StateRequest:
        first = 0 if self._received is None else self._received.first_missing
        self.retry_at = now + RETRY_S
        self._window_end = first + MAX_CHUNKS_PER_REQUEST
        return StateRequest(self.tick, first, MAX_CHUNKS_PER_REQUEST)
