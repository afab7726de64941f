"""Cutting a blob into chunks and putting it back together (both chunked transfers use it)."""

from __future__ import annotations

import random

from arcade_p2p.protocol.chunks import Reassembly, chunk_at, chunk_count


def test_chunks_arriving_in_any_order_and_twice_rebuild_the_blob() -> None:
    rng = random.Random(5)
    blob = rng.randbytes(10_001)
    count = chunk_count(len(blob), 1000)
    assert count == 11
    assert len(chunk_at(blob, count - 1, 1000)) == 1
    order = list(range(count)) * 2
    rng.shuffle(order)
    received = Reassembly(count)
    new = [received.add(i, chunk_at(blob, i, 1000)) for i in order]
    assert new.count(True) == count  # each chunk is new once
    assert received.complete
    assert received.join() == blob


def test_missing_lists_the_lowest_gaps_and_first_missing_moves_past_what_arrived() -> None:
    received = Reassembly(6)
    for index in (0, 1, 3):
        received.add(index, b"x")
    assert received.first_missing == 2
    assert received.missing(2) == [2, 4]
    assert received.missing(10) == [2, 4, 5]
    assert not received.complete
    assert chunk_count(0, 1000) == 0 and Reassembly(0).complete
