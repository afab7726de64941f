"""Events and the timeline: ordering, dedup, marks, gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arcade_p2p.errors import UsageError
from arcade_p2p.events import MAX_PAYLOAD_BYTES, Event, canonical_payload
from arcade_p2p.timeline import InsertOutcome, SourceLog, Timeline


def test_order_key_is_tick_source_seq() -> None:
    events = [Event(5, 2, 1, "k"), Event(5, 1, 9, "k"), Event(4, 9, 3, "k"), Event(5, 1, 2, "k")]
    assert sorted(e.order_key for e in events) == [(4, 9, 3), (5, 1, 2), (5, 1, 9), (5, 2, 1)]


def test_canonical_payload_round_trips_like_the_wire() -> None:
    assert canonical_payload("key", (1, 2)) == [1, 2]
    assert canonical_payload("key", {"a": (1,)}) == {"a": [1]}


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("", 1),
        ("x" * 33, 1),
        ("k", object()),
        ("k", b"x" * (MAX_PAYLOAD_BYTES + 1)),
        ("k", {1: "int keys do not decode on peers"}),
    ],
)
def test_canonical_payload_rejects_unsendable(name: str, payload: object) -> None:
    with pytest.raises(UsageError):
        canonical_payload(name, payload)


def test_insert_reports_new_duplicate_and_conflict() -> None:
    t = Timeline()
    e = Event(10, 1, 1, "k", "left")
    assert t.insert(e) is InsertOutcome.NEW
    assert t.insert(Event(10, 1, 1, "k", "left")) is InsertOutcome.DUPLICATE
    assert t.insert(Event(11, 1, 1, "k", "left")) is InsertOutcome.CONFLICT
    assert len(t) == 1
    assert t.at(10) == [e]


def test_events_of_a_tick_are_kept_in_application_order() -> None:
    t = Timeline()
    for source, seq in [(3, 1), (1, 2), (2, 1), (1, 1)]:
        t.insert(Event(7, source, seq, "k"))
    assert [e.ident for e in t.at(7)] == [(1, 1), (1, 2), (2, 1), (3, 1)]


def test_marks_and_gaps_with_non_contiguous_sources() -> None:
    t = Timeline()
    for seq in (1, 2, 5, 7):
        t.insert(Event(seq, 10**12, seq, "k"))
    t.insert(Event(1, 3, 1, "k"))
    assert t.marks() == {10**12: 7, 3: 1}
    log = t.source_log(10**12)
    assert log is not None and log.contiguous == 2
    assert t.missing({10**12: 9, 3: 1, 42: 2}) == {10**12: [(3, 4), (6, 6), (8, 9)], 42: [(1, 2)]}


def test_gaps_are_cheap_for_huge_advertised_marks() -> None:
    t = Timeline()
    t.insert(Event(1, 1, 1, "k"))
    assert t.missing({1: 2**62}) == {1: [(2, 2**62)]}


def test_digest_changes_with_content_and_is_order_independent() -> None:
    a, b = Timeline(), Timeline()
    events = [Event(i, i % 3, i // 3 + 1, "k") for i in range(9)]
    for e in events:
        a.insert(e)
    for e in reversed(events):
        b.insert(e)
    assert a.digest() == b.digest()
    b.insert(Event(99, 5, 1, "k"))
    assert a.digest() != b.digest()
    assert [e.order_key for e in a.all_events()] == sorted(e.order_key for e in events)


@given(
    st.lists(st.integers(1, 60), unique=True, max_size=40),
    st.integers(1, 70),
    st.integers(0, 70),
    st.integers(1, 10),
)
def test_a_source_log_finds_gaps_and_ranges_like_a_plain_scan(
    seqs: list[int], first: int, width: int, limit: int
) -> None:
    log = SourceLog()
    for seq in seqs:  # any arrival order
        log.add(Event(seq, 1, seq, "k"))
    present = sorted(seqs)
    contiguous = next(n for n in range(len(present) + 1) if n + 1 not in seqs)
    assert log.contiguous == contiguous
    assert log.above == [s for s in present if s > contiguous]
    upto = first + width
    missing = [s for s in range(contiguous + 1, upto + 1) if s not in seqs]
    runs: list[tuple[int, int]] = []
    for s in missing:
        if runs and runs[-1][1] == s - 1:
            runs[-1] = (runs[-1][0], s)
        else:
            runs.append((s, s))
    assert log.gaps(upto) == runs
    assert log.gaps(upto, limit) == runs[:limit]
    wanted = [s for s in present if first <= s <= upto][:limit]
    assert [e.seq for e in log.events_in(first, upto, limit)] == wanted
