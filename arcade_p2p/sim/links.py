"""Simulated links: latency, jitter, loss, duplication, partitions.

How this works: every edge of the topology is two directed links (:class:`Link`), each
with its own seeded :class:`random.Random`, so a link's fate does not depend on traffic
elsewhere. :meth:`Link.transmit` decides what happens to one datagram: lost (no copy),
delivered once or, with probability ``duplicate``, twice; every copy gets its own one-way
delay drawn from Normal(latency, jitter) clipped at zero -- the way the seed paper used
netem on loopback. Datagrams overtake each other whenever their delays cross, so
reordering needs no separate knob. A link that is down (a partition) loses everything
sent over it; datagrams already in flight still arrive. :class:`Links` holds all the
links of a topology and cuts or heals the edges crossing a partition.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from arcade_p2p.errors import UsageError

__all__ = ["Link", "LinkModel", "Links"]

MS_PER_S = 1000.0


@dataclass(frozen=True, slots=True)
class LinkModel:
    """How every link of a run behaves.

    Attributes:
        latency_s: Mean one-way delay.
        jitter_s: Standard deviation of the one-way delay.
        loss: Probability that a datagram is lost.
        duplicate: Probability that a delivered datagram arrives twice.
    """

    latency_s: float
    jitter_s: float
    loss: float = 0.0
    duplicate: float = 0.0

    @classmethod
    def from_ms(
        cls, latency_ms: float, jitter_ms: float, *, loss: float = 0.0, duplicate: float = 0.0
    ) -> LinkModel:
        """A model from millisecond figures (as on the command line)."""
        return cls(latency_ms / MS_PER_S, jitter_ms / MS_PER_S, loss, duplicate)

    def validate(self) -> None:
        """Raise :class:`UsageError` for values that make no sense."""
        if self.latency_s < 0 or self.jitter_s < 0:
            raise UsageError("latency and jitter must be >= 0")
        if not (0 <= self.loss < 1 and 0 <= self.duplicate < 1):
            raise UsageError("loss and duplicate must be probabilities in [0, 1)")


class Link:
    """One direction of one edge.

    Args:
        model: Latency, jitter, loss and duplication.
        rng: This link's own seeded randomness.
    """

    __slots__ = ("_rng", "model", "up")

    def __init__(self, model: LinkModel, rng: random.Random) -> None:
        self.model = model
        self.up = True
        self._rng = rng

    def transmit(self) -> list[float]:
        """The delays (seconds) after which copies of one datagram arrive; empty if lost."""
        if not self.up:
            return []
        model = self.model
        rng = self._rng
        if model.loss and rng.random() < model.loss:
            return []
        copies = 2 if model.duplicate and rng.random() < model.duplicate else 1
        return [max(0.0, rng.gauss(model.latency_s, model.jitter_s)) for _ in range(copies)]


class Links:
    """The directed links of a topology.

    Args:
        edges: Undirected edges ``(a, b)`` between peer slots.
        model: How every link behaves.
        seed: Seed of the run; each link derives its own stream from it.
    """

    def __init__(self, edges: Iterable[tuple[int, int]], model: LinkModel, seed: int) -> None:
        model.validate()
        self._links: dict[tuple[int, int], Link] = {}
        for a, b in edges:
            for src, dst in ((a, b), (b, a)):
                rng = random.Random(f"{seed}:link:{src}:{dst}")
                self._links[(src, dst)] = Link(model, rng)

    def get(self, src: int, dst: int) -> Link | None:
        """The link from ``src`` to ``dst``, or None if they are not neighbours."""
        return self._links.get((src, dst))

    def is_up(self, a: int, b: int) -> bool:
        """Whether both directions between ``a`` and ``b`` exist and are up."""
        there, back = self._links.get((a, b)), self._links.get((b, a))
        return there is not None and back is not None and there.up and back.up

    def set_partition(self, side: Iterable[int], *, up: bool) -> int:
        """Cut (``up=False``) or heal every link crossing between ``side`` and the rest.

        Returns:
            How many directed links changed state.
        """
        inside = set(side)
        changed = 0
        for (src, dst), link in self._links.items():
            if (src in inside) != (dst in inside) and link.up != up:
                link.up = up
                changed += 1
        return changed

    def heal_all(self) -> None:
        """Bring every link up."""
        for link in self._links.values():
            link.up = True
