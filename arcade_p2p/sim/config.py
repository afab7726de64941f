"""What one simulated experiment is: the paper's parameters plus ours.

How this works: :class:`SimConfig` is a frozen record of every knob of one run. Its
defaults are the embedded default of ``arcade-p2p sim`` (the paper's framed centre cell:
paper21, L = 50 ms, 25 events/min, multiplier 2, 300 s at 50 fps, seed 1).
:meth:`SimConfig.validate` turns impossible values into one-line :class:`UsageError`s (the
link figures are checked by the one :class:`~arcade_p2p.link_model.LinkModel`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from arcade_p2p.clock import ClockMode
from arcade_p2p.errors import UsageError
from arcade_p2p.link_model import LinkModel, default_jitter_ms
from arcade_p2p.session import AUTO_DELAY, DEFAULT_HISTORY_S, SessionConfig
from arcade_p2p.sim.topologies import PAPER21_PEERS

__all__ = ["PAPER_AVG_HOPS", "Partition", "SimConfig"]

CHURN_MODES = ("restart", "suspend")
"""What going offline means in a churn run (see :attr:`SimConfig.churn_mode`)."""

PAPER21 = "paper21"
RANDOM = "random"
PAPER_AVG_HOPS = 5
"""The paper's Delta rule assumes this many hops on average: Delta = L x 5 x multiplier."""


@dataclass(frozen=True, slots=True)
class Partition:
    """A scheduled network split: the links between ``side`` and the rest are cut.

    Attributes:
        start_s: When the links go down.
        end_s: When they come back up (the partition heals).
        side: The slots on one side of the cut.
    """

    start_s: float
    end_s: float
    side: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """One simulated run.

    Attributes:
        topology: ``paper21``, ``line``, ``ring``, ``star``, ``mesh``, ``grid`` or ``random``.
        peers: Number of peers (ignored by ``paper21``, which has 21).
        degree: Average degree of ``random`` graphs.
        latency_ms: Mean one-way per-hop latency L.
        jitter_ms: Standard deviation of the per-hop latency (None: L/5, as the paper).
        rate_per_min: Network-wide event rate (events per minute, spread over peers).
        mult: Delta multiplier (Delta = L x 5 x mult unless ``delay_ms`` is given).
        delay_ms: Explicit Delta in milliseconds (overrides the multiplier rule), or
            ``"auto"``: each source chooses its own Delta, starting from the multiplier
            rule's.
        duration_s: Simulated seconds.
        warmup_s: Seconds excluded from the metrics at the start.
        quiet_s: No new events during the last this-many seconds.
        start_spread_s: Each peer starts after a uniform random delay up to this.
        fps: Ticks per second.
        loss: Probability that a datagram is lost on a link.
        duplicate: Probability that a datagram is delivered twice.
        churn_on_s: Mean online time with churn (None: no churn).
        churn_off_s: Mean offline time with churn.
        churn_mode: What going offline means: ``restart`` (the process dies; it comes back
            as a new session with a new id and an empty memory) or ``suspend`` (the
            process is frozen and cut off; it comes back with its memory and its id).
        clock: The clock rule (``ClockMode.from_name("paper")`` converts a name).
        seed: Seed of every random choice in the run.
        partitions: Scheduled network splits (each heals at its end).
        key: Secret room key of every peer (None: an open room, as in the paper). It costs
            one key stretching per run; :meth:`to_dict` shows only whether one is set.
        desync_peer: Id (slot) of a peer whose state silently diverges once, when the
            warm-up ends, to measure desync detection (None: no divergence).
        history_s: Seconds of event history every session keeps in memory, the rest
            archived to a temporary file (None: all of it in memory; see
            ``SessionConfig.history_s``).
    """

    topology: str = "paper21"
    peers: int = 21
    degree: int = 4
    latency_ms: float = 50.0
    jitter_ms: float | None = None
    rate_per_min: float = 25.0
    mult: float = 2.0
    delay_ms: float | str | None = None
    duration_s: float = 300.0
    warmup_s: float = 30.0
    quiet_s: float = 30.0
    start_spread_s: float = 10.0
    fps: int = 50
    loss: float = 0.0
    duplicate: float = 0.0
    churn_on_s: float | None = None
    churn_off_s: float | None = None
    churn_mode: str = "restart"
    clock: ClockMode = ClockMode.DEFAULT
    seed: int = 1
    partitions: tuple[Partition, ...] = ()
    key: str | None = field(default=None, repr=False)
    desync_peer: int | None = None
    history_s: float | None = DEFAULT_HISTORY_S

    @property
    def auto(self) -> bool:
        """Whether each source chooses its own Delta."""
        return self.delay_ms == AUTO_DELAY

    @property
    def delta_ms(self) -> float:
        """Delta in milliseconds (with ``"auto"``: the starting Delta, the multiplier rule's)."""
        if self.delay_ms is not None and not isinstance(self.delay_ms, str):
            return self.delay_ms
        return self.latency_ms * PAPER_AVG_HOPS * self.mult

    def session_config(self) -> SessionConfig:
        """The settings every session of the run shares (the paper's workload: peers
        announce no presence events)."""
        if self.auto:
            return SessionConfig(
                fps=self.fps,
                delay_ms=AUTO_DELAY,
                auto_start_ms=self.delta_ms,
                clock=self.clock,
                key=self.key,
                presence=False,
                history_s=self.history_s,
            )
        return SessionConfig(
            fps=self.fps,
            delay_ms=self.delta_ms,
            clock=self.clock,
            key=self.key,
            presence=False,
            history_s=self.history_s,
        )

    @property
    def jitter(self) -> float:
        """Per-hop latency standard deviation in milliseconds."""
        return default_jitter_ms(self.latency_ms) if self.jitter_ms is None else self.jitter_ms

    def link_model(self) -> LinkModel:
        """Every link of the run (simulated or emulated on real UDP).

        Raises:
            UsageError: Latency, jitter, loss or duplication is out of range.
        """
        return LinkModel.from_ms(
            self.latency_ms, self.jitter, loss=self.loss, duplicate=self.duplicate
        )

    @property
    def churn(self) -> bool:
        """Whether peers go offline and come back."""
        return self.churn_on_s is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (for JSON and CSV); a key shows as ``"set"``, never itself."""
        return {**asdict(self), "key": None if self.key is None else "set"}

    def validate(self) -> None:
        """Raise :class:`UsageError` with a one-line message for impossible values."""
        checks = [
            (self.peers >= 2, "peers must be >= 2"),
            (self.degree >= 1, "degree must be >= 1"),
            (
                self.topology != PAPER21 or self.peers == PAPER21_PEERS,
                f"paper21 always has {PAPER21_PEERS} peers, got peers={self.peers} "
                "(choose another topology for another number)",
            ),
            (
                self.topology != RANDOM or self.degree < self.peers,
                f"a random graph of {self.peers} peers has a degree of at most "
                f"{self.peers - 1}, got degree={self.degree}",
            ),
            (self.rate_per_min >= 0, "rate must be >= 0 events/min"),
            (self.mult > 0, "mult must be > 0"),
            (
                self.delay_ms is None
                or self.auto
                or (not isinstance(self.delay_ms, str) and self.delay_ms >= 0),
                f"delay must be >= 0 ms or {AUTO_DELAY!r}",
            ),
            (self.duration_s > 0, "duration must be > 0 s"),
            (0 <= self.warmup_s < self.duration_s, "warmup must be in [0, duration)"),
            (0 <= self.quiet_s < self.duration_s, "quiet period must be in [0, duration)"),
            (self.start_spread_s >= 0, "start spread must be >= 0 s"),
            (self.key is None or bool(self.key), "key must not be empty"),
            (
                self.desync_peer is None or 0 <= self.desync_peer < self.peers,
                "desync peer must be a peer slot (0 .. peers-1)",
            ),
            (1 <= self.fps <= 1000, "fps must be in 1..1000"),
            (self.history_s is None or self.history_s > 0, "history must be > 0 s or all"),
            (
                (self.churn_on_s is None) == (self.churn_off_s is None),
                "churn needs both on and off means",
            ),
            (
                self.churn_on_s is None or (self.churn_on_s > 0 and (self.churn_off_s or 0) > 0),
                "churn means must be > 0 s",
            ),
        ]
        checks += [
            (0 <= p.start_s < p.end_s and bool(p.side), "partition needs 0 <= start < end, a side")
            for p in self.partitions
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)
        self.link_model()
        if self.churn_mode not in CHURN_MODES:
            raise UsageError(f"churn mode must be one of {', '.join(CHURN_MODES)}")
        if not isinstance(self.clock, ClockMode):
            raise UsageError(f"clock must be a ClockMode, got {self.clock!r}")
