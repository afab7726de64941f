"""Automatic input delay: each source picks its own Delta from how late its events arrive.

How this works: two small parts, one on each side of an event's journey.

* :class:`SlackBoard` (every peer, as a receiver and as a relay). When an event of another
  source arrives, its *slack* is ``event tick - the receiver's next tick`` (negative: the
  tick has already run, the event is late). The board keeps, per source, the worst
  recent :class:`SlackFact` -- ``(source, seq, tick, slack)`` -- that this peer measured
  or heard of, and SYNC carries up to :data:`MAX_FACTS_PER_SYNC` of them to every
  neighbour (taking turns when there are more sources), so a fact crosses the network
  hop by hop and reaches its source however far away the late receiver is. A fact is
  about one event, so passing it around cannot make it worse: it expires
  :data:`FACT_TTL_TICKS` after its event's tick on every peer alike (all clocks agree on
  the tick), and a fact circling through a cycle dies with it.
* :class:`DelayController` (every source, for its own events). It remembers the Delta it
  used for each of its recent events (``stamped tick - stamp base``). A fact about one of
  them says how much Delta that event would have needed to arrive in time at the worst
  receiver: ``need = Delta used - slack``. Facts about *other* sources' events give a
  lower bound too (a *spread*, see :meth:`SlackBoard.note`), which matters when a source
  emits rarely: the paper's grid has about one event per source per minute. The target
  is the largest need of the last :data:`NEED_WINDOW_S` seconds plus
  :data:`MARGIN_FRACTION` of it, within ``[1 tick, maximum]``.
  Delta rises to a higher target at once (lateness costs rollbacks everywhere) and --
  only on evidence from its own events, spreads being mere lower bounds -- falls towards
  a lower one by at most :data:`DECREASE_FRACTION_PER_S` of itself per second
  (at least one tick per second): falling slowly keeps one quiet moment from making the
  next events late. With no fact in the window Delta stays where it is.

Stamping stays monotonic per source: the session never stamps an event below the tick it
stamped its previous one at (see :meth:`DelayController.stamp`). Receivers need no Delta:
every event carries its tick.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from arcade_p2p.protocol.wire import MAX_SLACK_FACTS

__all__ = [
    "DECREASE_FRACTION_PER_S",
    "FACT_TTL_TICKS",
    "MARGIN_FRACTION",
    "MAX_FACTS_PER_SYNC",
    "NEED_WINDOW_S",
    "DelayController",
    "SlackBoard",
    "SlackFact",
]

MAX_FACTS_PER_SYNC = MAX_SLACK_FACTS
"""Most slack facts one SYNC carries (the sources take turns beyond that)."""
FACT_TTL_TICKS = 250
"""A fact expires this many ticks after its event's tick (5 s at 50 fps): long enough to
cross a wide network SYNC by SYNC, short enough that Delta follows a changing network."""
NEED_WINDOW_S = 10.0
"""The controller's target is the largest need heard of in this many recent seconds."""
MARGIN_FRACTION = 0.1
"""The target is the largest recent need plus this fraction of it, rounded down: the
need is already the worst receiver's, but a path's jitter grows with its length."""
DECREASE_FRACTION_PER_S = 0.2
"""Delta falls by at most this fraction of itself per second (and at least one tick)."""
REMEMBERED_EVENTS = 256
"""A source remembers the Delta of this many of its latest events."""
REMEMBERED_ARRIVALS = 1024
"""A peer remembers the slack of this many of the latest events it received."""
SPREAD_EXTRA_TICKS = 1
"""A spread of ``n`` ticks asks for a Delta of ``n`` plus this (an own event arrives here
one tick after its stamp base at the earliest)."""


@dataclass(frozen=True, slots=True)
class SlackFact:
    """How early one event arrived at the worst receiver known to the sender of the fact.

    Attributes:
        source: The event's source.
        seq: The event's sequence number.
        tick: The event's tick (facts expire relative to it).
        slack: Event tick minus the receiver's next tick on arrival (negative: late).
    """

    source: int
    seq: int
    tick: int
    slack: int


class SlackBoard:
    """Per source, the worst recent slack fact this peer measured or heard of.

    Args:
        me: This peer's id (facts about its own events go to :attr:`own`, not the board).
        relay: Put facts in SYNC from the start (a peer with an automatic Delta). Any
            peer starts relaying once a neighbour sends it a fact, so a room whose peers
            all use a fixed Delta sends none, and a mixed room still carries them.
    """

    def __init__(self, me: int, *, relay: bool = False) -> None:
        self.me = me
        self.relay = relay
        self._worst: dict[int, SlackFact] = {}
        self._cursor = 0
        self.own: deque[SlackFact] = deque(maxlen=REMEMBERED_EVENTS)
        """Facts about this peer's own events, waiting for its controller."""
        self.spreads: deque[int] = deque(maxlen=REMEMBERED_EVENTS)
        """Spreads (see :meth:`note`) waiting for this peer's controller."""
        self._mine: OrderedDict[tuple[int, int], int] = OrderedDict()

    def measure(
        self, source: int, seq: int, tick: int, next_tick: int, *, settled: bool = True
    ) -> int:
        """Record the arrival of event ``(source, seq)`` stamped ``tick``; its slack.

        Args:
            source: The event's source.
            seq: The event's sequence number.
            tick: The event's tick.
            next_tick: This peer's next tick to simulate.
            settled: This peer's clock is where the network's is. A clock that is still
                catching up makes every slack look larger than the path allows: such a
                slack still counts as a fact (the board keeps the worst), but it does not
                serve as the near end of a spread.
        """
        slack = tick - next_tick
        if settled:
            mine = self._mine
            mine[source, seq] = slack
            if len(mine) > REMEMBERED_ARRIVALS:
                mine.popitem(last=False)
        self.note(SlackFact(source, seq, tick, slack), now_tick=next_tick)
        return slack

    def heard(self, facts: Iterable[SlackFact], *, now_tick: int) -> None:
        """Take in the facts a neighbour's SYNC carried (and start relaying)."""
        for fact in facts:
            self.relay = True
            self.note(fact, now_tick=now_tick)

    def note(self, fact: SlackFact, *, now_tick: int) -> None:
        """Take one fact in (measured here or reported by a neighbour).

        A fact about another source's event that this peer received too also gives a
        *spread*: how many ticks later than here that event reached the worst receiver.
        The worst receiver is at least that much further from this peer than the event's
        source is (triangle inequality), so an own event needs about that many ticks
        more than its arrival here takes: a lower bound on this peer's Delta that every
        source's events teach, long before a source's own few events are reported back.
        """
        if fact.tick + FACT_TTL_TICKS < now_tick:
            return
        if fact.source == self.me:
            self.own.append(fact)
            return
        here = self._mine.get((fact.source, fact.seq))
        if here is not None and here > fact.slack:
            self.spreads.append(here - fact.slack)
        known = self._worst.get(fact.source)
        if (
            known is None
            or known.tick + FACT_TTL_TICKS < now_tick
            or (fact.slack, -fact.seq) < (known.slack, -known.seq)
        ):
            self._worst[fact.source] = fact

    def report(self, *, now_tick: int) -> tuple[SlackFact, ...]:
        """The live facts to put in the next SYNC, at most :data:`MAX_FACTS_PER_SYNC`
        (none while not relaying)."""
        worst = self._worst
        for source in [s for s, f in worst.items() if f.tick + FACT_TTL_TICKS < now_tick]:
            del worst[source]  # also while not relaying: sources come and go
        if not self.relay:
            return ()
        facts = list(worst.values())
        if len(facts) <= MAX_FACTS_PER_SYNC:
            return tuple(facts)
        start = self._cursor % len(facts)
        self._cursor = start + MAX_FACTS_PER_SYNC
        return tuple((facts[start:] + facts[:start])[:MAX_FACTS_PER_SYNC])

    def take_own(self) -> tuple[list[SlackFact], list[int]]:
        """Hand over (and forget) the facts about own events and the spreads."""
        own, spreads = list(self.own), list(self.spreads)
        self.own.clear()
        self.spreads.clear()
        return own, spreads


class DelayController:
    """One source's Delta, in ticks, chosen from the slack facts about its events.

    Args:
        start_ticks: Delta before any fact arrives.
        max_ticks: Largest Delta it may choose (at least 1).
        now: The driver's current time.
    """

    def __init__(self, start_ticks: int, max_ticks: int, *, now: float) -> None:
        self.max_ticks = max(1, max_ticks)
        self._delta = float(min(max(1, start_ticks), self.max_ticks))
        self._used: OrderedDict[int, int] = OrderedDict()
        self._needs: deque[tuple[float, int]] = deque()
        self._floors: deque[tuple[float, int]] = deque()
        self._last_stamp = -1
        self._updated_at = now

    @property
    def delta_ticks(self) -> int:
        """The Delta (in ticks) the next event is stamped with."""
        return math.ceil(self._delta - 1e-9)

    def stamp(self, seq: int, base: int, earliest: int) -> int:
        """The tick of the next own event: ``base + Delta``, never below ``earliest`` nor
        below the previous own event's tick; remembers the Delta it amounts to.

        Args:
            seq: The event's sequence number.
            base: The stamp base (the network's tick as this peer knows it).
            earliest: The lowest tick the session's other rules allow.
        """
        tick = max(base + self.delta_ticks, earliest, self._last_stamp)
        self._last_stamp = tick
        self._used[seq] = tick - base
        if len(self._used) > REMEMBERED_EVENTS:
            self._used.popitem(last=False)
        return tick

    def on_facts(
        self, facts: Iterable[SlackFact], spreads: Iterable[int] = (), *, now: float
    ) -> None:
        """Take in facts about own events and spreads (see :meth:`SlackBoard.note`), and
        move Delta towards the new target."""
        for fact in facts:
            used = self._used.get(fact.seq)
            if used is not None:
                self._needs.append((now, used - fact.slack))
        for spread in spreads:
            self._floors.append((now, spread + SPREAD_EXTRA_TICKS))
        self.update(now=now)

    def update(self, *, now: float) -> None:
        """Forget old needs; rise to the target at once, fall towards it slowly.

        Only needs measured on own events may lower Delta; a spread is a lower bound
        (the worst receiver may be further still), so it can only raise it.
        """
        elapsed = max(0.0, now - self._updated_at)
        self._updated_at = now
        need = _recent_max(self._needs, now)
        floor = _recent_max(self._floors, now)
        if need is None and floor is None:
            return
        target = max(need if need is not None else 0, floor if floor is not None else 0)
        target = min(max(1, target + math.floor(MARGIN_FRACTION * target)), self.max_ticks)
        if target >= self._delta:
            self._delta = float(target)
        elif need is not None:
            step = max(1.0, DECREASE_FRACTION_PER_S * self._delta) * elapsed
            self._delta = max(float(target), self._delta - step)


def _recent_max(samples: deque[tuple[float, int]], now: float) -> int | None:
    """The largest sample of the last :data:`NEED_WINDOW_S` seconds (older ones dropped)."""
    while samples and samples[0][0] < now - NEED_WINDOW_S:
        samples.popleft()
    return max(value for _, value in samples) if samples else None
