"""What a real-time peer reports when it stops: ``arcade-p2p peer`` and games alike.

How this works: :func:`peer_report` reads a session, its UDP transport and its LAN
discovery once the peer has reached its last tick, and returns a :class:`PeerReport`:
printed as a few readable lines, or as one JSON object with ``--json`` (the only thing
such a command prints on stdout). :mod:`arcade_p2p.demo` parses those objects back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from arcade_p2p.session import Session
from arcade_p2p.transport import UdpTransport
from arcade_p2p.transport.discovery import Discovery

__all__ = ["PeerReport", "peer_report"]


@dataclass(frozen=True, slots=True)
class PeerReport:
    """What a peer reports when it stops (the JSON object printed with ``--json``).

    Attributes:
        peer: The peer's id.
        address: ``HOST:PORT`` it listened on.
        end_tick: The agreed last tick.
        final_tick: The last tick it simulated (equal to ``end_tick`` when all went well).
        state_hash: Digest of the state after ``final_tick``.
        events: Application events in its timeline (from every peer, its own included;
            presence events not counted).
        events_emitted: Events it emitted.
        live_events: Events applied on time (not through a rollback).
        rollbacks: Rollbacks performed.
        rollback_ticks: Sum of rollback depths in ticks (the paper's metric).
        catch_ups: Times its clock had to catch up with the network.
        neighbours: Live neighbours when it stopped.
        bytes_in: Bytes received by the protocol.
        bytes_out: Bytes sent by the protocol.
        dropped: Datagrams the protocol dropped, by reason (``bad_mac``: another room or room key).
        send_errors: Sends the operating system refused, by reason.
        emulated_lost: Datagrams dropped by the link emulation.
        discovered: Peers found by LAN discovery and dialled.
        beacons_dropped: LAN beacons dropped, by reason (``bad_mac``: another room's).
    """

    peer: int
    address: str
    end_tick: int
    final_tick: int
    state_hash: str
    events: int
    events_emitted: int
    live_events: int
    rollbacks: int
    rollback_ticks: int
    catch_ups: int
    neighbours: int
    bytes_in: int
    bytes_out: int
    dropped: dict[str, int]
    send_errors: dict[str, int]
    emulated_lost: int
    discovered: int = 0
    beacons_dropped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> PeerReport:
        """Parse a line printed by :meth:`to_json`.

        Raises:
            ValueError: The line is not such a report.
        """
        fields: Any = json.loads(line)
        if not isinstance(fields, dict):
            raise ValueError("a peer report is a JSON object")
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"not a peer report: {exc}") from None

    def summary(self) -> str:
        """A few readable lines."""
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        return "\n".join(
            (
                f"peer {self.peer} ({self.address}) at tick {self.final_tick}"
                f" (end tick {self.end_tick}): state {self.state_hash}",
                f"  events {self.events} ({self.events_emitted} emitted here,"
                f" {self.live_events} applied on time), rollbacks {self.rollbacks}"
                f" ({self.rollback_ticks} ticks), clock catch-ups {self.catch_ups}",
                f"  neighbours {self.neighbours} ({self.discovered} found on the LAN), bytes"
                f" in {self.bytes_in} / out {self.bytes_out}, dropped datagrams: {dropped}",
            )
        )


def peer_report(
    session: Session, transport: UdpTransport, discovery: Discovery | None, end_tick: int
) -> PeerReport:
    """The report of a peer that has stopped simulating (late events are repaired first).

    Args:
        session: The peer's session.
        transport: Its UDP transport.
        discovery: Its LAN discovery, if on.
        end_tick: The agreed last tick (-1 if there was none).
    """
    state_hash = session.state_hash()  # repairs any late event first
    stats = session.stats()
    transport_stats = transport.stats()
    discovery_stats = discovery.stats() if discovery is not None else None
    host, port = transport.address
    return PeerReport(
        peer=session.peer_id,
        address=f"{host}:{port}",
        end_tick=end_tick,
        final_tick=stats.tick - 1,
        state_hash=state_hash,
        events=stats.events,
        events_emitted=stats.events_emitted,
        live_events=stats.live_events,
        rollbacks=stats.rollbacks,
        rollback_ticks=stats.rollback_ticks,
        catch_ups=stats.catch_ups,
        neighbours=stats.neighbours,
        bytes_in=stats.bytes_in,
        bytes_out=stats.bytes_out,
        dropped=stats.dropped,
        send_errors=transport_stats.send_errors,
        emulated_lost=transport_stats.emulated_lost,
        discovered=discovery_stats.dialled if discovery_stats else 0,
        beacons_dropped=discovery_stats.dropped if discovery_stats else {},
    )
