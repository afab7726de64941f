"""Blobs larger than a datagram: cut into numbered chunks, put back together.

How this works: a blob of ``size`` bytes is cut into :func:`chunk_count` chunks of
``chunk_bytes`` each (the last one shorter); chunk ``i`` holds the bytes from
``i * chunk_bytes`` (:func:`chunk_at`). The receiving side keeps what arrived in a
:class:`Reassembly`, which says which chunks are still missing (lowest first) and joins
them once all are in. Both chunked transfers use it: the desync forensics' state fetch
(:mod:`arcade_p2p.protocol.state_fetch`) and the joiner's snapshot transfer
(:mod:`arcade_p2p.protocol.transfer`); each keeps its own messages, windows and retries.
"""

from __future__ import annotations

__all__ = ["Reassembly", "chunk_at", "chunk_count"]


def chunk_count(size: int, chunk_bytes: int) -> int:
    """How many chunks a blob of ``size`` bytes is cut into (0 for an empty one)."""
    return -(-size // chunk_bytes)


def chunk_at(blob: bytes, index: int, chunk_bytes: int) -> bytes:
    """The bytes of chunk ``index`` of ``blob``."""
    start = index * chunk_bytes
    return blob[start : start + chunk_bytes]


class Reassembly:
    """The chunks of one blob received so far.

    Args:
        count: How many chunks the blob has.
    """

    __slots__ = ("_chunks", "_first_missing", "count")

    def __init__(self, count: int) -> None:
        self.count = count
        self._chunks: dict[int, bytes] = {}
        self._first_missing = 0

    def add(self, index: int, data: bytes) -> bool:
        """Keep chunk ``index`` (the caller has checked it); whether it was new."""
        if index in self._chunks:
            return False
        self._chunks[index] = data
        while self._first_missing in self._chunks:
            self._first_missing += 1
        return True

    @property
    def first_missing(self) -> int:
        """The lowest index not received yet (``count`` when complete)."""
        return self._first_missing

    @property
    def complete(self) -> bool:
        """Whether every chunk has arrived."""
        return self._first_missing >= self.count

    def missing(self, most: int) -> list[int]:
        """The lowest ``most`` indexes not received yet."""
        found: list[int] = []
        index = self._first_missing
        while index < self.count and len(found) < most:
            if index not in self._chunks:
                found.append(index)
            index += 1
        return found

    def join(self) -> bytes:
        """The whole blob (only once :attr:`complete`)."""
        return b"".join(self._chunks[i] for i in range(self.count))
