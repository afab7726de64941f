"""User-space link emulation: added one-way latency, jitter and loss for real UDP.

How this works: ``tc netem`` is not available everywhere (not on our build machines), so
the UDP transport can delay and drop datagrams itself. A :class:`LinkEmulation` sits on
the *receive* path of one peer: every datagram that arrives is either dropped (with
probability ``loss``) or held for a one-way delay drawn from ``Normal(latency, jitter)``
clipped at zero, then released in order of release time (so jitter can reorder, as on a
real network). Two peers that both emulate latency L therefore see L in each direction,
which is how the paper used netem on loopback: per hop, one way.

It is sans-io: arrival and release times are passed in as ``now``, randomness comes from
a seeded :class:`random.Random`, and nothing here touches a socket, thread or clock.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from arcade_p2p.errors import UsageError

__all__ = ["Address", "EmulationStats", "LinkEmulation"]

Address = tuple[str, int]
"""A UDP address ``(host, port)``."""

MAX_LATENCY_MS = 60_000.0
"""Largest emulated mean latency or jitter, in milliseconds."""


@dataclass(slots=True)
class EmulationStats:
    """Counters of a link emulation.

    Attributes:
        delivered: Datagrams released after their delay.
        lost: Datagrams dropped by the emulated loss.
    """

    delivered: int = 0
    lost: int = 0


class LinkEmulation:
    """Delays and drops datagrams like a lossy link with jitter.

    Args:
        latency_ms: Mean one-way delay added to every datagram, in milliseconds.
        jitter_ms: Standard deviation of that delay, in milliseconds.
        loss: Probability in ``[0, 1]`` that a datagram is dropped.
        seed: Seed of the random choices (None: unpredictable).

    Raises:
        UsageError: A value is out of range.
    """

    def __init__(
        self,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        loss: float = 0.0,
        seed: int | None = None,
    ) -> None:
        for name, value in (("latency_ms", latency_ms), ("jitter_ms", jitter_ms)):
            if not 0.0 <= value <= MAX_LATENCY_MS:
                raise UsageError(f"{name} must be in 0..{MAX_LATENCY_MS:g}, got {value!r}")
        if not 0.0 <= loss <= 1.0:
            raise UsageError(f"loss must be a probability in 0..1, got {loss!r}")
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.loss = loss
        self.stats = EmulationStats()
        self._rng = random.Random(seed)
        self._held: list[tuple[float, int, bytes, Address]] = []
        self._order = 0

    def delay_s(self) -> float | None:
        """Draw the fate of one datagram.

        Returns:
            The one-way delay in seconds, or None if the datagram is lost.
        """
        if self.loss and self._rng.random() < self.loss:
            return None
        delay_ms = self.latency_ms
        if self.jitter_ms:
            delay_ms = self._rng.gauss(self.latency_ms, self.jitter_ms)
        return max(delay_ms, 0.0) / 1000.0

    def arrive(self, data: bytes, address: Address, *, now: float) -> None:
        """Take a datagram that arrived at ``now``: hold it for its delay, or drop it."""
        delay = self.delay_s()
        if delay is None:
            self.stats.lost += 1
            return
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
