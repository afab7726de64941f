"""Snapshot transfer: a joiner fetches a neighbour's settled snapshot in paced chunks.

How this works: a :class:`SnapshotTransfer` belongs to a gossip node and plays both
roles; the node hands it the SNAP_* messages and asks it for timers and paced chunks.

* **Joiner.** While its session wants a snapshot (it is joining and still at START), it asks
  one settled neighbour (SNAP_REQUEST without chunk indexes, naming the newest tick whose
  report from that neighbour another settled neighbour's report corroborates, or 0). The
  neighbour answers with an offer (SNAP_OFFER: tick ``T``, the state hash, the payload size)
  and starts sending the first window of chunks (SNAP_CHUNK, at most
  :data:`SNAP_CHUNK_BYTES` each; a chunk that overtakes the offer is kept until it arrives).
  Whenever the chunks asked for have all arrived the joiner asks for the next window of
  missing ones (SNAP_REQUEST with ``T`` and up to :data:`MAX_CHUNK_INDEXES` indexes); when a
  window stalls (lost datagrams) it asks for its missing chunks again after ``max(0.1 s, 3
  RTT)`` plus the window's pacing time (an unanswered request for an offer is repeated the
  same way). Once complete, the payload (coverage marks and the state blob, msgpack) is
  checked *before the state is decoded*: the blob must hash to the offered hash, and that
  hash must match what a peer other than the sender reported for ``T`` with the same events
  digest (see :mod:`arcade_p2p.hash_reports`: states are comparable only where the events
  before ``T`` agree). A tick that no other neighbour has reported with that digest yet is
  waited for (:data:`VERIFY_WAIT_S`), unless the request named no tick and the reports now
  corroborate one of the sender's: the joiner then asks the sender for that one (once per
  fetch, so changing reports cannot keep it asking); a joiner whose
  only settled neighbour is the sender (neighbours that are joining themselves, or whose own
  snapshot was refused, do not count) accepts the snapshot from that sole neighbour. Only
  then is the state decoded, by the game's restricted decoder. A mismatching, unverifiable,
  malformed or refused snapshot is dropped, counted by reason and logged like a bad
  datagram, and the next neighbour is asked; when none is left, the join replays the history
  from START.
* **Sender.** A request without chunk indexes is answered with the settled snapshot of
  the tick it names if the session offers that one, else with the one the session offers
  by default (a new one at most once per :data:`OFFER_INTERVAL_S` per neighbour,
  the same offer again in between; the last :data:`SERVED_SNAPSHOTS` payloads are kept,
  so repeated requests cost no encoding). A
  request for chunks of a kept snapshot queues them (at most one window); one for a
  snapshot no longer kept is answered with a fresh offer. A snapshot larger than
  :data:`MAX_SNAPSHOT_BYTES` is never offered (counted in ``too_large``).
* **Pacing.** Queued chunks leave through a token bucket shared by all neighbours
  (:data:`SNAP_CHUNKS_PER_S`, bursts of :data:`SNAP_BURST_CHUNKS`), so a transfer never
  floods the link that carries the game's events and SYNCs.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import msgpack

from arcade_p2p.errors import RemoteError
from arcade_p2p.events import MAX_SOURCE_ID, Event
from arcade_p2p.hash_reports import snapshot_hash
from arcade_p2p.machine import Coverage
from arcade_p2p.protocol.chunks import Reassembly, chunk_at, chunk_count
from arcade_p2p.protocol.wire import (
    DIGEST_BYTES,
    MAX_CHUNK_INDEXES,
    MAX_SEQ,
    MAX_SNAPSHOT_BYTES,
    SNAP_CHUNK_BYTES,
    STATE_HASH_BYTES,
    Message,
    SnapChunk,
    SnapOffer,
    SnapRequest,
)

__all__ = [
    "OFFER_INTERVAL_S",
    "SERVED_SNAPSHOTS",
    "SNAP_BURST_CHUNKS",
    "SNAP_CHUNKS_PER_S",
    "VERIFY_WAIT_S",
    "SnapshotHost",
    "SnapshotTransfer",
    "TransferStats",
    "Verdict",
]

log = logging.getLogger("arcade_p2p.protocol")

Address = Hashable
SNAP_CHUNKS_PER_S = 1600.0
"""Pacing rate of snapshot chunks (about 1.8 MB/s; a 220 KB physics space takes ~0.13 s)."""
SNAP_BURST_CHUNKS = 16
"""Most chunks sent back to back before the pacing rate applies."""
MIN_PACING_WAIT_S = 1e-6
"""Shortest wait for the next token: a shorter one can vanish in the float addition to the
current time, which would wake the driver at the same instant again and again."""
WINDOW_RETRY_MIN_S = 0.1
"""Shortest wait before the missing chunks of a window are asked again."""
WINDOW_RETRY_RTTS = 3.0
"""A window is asked again after this many round trips (plus its pacing time)."""
MAX_WINDOW_RETRIES = 8
"""Retries of a request for an offer, or of one window without a single new chunk, before
the neighbour is given up."""
VERIFY_WAIT_S = 0.5
"""How long a complete snapshot waits for another neighbour to report its tick."""
OFFER_INTERVAL_S = 0.5
"""A neighbour's requests for an offer are answered at most this often."""
SERVED_SNAPSHOTS = 2
"""Snapshot payloads a sender keeps for the chunk requests that follow its offers."""
MAX_COVERAGE_ITEMS = 1 << 16
"""Most entries (source marks and single seqs) a snapshot's coverage may hold."""
NO_HASH = bytes(STATE_HASH_BYTES)
NO_DIGEST = bytes(DIGEST_BYTES)


class Verdict(Enum):
    """What the other peers' reports say about an offered snapshot."""

    MATCH = "match"
    """A peer other than the sender reported the same hash and events digest for the tick."""
    MISMATCH = "mismatch"
    """Peers other than the sender reported the same events digest, all with another hash."""
    UNKNOWN = "unknown"
    """No peer other than the sender has reported the tick with the same events digest."""


class SnapshotHost(Protocol):
    """What the transfer needs from its session."""

    def wants_snapshot(self) -> bool:
        """Whether the session would start from a received snapshot now."""

    def snapshot_to_offer(self, tick: int) -> tuple[Coverage, bytes] | None:
        """A settled snapshot to serve, the one of ``tick`` if the session has it ready
        (0 or otherwise: its newest): its coverage (with the digest of the events its
        state contains) and its state blob (None: nothing to offer)."""

    def corroborated_tick(self, sender: int, witnesses: list[int]) -> int:
        """The newest tick whose report from ``sender`` equals one from a peer in
        ``witnesses`` (0: none), so a snapshot of it can be verified at once."""

    def verdict(self, tick: int, state_hash: bytes, events_digest: bytes, sender: int) -> Verdict:
        """Check ``state_hash`` for ``tick`` against what peers other than ``sender`` report
        with the same ``events_digest``."""

    def install_snapshot(self, coverage: Coverage, blob: bytes) -> None:
        """Start from the snapshot (raises RemoteError if the blob is refused)."""


@dataclass(slots=True)
class TransferStats:
    """Counters of the snapshot transfer.

    Attributes:
        offers_sent: Snapshots offered to joiners.
        chunks_sent: Chunks sent.
        too_large: Snapshots not offered because they exceed the maximum size.
        installed: Received snapshots the session started from.
        refused: Received snapshots dropped (the reasons are in the node's drop counts).
        chunk_retries: Windows asked again because chunks were lost.
    """

    offers_sent: int = 0
    chunks_sent: int = 0
    too_large: int = 0
    installed: int = 0
    refused: int = 0
    chunk_retries: int = 0


@dataclass(slots=True)
class _Fetch:
    """A snapshot being fetched from one neighbour."""

    address: Address
    peer: int
    deadline: float
    wanted: int = 0
    tick: int = 0
    state_hash: bytes = NO_HASH
    events_digest: bytes = NO_DIGEST
    size: int = 0
    chunks: Reassembly = field(default_factory=lambda: Reassembly(0))
    asked: set[int] = field(default_factory=set)
    retries: int = 0
    complete: bytes | None = None
    verify_until: float = 0.0
    early: list[SnapChunk] = field(default_factory=list)
    """Chunks that overtook the offer (they leave together), kept until it arrives."""


class SnapshotTransfer:
    """Both sides of the snapshot transfer for one gossip node.

    Args:
        host: The session side (what to offer, how to verify and install).
        send: Queues a message to a neighbour address.
        drop: Counts and logs a remote error caused by a neighbour.
        neighbours: The live neighbours as ``(address, peer id, settled)`` triples
            (settled: the neighbour is not itself joining).
        rtt_s: The minimum round-trip time to an address, if measured.
    """

    def __init__(
        self,
        *,
        host: SnapshotHost,
        send: Callable[[Address, Message], None],
        drop: Callable[[RemoteError, Address], None],
        neighbours: Callable[[], list[tuple[Address, int, bool]]],
        rtt_s: Callable[[Address], float | None],
    ) -> None:
        self.host = host
        self.stats = TransferStats()
        self._send = send
        self._drop = drop
        self._neighbours = neighbours
        self._rtt_s = rtt_s
        self._fetch: _Fetch | None = None
        self._tried: set[int] = set()
        self._refused_by: set[int] = set()
        """Neighbours whose snapshot was refused: they cannot vouch for another one."""
        self._served: OrderedDict[int, tuple[SnapOffer, bytes]] = OrderedDict()
        """tick -> (the offer, the payload) of the last snapshots offered."""
        self._offered_at: dict[Address, float] = {}
        self._queue: deque[tuple[Address, int, int]] = deque()
        self._queued: set[tuple[Address, int, int]] = set()
        self._tokens = float(SNAP_BURST_CHUNKS)
        self._refilled_at = 0.0
        self.base: Coverage | None = None
        """What the snapshot this session started from covers, while its state still
        builds on it (None: no snapshot, or an older event it lacks made the session
        replay the history from START)."""

    @property
    def floor(self) -> Mapping[int, int]:
        """Per source, the seqs already in the state the session started from (empty: none).

        The gossip node asks for the events above them first and lets a join go once it
        holds those: the rest of the history only fills the timeline.
        """
        return {} if self.base is None else self.base.marks

    def outdates_base(self, event: Event) -> bool:
        """Note an event new to the session; whether it is older than the snapshot the
        session started from and missing from it (the machine then replays the history
        from START, so every event counts again: the floor is gone)."""
        base = self.base
        if base is None or event.tick >= base.tick or base.covers(event):
            return False
        self.base = None
        return True

    @property
    def fetching(self) -> bool:
        """Whether a snapshot is being fetched (asked for, arriving or being verified)."""
        return self._fetch is not None

    # ------------------------------------------------------------------ timers
    def timer(self) -> float:
        """When :meth:`handle_timer` or :meth:`paced_chunks` next has work (absolute)."""
        deadline = float("inf")
        fetch = self._fetch
        if fetch is not None:
            deadline = fetch.verify_until if fetch.complete is not None else fetch.deadline
        if self._queue:
            wait = max(MIN_PACING_WAIT_S, (1.0 - self._tokens) / SNAP_CHUNKS_PER_S)
            deadline = min(deadline, self._refilled_at + wait)
        return deadline

    def handle_timer(self, *, now: float) -> None:
        """Start, retry, give up or finish a fetch as its deadlines say."""
        if not self.host.wants_snapshot():
            self._fetch = None
            return
        fetch = self._fetch
        if fetch is None:
            self._ask_next(now)
        elif fetch.complete is not None:
            self._verify(fetch, now)
        elif now >= fetch.deadline:
            if fetch.retries >= MAX_WINDOW_RETRIES:
                self._give_up(fetch, now)
                return
            fetch.retries += 1
            if fetch.tick == 0:  # the request or the offer was lost: ask again
                fetch.deadline = now + self._window_wait(fetch, 0)
                self._send(fetch.address, SnapRequest(fetch.wanted, ()))
            else:
                self.stats.chunk_retries += 1
                fetch.asked.clear()
                self._ask_window(fetch, now)

    def _ask_next(self, now: float) -> None:
        for address, peer, settled in self._neighbours():
            if settled and peer not in self._tried:
                self._tried.add(peer)
                self._ask(address, peer, self._corroborated_tick(peer), now)
                return

    def _ask(self, address: Address, peer: int, wanted: int, now: float) -> None:
        self._fetch = _Fetch(address, peer, 0.0, wanted)
        self._fetch.deadline = now + self._window_wait(self._fetch, 0)
        self._send(address, SnapRequest(wanted, ()))

    def _witnesses(self, sender: int) -> list[int]:
        """The settled neighbours other than ``sender`` whose reports can verify its
        snapshot (not those whose own snapshot was refused)."""
        return [
            peer
            for _, peer, settled in self._neighbours()
            if settled and peer != sender and peer not in self._refused_by
        ]

    def _corroborated_tick(self, sender: int) -> int:
        return self.host.corroborated_tick(sender, self._witnesses(sender))

    def _give_up(self, fetch: _Fetch, now: float) -> None:
        log.info("snapshot from %r abandoned", fetch.address)
        self._fetch = None
        self._ask_next(now)

    # ------------------------------------------------------------------ joiner side
    def on_offer(self, address: Address, offer: SnapOffer, *, now: float) -> None:
        """A neighbour offers a snapshot (or has none: tick 0)."""
        fetch = self._fetch
        if fetch is None or fetch.address != address or fetch.complete is not None:
            return  # unasked, or a stale answer
        if offer.tick == 0 or offer.size == 0:
            self._give_up(fetch, now)
            return
        if offer.tick != fetch.tick:
            fetch.tick, fetch.state_hash, fetch.size = offer.tick, offer.state_hash, offer.size
            fetch.events_digest = offer.events_digest
            fetch.chunks = Reassembly(chunk_count(offer.size, SNAP_CHUNK_BYTES))
        fetch.retries = 0
        fetch.asked = set(range(min(fetch.chunks.count, MAX_CHUNK_INDEXES)))  # came with it
        fetch.deadline = now + self._window_wait(fetch, len(fetch.asked))
        early, fetch.early = fetch.early, []
        for chunk in early:
            if chunk.tick == fetch.tick and fetch.complete is None:
                self._take_chunk(fetch, chunk, now)

    def on_chunk(self, address: Address, chunk: SnapChunk, *, now: float) -> None:
        """A piece of the snapshot being fetched arrives."""
        fetch = self._fetch
        if fetch is None or fetch.address != address or fetch.complete is not None:
            return  # answers to an abandoned fetch, late duplicates
        if fetch.tick == 0:  # it overtook the offer
            if len(fetch.early) < MAX_CHUNK_INDEXES:
                fetch.early.append(chunk)
            return
        if chunk.tick == fetch.tick:
            self._take_chunk(fetch, chunk, now)

    def _take_chunk(self, fetch: _Fetch, chunk: SnapChunk, now: float) -> None:
        count = fetch.chunks.count
        expected = min(SNAP_CHUNK_BYTES, fetch.size - chunk.index * SNAP_CHUNK_BYTES)
        if chunk.index >= count or len(chunk.data) != expected:
            raise RemoteError("malformed", f"snapshot chunk {chunk.index} of {count}")
        if fetch.chunks.add(chunk.index, chunk.data):
            fetch.retries = 0
        fetch.asked.discard(chunk.index)
        if fetch.chunks.complete:
            fetch.complete = fetch.chunks.join()
            fetch.chunks = Reassembly(0)
            fetch.verify_until = now + VERIFY_WAIT_S
            self._verify(fetch, now)
        elif not fetch.asked:
            self._ask_window(fetch, now)

    def _ask_window(self, fetch: _Fetch, now: float) -> None:
        window = fetch.chunks.missing(MAX_CHUNK_INDEXES)
        fetch.asked = set(window)
        fetch.deadline = now + self._window_wait(fetch, len(window))
        self._send(fetch.address, SnapRequest(fetch.tick, tuple(window)))

    def _window_wait(self, fetch: _Fetch, chunks: int) -> float:
        rtt = self._rtt_s(fetch.address) or 0.0
        return max(WINDOW_RETRY_MIN_S, WINDOW_RETRY_RTTS * rtt) + chunks / SNAP_CHUNKS_PER_S

    def _verify(self, fetch: _Fetch, now: float) -> None:
        payload = fetch.complete
        assert payload is not None
        if not self.host.wants_snapshot():  # the join ended meanwhile (its timeout)
            self._fetch = None
            return
        try:
            coverage, blob = _parse_payload(fetch.tick, fetch.events_digest, payload)
            if snapshot_hash(blob) != fetch.state_hash:
                raise RemoteError("snapshot_hash", f"snapshot of tick {fetch.tick}")
            verdict = self.host.verdict(
                fetch.tick, fetch.state_hash, fetch.events_digest, fetch.peer
            )
            if verdict is Verdict.MISMATCH:
                raise RemoteError("snapshot_mismatch", f"other peers disagree on {fetch.tick}")
            if verdict is Verdict.UNKNOWN and self._witnesses(fetch.peer):
                better = self._corroborated_tick(fetch.peer) if not fetch.wanted else 0
                if better and better != fetch.tick:  # ask once for one it can verify
                    self._ask(fetch.address, fetch.peer, better, now)
                    return
                if now < fetch.verify_until:
                    return  # wait for another neighbour's report of this tick
                raise RemoteError("snapshot_unverified", f"nobody else reported {fetch.tick}")
            self.host.install_snapshot(coverage, blob)
        except RemoteError as exc:
            self.stats.refused += 1
            self._refused_by.add(fetch.peer)
            self._drop(exc, fetch.address)
            self._give_up(fetch, now)
            return
        self.stats.installed += 1
        self.base = coverage
        self._fetch = None
        log.info("joined from the snapshot of tick %d sent by %r", fetch.tick, fetch.address)

    # ------------------------------------------------------------------ sender side
    def on_request(self, address: Address, request: SnapRequest, *, now: float) -> None:
        """A joiner asks for an offer (no chunks) or for chunks."""
        served = self._served.get(request.tick)
        if served is None or not request.chunks:
            self._offer(address, request.tick, now)
            return
        count = chunk_count(served[0].size, SNAP_CHUNK_BYTES)
        for index in request.chunks:
            if index < count:
                self._queue_chunk(address, request.tick, index)

    def _offer(self, address: Address, wanted: int, now: float) -> None:
        if wanted in self._served:
            tick = wanted
        elif now - self._offered_at.get(address, float("-inf")) < OFFER_INTERVAL_S and self._served:
            tick = next(reversed(self._served))  # a repeated request: the same offer again
        else:
            self._offered_at[address] = now
            found = self.host.snapshot_to_offer(wanted)
            if found is None:
                self._send(address, SnapOffer(0, NO_HASH, NO_DIGEST, 0))
                return
            coverage, blob = found
            tick = coverage.tick
            if tick not in self._served:
                payload = _pack_payload(coverage, blob)
                if len(payload) > MAX_SNAPSHOT_BYTES:
                    self.stats.too_large += 1
                    log.warning("snapshot of %d bytes is too large to offer", len(payload))
                    self._send(address, SnapOffer(0, NO_HASH, NO_DIGEST, 0))
                    return
                offer = SnapOffer(tick, snapshot_hash(blob), coverage.events_digest, len(payload))
                self._served[tick] = (offer, payload)
                while len(self._served) > SERVED_SNAPSHOTS:
                    self._served.popitem(last=False)
            self._served.move_to_end(tick)
        offer, payload = self._served[tick]
        self.stats.offers_sent += 1
        self._send(address, offer)
        count = chunk_count(len(payload), SNAP_CHUNK_BYTES)
        for index in range(min(count, MAX_CHUNK_INDEXES)):
            self._queue_chunk(address, tick, index)

    def _queue_chunk(self, address: Address, tick: int, index: int) -> None:
        key = (address, tick, index)
        if key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)

    def paced_chunks(self, *, now: float) -> list[tuple[Address, SnapChunk]]:
        """The chunks the pacing lets out now."""
        if not self._queue:
            self._refilled_at = now
            return []
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(float(SNAP_BURST_CHUNKS), self._tokens + elapsed * SNAP_CHUNKS_PER_S)
        self._refilled_at = now
        out: list[tuple[Address, SnapChunk]] = []
        while self._queue and self._tokens >= 1.0:
            key = self._queue.popleft()
            self._queued.discard(key)
            address, tick, index = key
            served = self._served.get(tick)
            if served is None:
                continue  # superseded meanwhile
            out.append(
                (address, SnapChunk(tick, index, chunk_at(served[1], index, SNAP_CHUNK_BYTES)))
            )
            self._tokens -= 1.0
        self.stats.chunks_sent += len(out)
        return out


def _pack_payload(coverage: Coverage, blob: bytes) -> bytes:
    marks = [[source, mark] for source, mark in sorted(coverage.marks.items())]
    extra = [list(ident) for ident in sorted(coverage.extra)]
    packed: bytes = msgpack.packb([marks + extra, blob], use_bin_type=True)
    return packed


def _parse_payload(tick: int, events_digest: bytes, payload: bytes) -> tuple[Coverage, bytes]:
    """Validate a received payload: ``[[[source, mark], ..., [source, seq], ...], state]``.

    The first entry of a source is its mark (every seq up to it is covered); any further
    entries of that source name single seqs held above a gap. ``tick`` and
    ``events_digest`` come with the offer.
    """
    try:
        body: Any = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types for bad input
        raise RemoteError("malformed", f"snapshot payload: {type(exc).__name__}") from None
    if not isinstance(body, list) or len(body) != 2:
        raise RemoteError("malformed", "snapshot payload is not [coverage, state]")
    items, blob = body
    if not isinstance(items, list) or len(items) > MAX_COVERAGE_ITEMS:
        raise RemoteError("malformed", "snapshot coverage")
    if type(blob) is not bytes:
        raise RemoteError("malformed", "snapshot state is not bytes")
    marks: dict[int, int] = {}
    extra: set[tuple[int, int]] = set()
    for item in items:
        source, seq = _source_and_seq(item, "snapshot coverage entry")
        if source in marks:
            extra.add((source, seq))
        else:
            marks[source] = seq
    return Coverage(tick, marks, events_digest, frozenset(extra)), blob


def _source_and_seq(item: Any, what: str) -> tuple[int, int]:
    """A ``[source, seq]`` pair of a snapshot payload, checked."""
    if (
        not isinstance(item, list)
        or len(item) != 2
        or type(item[0]) is not int
        or type(item[1]) is not int
        or not 0 <= item[0] <= MAX_SOURCE_ID
        or not 0 <= item[1] <= MAX_SEQ
    ):
        raise RemoteError("malformed", what)
    return item[0], item[1]
