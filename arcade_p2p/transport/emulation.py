"""User-space link emulation: the shared link model applied to real UDP arrivals.

How this works: ``tc netem`` is not available everywhere (not on our build machines), so
the UDP transport can delay, drop and duplicate datagrams itself. A :class:`LinkEmulation`
sits on the *receive* path of one peer: the fate of every datagram that arrives is drawn
from the one :class:`~arcade_p2p.link_model.LinkModel` (the simulator's links use the same
one): dropped, or held for a one-way delay drawn from ``Normal(latency, jitter)`` clipped at
zero, once or twice; copies are released in order of release time (so jitter can reorder,
as on a real network). Two peers that both emulate latency L therefore see L in each
direction, which is how the paper used netem on loopback: per hop, one way.

It is sans-io: arrival and release times are passed in as ``now``, randomness comes from
a seeded :class:`random.Random`, and nothing here touches a socket, thread or clock.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from arcade_p2p.link_model import LinkModel

__all__ = ["Address", "EmulationStats", "LinkEmulation"]

Address = tuple[str, int]
"""A UDP address ``(host, port)``."""


@dataclass(slots=True)
class EmulationStats:
    """Counters of a link emulation.

    Attributes:
        delivered: Copies released after their delay.
        lost: Datagrams dropped by the emulated loss.
        duplicated: Datagrams that the emulation delivers twice.
    """

    delivered: int = 0
    lost: int = 0
    duplicated: int = 0


class LinkEmulation:
    """Delays, drops and duplicates arriving datagrams as a :class:`LinkModel` says.

    Args:
        model: The link (latency and jitter in seconds, loss and duplication
            probabilities); validated here.
        seed: Seed of the random choices (None: unpredictable).

    Raises:
        UsageError: A value of the model is out of range.
    """

    def __init__(self, model: LinkModel, *, seed: int | None = None) -> None:
        model.validate()
        self.model = model
        self.stats = EmulationStats()
        self._rng = random.Random(seed)
        self._held: list[tuple[float, int, bytes, Address]] = []
        self._order = 0

    def arrive(self, data: bytes, address: Address, *, now: float) -> None:
        """Take a datagram that arrived at ``now``: hold its copies for their delays, or drop it."""
        delays = self.model.fates(self._rng)
        if not delays:
            self.stats.lost += 1
            return
        if len(delays) > 1:
            self.stats.duplicated += 1
        for delay in delays:
            self._order += 1
            heapq.heappush(self._held, (now + delay, self._order, data, address))

    def release(self, *, now: float) -> list[tuple[bytes, Address]]:
        """Datagrams whose delay has elapsed by ``now``, in order of release time."""
        out: list[tuple[bytes, Address]] = []
        held = self._held
        while held and held[0][0] <= now:
            _, _, data, address = heapq.heappop(held)
            out.append((data, address))
        self.stats.delivered += len(out)
        return out

    def next_release(self) -> float | None:
        """When the next held datagram is due (None if nothing is held)."""
        return self._held[0][0] if self._held else None

    @property
    def held(self) -> int:
        """How many datagrams are currently held back."""
        return len(self._held)
