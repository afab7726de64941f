"""Desync alarms: turn a state-hash mismatch into one report, one log line and a hook call.

How this works: :class:`~arcade_p2p.hash_reports.HashReports` finds every comparison
where a neighbour and this peer hold the same events before a tick but different states
at it. :class:`DesyncMonitor` turns the first such mismatch with each neighbour into a
:class:`DesyncReport`: it logs one WARNING line, keeps the report as
:attr:`DesyncMonitor.report` (the first one, for a heads-up display to show) and calls the
``on_desync`` hook the driver installed. Later mismatches with the same neighbour are the
same divergence seen again and are not reported twice. Each report also starts the
forensics (:class:`~arcade_p2p.forensics.Forensics`); finished bundles wait in
:meth:`DesyncMonitor.take_bundles` for the driver to write them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arcade_p2p.hash_reports import HashReports, Mismatch

if TYPE_CHECKING:
    from arcade_p2p.desync_bundle import DesyncBundle
    from arcade_p2p.forensics import Forensics

__all__ = ["DesyncMonitor", "DesyncReport"]

log = logging.getLogger("arcade_p2p.desync")


@dataclass(frozen=True, slots=True)
class DesyncReport:
    """A real desync: two peers simulated the same events into different states.

    Attributes:
        tick: The snapshot tick whose start state differs.
        peer: This peer's id.
        other: The neighbour's id.
        state_hash: This peer's state hash at ``tick`` (hex).
        other_state_hash: The neighbour's state hash at ``tick`` (hex).
        events_digest: The digest of the events before ``tick`` both hold (hex).
        found_at: The driver's time when the mismatch was found (seconds).
    """

    tick: int
    peer: int
    other: int
    state_hash: str
    other_state_hash: str
    events_digest: str
    found_at: float

    def __str__(self) -> str:
        return (
            f"desync at tick {self.tick}: peer {self.peer} has state {self.state_hash}, "
            f"peer {self.other} has {self.other_state_hash} "
            f"after the same events (digest {self.events_digest})"
        )


class DesyncMonitor:
    """Watches a session's hash reports and raises the alarm once per neighbour.

    Args:
        peer: This session's id.
        reports: The session's hash reports.
        forensics: Gathers a bundle for each report (None: reports only).

    Attributes:
        report: The first desync found (None while every state agrees).
        reports: Every desync found, one per neighbour, oldest first.
        on_desync: Called with each new :class:`DesyncReport` (None: only the log line).
    """

    def __init__(self, peer: int, reports: HashReports, forensics: Forensics | None) -> None:
        self.peer = peer
        self._forensics = forensics
        self._bundles: list[tuple[DesyncReport, DesyncBundle]] = []
        self._hash_reports = reports
        self.report: DesyncReport | None = None
        self.reports: list[DesyncReport] = []
        self.on_desync: Callable[[DesyncReport], None] | None = None
        self._seen: set[int] = set()

    def poll(self, *, now: float) -> list[DesyncReport]:
        """Raise the alarm for the mismatches found since the last poll.

        Returns:
            The new reports (usually none).
        """
        new: list[DesyncReport] = []
        for mismatch in self._hash_reports.take_mismatches():
            if mismatch.peer in self._seen:
                continue
            self._seen.add(mismatch.peer)
            report = self._report(mismatch, now)
            new.append(report)
            self.reports.append(report)
            if self.report is None:
                self.report = report
            log.warning("%s", report)
            if self._forensics is not None:
                self._forensics.start(report, now=now)
            if self.on_desync is not None:
                self.on_desync(report)
        if self._forensics is not None and self._forensics.busy:
            self._bundles.extend(self._forensics.poll())
        return new

    def take_bundles(self) -> list[tuple[DesyncReport, DesyncBundle]]:
        """The forensics bundles finished since the last call, with their reports."""
        done, self._bundles = self._bundles, []
        return done

    def _report(self, mismatch: Mismatch, now: float) -> DesyncReport:
        return DesyncReport(
            tick=mismatch.tick,
            peer=self.peer,
            other=mismatch.peer,
            state_hash=mismatch.mine.state_hash.hex(),
            other_state_hash=mismatch.theirs.state_hash.hex(),
            events_digest=mismatch.mine.events_digest.hex(),
            found_at=now,
        )
