"""Wire format: versioned, validated, authenticated datagrams.

How this works: a datagram is ``MAGIC (2 bytes) | VERSION (1 byte) | body | MAC (16
bytes)``. The body is one msgpack array ``[type, sender, epoch, counter, *fields]``:
``sender`` is the sending session's id, ``epoch`` a random number drawn when that session
started and ``counter`` counts its datagrams (the receiver uses both to drop replays). The
MAC is keyed BLAKE2b with a 16-byte digest (version 2; version 1 used HMAC-SHA256 truncated
to 16 bytes, which costs two hash passes and a key schedule per datagram) over everything
before it: a datagram from another room, a tampered one and a truncated one all fail the
MAC. The MAC key is derived from the room name alone (anyone who knows the name can join)
or, for a room with a secret key, stretched from the passphrase with scrypt salted by the
room name (see :func:`room_key`); the passphrase itself never goes on the wire. Decoding
validates every field's type, range and size and raises
:class:`~arcade_p2p.errors.RemoteError` -- and only that -- for anything unacceptable.
"""

from __future__ import annotations

import functools
import hashlib
import hmac  # constant-time comparison
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.events import (
    MAX_EVENT_NAME_BYTES,
    MAX_PAYLOAD_BYTES,
    MAX_SOURCE_ID,
    MAX_TICK,
    Event,
    is_system_name,
)
from arcade_p2p.presence import check_system_event

__all__ = [
    "MAC_BYTES",
    "MAGIC",
    "MAX_DATAGRAM_BYTES",
    "VERSION",
    "Datagram",
    "Events",
    "Have",
    "Hello",
    "Message",
    "SnapChunk",
    "SnapOffer",
    "SnapRequest",
    "StateChunk",
    "StateRequest",
    "Summary",
    "Sync",
    "Want",
    "WireCodec",
    "room_key",
]

MAGIC = b"AP"
VERSION = 3
"""Wire version; 3: HAVE marks tell the contiguous seq too (2: keyed BLAKE2b MAC; 1:
HMAC-SHA256). Peers of other versions are dropped (``bad_version``)."""
MAC_BYTES = 16
MAX_DATAGRAM_BYTES = 1200
"""Largest datagram sent or accepted (fits a typical path MTU)."""
HEADER = MAGIC + bytes((VERSION,))
"""What every datagram of this version starts with."""
HEADER_BYTES = len(HEADER)
MAX_COUNTER = 2**63 - 1
MAX_EPOCH = 2**32 - 1
MAX_SEQ = 2**63 - 1
MAX_FPS = 1000
DIGEST_BYTES = 8
MAX_HOPS = 65_535
MAX_SNAPSHOT_PERIOD_TICKS = 1_000_000
MAX_RANGE_ITEMS = 64
MAX_HAVE_ITEMS = 40
"""Most marks in one HAVE (at the largest ids and seqs, 40 fit in a datagram)."""
MAX_REPORT_ITEMS = 8
SNAP_CHUNK_BYTES = 1100
"""Largest piece of a snapshot carried by one SNAP_CHUNK (the datagram stays < 1200 bytes)."""
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
"""Largest snapshot offered or accepted (a 200-body physics space is ~220 KB)."""
MAX_CHUNK_INDEXES = 64
"""Most chunk indexes one SNAP_REQUEST asks for."""
MAX_SNAPSHOT_CHUNKS = -(-MAX_SNAPSHOT_BYTES // SNAP_CHUNK_BYTES)
"""Chunks of the largest snapshot."""
MAX_CHUNKS_PER_REQUEST = 32
STATE_CHUNK_BYTES = 1024
MAX_STATE_CHUNKS = 2**15
"""Most chunks of one snapshot (32 MiB, the state decoder's default limit)."""
STATE_HASH_BYTES = 16
MAX_SLACK_FACTS = 16
"""Most slack facts one Sync carries (see :mod:`arcade_p2p.delay`)."""
SYNC_FIELDS = 11
"""Fields of a Sync without slack facts (the facts are an optional twelfth)."""
KDF_SCRYPT_N = 2**14
"""scrypt cost parameters of a room key (RFC 7914's interactive-login choice: 16 MiB of
memory, a few hundredths of a second once per session; a guess costs an attacker as much)."""
KDF_SCRYPT_R = 8
KDF_SCRYPT_P = 1
MAC_KEY_BYTES = 32
PAYLOAD_GROWTH_LIMIT = 9 / 5
"""Most a decoded payload can grow when packed again: only msgpack's float32 does (5 bytes
on the wire, 9 as a Python float). So a datagram shorter than ``MAX_PAYLOAD_BYTES`` divided
by it cannot carry a payload over the limit, and the decoder skips measuring them."""
UNMEASURED_DATAGRAM_BYTES = int(MAX_PAYLOAD_BYTES / PAYLOAD_GROWTH_LIMIT)
UTF8_MAX_BYTES_PER_CHAR = 4


@dataclass(frozen=True, slots=True)
class Hello:
    """Link handshake: "I am ``sender`` in this room, simulating like this".

    Attributes:
        fps: The sender's tick rate.
        snapshot_every_ticks: The sender's snapshot period (for engines such as pymunk the
            live run continues from each snapshot, so peers must snapshot at the same ticks).
        reply: Whether the receiver should answer with its own Hello.

    Peers whose fps or snapshot period differ refuse the link (``config_mismatch``).
    """

    fps: int
    snapshot_every_ticks: int
    reply: bool


@dataclass(frozen=True, slots=True)
class Events:
    """A batch of events being flooded or answering a Want.

    Attributes:
        events: The events.
    """

    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Sync:
    """Clock news and a round-trip probe; doubles as keep-alive.

    Attributes:
        value: The sender's clock value in ticks (its position, or its network estimate).
        origin: Id of the peer whose own clock ``value`` estimates.
        stamp: The origin's freshness stamp (see :class:`arcade_p2p.clock.ClockReport`).
        hops: Forwarding steps between the origin and the sender.
        sent_at: The sender's local time when sending (seconds, its own clock).
        echo_sent_at: ``sent_at`` of the last Sync the sender got from the receiver, or -1.
        echo_hold_s: How long the sender held that Sync before this reply (seconds).
        digest: The sender's anti-entropy digest (as in :class:`Summary`).
        count: How many events the sender holds.
        joining: The sender is itself still fetching the history.
        reports: The sender's state-hash reports that are new for the receiver:
            ``(tick, state hash, events digest)`` triples -- the hash (16 bytes) of the state
            at the start of ``tick`` and the digest (8 bytes) of the events stamped before
            it (see :mod:`arcade_p2p.hash_reports`).
        slack: Slack facts ``(source, seq, tick, slack)``: how early (negative: how
            late) an event arrived at the worst receiver the sender knows of (optional
            on the wire: left out when empty, so a room without ``auto`` pays nothing).
    """

    value: float
    origin: int
    stamp: float
    hops: int
    sent_at: float
    echo_sent_at: float
    echo_hold_s: float
    digest: bytes
    count: int
    joining: bool
    reports: tuple[tuple[int, bytes, bytes], ...] = ()
    slack: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Summary:
    """Anti-entropy digest of the sender's high-water marks.

    Attributes:
        digest: 8-byte hash of the marks; equal digests mean nothing to exchange.
        count: How many events the sender holds.
        joining: The sender is itself still fetching the history (its digest proves
            nothing to a joiner).
    """

    digest: bytes
    count: int
    joining: bool


@dataclass(frozen=True, slots=True)
class Have:
    """Part of the sender's high-water marks.

    Attributes:
        marks: ``(source, contiguous seq, highest seq)``: the sender holds every seq up to
            the first (so a request for them is answered in full) and some above it, up to
            the second.
    """

    marks: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class Want:
    """A request for missing events.

    Attributes:
        ranges: ``(source, first seq, last seq)`` inclusive ranges.
    """

    ranges: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class StateRequest:
    """A request for part of the receiver's snapshot at a tick (desync forensics).

    Attributes:
        tick: The snapshot tick.
        first: Index of the first chunk wanted.
        count: How many chunks, at most ``MAX_CHUNKS_PER_REQUEST``.
    """

    tick: int
    first: int
    count: int


@dataclass(frozen=True, slots=True)
class StateChunk:
    """One piece of a snapshot, answering a :class:`StateRequest`.

    Attributes:
        tick: The snapshot tick.
        index: Which chunk (0-based).
        total: How many chunks the snapshot has (0: the sender no longer holds it).
        data: The chunk's bytes (at most ``STATE_CHUNK_BYTES``).
    """

    tick: int
    index: int
    total: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SnapRequest:
    """A joiner asks a neighbour for a state snapshot, or for pieces of one.

    Attributes:
        tick: 0 to ask for an offer (the neighbour picks a settled snapshot tick);
            otherwise the tick of the offered snapshot whose chunks are wanted.
        chunks: Indexes of the chunks wanted (empty with ``tick`` 0).
    """

    tick: int
    chunks: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SnapOffer:
    """What snapshot a neighbour serves (its chunks follow, paced).

    Attributes:
        tick: The snapshot tick ``T`` (0: no snapshot to offer).
        state_hash: Hash of the state at the start of ``T`` (as in a
            :class:`~arcade_p2p.hash_reports.HashReport`).
        events_digest: Digest of the sender's events stamped before ``T`` (as in
            state-hash reports): other peers' reports are comparable only where it agrees.
        size: Bytes of the snapshot payload (coverage and state), cut into chunks of
            :data:`SNAP_CHUNK_BYTES`.
    """

    tick: int
    state_hash: bytes
    events_digest: bytes
    size: int


@dataclass(frozen=True, slots=True)
class SnapChunk:
    """One piece of an offered snapshot payload.

    Attributes:
        tick: The snapshot tick.
        index: The piece's position (its bytes start at ``index * SNAP_CHUNK_BYTES``).
        data: At most :data:`SNAP_CHUNK_BYTES` bytes.
    """

    tick: int
    index: int
    data: bytes


Message = (
    Hello
    | Events
    | Sync
    | Summary
    | Have
    | Want
    | StateRequest
    | StateChunk
    | SnapRequest
    | SnapOffer
    | SnapChunk
)

_TYPE_IDS: dict[type, int] = {
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


@dataclass(frozen=True, slots=True)
class Datagram:
    """A decoded datagram.

    Attributes:
        sender: Id of the sending session.
        epoch: Random number identifying the sending session's run.
        counter: The sender's datagram counter (for replay detection).
        message: The message carried.
    """

    sender: int
    epoch: int
    counter: int
    message: Message


def room_key(room: str, key: str | None = None) -> bytes:
    """The MAC key of a room.

    Args:
        room: The room name.
        key: The room's secret passphrase, or None for an open room (whose MAC key is a
            plain hash of the name).

    A passphrase is stretched with ``hashlib.scrypt`` (``N = 2**14, r = 8, p = 1``), salted
    with a hash of the room name, so one passphrase gives different keys in different rooms
    and every guess costs an attacker the same stretching. The result is cached per
    ``(room, key)``: a process that runs many sessions of one room stretches once.
    """
    if key is None:
        return hashlib.sha256(b"arcade-p2p room\x00" + room.encode("utf-8")).digest()
    return _stretched_key(room, key)


@functools.lru_cache(maxsize=8)
def _stretched_key(room: str, key: str) -> bytes:
    salt = hashlib.sha256(b"arcade-p2p room salt\x00" + room.encode("utf-8")).digest()
    return hashlib.scrypt(
        key.encode("utf-8"),
        salt=salt,
        n=KDF_SCRYPT_N,
        r=KDF_SCRYPT_R,
        p=KDF_SCRYPT_P,
        dklen=MAC_KEY_BYTES,
    )


class WireCodec:
    """Encodes and decodes datagrams of one room.

    Args:
        room: The room name; only peers using the same name understand each other.
        key: The room's secret passphrase (None: an open room). Peers with the same room
            but another key (or none) fail the MAC (``bad_mac``).
    """

    def __init__(self, room: str, key: str | None = None) -> None:
        if not isinstance(room, str) or not room:
            raise UsageError("room must be a non-empty string")
        if key is not None and (not isinstance(key, str) or not key):
            raise UsageError("key must be a non-empty string or None")
        self._keyed = hashlib.blake2b(key=room_key(room, key), digest_size=MAC_BYTES)
        self._after_header = self._keyed.copy()
        """The MAC's state after the header every datagram starts with (copied per datagram)."""
        self._after_header.update(HEADER)
        self._pack = msgpack.Packer(use_bin_type=True).pack
        """One packer, not one per datagram (``msgpack.packb`` makes a new one each call)."""

    def mac(self, signed: bytes) -> bytes:
        """The room's :data:`MAC_BYTES`-byte MAC of ``signed`` (also used by LAN beacons):
        BLAKE2b keyed with the room key."""
        h = self._keyed.copy()
        h.update(signed)
        return h.digest()

    def mac_matches(self, signed: bytes, mac: bytes) -> bool:
        """Whether ``mac`` is the room's MAC of ``signed`` (compared in constant time)."""
        return hmac.compare_digest(self.mac(signed), mac)

    def encode(self, sender: int, epoch: int, counter: int, message: Message) -> bytes:
        """Encode one message into a datagram.

        Raises:
            UsageError: The message does not fit in :data:`MAX_DATAGRAM_BYTES`.
        """
        type_id, fields = _ENCODERS[type(message)]
        body: bytes = self._pack([type_id, sender, epoch, counter, *fields(message)])
        size = HEADER_BYTES + len(body) + MAC_BYTES
        if size > MAX_DATAGRAM_BYTES:
            raise UsageError(f"datagram of {size} bytes exceeds {MAX_DATAGRAM_BYTES}")
        h = self._after_header.copy()
        h.update(body)
        return HEADER + body + h.digest()

    def event_bytes(self, event: Event) -> int:
        """Encoded size of one event inside an Events message (for batching)."""
        packed: bytes = self._pack(_event_fields(event))
        return len(packed)

    def decode(self, data: bytes) -> Datagram:
        """Decode and validate one datagram.

        Raises:
            RemoteError: For anything unacceptable; ``reason`` tells what.
        """
        return Datagram(*self.decode_parts(data))

    def decode_parts(self, data: bytes) -> tuple[int, int, int, Message]:
        """:meth:`decode` without the :class:`Datagram` around the result (a receiver's hot
        path): ``(sender, epoch, counter, message)``, validated in the same way.

        Raises:
            RemoteError: For anything unacceptable; ``reason`` tells what.
        """
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise RemoteError("malformed", "not bytes")
            data = bytes(data)
        size = len(data)
        if size > MAX_DATAGRAM_BYTES:
            raise RemoteError("oversized", f"{size} bytes")
        if size < HEADER_BYTES + MAC_BYTES + 1:
            raise RemoteError("truncated", f"{size} bytes")
        if data[:HEADER_BYTES] != HEADER:
            if data[:2] != MAGIC:
                raise RemoteError("bad_magic")
            raise RemoteError("bad_version", f"version {data[2]}")
        body = data[HEADER_BYTES:-MAC_BYTES]
        h = self._after_header.copy()
        h.update(body)
        if not hmac.compare_digest(h.digest(), data[-MAC_BYTES:]):
            raise RemoteError("bad_mac", "wrong room, tampered or truncated")
        try:
            unpacked = msgpack.unpackb(body, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises many types for bad input
            raise RemoteError("malformed", f"msgpack: {type(exc).__name__}") from None
        return _parse(unpacked, measure_payloads=size > UNMEASURED_DATAGRAM_BYTES)


def _event_fields(event: Event) -> list[Any]:
    return [event.tick, event.source, event.seq, event.name, event.payload]


def _events_fields(message: Events) -> list[Any]:
    return [[_event_fields(e) for e in message.events]]


def _sync_fields(message: Sync) -> list[Any]:
    fields = [
        message.value,
        message.origin,
        message.stamp,
        message.hops,
        message.sent_at,
        message.echo_sent_at,
        message.echo_hold_s,
        message.digest,
        message.count,
        message.joining,
        [list(r) for r in message.reports],
    ]
    if message.slack:
        fields.append([list(f) for f in message.slack])
    return fields


_ENCODERS: dict[type, tuple[int, Callable[[Any], list[Any]]]] = {
    kind: (_TYPE_IDS[kind], fields)
    for kind, fields in (
        (Hello, lambda m: [m.fps, m.snapshot_every_ticks, m.reply]),
        (Events, _events_fields),
        (Sync, _sync_fields),
        (Summary, lambda m: [m.digest, m.count, m.joining]),
        (Have, lambda m: [[list(mark) for mark in m.marks]]),
        (Want, lambda m: [[list(r) for r in m.ranges]]),
        (StateRequest, lambda m: [m.tick, m.first, m.count]),
        (StateChunk, lambda m: [m.tick, m.index, m.total, m.data]),
        (SnapRequest, lambda m: [m.tick, list(m.chunks)]),
        (SnapOffer, lambda m: [m.tick, m.state_hash, m.events_digest, m.size]),
        (SnapChunk, lambda m: [m.tick, m.index, m.data]),
    )
}
"""Message type -> (type id, the message's fields as packed after the datagram header)."""


def _parse(body: Any, *, measure_payloads: bool) -> tuple[int, int, int, Message]:
    if not isinstance(body, list) or len(body) < 4:
        raise RemoteError("malformed", "body is not a list of >= 4 items")
    kind, sender, epoch, counter, *fields = body
    sender = _int(sender, 0, MAX_SOURCE_ID, "sender")
    epoch = _int(epoch, 0, MAX_EPOCH, "epoch")
    counter = _int(counter, 0, MAX_COUNTER, "counter")
    if kind == _EVENTS_TYPE and type(kind) is int:
        return sender, epoch, counter, _parse_events(fields, measure_payloads)
    parser = _PARSERS.get(kind) if type(kind) is int else None
    if parser is None:
        raise RemoteError("unknown_type", repr(kind)[:40])
    return sender, epoch, counter, parser(fields)


def _int(value: Any, low: int, high: int, what: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise RemoteError("malformed", f"{what} out of range")
    return value


def _float(value: Any, what: str) -> float:
    if type(value) is int:
        value = float(value)
    if type(value) is not float or not math.isfinite(value):
        raise RemoteError("malformed", f"{what} is not a finite number")
    return value


def _arity(fields: list[Any], n: int, what: str) -> None:
    if len(fields) != n:
        raise RemoteError("malformed", f"{what} has {len(fields)} fields, expected {n}")


def _list(value: Any, max_items: int, what: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > max_items:
        raise RemoteError("malformed", f"{what} is not a list of <= {max_items} items")
    return value


def _parse_hello(fields: list[Any]) -> Hello:
    _arity(fields, 3, "hello")
    fps = _int(fields[0], 1, MAX_FPS, "fps")
    period = _int(fields[1], 1, MAX_SNAPSHOT_PERIOD_TICKS, "snapshot period")
    return Hello(fps, period, _bool(fields[2], "hello.reply"))


def _parse_event(item: Any, measure_payload: bool) -> Event:
    if not isinstance(item, list) or len(item) != 5:
        raise RemoteError("malformed", "event is not a list of 5 items")
    tick, source, seq, name, payload = item
    tick = _int(tick, 0, MAX_TICK, "event.tick")
    source = _int(source, 0, MAX_SOURCE_ID, "event.source")
    seq = _int(seq, 1, MAX_SEQ, "event.seq")
    if type(name) is not str or not name or _too_long(name):
        raise RemoteError("malformed", "event.name")
    if measure_payload and len(msgpack.packb(payload, use_bin_type=True)) > MAX_PAYLOAD_BYTES:
        raise RemoteError("malformed", "event.payload too large")
    if is_system_name(name):
        check_system_event(name, payload)
    return Event(tick, source, seq, name, payload)


def _too_long(name: str) -> bool:
    """Whether an event name exceeds ``MAX_EVENT_NAME_BYTES`` in UTF-8 (one that surely
    fits, at four bytes a character at most, is not encoded to find out)."""
    return (
        len(name) > MAX_EVENT_NAME_BYTES // UTF8_MAX_BYTES_PER_CHAR
        and len(name.encode("utf-8")) > MAX_EVENT_NAME_BYTES
    )


def _parse_events(fields: list[Any], measure_payloads: bool = True) -> Events:
    if len(fields) != 1:
        _arity(fields, 1, "events")
    items = fields[0]
    if type(items) is not list or len(items) > MAX_DATAGRAM_BYTES:
        _list(items, MAX_DATAGRAM_BYTES, "events")
    return Events(tuple([_parse_event(item, measure_payloads) for item in items]))


def _parse_sync(fields: list[Any]) -> Sync:
    if len(fields) != SYNC_FIELDS + 1:  # the slack facts are optional
        _arity(fields, SYNC_FIELDS, "sync")
    slack = _parse_slack(fields[SYNC_FIELDS]) if len(fields) > SYNC_FIELDS else ()
    value = _clock_value(fields[0], "sync.value")
    origin = _int(fields[1], 0, MAX_SOURCE_ID, "sync.origin")
    stamp = _clock_value(fields[2], "sync.stamp")
    hops = _int(fields[3], 0, MAX_HOPS, "sync.hops")
    sent_at = _float(fields[4], "sync.sent_at")
    echo = _float(fields[5], "sync.echo")
    hold = _float(fields[6], "sync.echo_hold_s")
    if hold < 0.0:
        raise RemoteError("malformed", "sync.echo_hold_s is negative")
    digest, count = _digest_and_count(fields[7], fields[8], "sync")
    joining = _bool(fields[9], "sync.joining")
    reports = _parse_reports(fields[10])
    return Sync(
        value, origin, stamp, hops, sent_at, echo, hold, digest, count, joining, reports, slack
    )


def _parse_slack(raw: Any) -> tuple[tuple[int, int, int, int], ...]:
    facts = []
    for item in _list(raw, MAX_SLACK_FACTS, "sync.slack"):
        if not isinstance(item, list) or len(item) != 4:
            raise RemoteError("malformed", "slack fact")
        source = _int(item[0], 0, MAX_SOURCE_ID, "slack.source")
        seq = _int(item[1], 1, MAX_SEQ, "slack.seq")
        tick = _int(item[2], 0, MAX_TICK, "slack.tick")
        slack = _int(item[3], -MAX_TICK, MAX_TICK, "slack.slack")
        facts.append((source, seq, tick, slack))
    return tuple(facts)


def _clock_value(raw: Any, what: str) -> float:
    value = _float(raw, what)
    if not 0.0 <= value <= MAX_TICK:
        raise RemoteError("malformed", f"{what} out of range")
    return value


def _parse_summary(fields: list[Any]) -> Summary:
    _arity(fields, 3, "summary")
    digest, count = _digest_and_count(fields[0], fields[1], "summary")
    return Summary(digest, count, _bool(fields[2], "summary.joining"))


def _bool(value: Any, what: str) -> bool:
    if type(value) is not bool:
        raise RemoteError("malformed", f"{what} is not a bool")
    return value


def _digest_and_count(digest: Any, count: Any, what: str) -> tuple[bytes, int]:
    if type(digest) is not bytes or len(digest) != DIGEST_BYTES:
        raise RemoteError("malformed", f"{what}.digest")
    return digest, _int(count, 0, MAX_SEQ, f"{what}.count")


def _parse_have(fields: list[Any]) -> Have:
    _arity(fields, 1, "have")
    marks = []
    for item in _list(fields[0], MAX_HAVE_ITEMS, "have.marks"):
        if not isinstance(item, list) or len(item) != 3:
            raise RemoteError("malformed", "have mark")
        highest = _int(item[2], 1, MAX_SEQ, "seq")
        contiguous = _int(item[1], 0, highest, "contiguous seq")
        marks.append((_int(item[0], 0, MAX_SOURCE_ID, "source"), contiguous, highest))
    return Have(tuple(marks))


def _parse_want(fields: list[Any]) -> Want:
    _arity(fields, 1, "want")
    ranges = []
    for item in _list(fields[0], MAX_RANGE_ITEMS, "want.ranges"):
        if not isinstance(item, list) or len(item) != 3:
            raise RemoteError("malformed", "want range")
        source = _int(item[0], 0, MAX_SOURCE_ID, "source")
        first = _int(item[1], 1, MAX_SEQ, "first")
        last = _int(item[2], first, MAX_SEQ, "last")
        ranges.append((source, first, last))
    return Want(tuple(ranges))


def _hash_and_digest(state_hash: Any, digest: Any, what: str) -> tuple[bytes, bytes]:
    """A state hash and the events digest it was taken after, checked."""
    if type(state_hash) is not bytes or len(state_hash) != STATE_HASH_BYTES:
        raise RemoteError("malformed", f"{what}.state_hash")
    if type(digest) is not bytes or len(digest) != DIGEST_BYTES:
        raise RemoteError("malformed", f"{what}.events_digest")
    return state_hash, digest


def _parse_reports(value: Any) -> tuple[tuple[int, bytes, bytes], ...]:
    reports = []
    for item in _list(value, MAX_REPORT_ITEMS, "sync.reports"):
        if not isinstance(item, list) or len(item) != 3:
            raise RemoteError("malformed", "report")
        tick = _int(item[0], 0, MAX_TICK, "report.tick")
        state_hash, digest = _hash_and_digest(item[1], item[2], "report")
        reports.append((tick, state_hash, digest))
    return tuple(reports)


def _parse_snap_request(fields: list[Any]) -> SnapRequest:
    _arity(fields, 2, "snap_request")
    tick = _int(fields[0], 0, MAX_TICK, "snap_request.tick")
    items = _list(fields[1], MAX_CHUNK_INDEXES, "snap_request.chunks")
    chunks = tuple(_int(i, 0, MAX_SNAPSHOT_CHUNKS - 1, "chunk index") for i in items)
    return SnapRequest(tick, chunks)


def _parse_snap_offer(fields: list[Any]) -> SnapOffer:
    _arity(fields, 4, "snap_offer")
    tick = _int(fields[0], 0, MAX_TICK, "snap_offer.tick")
    state_hash, events_digest = _hash_and_digest(fields[1], fields[2], "snap_offer")
    size = _int(fields[3], 0, MAX_SNAPSHOT_BYTES, "snap_offer.size")
    return SnapOffer(tick, state_hash, events_digest, size)


def _parse_snap_chunk(fields: list[Any]) -> SnapChunk:
    _arity(fields, 3, "snap_chunk")
    tick = _int(fields[0], 1, MAX_TICK, "snap_chunk.tick")
    index = _int(fields[1], 0, MAX_SNAPSHOT_CHUNKS - 1, "snap_chunk.index")
    data = fields[2]
    if type(data) is not bytes or not 0 < len(data) <= SNAP_CHUNK_BYTES:
        raise RemoteError("malformed", "snap_chunk.data")
    return SnapChunk(tick, index, data)


def _parse_state_request(fields: list[Any]) -> StateRequest:
    _arity(fields, 3, "state request")
    tick = _int(fields[0], 0, MAX_TICK, "state_request.tick")
    first = _int(fields[1], 0, MAX_STATE_CHUNKS, "state_request.first")
    count = _int(fields[2], 1, MAX_CHUNKS_PER_REQUEST, "state_request.count")
    return StateRequest(tick, first, count)


def _parse_state_chunk(fields: list[Any]) -> StateChunk:
    _arity(fields, 4, "state chunk")
    tick = _int(fields[0], 0, MAX_TICK, "state_chunk.tick")
    total = _int(fields[2], 0, MAX_STATE_CHUNKS, "state_chunk.total")
    index = _int(fields[1], 0, max(total - 1, 0), "state_chunk.index")
    data = fields[3]
    if type(data) is not bytes or len(data) > STATE_CHUNK_BYTES:
        raise RemoteError("malformed", "state_chunk.data")
    return StateChunk(tick, index, total, data)


_EVENTS_TYPE = _TYPE_IDS[Events]
_PARSERS: dict[int, Callable[[list[Any]], Message]] = {
    1: _parse_hello,
    2: _parse_events,
    3: _parse_sync,
    4: _parse_summary,
    5: _parse_have,
    6: _parse_want,
    7: _parse_state_request,
    8: _parse_state_chunk,
    9: _parse_snap_request,
    10: _parse_snap_offer,
    11: _parse_snap_chunk,
}
