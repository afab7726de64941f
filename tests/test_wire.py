"""Wire codec: round trips, validation, room MAC, and fuzzing of the decoder."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import MAX_SOURCE_ID, MAX_TICK, Event
from arcade_p2p.protocol.wire import (
    MAX_CHUNK_INDEXES,
    MAX_DATAGRAM_BYTES,
    MAX_HAVE_ITEMS,
    MAX_SEQ,
    MAX_SNAPSHOT_BYTES,
    SNAP_CHUNK_BYTES,
    VERSION,
    Datagram,
    Events,
    Have,
    Hello,
    Message,
    SnapChunk,
    SnapOffer,
    SnapRequest,
    StateChunk,
    StateRequest,
    Summary,
    Sync,
    Want,
    WireCodec,
)

CODEC = WireCodec("lobby")
SAMPLES: list[Message] = [
    Hello(50, 10, True),
    Events((Event(10, 2**40, 1, "key", "left"), Event(11, 3, 7, "chat", {"t": [1, 2.5]}))),
    Sync(1234.5, 7, 1200.0, 2, 99.25, -1.0, 0.0, b"abcdefgh", 3, True),
    Summary(b"12345678", 17, False),
    Have(((1, 5, 5), (2**62, 3, 9))),
    Have(tuple((MAX_SOURCE_ID - i, MAX_SEQ - 1, MAX_SEQ) for i in range(MAX_HAVE_ITEMS))),
    Want(((1, 2, 4), (7, 1, 1))),
    Sync(1.0, 7, 1.0, 0, 2.0, 1.0, 0.0, bytes(8), 0, False, ((120, bytes(16), bytes(8)),)),
    StateRequest(120, 32, 32),
    StateChunk(120, 3, 40, bytes(1024)),
    StateChunk(120, 0, 0, b""),
    SnapRequest(0, ()),
    SnapRequest(120, tuple(range(0, MAX_CHUNK_INDEXES * 3, 3))),
    SnapOffer(120, bytes(range(16)), b"abcdefgh", MAX_SNAPSHOT_BYTES),
    SnapChunk(120, 7, bytes(range(256)) * 4 + bytes(SNAP_CHUNK_BYTES - 1024)),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    data = CODEC.encode(42, 7, 3, message)
    assert len(data) <= MAX_DATAGRAM_BYTES
    decoded = CODEC.decode(data)
    assert (decoded.sender, decoded.epoch, decoded.counter) == (42, 7, 3)
    assert decoded.message == message


def test_wrong_room_tampered_and_truncated_fail_the_mac() -> None:
    data = CODEC.encode(1, 1, 1, SAMPLES[1])
    for bad in (
        WireCodec("other").encode(1, 1, 1, SAMPLES[1]),
        data[:-1] + bytes([data[-1] ^ 1]),
        data[:10] + bytes([data[10] ^ 0x40]) + data[11:],
        data[:-5],
    ):
        with pytest.raises(RemoteError) as err:
            CODEC.decode(bad)
        assert err.value.reason in {"bad_mac", "truncated"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (b"XX" + bytes(40), "bad_magic"),
        (b"AP\x09" + bytes(40), "bad_version"),
        (b"AP\x02" + bytes(MAX_DATAGRAM_BYTES), "oversized"),
    ],
)
def test_header_errors(data: bytes, reason: str) -> None:
    with pytest.raises(RemoteError) as err:
        CODEC.decode(data)
    assert err.value.reason == reason


def _signed(body: object) -> bytes:
    """A correctly authenticated datagram around an arbitrary msgpack body."""
    signed = b"AP" + bytes((VERSION,)) + msgpack.packb(body, use_bin_type=True)
    return signed + CODEC.mac(signed)


@pytest.mark.parametrize(
    "body",
    [
        [2, 1, 1, 1, [[1, 2, 0, "k", None]]],  # seq 0
        [2, 1, 1, 1, [[-1, 2, 1, "k", None]]],  # negative tick
        [2, 1, 1, 1, [[1, 2, 1, "", None]]],  # empty name
        [2, 1, 1, 1, [[1, 2, 1, "k", "x" * 600]]],  # payload too big
        [3, 1, 1, 1, float("nan"), 1, 0.0, 0, 0.0, 0.0, 0.0, b"abcdefgh", 1, False],  # nan clock
        [3, 1, 1, 1, 1.0, 1, 1.0, 0, 0.0, 0.0, -1.0, b"abcdefgh", 1, False],  # negative hold
        [1, 1, 1, 1, 0, 10, True],  # fps 0
        [1, 1, 1, 1, 50, 0, True],  # snapshot period 0
        [1, 1, 1, 1, 50, 10, 1],  # reply not a bool
        [6, 1, 1, 1, [[1, 5, 4]]],  # last < first
        [5, 1, 1, 1, [[1, 0]]],  # seq 0 mark
        [4, 1, 1, 1, b"short", 1, False],
        [99, 1, 1, 1],  # unknown type
        [2, -1, 1, 1, []],  # negative sender
        {"a": 1},
        "text",
    ],
)
def test_authenticated_but_invalid_bodies_are_remote_errors(body: object) -> None:
    with pytest.raises(RemoteError):
        CODEC.decode(_signed(body))


def test_encode_refuses_oversized_messages() -> None:
    with pytest.raises(UsageError):
        CODEC.encode(1, 1, 1, Want(tuple((i, 1, 2**60) for i in range(200))))
    with pytest.raises(UsageError):
        WireCodec("")


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=1400))
def test_fuzz_random_bytes_only_raise_remote_error(data: bytes) -> None:
    with contextlib.suppress(RemoteError):
        CODEC.decode(data)


def test_fuzz_mutated_valid_datagrams_only_raise_remote_error() -> None:
    """Mutate authentic datagrams (bit flips, cuts, splices) and re-sign some of them."""
    rng = random.Random(1234)
    valid = [CODEC.encode(1, 2, 3, m) for m in SAMPLES]
    decoded = 0
    for _ in range(5000):
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            elif op == 1:
                data = data[: rng.randrange(len(data) + 1)]
            else:
                data[rng.randrange(len(data) + 1) :] = rng.choice(valid)[rng.randrange(10) :]
        candidate = bytes(data)
        if rng.random() < 0.5 and len(candidate) > 19:  # re-sign so the body parser is reached
            body = candidate[3:-16]
            try:
                candidate = _signed(msgpack.unpackb(body, raw=False, strict_map_key=False))
            except Exception:
                candidate = bytes(data)
        try:
            CODEC.decode(candidate)
            decoded += 1
        except RemoteError:
            pass
    assert decoded > 0  # some mutations stay valid: the parser was really exercised


FUZZER = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_wire.py"
FIELD_CHECKS = {
    "sender", "epoch", "counter",
    "hello", "fps", "snapshot period", "hello.reply",
    "events", "event", "event.tick", "event.source", "event.seq", "event.name", "event.payload",
    "sync", "sync.value", "sync.origin", "sync.stamp", "sync.hops", "sync.sent_at", "sync.echo",
    "sync.echo_hold_s", "sync.digest", "sync.count", "sync.joining",
    "summary", "summary.digest", "summary.count", "summary.joining",
    "have", "have.marks", "have mark", "source", "seq", "contiguous seq",
    "want", "want.ranges", "want range", "first", "last",
}  # fmt: skip


def test_the_fuzzer_s_structured_messages_reach_every_field_check() -> None:
    done = subprocess.run(
        [sys.executable, str(FUZZER), "--cases", "20000", "--seed", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    structured = json.loads(done.stdout)["structured"]
    reached = {key.removeprefix("malformed: ") for key in structured if key.startswith("mal")}
    assert reached >= FIELD_CHECKS, FIELD_CHECKS - reached
    assert structured["decoded"] > 0 and "unknown_type" in structured


def _float32_events_datagram(count: int) -> bytes:
    """An Events datagram whose payload is ``count`` msgpack float32 values (5 bytes each
    on the wire, 9 once decoded and packed again as Python floats)."""
    payload = b"\xdc" + count.to_bytes(2, "big") + b"\xca\x3f\xc0\x00\x00" * count  # 1.5
    head = msgpack.packb([2, 1, 1, 1], use_bin_type=True)[1:]  # items without the header
    event = b"\x95" + msgpack.packb(1, use_bin_type=True) * 2 + b"\x01\xa1k" + payload
    body = b"\x95" + head + b"\x91" + event
    signed = b"AP" + bytes((VERSION,)) + body
    return signed + CODEC.mac(signed)


def test_a_payload_that_grows_past_the_limit_once_decoded_is_refused() -> None:
    small = CODEC.decode(_float32_events_datagram(40))  # 9 * 40 bytes: within the limit
    assert isinstance(small.message, Events)
    assert small.message.events[0].payload == [1.5] * 40
    with pytest.raises(RemoteError) as err:  # 9 * 60 bytes: over it, though 5 * 60 is not
        CODEC.decode(_float32_events_datagram(60))
    assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    "item",
    [[1, bytes(15), bytes(8)], [1, bytes(16), bytes(9)], [-1, bytes(16), bytes(8)], [1, "x", b""]],
)
def test_bad_reports_are_malformed(item: list[object]) -> None:
    sync = [1.0, 7, 1.0, 0, 2.0, 1.0, 0.0, bytes(8), 0, False, [item]]
    body = msgpack.packb([3, 1, 1, 1, *sync], use_bin_type=True)
    signed = b"AP" + bytes((VERSION,)) + body
    with pytest.raises(RemoteError) as err:
        CODEC.decode(signed + CODEC.mac(signed))
    assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    "fields",
    [
        [7, 120, 0, 0],  # asks for no chunk
        [7, 120, 0, 33],  # more than a window
        [8, 120, 5, 5, b""],  # index beyond the total
        [8, 120, 0, 1, bytes(1025)],  # oversized chunk
        [8, 120, 0, 1, "text"],
    ],
)
def test_bad_state_transfer_messages_are_malformed(fields: list[object]) -> None:
    body = msgpack.packb([fields[0], 1, 1, 1, *fields[1:]], use_bin_type=True)
    signed = b"AP" + bytes((VERSION,)) + body
    with pytest.raises(RemoteError) as err:
        CODEC.decode(signed + CODEC.mac(signed))
    assert err.value.reason == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        [8, 1, 1, 1, 0, list(range(MAX_CHUNK_INDEXES + 1))],  # too many indexes
        [8, 1, 1, 1, 10, [-1]],
        [9, 1, 1, 1, 10, bytes(15), bytes(8), 100],  # short hash
        [9, 1, 1, 1, 10, bytes(16), bytes(7), 100],  # short events digest
        [9, 1, 1, 1, 10, bytes(16), bytes(8), MAX_SNAPSHOT_BYTES + 1],  # oversized snapshot
        [10, 1, 1, 1, 10, 0, b""],  # empty chunk
        [10, 1, 1, 1, 10, 0, "text"],
        [10, 1, 1, 1, 0, 0, b"x"],  # tick 0 has no snapshot
        [10, 1, 1, 1, 10, 10**9, b"x"],  # index past the largest snapshot
    ],
)
def test_bad_snapshot_messages_are_malformed(body: list[object]) -> None:
    with pytest.raises(RemoteError) as err:
        CODEC.decode(_signed(body))
    assert err.value.reason == "malformed"


WIRE_TYPE_IDS = {
    Hello: 1,
    Events: 2,
    Sync: 3,
    Summary: 4,
    Have: 5,
    Want: 6,
    StateRequest: 7,
    StateChunk: 8,
    SnapRequest: 9,
    SnapOffer: 10,
    SnapChunk: 11,
}
"""The wire's type ids, as documented (the encoder keeps its own table)."""


def _reference_encoding(sender: int, epoch: int, counter: int, message: Message) -> bytes:
    """The datagram as the format describes it, built the plain way: the message's fields
    in declaration order (nested records as arrays; a Sync without slack facts leaves the
    optional twelfth field out), packed with ``msgpack.packb``, MAC over all before it."""
    fields = list(dataclasses.astuple(message))
    if isinstance(message, Sync) and not message.slack:
        fields.pop()
    return _signed([WIRE_TYPE_IDS[type(message)], sender, epoch, counter, *fields])


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_encoding_is_byte_identical_to_the_plain_construction(message: Message) -> None:
    assert CODEC.encode(42, 7, 3, message) == _reference_encoding(42, 7, 3, message)


NAMES = st.text(min_size=1, max_size=8)
PAYLOADS = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
EVENTS = st.builds(
    Event,
    st.integers(0, MAX_TICK),
    st.integers(0, MAX_SOURCE_ID),
    st.integers(1, 2**63 - 1),
    NAMES,
    PAYLOADS,
)
FINITE = st.floats(0.0, 1e9, allow_nan=False)
SYNCS = st.builds(
    Sync,
    FINITE,
    st.integers(0, MAX_SOURCE_ID),
    FINITE,
    st.integers(0, 65_535),
    FINITE,
    st.sampled_from([-1.0, 0.0, 12.5]),
    FINITE,
    st.binary(min_size=8, max_size=8),
    st.integers(0, 2**63 - 1),
    st.booleans(),
    st.lists(
        st.tuples(
            st.integers(0, MAX_TICK),
            st.binary(min_size=16, max_size=16),
            st.binary(min_size=8, max_size=8),
        ),
        max_size=3,
    ).map(tuple),
    st.lists(
        st.tuples(
            st.integers(0, MAX_SOURCE_ID),
            st.integers(1, 2**63 - 1),
            st.integers(0, MAX_TICK),
            st.integers(-MAX_TICK, MAX_TICK),
        ),
        max_size=3,
    ).map(tuple),
)
MESSAGES = st.lists(EVENTS, min_size=1, max_size=4).map(lambda e: Events(tuple(e))) | SYNCS


@settings(max_examples=400, deadline=None)
@given(
    MESSAGES, st.integers(0, MAX_SOURCE_ID), st.integers(0, 2**32 - 1), st.integers(0, 2**63 - 1)
)
def test_hot_messages_encode_like_the_plain_construction_and_decode_back(
    message: Message, sender: int, epoch: int, counter: int
) -> None:
    """Events (one or a few) and Sync take the encoder's and decoder's quickest paths."""
    data = CODEC.encode(sender, epoch, counter, message)
    assert data == _reference_encoding(sender, epoch, counter, message)
    assert CODEC.decode_parts(data) == (sender, epoch, counter, message)
    assert CODEC.decode(data) == Datagram(sender, epoch, counter, message)
