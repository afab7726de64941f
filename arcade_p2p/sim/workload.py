"""The synthetic workload: when each peer is online and when it presses a key.

How this works: everything a peer *does* in a run is planned up front from the seed, so a
run's input never depends on how the network behaved. For each slot, :func:`plan_peers`
draws

* a start time, uniform in ``[0, start_spread_s]``;
* with churn, alternating online and offline spells with exponentially distributed
  lengths (means ``churn_on_s`` and ``churn_off_s``) until the end of the run; every
  slot churns, middle ones included, so partitions happen. Each online spell is a fresh
  process: a new session with a new peer id that starts at tick 0;
* input events: the network-wide rate is spread evenly over the slots, so a slot's mean
  gap is ``peers x 60 / rate`` seconds; within each online spell the slot waits a gap
  uniform in ``[0, 2 x mean gap]`` before each event, and emits nothing during the last
  ``quiet_s`` seconds of the run.

Each slot has its own random streams (derived from the seed by name), so adding churn or
peers does not reshuffle the others' choices more than it must.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.moving_rect import DIRECTIONS

__all__ = ["InputMaker", "PeerPlan", "key_input", "plan_peers"]

SECONDS_PER_MINUTE = 60.0

InputMaker = Callable[[random.Random], tuple[str, Any]]
"""Draws one input event ``(name, payload)`` from a peer's random stream."""

_KEYS = tuple(DIRECTIONS)


def key_input(rng: random.Random) -> tuple[str, Any]:
    """The paper's input: a ``"key"`` event with one of left/right/up/down."""
    return "key", rng.choice(_KEYS)


@dataclass(frozen=True, slots=True)
class PeerPlan:
    """What one slot does during a run.

    Attributes:
        slot: The topology slot.
        spells: Online spells ``(start, end)`` in seconds, ascending and disjoint. A spell
            ending at the run's duration means "still online at the end".
        inputs: Input events ``(time, name, payload)``, ascending, each inside a spell
            (name and payload None: the game's player decides at that time).
    """

    slot: int
    spells: tuple[tuple[float, float], ...]
    inputs: tuple[tuple[float, str | None, Any], ...]


def plan_peers(
    config: SimConfig, peers: int, make_input: InputMaker | None = key_input
) -> list[PeerPlan]:
    """Plan every slot's spells and inputs for one run.

    Args:
        config: The run (seed, duration, rate, churn, ...).
        peers: Number of slots in the topology.
        make_input: Draws the name and payload of each input event (None: only the
            times are planned).

    Returns:
        One plan per slot, indexed by slot.
    """
    return [_plan_one(config, peers, slot, make_input) for slot in range(peers)]


def _plan_one(config: SimConfig, peers: int, slot: int, make_input: InputMaker | None) -> PeerPlan:
    end = config.duration_s
    churn_rng = random.Random(f"{config.seed}:churn:{slot}")
    input_rng = random.Random(f"{config.seed}:input:{slot}")
    start = churn_rng.uniform(0.0, config.start_spread_s)
    spells: list[tuple[float, float]] = []
    if config.churn_on_s is None or config.churn_off_s is None:
        if start < end:
            spells.append((start, end))
    else:
        t = start
        while t < end:
            off = t + churn_rng.expovariate(1.0 / config.churn_on_s)
            spells.append((t, min(off, end)))
            t = off + churn_rng.expovariate(1.0 / config.churn_off_s)
    inputs: list[tuple[float, str | None, Any]] = []
    if config.rate_per_min > 0:
        mean_gap_s = peers * SECONDS_PER_MINUTE / config.rate_per_min
        last_input = end - config.quiet_s
        for spell_start, spell_end in spells:
            t = spell_start + input_rng.uniform(0.0, 2.0 * mean_gap_s)
            while t < min(spell_end, last_input):
                name, payload = make_input(input_rng) if make_input else (None, None)
                inputs.append((t, name, payload))
                t += input_rng.uniform(0.0, 2.0 * mean_gap_s)
    return PeerPlan(slot, tuple(spells), tuple(inputs))
