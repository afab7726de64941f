"""The one link model, as the simulator's links and the UDP emulation both use it."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from arcade_p2p.errors import UsageError
from arcade_p2p.link_model import MAX_DELAY_S, LinkModel
from arcade_p2p.sim.links import Link
from arcade_p2p.transport import LinkEmulation

SOURCE = ("127.0.0.1", 1)


def test_latency_is_normal_with_the_given_mean_and_deviation() -> None:
    model = LinkModel.from_ms(50, 10, loss=0.1)
    rng = random.Random(7)
    fates = [model.fates(rng) for _ in range(20_000)]
    delays = [d for fate in fates for d in fate]
    assert 0.09 < fates.count([]) / len(fates) < 0.11
    assert 0.049 < statistics.fmean(delays) < 0.051
    assert 0.0095 < statistics.pstdev(delays) < 0.0105


def test_latency_is_clipped_at_zero() -> None:
    model = LinkModel(0.001, 0.01)
    rng = random.Random(1)
    delays = [d for _ in range(2000) for d in model.fates(rng)]
    assert len(delays) == 2000
    assert min(delays) == 0.0
    assert sum(1 for d in delays if d == 0.0) > 500  # the clipped half of the bell


def test_loss_and_duplication_rates() -> None:
    model = LinkModel(0.05, 0.01, loss=0.2, duplicate=0.1)
    rng = random.Random(2)
    copies = [len(model.fates(rng)) for _ in range(20_000)]
    assert copies.count(0) / len(copies) == pytest.approx(0.2, abs=0.015)
    assert copies.count(2) / len(copies) == pytest.approx(0.8 * 0.1, abs=0.01)


def test_milliseconds_convert_to_seconds() -> None:
    assert LinkModel.from_ms(250, 50, loss=0.5, duplicate=0.25) == LinkModel(0.25, 0.05, 0.5, 0.25)
    assert LinkModel().is_perfect and not LinkModel(duplicate=0.1).is_perfect


@pytest.mark.parametrize(
    "model",
    [
        LinkModel(latency_s=-0.001),
        LinkModel(jitter_s=-0.001),
        LinkModel(latency_s=MAX_DELAY_S + 1),
        LinkModel(latency_s=math.nan),
        LinkModel(jitter_s=math.inf),
        LinkModel(loss=1.0),
        LinkModel(loss=-0.1),
        LinkModel(duplicate=1.0),
        LinkModel(duplicate=math.nan),
    ],
)
def test_one_set_of_bounds_for_every_user(model: LinkModel) -> None:
    with pytest.raises(UsageError):
        model.validate()
    with pytest.raises(UsageError):
        LinkEmulation(model)
    with pytest.raises(UsageError):
        LinkModel.from_ms(
            model.latency_s * 1000,
            model.jitter_s * 1000,
            loss=model.loss,
            duplicate=model.duplicate,
        )


def test_simulated_link_and_emulation_draw_the_same_fates() -> None:
    """Same model, same seed: the simulator and the UDP emulation treat datagrams alike."""
    model = LinkModel.from_ms(30, 10, loss=0.2, duplicate=0.2)
    link = Link(model, random.Random(5))
    emulation = LinkEmulation(model, seed=5)
    expected: list[float] = []
    for i in range(500):
        expected += [i + delay for delay in link.transmit()]
        emulation.arrive(b"x", SOURCE, now=float(i))
    released = []
    while emulation.held:
        at = emulation.next_release()
        assert at is not None
        released += [at] * len(emulation.release(now=at))
    assert released == sorted(expected)
    stats = emulation.stats
    assert stats.delivered == len(expected) and stats.lost > 0 and stats.duplicated > 0
    assert stats.delivered == 500 - stats.lost + stats.duplicated


def test_fates_are_reproducible_with_a_seed() -> None:
    model = LinkModel.from_ms(20, 30, loss=0.3, duplicate=0.1)

    def fates(seed: int) -> list[list[float]]:
        rng = random.Random(seed)
        return [model.fates(rng) for _ in range(200)]

    assert fates(1) == fates(1)
    assert fates(1) != fates(2)
