"""Who is wired to whom: the paper's topology and a few standard families.

How this works: a :class:`Topology` is a number of peer slots ``0 .. peers-1`` and a set
of undirected edges; slots are places in the network (a peer that restarts comes back in
the same slot with a new id). :func:`build_topology` makes one by name: ``paper21`` (the
exact adjacency the seed paper ran), ``line``, ``ring``, ``star``, ``mesh``, ``grid`` (as
square as possible) or ``random`` (a seeded uniform random spanning tree plus random
extra edges up to the requested average degree, hence always connected). Breadth-first
search gives hop statistics and the connected components of any subset of slots.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from arcade_p2p.errors import UsageError

__all__ = [
    "MAX_PEERS",
    "TOPOLOGIES",
    "HopStats",
    "Topology",
    "build_topology",
    "components",
]

MAX_PEERS = 5000
"""Largest topology built (the simulator is tested up to 500 peers)."""

PAPER21_PEERS = 21
PAPER21_CLIQUE = range(12, 18)
PAPER21_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (3, 8),
    (4, 5),
    (5, 6),
    (6, 7),
    (6, 9),
    (7, 8),
    (9, 10),
    (10, 11),
    (11, 12),
    *((a, b) for a in PAPER21_CLIQUE for b in PAPER21_CLIQUE if a < b),
    (15, 18),
    (18, 19),
    (19, 20),
)
"""The seed paper's 21-peer network: lines, a cycle and a clique on 12..17."""


@dataclass(frozen=True, slots=True)
class HopStats:
    """Shortest-path statistics over all ordered pairs of distinct slots.

    Attributes:
        average: Mean number of hops.
        diameter: Longest shortest path.
    """

    average: float
    diameter: int


@dataclass(frozen=True, slots=True)
class Topology:
    """Peer slots and the undirected edges between them.

    Attributes:
        name: The family it was built from.
        peers: Number of slots.
        edges: Undirected edges ``(a, b)`` with ``a < b``, sorted.
    """

    name: str
    peers: int
    edges: tuple[tuple[int, int], ...]

    def neighbours(self) -> list[list[int]]:
        """Adjacency lists, indexed by slot, each sorted."""
        adjacency: list[list[int]] = [[] for _ in range(self.peers)]
        for a, b in self.edges:
            adjacency[a].append(b)
            adjacency[b].append(a)
        for row in adjacency:
            row.sort()
        return adjacency

    @property
    def average_degree(self) -> float:
        """Mean number of neighbours per slot."""
        return 2.0 * len(self.edges) / self.peers

    def hop_stats(self) -> HopStats:
        """Average hop count and diameter (breadth-first search from every slot).

        Raises:
            UsageError: The topology is not connected.
        """
        adjacency = self.neighbours()
        total = 0
        diameter = 0
        for source in range(self.peers):
            distances = _distances(source, adjacency.__getitem__)
            if len(distances) != self.peers:
                raise UsageError(f"topology {self.name!r} is not connected")
            total += sum(distances.values())
            diameter = max(diameter, max(distances.values()))
        pairs = self.peers * (self.peers - 1)
        return HopStats(total / pairs, diameter)


def _distances(source: int, neighbours: Callable[[int], Iterable[int]]) -> dict[int, int]:
    distances = {source: 0}
    queue = deque([source])
    while queue:
        node = queue.popleft()
        for other in neighbours(node):
            if other not in distances:
                distances[other] = distances[node] + 1
                queue.append(other)
    return distances


def components(nodes: Iterable[int], neighbours: Callable[[int], Iterable[int]]) -> dict[int, int]:
    """Connected components of the subgraph induced by ``nodes``.

    Args:
        nodes: The slots to consider (for example the online ones).
        neighbours: The usable neighbours of a slot (may include slots not in ``nodes``).

    Returns:
        ``slot -> component label``; the label is the smallest slot of the component.
    """
    members = sorted(set(nodes))
    inside = set(members)
    label: dict[int, int] = {}
    for start in members:
        if start in label:
            continue
        reached = _distances(start, lambda n: (m for m in neighbours(n) if m in inside))
        for node in reached:
            label[node] = start
    return label


def _paper21(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    return list(PAPER21_EDGES)


def _line(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(peers - 1)]


def _ring(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    return _line(peers, degree, rng) + ([(0, peers - 1)] if peers > 2 else [])


def _star(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    return [(0, i) for i in range(1, peers)]


def _mesh(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    return [(a, b) for a in range(peers) for b in range(a + 1, peers)]


def _grid(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    columns = math.ceil(math.sqrt(peers))
    edges = []
    for i in range(peers):
        if (i + 1) % columns and i + 1 < peers:
            edges.append((i, i + 1))
        if i + columns < peers:
            edges.append((i, i + columns))
    return edges


def _random(peers: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    # A random spanning tree keeps the graph connected; random extra edges then bring
    # the average degree up to ``degree`` (a tree alone already has degree ~2).
    order = list(range(peers))
    rng.shuffle(order)
    edges = {_edge(order[i], order[rng.randrange(i)]) for i in range(1, peers)}
    wanted = min(round(peers * degree / 2), peers * (peers - 1) // 2)
    while len(edges) < wanted:
        a, b = rng.randrange(peers), rng.randrange(peers)
        if a != b:
            edges.add(_edge(a, b))
    return sorted(edges)


def _edge(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


TOPOLOGIES: dict[str, Callable[[int, int, random.Random], list[tuple[int, int]]]] = {
    "paper21": _paper21,
    "line": _line,
    "ring": _ring,
    "star": _star,
    "mesh": _mesh,
    "grid": _grid,
    "random": _random,
}
"""Topology families by name: ``f(peers, degree, rng) -> edges``."""


def build_topology(
    name: str, peers: int = PAPER21_PEERS, *, degree: int = 4, seed: int = 1
) -> Topology:
    """Build a topology by family name.

    Args:
        name: One of :data:`TOPOLOGIES`.
        peers: Number of slots (``paper21`` ignores it: it always has 21).
        degree: Average degree of ``random`` graphs (others ignore it).
        seed: Seed of ``random`` graphs (others ignore it).

    Raises:
        UsageError: Unknown name or impossible size.
    """
    family = TOPOLOGIES.get(name)
    if family is None:
        raise UsageError(f"unknown topology {name!r}; choose from {', '.join(TOPOLOGIES)}")
    if not 2 <= peers <= MAX_PEERS:
        raise UsageError(f"peers must be in 2..{MAX_PEERS}, got {peers}")
    if degree < 1:
        raise UsageError(f"degree must be >= 1, got {degree}")
    if name == "paper21":
        peers = PAPER21_PEERS
    rng = random.Random(f"{seed}:topology:{name}")
    edges = tuple(sorted(_edge(a, b) for a, b in family(peers, degree, rng)))
    return Topology(name, peers, edges)
