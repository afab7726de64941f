"""Measuring the memory a simulated peer holds: the retained size of its structures.

How this works: :func:`retained_bytes` walks the object graph from some roots (the live
sessions) with :func:`gc.get_referents` and adds up :func:`sys.getsizeof` of every object
reached, each counted once. It does not walk into modules, classes, functions or code
objects (shared by every peer and by the program itself), so what it counts is the data
the peers hold: timelines, snapshots, the app's state, gossip and clock tables, buffers.
:func:`measure_peers` divides the total by the number of peers and tells how much of it is
the event history (the timelines, walked first). It is measured, not estimated: a
structure that grows makes the figure grow. Memory that Python does not own is not seen
(for example pymunk's C structures of a live space; its snapshots are bytes, and counted).
The history a timeline archived to disk is not memory: it is reported apart, as the size
of the archives' files (:attr:`PeerMemory.disk_mb_per_peer`).
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from arcade_p2p.session import Session

__all__ = ["MB", "PeerMemory", "measure_peers", "retained_bytes"]

MB = float(2**20)
"""Bytes in a mebibyte (the unit of ``memory_mb_per_peer``)."""
_NOT_WALKED = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.CodeType,
    types.MethodDescriptorType,
    types.WrapperDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
)
"""Program parts, not peer data: neither counted nor walked into."""


def retained_bytes(roots: Iterable[object], seen: set[int] | None = None) -> int:
    """Bytes of every object reachable from ``roots``, each counted once.

    Args:
        roots: Where the walk starts.
        seen: Ids of objects already counted (updated): pass the same set to several
            walks to split one total between them.
    """
    seen = set() if seen is None else seen
    stack = [root for root in roots if not isinstance(root, _NOT_WALKED)]
    total = 0
    getsizeof = sys.getsizeof
    referents = gc.get_referents
    while stack:
        obj = stack.pop()
        key = id(obj)
        if key in seen:
            continue
        seen.add(key)
        total += getsizeof(obj)
        stack.extend(r for r in referents(obj) if not isinstance(r, _NOT_WALKED))
    return total


@dataclass(frozen=True, slots=True)
class PeerMemory:
    """The memory of a set of peers, per peer.

    Attributes:
        mb_per_peer: Retained size of everything the peers hold, in MiB per peer.
        history_mb_per_peer: Of that, their timelines (the event history).
        disk_mb_per_peer: The event history their timelines archived to disk (the
            archives' file sizes), in MiB per peer: not part of the memory.
    """

    mb_per_peer: float
    history_mb_per_peer: float
    disk_mb_per_peer: float = 0.0


def measure_peers(sessions: Sequence[Session]) -> PeerMemory:
    """The retained size of ``sessions`` (see the module header), per session."""
    if not sessions:
        return PeerMemory(0.0, 0.0)
    seen: set[int] = set()
    timelines = {id(s.timeline): s.timeline for s in sessions}
    timelines.update({id(s.machine.timeline): s.machine.timeline for s in sessions})
    history = retained_bytes(timelines.values(), seen)
    rest = retained_bytes(sessions, seen)
    disk = sum(timeline.archive.size_bytes for timeline in timelines.values())
    peers = len(sessions)
    return PeerMemory((history + rest) / peers / MB, history / peers / MB, disk / peers / MB)
