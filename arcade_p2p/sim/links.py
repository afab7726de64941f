"""Simulated links: the shared link model per directed edge, plus partitions.

How this works: every edge of the topology is two directed links (:class:`Link`), each
with its own seeded :class:`random.Random`, so a link's fate does not depend on traffic
elsewhere. What happens to one datagram (loss, duplication, a one-way delay per copy drawn
from Normal(latency, jitter) clipped at zero) is decided by the one
:class:`~arcade_p2p.link_model.LinkModel`, the same model the UDP emulation uses. A link
that is down (a partition) loses everything sent over it; datagrams already in flight still
arrive. :class:`Links` holds all the links of a topology and cuts or heals the edges
crossing a partition.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from arcade_p2p.link_model import LinkModel

__all__ = ["Link", "Links"]


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
        return self.model.fates(self._rng)


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
