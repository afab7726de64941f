"""Simulator building blocks: scheduler, links, topologies, workload, metrics helpers."""

from __future__ import annotations

import itertools

import pytest

from arcade_p2p.errors import UsageError
from arcade_p2p.events import Event
from arcade_p2p.link_model import LinkModel
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.links import Links
from arcade_p2p.sim.metrics import RecoveryTarget, percentile
from arcade_p2p.sim.scheduler import Scheduler
from arcade_p2p.sim.topologies import PAPER21_EDGES, build_topology, components
from arcade_p2p.sim.workload import plan_peers
from arcade_p2p.timeline import Timeline

# ---------------------------------------------------------------- scheduler


def test_scheduler_runs_in_time_order_and_ties_in_insertion_order() -> None:
    scheduler = Scheduler()
    seen: list[tuple[float, str]] = []

    def note(label: str) -> None:
        seen.append((scheduler.now, label))

    scheduler.call_at(2.0, note, "c")
    scheduler.call_at(1.0, note, "a")
    scheduler.call_at(1.0, note, "b")
    scheduler.call_at(5.0, note, "late")
    scheduler.run_until(3.0)
    assert seen == [(1.0, "a"), (1.0, "b"), (2.0, "c")]
    assert scheduler.now == 3.0
    assert len(scheduler) == 1


def test_callbacks_can_schedule_more_work_within_the_same_run() -> None:
    scheduler = Scheduler()
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(scheduler.now)
        if scheduler.now < 1.0:
            scheduler.call_at(scheduler.now + 0.25, tick)

    scheduler.call_at(0.0, tick)
    scheduler.run_until(10.0)
    assert ticks == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_scheduling_in_the_past_is_a_usage_error() -> None:
    scheduler = Scheduler(start=5.0)
    with pytest.raises(UsageError):
        scheduler.call_at(4.0, lambda: None)


# ---------------------------------------------------------------- links


def test_partitions_cut_only_crossing_links_and_heal() -> None:
    links = Links([(0, 1), (1, 2), (2, 3)], LinkModel(0.01, 0.0), seed=1)
    assert links.set_partition([0, 1], up=False) == 2
    assert not links.is_up(1, 2)
    assert links.is_up(0, 1) and links.is_up(2, 3)
    link = links.get(1, 2)
    assert link is not None and link.transmit() == []
    assert links.set_partition([0, 1], up=True) == 2
    assert links.is_up(1, 2)
    assert links.get(0, 2) is None


def test_each_link_has_its_own_seeded_stream() -> None:
    def delays(seed: int) -> list[float]:
        links = Links([(0, 1)], LinkModel(0.05, 0.01), seed=seed)
        link = links.get(0, 1)
        assert link is not None
        return [d for _ in range(5) for d in link.transmit()]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)


# ---------------------------------------------------------------- topologies


def test_paper21_is_the_papers_network() -> None:
    topology = build_topology("paper21", peers=99)  # the size is fixed
    assert topology.peers == 21
    assert len(topology.edges) == len(PAPER21_EDGES) == 31
    stats = topology.hop_stats()
    assert round(stats.average, 2) == 5.03
    assert stats.diameter == 14
    clique = [e for e in topology.edges if e[0] >= 12 and e[1] <= 17]
    assert len(clique) == 15


@pytest.mark.parametrize(
    ("name", "peers", "edges", "diameter"),
    [
        ("line", 10, 9, 9),
        ("ring", 10, 10, 5),
        ("star", 10, 9, 2),
        ("mesh", 10, 45, 1),
        ("grid", 12, 17, 5),  # 4 x 3
    ],
)
def test_standard_families(name: str, peers: int, edges: int, diameter: int) -> None:
    topology = build_topology(name, peers)
    assert len(topology.edges) == edges
    assert topology.hop_stats().diameter == diameter


def test_random_graphs_are_connected_seeded_and_have_the_degree_asked() -> None:
    big = build_topology("random", 500, degree=4, seed=3)
    assert big.average_degree == pytest.approx(4.0)
    assert big.hop_stats().diameter < 20  # connected (hop_stats raises otherwise)
    assert build_topology("random", 50, degree=3, seed=1) == build_topology(
        "random", 50, degree=3, seed=1
    )
    assert build_topology("random", 50, degree=3, seed=1) != build_topology(
        "random", 50, degree=3, seed=2
    )


def test_bad_topologies_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown topology"):
        build_topology("torus", 10)
    with pytest.raises(UsageError):
        build_topology("line", 1)


def test_components_of_the_online_subset() -> None:
    line = build_topology("line", 6).neighbours()
    labels = components([0, 1, 3, 4, 5], line.__getitem__)
    assert labels == {0: 0, 1: 0, 3: 3, 4: 3, 5: 3}


# ---------------------------------------------------------------- workload


def test_inputs_follow_the_rate_and_respect_start_spread_and_quiet_period() -> None:
    config = SimConfig(rate_per_min=120.0, duration_s=600.0, quiet_s=60.0, start_spread_s=10.0)
    plans = plan_peers(config, 10)
    for plan in plans:
        ((start, end),) = plan.spells
        assert 0.0 <= start <= 10.0 and end == 600.0
        assert all(start < t < 540.0 for t, _, _ in plan.inputs)
        assert {name for _, name, _ in plan.inputs} == {"key"}
    total = sum(len(plan.inputs) for plan in plans)
    assert total == pytest.approx(120 * 535 / 60, rel=0.1)
    assert plan_peers(config, 10) == plans


def test_churn_spells_alternate_with_the_given_means_and_inputs_stay_inside() -> None:
    config = SimConfig(churn_on_s=40.0, churn_off_s=20.0, duration_s=20_000.0, quiet_s=0.0)
    plan = plan_peers(config, 3)[1]
    spells = plan.spells
    assert all(a < b <= c for (a, b), (c, _) in itertools.pairwise(spells))
    on = [b - a for a, b in spells[:-1]]
    off = [c - b for (_, b), (c, _) in itertools.pairwise(spells)]
    assert sum(on) / len(on) == pytest.approx(40.0, rel=0.15)
    assert sum(off) / len(off) == pytest.approx(20.0, rel=0.15)
    assert all(any(a < t < b for a, b in spells) for t, _, _ in plan.inputs)


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 1.0) == 4.0


def test_recovery_target_is_the_union_of_the_components_events_gaps_included() -> None:
    def timeline(*idents: tuple[int, int]) -> Timeline:
        t = Timeline()
        for source, seq in idents:
            t.insert(Event(seq, source, seq, "key", "left"))
        return t

    members = [timeline((1, 1), (1, 2)), timeline((1, 1), (2, 3))]
    target = RecoveryTarget(members)
    # (2, 1) and (2, 2) are held by nobody in the component: they are not part of it
    assert list(target.missing(timeline((1, 1)))) == [(1, 2), (2, 3)]
    assert not target.met_by(timeline(), members)
    assert not target.met_by(timeline((1, 1), (1, 2)), members)
    assert target.met_by(timeline((1, 1), (1, 2), (2, 3)), members)
    # the holder of (2, 3) left the component: what remains reachable is enough
    assert target.met_by(timeline((1, 1), (1, 2)), members[:1])
    assert RecoveryTarget([]).met_by(timeline(), [])
    # a joiner's snapshot state contains (1, 1) and (1, 2): it needs not hold them yet
    in_snapshot = {(1, 1), (1, 2)}
    joiner = timeline((2, 3))
    assert not target.met_by(joiner, members)
    assert target.met_by(joiner, members, lambda event: event.ident in in_snapshot)
    assert not target.met_by(timeline(), members, lambda event: event.ident in in_snapshot)
