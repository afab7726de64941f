"""The sans-io gossip node: links, flooding, SYNC and anti-entropy.

How this works: the node never touches a socket or a clock. A driver hands it datagrams
with :meth:`GossipNode.receive_datagram`, collects what to send with
:meth:`GossipNode.datagrams_to_send`, and calls :meth:`GossipNode.handle_timer` at or
after :meth:`GossipNode.get_timer`. Addresses are opaque hashable values.

* **Links.** A peer configured with :meth:`add_peer` is sent HELLO every second until it
  answers; any peer whose HELLO authenticates (same room) and matches (same fps and
  snapshot period) becomes a neighbour. :meth:`GossipNode.unanswered` lists configured
  peers that have not answered since a given time, so a driver can tell its user.
  A neighbour silent for ``link_timeout_s`` is considered gone; nothing else happens.
* **Flooding.** Every event new to this node is queued for every live neighbour except the
  one it came from and its source; queues are packed into datagrams of at most 1200
  bytes. A neighbour that sends this node an event still queued for it has it already:
  the queued copy is taken back (in a mesh, the relays of one event cross each other).
* **SYNC.** Periodically every neighbour gets this peer's clock value plus an echo of the
  last SYNC it sent us, from which both sides measure round-trip times.
* **Slack.** SYNC also carries the slack facts of the session's
  :class:`~arcade_p2p.delay.SlackBoard` (how late events arrived, per source), and the
  facts a neighbour sends go to that board: this is how a source with an automatic
  Delta hears how late its events are, however many hops away.
* **Anti-entropy.** Every SYNC carries a digest of the per-source high-water marks (a
  separate SUMMARY carries it when anti-entropy must run more often than SYNC). A
  neighbour whose digest differs answers with HAVE (its marks, in chunks);
  the side that lacks events sends WANTs with the missing seq ranges and receives
  them as EVENTS. Lost datagrams, late joiners, returning peers and healed partitions
  all converge this way.
* **Pipelining.** A round asks one neighbour for several WANTs at once, each for at most
  ``MAX_EVENTS_PER_WANT`` seqs (so each is answered in full), and the next round starts
  as soon as the answers have arrived (the neighbour's advertised marks are remembered),
  not at the next digest. A round starts at ``WANTS_PER_ROUND_START`` WANTs and doubles
  after each round answered in full, up to ``MAX_WANTS_PER_ROUND`` (a joiner fetching a
  long history from many sources needs few round trips); a round whose answers were
  lost is asked again after ``want_retry_s(rtt)`` at half the size (a timer, not the
  next HAVE). A HAVE tells, per source, up to which seq the neighbour holds every event
  and its highest: a round waits only for answers it can count on and asks for the rest
  (events the neighbour holds above a gap of its own) without waiting for them.
* **State-hash reports.** Every SYNC also carries this peer's newest state-hash reports
  that this neighbour has not been sent yet (usually one: a report is made every snapshot
  period); reports that arrive go to the :class:`~arcade_p2p.hash_reports.HashReports`,
  which compares them (desync detection).
* **State fetch.** :meth:`GossipNode.fetch_state` fetches a neighbour's snapshot at one
  tick in chunks (see :mod:`arcade_p2p.protocol.state_fetch`); this node answers such
  requests from its own snapshots. Desync forensics uses it.
* **Snapshots.** SNAP_REQUEST, SNAP_OFFER and SNAP_CHUNK go to the node's
  :class:`~arcade_p2p.protocol.transfer.SnapshotTransfer`, which fetches a snapshot for a
  joining session and serves this session's settled snapshots to joiners, paced.
* **Bounded work.** No datagram makes the node do unbounded work, even one from a peer
  that knows the room key: a digest is answered with at most ``MAX_HAVES_PER_DIGEST``
  HAVEs, a HAVE or an EVENTS datagram with at most one round of WANTs, a WANT with at
  most ``MAX_EVENTS_PER_WANT`` events found without walking the requested seq range.
  Events are never dropped for their tick: a far-future one waits in the timeline (it
  does not move local stamping), a far-past one costs one rollback, shared with every
  other late event of the frame.
* **Bad input.** Every datagram that fails to decode, authenticate or make sense is
  dropped and counted by reason in :attr:`GossipNode.dropped`, with a log line.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from arcade_p2p.clock import Clock, ClockReport, RttFilter
from arcade_p2p.delay import SlackBoard, SlackFact
from arcade_p2p.errors import RemoteError
from arcade_p2p.events import Event
from arcade_p2p.hash_reports import HashReport, HashReports
from arcade_p2p.joining import JoinState
from arcade_p2p.protocol.replay import ReplayFilter
from arcade_p2p.protocol.state_fetch import StateFetch, StateServer
from arcade_p2p.protocol.transfer import SnapshotHost, SnapshotTransfer
from arcade_p2p.protocol.wire import (
    MAC_BYTES,
    MAX_DATAGRAM_BYTES,
    MAX_HAVE_ITEMS,
    MAX_HOPS,
    MAX_RANGE_ITEMS,
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
from arcade_p2p.timeline import InsertOutcome, Timeline

__all__ = ["GossipNode", "Link", "NodeSettings", "NodeStats"]

log = logging.getLogger("arcade_p2p.protocol")

Address = Hashable
EVENTS_OVERHEAD_BYTES = 64
"""Room left in a datagram for the header, MAC and Events framing."""
BENIGN_DROPS = frozenset({"replayed", "unlinked", "snapshot_unverified"})
"""Drop reasons that ordinary networks cause (duplication; reordering during a handshake;
a snapshot no other neighbour has reported yet with the same events, common under churn):
counted like the others but logged at DEBUG level, not WARNING."""
MAX_RTT_S = 60.0
"""Round-trip samples above this are nonsense (a stale echo) and are ignored."""
MAX_EVENTS_PER_WANT = 256
"""Most events sent back for one WANT (the rest follows in later rounds)."""
WANTS_PER_ROUND_START = 8
"""WANTs in a link's first round, and the fewest after losses (up to 2,048 events)."""
MAX_WANTS_PER_ROUND = 64
"""Most WANTs sent to one neighbour at once (a round asks for up to 16,384 events)."""
WANT_RETRY_MIN_S = 0.1
"""Shortest wait before a round whose answers have not all arrived is asked again."""
WANT_RETRY_RTTS = 3.0
"""A round is asked again after this many round-trip times (or WANT_RETRY_MIN_S)."""
MAX_REMEMBERED_MARKS = 4096
"""Most sources whose advertised marks a link remembers for pipelined rounds."""
TAKE_BACK_SCAN = 8
"""How many of the events last queued for a neighbour are searched for one it sent us."""
MAX_HAVES_PER_DIGEST = 4
"""Most HAVE datagrams sent in answer to one differing digest (256 sources; with more,
successive answers take turns)."""


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """Timing of the gossip protocol (seconds).

    Attributes:
        hello_interval_s: Retry period of HELLO to configured peers that are not linked.
        sync_interval_s: Period of SYNC to each neighbour.
        summary_interval_s: Period of anti-entropy SUMMARY to each neighbour.
        link_timeout_s: A neighbour silent this long is considered gone.
        warmup_syncs: A new link gets its first this-many SYNCs every
            ``warmup_interval_s`` instead, so the clock's per-neighbour average fills in
            a fraction of a second (0: no warm-up, as in the paper).
        warmup_interval_s: SYNC period of a link that is warming up.
    """

    hello_interval_s: float = 1.0
    sync_interval_s: float = 0.25
    summary_interval_s: float = 0.5
    link_timeout_s: float = 3.0
    warmup_syncs: int = 0
    warmup_interval_s: float = 0.05


@dataclass(slots=True)
class Link:
    """What the node knows about one neighbour address."""

    address: Address
    configured: bool = False
    peer: int | None = None
    last_heard: float = float("-inf")
    up: bool = False
    rtt: RttFilter = field(default_factory=RttFilter)
    echo_sent_at: float = -1.0
    syncs_sent: int = 0
    echo_received_at: float = 0.0
    outbox: list[Event] = field(default_factory=list)
    have_cursor: int = 0
    marks: dict[int, int] = field(default_factory=dict)
    """The neighbour's advertised high-water marks (from its HAVEs)."""
    held: dict[int, int] = field(default_factory=dict)
    """Per source, the seq up to which the neighbour said it holds every event: what a
    round can count on being answered (it may lack seqs between this and its mark)."""
    have_at: float = float("-inf")
    """When its last HAVE arrived."""
    sync_at: float = float("-inf")
    """When its last SYNC arrived."""
    asked: int = 0
    """Events asked of this neighbour in the current round and not yet received."""
    round_deadline: float = float("-inf")
    """When the current round is given up and asked again."""
    wants_per_round: int = WANTS_PER_ROUND_START
    """WANTs in the next round: doubled after a round answered in full, halved after one
    that was not."""
    settled: bool = False
    """The neighbour said it is not itself joining (it can serve history and snapshots)."""
    reports_sent: dict[int, bytes] = field(default_factory=dict)
    """Own reports last offered to this neighbour: ``tick -> state hash + events digest``."""
    dialled_at: float | None = None
    """When this configured link was last dialled without an answer since (None: up)."""
    last_drop: str | None = None
    """Reason of the last datagram from this address that was dropped, if any."""


@dataclass(slots=True)
class NodeStats:
    """Traffic counters of a node."""

    datagrams_in: int = 0
    datagrams_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    events_received: int = 0
    events_new: int = 0
    events_duplicate: int = 0
    events_conflict: int = 0


class GossipNode:
    """One peer's protocol engine.

    Args:
        source: This session's id (sender id of every datagram).
        fps: Tick rate (neighbours must match).
        snapshot_every_ticks: Snapshot period (neighbours must match).
        codec: Wire codec of the room.
        timeline: The event log shared with the time machine.
        clock: The peer's clock (fed by SYNC).
        rng: Seeded randomness (epoch, timer phases).
        settings: Protocol timing.
        on_new_event: Called for every event new to this node (local ones excluded); the
            attribute of the same name may be replaced later (a threaded driver does).
        join: The session's join state (this node tells neighbours whether it is joining
            and reports when a settled neighbour's history matches).
        reports: State-hash reports, sent with each SYNC; the neighbours' go in there.
        snapshots: The session side of the snapshot transfer (None: this node neither
            fetches nor serves snapshots).
        now: Start time.
        slack: The session's slack board, exchanged on SYNC (None: no slack facts).
    """

    def __init__(
        self,
        *,
        source: int,
        fps: int,
        snapshot_every_ticks: int,
        codec: WireCodec,
        timeline: Timeline,
        clock: Clock,
        rng: random.Random,
        settings: NodeSettings,
        on_new_event: Callable[[Event], None],
        join: JoinState,
        reports: HashReports,
        snapshots: SnapshotHost | None = None,
        now: float,
        slack: SlackBoard | None = None,
    ) -> None:
        self.source = source
        self.slack = slack
        self.fps = fps
        self.snapshot_every_ticks = snapshot_every_ticks
        self.codec = codec
        self.timeline = timeline
        self.clock = clock
        self.settings = settings
        self.epoch = rng.getrandbits(32)
        self.stats = NodeStats()
        self.dropped: Counter[str] = Counter()
        self.on_new_event = on_new_event
        self._counter = 0
        self._links: dict[Address, Link] = {}
        self._replay = ReplayFilter()
        self._queue: list[tuple[Address, Message]] = []
        self._pending: set[Address] = set()
        """Links whose event outbox is not empty."""

        self._next_hello = now
        self._next_sync = now + rng.random() * settings.sync_interval_s
        self._next_warmup = now
        self.join = join
        self.reports = reports
        self.transfer = (
            None
            if snapshots is None
            else SnapshotTransfer(
                host=snapshots,
                send=self._send,
                drop=self._drop,
                neighbours=self._settled_neighbours,
                rtt_s=self._min_rtt_s,
            )
        )
        self._state_server = StateServer(reports.snapshot)
        self._fetches: dict[tuple[int, int], StateFetch] = {}
        # SYNC carries the digest too; a separate SUMMARY is only needed when it must run
        # more often than SYNC (the paper clock mode syncs once a second).
        self._summaries = settings.summary_interval_s < settings.sync_interval_s
        self._next_summary = (
            now + rng.random() * settings.summary_interval_s if self._summaries else math.inf
        )

    # ----------------------------------------------------------------- links
    def add_peer(self, address: Address, *, now: float) -> None:
        """Dial ``address``: HELLO it until it answers (and again whenever it goes silent)."""
        link = self._link(address)
        link.configured = True
        if not link.up and link.dialled_at is None:
            link.dialled_at = now
        self._next_hello = min(self._next_hello, now)

    def unanswered(self, *, since: float) -> list[Link]:
        """Configured links dialled at or before ``since`` that have not answered since.

        A peer that never answers may be absent, or in another room, with another room
        key or another fps: its HELLOs are dropped there and nothing comes back (what
        does come back from it, if anything, is counted in :attr:`Link.last_drop`).
        """
        return [
            link
            for link in self._links.values()
            if link.configured and link.dialled_at is not None and link.dialled_at <= since
        ]

    @property
    def links(self) -> list[Link]:
        """All known links (live or not)."""
        return list(self._links.values())

    def neighbours(self) -> list[Address]:
        """Addresses of live neighbours."""
        return [a for a, link in self._links.items() if link.up]

    # ----------------------------------------------------------------- events
    def broadcast(self, event: Event) -> None:
        """Flood a locally created event (already in the timeline) to every neighbour."""
        self._flood(event, exclude=None)

    def _flood(self, event: Event, exclude: Address | None) -> None:
        source = event.source
        for address, link in self._links.items():
            if link.up and address != exclude and link.peer != source:
                self._queue_event(link, event)

    def _queue_event(self, link: Link, event: Event) -> None:
        link.outbox.append(event)
        self._pending.add(link.address)

    # ----------------------------------------------------------------- input
    def receive_datagram(self, data: bytes, address: Address, *, now: float) -> None:
        """Handle one datagram from ``address``; bad ones are dropped and counted."""
        self.stats.datagrams_in += 1
        self.stats.bytes_in += len(data)
        try:
            sender, epoch, counter, message = self.codec.decode_parts(data)
            if sender == self.source:
                raise RemoteError("own_datagram", "a datagram of this very session")
            if not self._replay.accept(sender, epoch, counter):
                raise RemoteError("replayed", f"counter {counter}")
            self._dispatch(sender, message, address, now)
        except RemoteError as exc:
            self._drop(exc, address)

    def _drop(self, exc: RemoteError, address: Address) -> None:
        link = self._links.get(address)
        if link is not None:
            link.last_drop = exc.reason
        self.dropped[exc.reason] += 1
        n = self.dropped[exc.reason]
        if n & (n - 1) == 0:  # 1st, 2nd, 4th, 8th ... to keep logs readable under attack
            level = logging.DEBUG if exc.reason in BENIGN_DROPS else logging.WARNING
            log.log(
                level, "dropped datagram from %r: %s (%d dropped for this reason)", address, exc, n
            )

    def _dispatch(self, sender: int, message: Message, address: Address, now: float) -> None:
        link = self._links.get(address)
        if isinstance(message, Hello):
            if (message.fps, message.snapshot_every_ticks) != (self.fps, self.snapshot_every_ticks):
                raise RemoteError(
                    "config_mismatch",
                    f"peer runs at {message.fps} fps, snapshot every "
                    f"{message.snapshot_every_ticks} ticks; this peer: {self.fps}, "
                    f"{self.snapshot_every_ticks}",
                )
            if message.reply:  # answer first: our SYNC and SUMMARY must not overtake it
                self._send(address, self._hello(reply=False))
            link = self._link(address)
            self._link_up(link, sender, now)
            link.reports_sent.clear()  # it may have dropped what came before: send all again
            return
        if link is None or not link.up or link.peer != sender:
            self._send(address, self._hello(reply=True))
            raise RemoteError("unlinked", "message before HELLO")
        link.last_heard = now
        if isinstance(message, Events):
            self._on_events(message.events, address)
            if link.asked > 0:
                link.asked = max(0, link.asked - len(message.events))
                if link.asked == 0:  # the round is complete: pipeline a larger one
                    link.wants_per_round = min(MAX_WANTS_PER_ROUND, 2 * link.wants_per_round)
                    self._request(link, now)
            if self.join.joining:
                self._note_caught_up()
        elif isinstance(message, Sync):
            self._on_sync(link, message, now)
        elif isinstance(message, Summary):
            link.settled = not message.joining
            self._compare_histories(address, message.digest, message.joining)
        elif isinstance(message, Have):
            self._on_have(link, message, now)
        elif isinstance(message, StateRequest):
            for chunk in self._state_server.answer(message):
                self._send(address, chunk)
        elif isinstance(message, StateChunk):
            fetch = self._fetches.get((sender, message.tick))
            if fetch is not None:
                request = fetch.on_chunk(message, now=now)
                if request is not None:
                    self._send(address, request)
        elif isinstance(message, Want):
            self._on_want(link, message)
        else:
            self._on_snapshot_message(address, message, now)

    def _on_snapshot_message(
        self, address: Address, message: SnapRequest | SnapOffer | SnapChunk, now: float
    ) -> None:
        transfer = self.transfer
        if transfer is None:
            raise RemoteError("unsupported", f"{type(message).__name__}: no snapshots here")
        if isinstance(message, SnapRequest):
            transfer.on_request(address, message, now=now)
        elif isinstance(message, SnapOffer):
            transfer.on_offer(address, message, now=now)
        else:
            transfer.on_chunk(address, message, now=now)

    def _settled_neighbours(self) -> list[tuple[Address, int, bool]]:
        return [
            (link.address, link.peer, link.settled)
            for link in self._links.values()
            if link.up and link.peer is not None
        ]

    def _min_rtt_s(self, address: Address) -> float | None:
        link = self._links.get(address)
        return None if link is None else link.rtt.min_rtt_s

    def _link(self, address: Address) -> Link:
        link = self._links.get(address)
        if link is None:
            link = self._links[address] = Link(address)
        return link

    def _link_up(self, link: Link, peer: int, now: float) -> None:
        was_up = link.up and link.peer == peer
        if link.peer != peer:
            link.rtt = RttFilter()
            link.echo_sent_at = -1.0
            link.syncs_sent = 0
            self.clock.forget(link.address)
        link.peer = peer
        link.up = True
        link.last_heard = now
        link.dialled_at = None
        if not was_up:
            log.info("link up: %r is peer %d", link.address, peer)
            self._send(link.address, self._sync_for(link, now))
            self._send(link.address, self._summary())

    def _on_events(self, events: Iterable[Event], address: Address) -> None:
        for event in events:
            self.stats.events_received += 1
            outcome = self.timeline.insert(event)
            if outcome is InsertOutcome.NEW:
                self.stats.events_new += 1
                self.on_new_event(event)
                if self.transfer is not None and self.transfer.outdates_base(event):
                    self.join.note_behind()  # the whole history counts again
                self._flood(event, exclude=address)
            elif outcome is InsertOutcome.DUPLICATE:
                self.stats.events_duplicate += 1
                self._take_back(address, event)
            else:
                self.stats.events_conflict += 1
                self._drop(RemoteError("event_conflict", f"event {event.ident}"), address)

    def _take_back(self, address: Address, event: Event) -> None:
        """``address`` sent us ``event``: unqueue it if it waits among the last
        ``TAKE_BACK_SCAN`` events queued for that neighbour (where a relay that crossed
        ours is; a copy further back just goes out, redundant but harmless)."""
        link = self._links.get(address)
        if link is None or not link.outbox:
            return
        outbox = link.outbox
        source, seq = event.source, event.seq
        for i in range(len(outbox) - 1, max(len(outbox) - TAKE_BACK_SCAN, 0) - 1, -1):
            queued = outbox[i]
            if queued.seq == seq and queued.source == source:
                del outbox[i]
                if not outbox:
                    self._pending.discard(address)
                return

    def _on_sync(self, link: Link, sync: Sync, now: float) -> None:
        rtt: float | None = None
        if sync.echo_sent_at >= 0.0:
            rtt = now - sync.echo_sent_at - sync.echo_hold_s
            if 0.0 <= rtt < MAX_RTT_S:
                link.rtt.add(rtt)
            else:
                rtt = None
        link.echo_sent_at = sync.sent_at
        link.echo_received_at = link.sync_at = now
        report = ClockReport(sync.value, sync.origin, sync.stamp, sync.hops)
        self.clock.on_sync(link.address, report, rtt_s=rtt, now=now)
        if sync.reports and link.peer is not None:
            self.reports.receive(link.peer, tuple(HashReport(*r) for r in sync.reports))
        if sync.slack and self.slack is not None:
            facts = (SlackFact(*fact) for fact in sync.slack)
            self.slack.heard(facts, now_tick=self.clock.due_tick(now))
        link.settled = not sync.joining
        if self.transfer is not None:
            self.transfer.handle_timer(now=now)  # a settled neighbour or a report may serve
        self._compare_histories(link.address, sync.digest, sync.joining)
        if self.join.joining:
            self._note_caught_up()  # this SYNC may have been the last thing awaited

    def _compare_histories(self, address: Address, digest: bytes, peer_joining: bool) -> None:
        """Anti-entropy step 1: a neighbour's digest differs from ours -> send our marks."""
        mine = self.timeline.digest()
        if digest == mine and not peer_joining and self._clock_heard():
            self.join.note_synced()  # we hold exactly what a settled neighbour holds
        if digest != mine:
            self._send_have(address)

    def _on_have(self, link: Link, have: Have, now: float) -> None:
        marks, held = link.marks, link.held
        link.have_at = now
        for source, contiguous, highest in have.marks:
            if source in marks or len(marks) < MAX_REMEMBERED_MARKS:
                marks[source] = max(marks.get(source, 0), highest)
                held[source] = max(held.get(source, 0), contiguous)
        self._request(link, now)
        if self.join.joining:
            self._note_caught_up()

    def _floor(self) -> Mapping[int, int]:
        """Per source, the seqs already in the state the session started from (see
        :attr:`SnapshotTransfer.floor <arcade_p2p.protocol.transfer.SnapshotTransfer.floor>`)."""
        return {} if self.transfer is None else self.transfer.floor

    def _clock_heard(self) -> bool:
        """Whether a settled neighbour's SYNC arrived since the hold began: a hold must not
        end before, since the clock catches up at once only while it lasts (a SYNC also
        starts the snapshot fetch)."""
        since = self.join.held_since
        return any(link.sync_at >= since for link in self._links.values() if link.settled)

    def _note_caught_up(self) -> None:
        """Joining: tell the join state once this node holds, of every event that each
        settled neighbour has advertised holding without a gap (its HAVE's contiguous
        mark), all those the session's state still needs (those above the snapshot's
        floor; without a snapshot, all of them).

        At game rates two timelines are rarely equal at any instant (events are always in
        flight), so waiting for an equal digest would hold a joiner until its timeout;
        what arrives after the neighbours' advertisements is flooded to it anyway. A
        neighbour's gap is not waited for: an event that never left its peer (which went
        offline first) is a gap in every history, and would hold the joiner until its
        timeout; what a neighbour holds above its gap is asked for all the same.
        """
        settled = [link for link in self._links.values() if link.up and link.settled]
        since = self.join.held_since
        if not settled or any(link.have_at < since for link in settled):
            return  # a settled neighbour has not advertised its marks since the hold began
        if not self._clock_heard():
            return
        floor = self._floor()
        timeline = self.timeline
        for link in settled:
            for source, gaps in timeline.missing(link.held).items():
                if gaps[-1][1] > floor.get(source, 0):
                    return
        self.join.note_synced()

    def _request(self, link: Link, now: float) -> None:
        """Anti-entropy step 2: ask ``link`` for one round of what its marks show we lack.

        A round is ``link.wants_per_round`` WANTs of at most ``MAX_EVENTS_PER_WANT`` events
        each: the first names every source's first gap, then the second gaps, ... (as many
        as fit), each to its end, so every source and a sparse log make progress; the
        others ask for what follows the first one's answer, packed: many short gaps fill
        a WANT as well as one long gap does. A session started from a snapshot asks for
        what its state lacks first. Nothing more is asked while the previous round is in
        flight (unless it is older than :func:`want_retry_s`: then it is asked again, at
        half the size).
        """
        if link.asked > 0:
            if now < link.round_deadline:
                return
            link.wants_per_round = max(WANTS_PER_ROUND_START, link.wants_per_round // 2)
        link.asked = 0
        wanted = self.timeline.missing(link.marks, max_ranges=MAX_RANGE_ITEMS)
        if not wanted:
            return
        link.round_deadline = now + want_retry_s(link.rtt.min_rtt_s)
        gaps = list(_breadth_first(wanted))
        floor = self._floor()
        if floor:  # what the state still needs first, then the history it already holds
            gaps = _needed_first(gaps, floor)
        first_want = gaps[:MAX_RANGE_ITEMS]
        self._send(link.address, Want(tuple(first_want)))
        link.asked = min(MAX_EVENTS_PER_WANT, _held_in(first_want, link.held))
        for ranges in itertools.islice(_packed(gaps), link.wants_per_round - 1):
            self._send(link.address, Want(tuple(ranges)))
            link.asked += _held_in(ranges, link.held)

    def _on_want(self, link: Link, want: Want) -> None:
        """Queue the wanted events this node holds, at most MAX_EVENTS_PER_WANT of them.

        The work is proportional to the events queued, however wide the ranges asked for.
        """
        budget = MAX_EVENTS_PER_WANT
        for source, first, last in want.ranges:
            found = self.timeline.events_in(source, first, last, budget)
            for event in found:
                self._queue_event(link, event)
            budget -= len(found)
            if budget == 0:
                return

    # ----------------------------------------------------------------- state fetch
    def fetch_state(self, peer: int, tick: int, *, now: float) -> None:
        """Start fetching neighbour ``peer``'s snapshot at ``tick`` (see :meth:`take_fetched`)."""
        if (peer, tick) not in self._fetches:
            self._fetches[(peer, tick)] = StateFetch(peer, tick, now=now)
            self._run_fetches(now)

    def take_fetched(self) -> list[StateFetch]:
        """The fetches that ended since the last call (``blob`` is None if they failed)."""
        ended = [fetch for fetch in self._fetches.values() if fetch.done]
        for fetch in ended:
            del self._fetches[(fetch.peer, fetch.tick)]
        return ended

    def _run_fetches(self, now: float) -> None:
        for fetch in self._fetches.values():
            request = fetch.next_request(now=now)
            address = self._address_of(fetch.peer)
            if request is not None and address is not None:
                self._send(address, request)

    def _address_of(self, peer: int) -> Address | None:
        for address, link in self._links.items():
            if link.up and link.peer == peer:
                return address
        return None

    # ----------------------------------------------------------------- output
    def has_output(self) -> bool:
        """Whether :meth:`datagrams_to_send` would return something now."""
        return bool(self._queue or self._pending)

    def get_timer(self) -> float:
        """The time at which :meth:`handle_timer` next has work."""
        deadline = min(self._next_sync, self._next_summary)
        for fetch in self._fetches.values():
            if not fetch.done:
                deadline = min(deadline, fetch.retry_at)
        warmup_syncs = self.settings.warmup_syncs
        for link in self._links.values():
            if link.up:
                if link.syncs_sent < warmup_syncs:  # warming up
                    deadline = min(deadline, self._next_warmup)
                if link.asked > 0:  # a round whose answers were lost is asked again
                    deadline = min(deadline, link.round_deadline)
            elif link.configured:  # dialled and not answering
                deadline = min(deadline, self._next_hello)
        if self.transfer is not None:
            deadline = min(deadline, self.transfer.timer())
        return deadline

    def handle_timer(self, *, now: float) -> None:
        """Queue the periodic messages that are due and expire silent neighbours."""
        s = self.settings
        if self._fetches:
            self._run_fetches(now)
        for link in self._links.values():
            if link.up and now - link.last_heard > s.link_timeout_s:
                link.up = False
                link.outbox.clear()
                if link.configured:
                    link.dialled_at = now  # dialled again from now on
                self.clock.forget(link.address)
                log.info("link down: %r (peer %s) silent", link.address, link.peer)
            if link.up and link.asked > 0 and now >= link.round_deadline:
                self._request(link, now)  # its answers were lost: ask again, smaller
        if now >= self._next_hello:
            self._next_hello = now + s.hello_interval_s
            for link in self._links.values():
                if link.configured and not link.up:
                    self._send(link.address, self._hello(reply=True))
        if now >= self._next_sync:
            self._next_sync = max(self._next_sync + s.sync_interval_s, now)
            for link in self._links.values():
                if link.up:
                    self._send(link.address, self._sync_for(link, now))
        elif now >= self._next_warmup:
            for link in self._links.values():
                if self._warming(link):
                    self._send(link.address, self._sync_for(link, now))
        if now >= self._next_warmup:
            self._next_warmup = now + s.warmup_interval_s
        if now >= self._next_summary:
            self._next_summary = max(self._next_summary + s.summary_interval_s, now)
            summary = self._summary()
            for link in self._links.values():
                if link.up:
                    self._send(link.address, summary)
        if self.transfer is not None:  # also starts a fetch when the session wants one
            self.transfer.handle_timer(now=now)

    def datagrams_to_send(self, *, now: float) -> list[tuple[bytes, Address]]:
        """Encode and return everything queued since the last call (HELLOs first, then
        events, then the other messages)."""
        if self.transfer is not None:
            self._queue.extend(self.transfer.paced_chunks(now=now))
        if not self._queue and not self._pending:
            return []  # most ticks: nothing to send
        # Order: HELLOs (nothing may overtake a handshake), then events, then the rest: a
        # SYNC's digest is compared once the events sent before it are in (no HAVE/WANT
        # round for events in flight beside it).
        queue = self._queue
        out = [
            (self._encode(message), address) for address, message in queue if type(message) is Hello
        ]
        for address in self._pending:
            link = self._links.get(address)
            if link is not None and link.outbox:
                out.extend((data, address) for data in self._pack_events(link.outbox))
                link.outbox.clear()
        self._pending.clear()
        out.extend(
            (self._encode(message), address)
            for address, message in queue
            if type(message) is not Hello
        )
        queue.clear()
        self.stats.datagrams_out += len(out)
        self.stats.bytes_out += sum(len(data) for data, _ in out)
        return out

    def _pack_events(self, events: list[Event]) -> list[bytes]:
        if len(events) == 1:  # the common case at game rates: nothing to measure
            return [self._encode(Events((events[0],)))]
        budget = MAX_DATAGRAM_BYTES - EVENTS_OVERHEAD_BYTES - MAC_BYTES
        packed: list[bytes] = []
        batch: list[Event] = []
        size = 0
        for event in events:
            n = self.codec.event_bytes(event)
            if batch and size + n > budget:
                packed.append(self._encode(Events(tuple(batch))))
                batch, size = [], 0
            batch.append(event)
            size += n
        if batch:
            packed.append(self._encode(Events(tuple(batch))))
        return packed

    def _send(self, address: Address, message: Message) -> None:
        self._queue.append((address, message))

    def _encode(self, message: Message) -> bytes:
        data = self.codec.encode(self.source, self.epoch, self._counter, message)
        self._counter += 1
        return data

    def _warming(self, link: Link) -> bool:
        return link.up and link.syncs_sent < self.settings.warmup_syncs

    def _sync_for(self, link: Link, now: float) -> Sync:
        link.syncs_sent += 1
        echo = link.echo_sent_at
        hold = now - link.echo_received_at if echo >= 0.0 else 0.0
        report = self.clock.report(now)
        timeline = self.timeline
        slack: tuple[tuple[int, int, int, int], ...] = ()
        if self.slack is not None:
            facts = self.slack.report(now_tick=self.clock.due_tick(now))
            slack = tuple((f.source, f.seq, f.tick, f.slack) for f in facts)
        return Sync(
            report.value,
            report.origin,
            report.stamp,
            min(report.hops, MAX_HOPS),
            now,
            echo,
            max(hold, 0.0),
            timeline.digest(),
            len(timeline),
            self.join.joining,
            self._new_reports(link),
            slack,
        )

    def _new_reports(self, link: Link) -> tuple[tuple[int, bytes, bytes], ...]:
        """The newest own reports this neighbour has not been sent (a rollback renews some);
        all of them to a joining neighbour, which verifies a snapshot against them."""
        latest = self.reports.latest()
        if not link.settled:  # a lost SYNC must not leave its snapshot unverifiable
            link.reports_sent = {}
        fresh = tuple(
            (r.tick, r.state_hash, r.events_digest)
            for r in latest
            if link.reports_sent.get(r.tick) != r.state_hash + r.events_digest
        )
        link.reports_sent = {r.tick: r.state_hash + r.events_digest for r in latest}
        return fresh

    def _hello(self, *, reply: bool) -> Hello:
        return Hello(self.fps, self.snapshot_every_ticks, reply)

    def _summary(self) -> Summary:
        return Summary(self.timeline.digest(), len(self.timeline), self.join.joining)

    def _send_have(self, address: Address) -> None:
        """Send (part of) our marks: at most MAX_HAVES_PER_DIGEST HAVE datagrams.

        With more sources than fit, each reply continues where the last one to this
        neighbour stopped, so every source is advertised within a few rounds.
        """
        timeline = self.timeline
        marks = []
        for source, highest in sorted(timeline.marks().items()):
            log = timeline.source_log(source)
            marks.append((source, 0 if log is None else log.contiguous, highest))
        per_reply = MAX_HAVE_ITEMS * MAX_HAVES_PER_DIGEST
        link = self._links.get(address)
        if len(marks) > per_reply and link is not None:
            start = link.have_cursor % len(marks)
            marks = (marks[start:] + marks[:start])[:per_reply]
            link.have_cursor = start + per_reply
        for i in range(0, min(len(marks), per_reply), MAX_HAVE_ITEMS):
            self._send(address, Have(tuple(marks[i : i + MAX_HAVE_ITEMS])))


def _held_in(ranges: Iterable[tuple[int, int, int]], held: Mapping[int, int]) -> int:
    """How many seqs of ``(source, first, last)`` ranges a neighbour said it holds: the
    answers a round waits for (the rest it may lack, and they come if it has them)."""
    return sum(max(0, min(last, held.get(source, 0)) - first + 1) for source, first, last in ranges)


def want_retry_s(min_rtt_s: float | None) -> float:
    """How long a round of WANTs may take before it is asked again."""
    return max(WANT_RETRY_MIN_S, WANT_RETRY_RTTS * (min_rtt_s or 0.0))


def _needed_first(
    gaps: list[tuple[int, int, int]], floor: Mapping[int, int]
) -> list[tuple[int, int, int]]:
    """``(source, first, last)`` gaps cut at each source's ``floor`` seq: the parts above
    it first (the events a state started from a snapshot lacks), then those below."""
    above: list[tuple[int, int, int]] = []
    below: list[tuple[int, int, int]] = []
    for source, first, last in gaps:
        low = floor.get(source, 0) + 1
        if last >= low:
            above.append((source, max(first, low), last))
        if first < low:
            below.append((source, first, min(last, low - 1)))
    return above + below


def _packed(gaps: list[tuple[int, int, int]]) -> Iterator[list[tuple[int, int, int]]]:
    """WANTs for the seqs of ``gaps`` after the first ``MAX_EVENTS_PER_WANT`` (which the
    round's first WANT brings), in order, at most ``MAX_EVENTS_PER_WANT`` seqs and
    ``MAX_RANGE_ITEMS`` ranges each."""
    skip = MAX_EVENTS_PER_WANT
    want: list[tuple[int, int, int]] = []
    room = MAX_EVENTS_PER_WANT
    for source, first, last in gaps:
        if skip:
            taken = min(skip, last - first + 1)
            skip -= taken
            first += taken
        while first <= last:
            end = min(last, first + room - 1)
            want.append((source, first, end))
            room -= end - first + 1
            first = end + 1
            if room == 0 or len(want) == MAX_RANGE_ITEMS:
                yield want
                want, room = [], MAX_EVENTS_PER_WANT
    if want:
        yield want


def _breadth_first(
    wanted: dict[int, list[tuple[int, int]]],
) -> Iterator[tuple[int, int, int]]:
    """``(source, first, last)`` gaps: every source's first gap, then the second gaps, ..."""
    depth = 0
    while True:
        row = [(s, *gaps[depth]) for s, gaps in sorted(wanted.items()) if depth < len(gaps)]
        if not row:
            return
        yield from row
        depth += 1
