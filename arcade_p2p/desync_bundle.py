"""The forensics bundle of a desync: everything needed to replay it offline, in one file.

How this works: a :class:`DesyncBundle` is one msgpack map. It names the game
(``module:Class``), the tick and the two peers with their state hashes and the digest of
the events they share, and carries the base snapshot (this peer's state at the start of
``base_tick``, the newest tick at or before the desync where the two peers' reports last
agreed, else the nearest snapshot before it), the events from ``base_tick`` up to the
tick, the state hashes each peer reported for the ticks in between, this peer's state at
the tick and, when it could be fetched, the other peer's. The field-level diff between
the two states is included as JSON-able records. :meth:`DesyncBundle.from_bytes` checks
every field's type; the state blobs inside are never unpickled here -- the replay loads
them with the game's restricted state decoder.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import msgpack

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "DesyncBundle"]

BUNDLE_FORMAT = "arcade-p2p desync bundle"
BUNDLE_VERSION = 1


@dataclass(frozen=True, slots=True)
class DesyncBundle:
    """A desync, recorded for offline replay.

    Attributes:
        app: The game as ``module:Class`` (what ``arcade-p2p replay`` imports).
        fps: Tick rate of the session.
        snapshot_every_ticks: Snapshot period K of the session.
        tick: The snapshot tick whose start state differs.
        peer: Id of the peer that wrote the bundle.
        other: Id of the neighbour it disagrees with.
        state_hash: The writer's reported state hash at ``tick`` (hex).
        other_state_hash: The neighbour's reported state hash at ``tick`` (hex).
        events_digest: Digest of the events before ``tick`` both held (hex).
        base_tick: Tick of ``base_state`` (0 with no snapshot: replay from START).
        base_state: The writer's state at the start of ``base_tick`` (pickled; None: START).
        events: Every event with ``base_tick <= tick < self.tick``, in application order.
        hashes: The writer's reported state hashes by tick (hex), ``base_tick .. tick``.
        other_hashes: The neighbour's reported state hashes by tick (hex).
        state: The writer's state at the start of ``tick`` (pickled).
        other_state: The neighbour's state at the start of ``tick`` as it sent it (pickled,
            from the network), or None if it could not be fetched.
        diff: Field-level differences between ``state`` and ``other_state``
            (``{path, a, b, kind}``; empty if the other state is missing).
        note: Why something is missing (the fetch failed, the decoder refused the
            other state), or empty.
    """

    app: str
    fps: int
    snapshot_every_ticks: int
    tick: int
    peer: int
    other: int
    state_hash: str
    other_state_hash: str
    events_digest: str
    base_tick: int
    base_state: bytes | None
    events: tuple[Event, ...]
    hashes: dict[int, str]
    other_hashes: dict[int, str]
    state: bytes
    other_state: bytes | None
    diff: tuple[dict[str, Any], ...]
    note: str = ""

    def to_bytes(self) -> bytes:
        """The bundle as one msgpack map."""
        fields = asdict(self)
        fields["events"] = [[e.tick, e.source, e.seq, e.name, e.payload] for e in self.events]
        fields["diff"] = list(self.diff)
        packed: bytes = msgpack.packb(
            {"format": BUNDLE_FORMAT, "version": BUNDLE_VERSION, **fields}, use_bin_type=True
        )
        return packed

    @classmethod
    def from_bytes(cls, data: bytes) -> DesyncBundle:
        """Read a bundle written by :meth:`to_bytes`.

        Raises:
            UsageError: The data is not a desync bundle of this version.
        """
        try:
            raw = msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises many types for bad input
            raise UsageError(f"not a desync bundle: {type(exc).__name__}") from None
        if not isinstance(raw, dict) or raw.get("format") != BUNDLE_FORMAT:
            raise UsageError("not a desync bundle")
        if raw.get("version") != BUNDLE_VERSION:
            raise UsageError(f"desync bundle version {raw.get('version')!r} is not supported")
        try:
            return cls(
                app=_typed(raw["app"], str),
                fps=_typed(raw["fps"], int),
                snapshot_every_ticks=_typed(raw["snapshot_every_ticks"], int),
                tick=_typed(raw["tick"], int),
                peer=_typed(raw["peer"], int),
                other=_typed(raw["other"], int),
                state_hash=_typed(raw["state_hash"], str),
                other_state_hash=_typed(raw["other_state_hash"], str),
                events_digest=_typed(raw["events_digest"], str),
                base_tick=_typed(raw["base_tick"], int),
                base_state=_optional_bytes(raw["base_state"]),
                events=tuple(Event(*_typed(e, list)) for e in _typed(raw["events"], list)),
                hashes=_hashes(raw["hashes"]),
                other_hashes=_hashes(raw["other_hashes"]),
                state=_typed(raw["state"], bytes),
                other_state=_optional_bytes(raw["other_state"]),
                diff=tuple(_typed(d, dict) for d in _typed(raw["diff"], list)),
                note=_typed(raw.get("note", ""), str),
            )
        except (KeyError, TypeError) as exc:
            raise UsageError(f"damaged desync bundle: {exc}") from None


def _typed(value: Any, kind: type) -> Any:
    if type(value) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _optional_bytes(value: Any) -> bytes | None:
    return None if value is None else _typed(value, bytes)


def _hashes(value: Any) -> dict[int, str]:
    return {_typed(k, int): _typed(v, str) for k, v in _typed(value, dict).items()}
