"""Events: the only thing peers agree on.

How this works: an :class:`Event` is an immutable record ``(tick, source, seq, name,
payload)``. ``source`` identifies the session that emitted it (any non-negative integer;
ids need not be contiguous) and ``seq`` counts that source's events from 1 with no gaps,
which gives duplicate suppression and gap detection for free. Every peer applies the events
of a tick in the order of :attr:`Event.order_key`, so the order never depends on arrival.
Payloads must be msgpack-able and small enough to travel in one datagram. Names that
start with :data:`SYSTEM_PREFIX` are reserved for the session's own events (presence, see
:mod:`arcade_p2p.presence`): a game cannot emit them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from arcade_p2p.errors import UsageError

__all__ = [
    "MAX_EVENT_NAME_BYTES",
    "MAX_PAYLOAD_BYTES",
    "MAX_SOURCE_ID",
    "MAX_TICK",
    "SYSTEM_PREFIX",
    "Event",
    "canonical_payload",
    "is_system_name",
]

MAX_EVENT_NAME_BYTES = 32
"""Longest event name, in UTF-8 bytes."""

MAX_PAYLOAD_BYTES = 512
"""Largest event payload, in msgpack-encoded bytes (so an event fits one datagram)."""

MAX_SOURCE_ID = 2**63 - 1
"""Largest source (session) id."""

MAX_TICK = 2**40
"""Largest tick accepted (about 700 years at 50 fps)."""

SYSTEM_PREFIX = "@"
"""Event names starting with this are the session's own (``"@join"``, ``"@leave"``)."""


def is_system_name(name: str) -> bool:
    """Whether ``name`` is reserved for the session's own events (games cannot emit it)."""
    return name.startswith(SYSTEM_PREFIX)


@dataclass(frozen=True, slots=True)
class Event:
    """One broadcast event.

    Attributes:
        tick: The tick at which every peer applies the event (after that tick's TICK step).
        source: Id of the session that emitted it.
        seq: Per-source sequence number, 1, 2, 3, ... with no gaps.
        name: Application-defined event name, for example ``"key"``.
        payload: Application data (msgpack-able: None, bool, int, float, str, bytes,
            and lists/dicts of those).
    """

    tick: int
    source: int
    seq: int
    name: str
    payload: Any = None

    @property
    def order_key(self) -> tuple[int, int, int]:
        """The total order in which events are applied: ``(tick, source, seq)``."""
        return (self.tick, self.source, self.seq)

    @property
    def ident(self) -> tuple[int, int]:
        """The identity of the event in the network: ``(source, seq)``."""
        return (self.source, self.seq)


def canonical_payload(name: str, payload: Any) -> Any:
    """Check that ``name`` and ``payload`` can be broadcast; return the payload as peers see it.

    The local peer must apply exactly what remote peers decode (a tuple arrives as a
    list), so the payload is round-tripped through msgpack once, here.

    Args:
        name: The event name.
        payload: The event payload.

    Returns:
        The payload after a msgpack round trip.

    Raises:
        UsageError: The name is empty, too long or reserved (it starts with
            :data:`SYSTEM_PREFIX`), or the payload is not msgpack-able or is larger than
            :data:`MAX_PAYLOAD_BYTES` once encoded.
    """
    if not isinstance(name, str) or not name:
        raise UsageError("event name must be a non-empty str")
    if is_system_name(name):
        raise UsageError(
            f"event names starting with {SYSTEM_PREFIX!r} are reserved for the session "
            f"(presence: override on_peer_join/on_peer_leave instead): {name!r}"
        )
    if len(name.encode("utf-8")) > MAX_EVENT_NAME_BYTES:
        raise UsageError(f"event name longer than {MAX_EVENT_NAME_BYTES} bytes: {name!r}")
    try:
        packed = msgpack.packb(payload, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise UsageError(f"event payload is not msgpack-able: {exc}") from exc
    if len(packed) > MAX_PAYLOAD_BYTES:
        raise UsageError(
            f"event payload is {len(packed)} bytes encoded; the limit is {MAX_PAYLOAD_BYTES}"
        )
    try:
        return msgpack.unpackb(packed, raw=False)
    except ValueError as exc:  # e.g. a map key peers could not decode (strict keys)
        raise UsageError(f"event payload cannot be decoded by peers: {exc}") from exc
