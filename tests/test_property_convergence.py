"""Property: whatever the graph and however datagrams are delayed, duplicated, reordered or
lost, all peers end with the identical event log and state hash, and no event is lost
(presence included: every peer announces itself and ends seeing every peer present)."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pairnet import make_network, settle_and_compare

from arcade_p2p.clock import ClockMode
from arcade_p2p.events import is_system_name
from arcade_p2p.session import HELD_TICK, Session, SessionConfig


@st.composite
def connected_graphs(draw: st.DrawFn) -> list[tuple[int, int]]:
    n = draw(st.integers(3, 7))
    edges = {(draw(st.integers(0, i - 1)), i) for i in range(1, n)}  # a random spanning tree
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=6))
    edges |= {(min(a, b), max(a, b)) for a, b in extra if a != b}
    return sorted(edges)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edges=connected_graphs(),
    seed=st.integers(0, 10**6),
    loss=st.sampled_from([0.0, 0.1, 0.3]),
    duplicate=st.sampled_from([0.0, 0.2]),
    max_delay_s=st.sampled_from([0.005, 0.1, 0.4]),
    clock=st.sampled_from(list(ClockMode)),
)
def test_any_delivery_order_converges(
    edges: list[tuple[int, int]],
    seed: int,
    loss: float,
    duplicate: float,
    max_delay_s: float,
    clock: ClockMode,
) -> None:
    def shape(r: random.Random) -> list[float]:
        if r.random() < loss:
            return []
        copies = 2 if r.random() < duplicate else 1
        return [r.random() * max_delay_s for _ in range(copies)]

    rng = random.Random(seed)
    n = 1 + max(max(e) for e in edges)
    wire = make_network(
        edges,
        seed=seed,
        shape=shape,
        config=SessionConfig(delay_ms=60, clock=clock),
        start_times=[rng.random() for _ in range(n)],
    )
    emitted = []

    def emit(index: int, session: Session) -> None:
        if rng.random() < 0.03:
            emitted.append(session.emit("key", rng.choice(["left", "up", "down"]), now=wire.now))

    wire.run(4.0, dt=0.02, emit=emit)
    hashes, _ = settle_and_compare(wire, seconds=6.0)
    logs = {tuple(s.timeline.all_events()) for s in wire.sessions}
    assert len(logs) == 1, "event logs differ"
    log = logs.pop()
    game = {(e.source, e.seq, e.name, e.payload) for e in log if not is_system_name(e.name)}
    assert game == {(e.source, e.seq, e.name, e.payload) for e in emitted}, "an event was lost"
    stamped = {e for e in emitted if e.tick != HELD_TICK}
    assert stamped <= set(log), "an event was re-stamped"
    assert len(hashes) == 1, "state hashes differ"
    assert {s.machine.presence.peers for s in wire.sessions} == {
        tuple(sorted(s.peer_id for s in wire.sessions))
    }, "every peer sees every peer present"
