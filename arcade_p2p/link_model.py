"""The one model of a network link: one-way latency, jitter, loss and duplication.

How this works: a :class:`LinkModel` holds the four figures (times in seconds,
probabilities in ``[0, 1)``) and one set of bounds. :meth:`LinkModel.fates` decides what
happens to one datagram given a seeded :class:`random.Random`: lost (no copy), delivered
once or, with probability ``duplicate``, twice; every copy gets its own one-way delay drawn
from ``Normal(latency, jitter)`` clipped at zero -- the way the seed paper used netem on
loopback, per hop and one way. Datagrams overtake each other whenever their delays cross,
so reordering needs no separate knob.

Both places that imitate a network use it: the simulator's links
(:mod:`arcade_p2p.sim.links`) and the user-space emulation on real UDP
(:mod:`arcade_p2p.transport.emulation`), so ``sim --real`` compares one model with itself.
Figures given in milliseconds (as on the command line) go through :meth:`LinkModel.from_ms`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from arcade_p2p.errors import UsageError

__all__ = ["MAX_DELAY_S", "LinkModel", "default_jitter_ms"]

MS_PER_S = 1000.0
MAX_DELAY_S = 60.0
"""Largest mean latency or jitter a link may have, in seconds."""
PAPER_JITTER_PER_LATENCY = 0.2
"""The paper's per-hop jitter: a standard deviation of L/5 around the mean latency L."""


def default_jitter_ms(latency_ms: float) -> float:
    """Jitter of a link whose jitter is not given: L/5, as the paper (and every command)."""
    return latency_ms * PAPER_JITTER_PER_LATENCY


@dataclass(frozen=True, slots=True)
class LinkModel:
    """How a link treats datagrams.

    Attributes:
        latency_s: Mean one-way delay, in seconds.
        jitter_s: Standard deviation of the one-way delay, in seconds.
        loss: Probability that a datagram is lost.
        duplicate: Probability that a datagram that is not lost arrives twice.
    """

    latency_s: float = 0.0
    jitter_s: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0

    @classmethod
    def from_ms(
        cls,
        latency_ms: float,
        jitter_ms: float = 0.0,
        *,
        loss: float = 0.0,
        duplicate: float = 0.0,
    ) -> LinkModel:
        """A model from millisecond figures (as on the command line), validated.

        Raises:
            UsageError: A value is out of range.
        """
        model = cls(latency_ms / MS_PER_S, jitter_ms / MS_PER_S, loss, duplicate)
        model.validate()
        return model

    @property
    def is_perfect(self) -> bool:
        """Whether the link adds nothing (no delay, no loss, no duplication)."""
        return not (self.latency_s or self.jitter_s or self.loss or self.duplicate)

    def validate(self) -> None:
        """Raise :class:`UsageError` for values that make no sense (NaN included)."""
        for name, value in (("latency", self.latency_s), ("jitter", self.jitter_s)):
            if not 0.0 <= value <= MAX_DELAY_S:
                limit = MAX_DELAY_S * MS_PER_S
                raise UsageError(f"{name} must be in 0..{limit:g} ms, got {value * MS_PER_S!r}")
        for name, value in (("loss", self.loss), ("duplicate", self.duplicate)):
            if not 0.0 <= value < 1.0:
                raise UsageError(f"{name} must be a probability in [0, 1), got {value!r}")

    def fates(self, rng: random.Random) -> list[float]:
        """The delays (seconds) after which copies of one datagram arrive; empty if lost.

        Args:
            rng: The link's own seeded randomness (the draws are made in a fixed order:
                loss, duplication, then one delay per copy).
        """
        if self.loss and rng.random() < self.loss:
            return []
        copies = 2 if self.duplicate and rng.random() < self.duplicate else 1
        return [max(0.0, rng.gauss(self.latency_s, self.jitter_s)) for _ in range(copies)]
