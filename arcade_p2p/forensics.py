"""Desync forensics: gather what explains a desync and hand it to the driver as a bundle.

How this works: when the :class:`~arcade_p2p.desync.DesyncMonitor` raises an alarm,
:meth:`Forensics.start` pins at once what this peer knows -- its snapshot at the tick, the
base snapshot (where the two peers last agreed, else the nearest one before), the events
from the base to the tick and both peers' reported hashes in between -- and asks the
gossip node to fetch the neighbour's snapshot at the tick
(:mod:`arcade_p2p.protocol.state_fetch`). When the fetch ends, :meth:`Forensics.poll`
decodes both states with the game's restricted state decoder (never a plain unpickler:
the neighbour's bytes came from the network), diffs them field by field
(:func:`arcade_p2p.statediff.diff_states`) and returns the finished
:class:`~arcade_p2p.desync_bundle.DesyncBundle`. The core writes no file: the driver does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from arcade_p2p.app import App, StateApp
from arcade_p2p.desync import DesyncReport
from arcade_p2p.desync_bundle import DesyncBundle
from arcade_p2p.errors import RemoteError
from arcade_p2p.events import Event
from arcade_p2p.hash_reports import HashReport, HashReports
from arcade_p2p.presence import unpack_snapshot
from arcade_p2p.protocol.node import GossipNode
from arcade_p2p.statediff import diff_states

__all__ = ["Forensics"]

log = logging.getLogger("arcade_p2p.desync")


@dataclass(frozen=True, slots=True)
class _Pinned:
    """What this peer knew when the alarm went off."""

    report: DesyncReport
    base_tick: int
    base_state: bytes | None
    events: tuple[Event, ...]
    hashes: dict[int, str]
    other_hashes: dict[int, str]
    state: bytes


class Forensics:
    """Builds a :class:`~arcade_p2p.desync_bundle.DesyncBundle` for each desync.

    Args:
        app: The session's application (its codec decodes the states).
        reports: The session's hash reports (snapshots, reported hashes).
        node: The gossip node (fetches the neighbour's state).
        fps: Tick rate of the session.
    """

    def __init__(self, app: App, reports: HashReports, node: GossipNode, *, fps: int) -> None:
        self.app = app
        self.reports = reports
        self.node = node
        self.fps = fps
        self._pinned: dict[tuple[int, int], _Pinned] = {}

    def start(self, report: DesyncReport, *, now: float) -> None:
        """Pin this peer's side of ``report`` and fetch the neighbour's state."""
        reports = self.reports
        machine = reports.machine
        state = reports.snapshot(report.tick)
        if state is None:  # thinned away already: nothing to compare with
            log.warning("no snapshot at tick %d is left for a desync bundle", report.tick)
            return
        agreed = reports.last_agreed(report.other, report.tick)
        found = machine.snapshots.at_or_before(report.tick - 1 if agreed is None else agreed)
        base_tick, base_state = (0, None) if found is None or found[0] == 0 else found
        timeline = machine.timeline
        events = tuple(e for t in range(base_tick, report.tick) for e in timeline.at(t))
        self._pinned[(report.other, report.tick)] = _Pinned(
            report,
            base_tick,
            base_state,
            events,
            _hex(reports.history(), base_tick, report.tick),
            _hex(reports.history(report.other), base_tick, report.tick),
            state,
        )
        self.node.fetch_state(report.other, report.tick, now=now)

    @property
    def busy(self) -> bool:
        """Whether a fetch for a bundle is under way."""
        return bool(self._pinned)

    def poll(self) -> list[tuple[DesyncReport, DesyncBundle]]:
        """The bundles whose fetch ended since the last call."""
        done: list[tuple[DesyncReport, DesyncBundle]] = []
        for fetch in self.node.take_fetched():
            pinned = self._pinned.pop((fetch.peer, fetch.tick), None)
            if pinned is not None:
                done.append((pinned.report, self._bundle(pinned, fetch.blob)))
        return done

    def _bundle(self, pinned: _Pinned, other_state: bytes | None) -> DesyncBundle:
        report = pinned.report
        diff: list[dict[str, object]] = []
        note = ""
        app = self.app
        if other_state is None:
            note = f"peer {report.other} did not send its state at tick {report.tick}"
        elif isinstance(app, StateApp):
            try:
                mine = app.codec.decode(unpack_snapshot(pinned.state)[1])
                theirs = app.codec.decode(unpack_snapshot(other_state)[1])
            except RemoteError as exc:
                note = f"the state decoder refused a state: {exc}"
            else:
                diff = [d.to_json() for d in diff_states(mine, theirs)]
        owner = app.declaring_class() if isinstance(app, StateApp) else type(app)
        return DesyncBundle(
            app=f"{owner.__module__}:{owner.__qualname__}",
            fps=self.fps,
            snapshot_every_ticks=self.reports.machine.snapshots.every_ticks,
            tick=report.tick,
            peer=report.peer,
            other=report.other,
            state_hash=report.state_hash,
            other_state_hash=report.other_state_hash,
            events_digest=report.events_digest,
            base_tick=pinned.base_tick,
            base_state=pinned.base_state,
            events=pinned.events,
            hashes=pinned.hashes,
            other_hashes=pinned.other_hashes,
            state=pinned.state,
            other_state=other_state,
            diff=tuple(diff),
            note=note,
        )


def _hex(reports: dict[int, HashReport], first: int, last: int) -> dict[int, str]:
    return {
        tick: report.state_hash.hex()
        for tick, report in sorted(reports.items())
        if first <= tick <= last
    }
