"""Automatic Delta: the controller, the slack board, the wire, settings and command lines."""

from __future__ import annotations

import argparse

import msgpack
import pytest

from arcade_p2p.cli import build_parser
from arcade_p2p.cli_support import CommandParser
from arcade_p2p.clock import ClockMode
from arcade_p2p.delay import (
    FACT_TTL_TICKS,
    MAX_FACTS_PER_SYNC,
    NEED_WINDOW_S,
    DelayController,
    SlackBoard,
    SlackFact,
)
from arcade_p2p.errors import RemoteError, UsageError
from arcade_p2p.peer_options import add_peer_options, peer_options
from arcade_p2p.protocol.wire import MAGIC, MAX_SLACK_FACTS, VERSION, Sync, WireCodec
from arcade_p2p.session import AUTO_DELAY, SessionConfig
from arcade_p2p.sim import heatmap
from arcade_p2p.sim.cli import config_from_args
from arcade_p2p.sim.config import SimConfig
from arcade_p2p.sim.runner import run_simulation
from arcade_p2p.sim.sweep import build_grid


def controller(start: int = 5, maximum: int = 100) -> DelayController:
    return DelayController(start, maximum, now=0.0)


# ------------------------------------------------------------------ controller
def test_stamping_never_goes_below_the_previous_own_tick() -> None:
    delay = controller(start=10)
    first = delay.stamp(1, base=100, earliest=0)
    assert first == 110
    # The base went back (a clock estimate fell) and Delta fell: still not below 110.
    delay.on_facts([SlackFact(0, 1, first, 9)], now=0.0)
    second = delay.stamp(2, base=95, earliest=0)
    assert second >= first
    assert delay.stamp(3, base=90, earliest=0) >= second


def test_stamp_respects_the_earliest_allowed_tick() -> None:
    delay = controller(start=2)
    assert delay.stamp(1, base=10, earliest=30) == 30


def test_lateness_raises_delta_at_once() -> None:
    delay = controller(start=2)
    tick = delay.stamp(1, base=100, earliest=0)  # Delta used: 2
    delay.on_facts([SlackFact(0, 1, tick, -5)], now=1.0)  # 5 ticks late somewhere
    assert delay.delta_ticks == 7


def test_slack_lowers_delta_slowly_and_never_below_the_need() -> None:
    delay = controller(start=40)
    tick = delay.stamp(1, base=0, earliest=0)
    delay.on_facts([SlackFact(0, 1, tick, 37)], now=0.0)  # needed only 3
    assert delay.delta_ticks == 40  # no time has passed: no change yet
    delay.update(now=1.0)
    assert 31 <= delay.delta_ticks < 40  # at most 20 % (or a tick) per second
    previous = delay.delta_ticks
    for step in range(2, 9):
        delay.update(now=step)
        assert delay.delta_ticks <= previous
        previous = delay.delta_ticks
    assert previous > 3  # still smooth after 8 s ...
    for step in range(9, 60):  # ... and goes on hearing of that need
        delay.on_facts([SlackFact(0, 1, tick, 37)], now=float(step))
    assert delay.delta_ticks == 3


def test_without_facts_delta_holds_and_old_needs_are_forgotten() -> None:
    delay = controller(start=20)
    delay.update(now=100.0)
    assert delay.delta_ticks == 20
    tick = delay.stamp(1, base=0, earliest=0)
    delay.on_facts([SlackFact(0, 1, tick, 18)], now=100.0)  # need 2
    delay.update(now=100.0 + NEED_WINDOW_S + 1)  # the need expired: hold
    held = delay.delta_ticks
    delay.update(now=200.0)
    assert delay.delta_ticks == held


@pytest.mark.parametrize(("slack", "expected"), [(-10_000, 100), (50, 1)])
def test_delta_stays_within_one_tick_and_the_maximum(slack: int, expected: int) -> None:
    delay = controller(start=5, maximum=100)
    tick = delay.stamp(1, base=0, earliest=0)
    delay.on_facts([SlackFact(0, 1, tick, slack)], now=0.0)
    for step in range(1, 200):
        delay.update(now=float(step))
    assert delay.delta_ticks == expected


def test_facts_about_unknown_seqs_are_ignored() -> None:
    delay = controller(start=5)
    delay.on_facts([SlackFact(0, 99, 10, -50)], now=0.0)
    assert delay.delta_ticks == 5


def test_a_spread_raises_delta_but_never_lowers_it() -> None:
    delay = controller(start=2)
    delay.on_facts([], [6], now=0.0)
    assert delay.delta_ticks == 7
    delay = controller(start=20)
    for step in range(30):
        delay.on_facts([], [6], now=float(step))
    assert delay.delta_ticks == 20


# ------------------------------------------------------------------ board
def test_board_keeps_the_worst_fact_per_source_and_expires_it() -> None:
    board = SlackBoard(me=1, relay=True)
    board.note(SlackFact(2, 1, 100, 3), now_tick=100)
    board.note(SlackFact(2, 2, 110, -2), now_tick=110)
    board.note(SlackFact(2, 3, 120, 5), now_tick=120)
    assert board.report(now_tick=120) == (SlackFact(2, 2, 110, -2),)
    assert board.report(now_tick=110 + FACT_TTL_TICKS + 1) == ()
    board.note(SlackFact(2, 4, 500, 1), now_tick=500)  # a fresh fact replaces an old one
    assert board.report(now_tick=500) == (SlackFact(2, 4, 500, 1),)


def test_board_hands_own_facts_to_the_controller_and_measures_spreads() -> None:
    board = SlackBoard(me=1, relay=True)
    assert board.measure(3, 7, tick=50, next_tick=45) == 5  # arrived 5 ticks early here
    board.heard([SlackFact(3, 7, 50, -2), SlackFact(1, 4, 48, 1)], now_tick=45)
    own, spreads = board.take_own()
    assert own == [SlackFact(1, 4, 48, 1)]
    assert spreads == [7]  # the worst receiver got it 7 ticks later than this peer
    assert board.take_own() == ([], [])
    assert board.report(now_tick=45) == (SlackFact(3, 7, 50, -2),)  # own facts not relayed


def test_board_relays_only_once_someone_uses_auto_and_takes_turns() -> None:
    board = SlackBoard(me=0)
    for source in range(1, MAX_FACTS_PER_SYNC + 6):
        board.measure(source, 1, tick=10, next_tick=10)
    assert board.report(now_tick=10) == ()  # nobody asked: SYNC stays small
    board.heard([SlackFact(99, 1, 10, 0)], now_tick=10)
    first = board.report(now_tick=10)
    second = board.report(now_tick=10)
    assert len(first) == len(second) == MAX_FACTS_PER_SYNC
    assert {f.source for f in first} | {f.source for f in second} == set(range(1, 22)) | {99}


# ------------------------------------------------------------------ wire
def sync(slack: tuple[tuple[int, int, int, int], ...] = ()) -> Sync:
    return Sync(12.0, 3, 12.0, 1, 5.0, -1.0, 0.0, b"01234567", 4, False, (), slack)


def test_sync_carries_slack_facts_and_stays_compatible() -> None:
    codec = WireCodec("room")
    facts = ((7, 3, 1200, -4), (2**62, 1, 0, 250))
    assert codec.decode(codec.encode(1, 2, 3, sync(facts))).message == sync(facts)
    plain = codec.encode(1, 2, 3, sync())
    assert codec.decode(plain).message == sync()
    assert len(plain) < len(codec.encode(1, 2, 3, sync(facts)))  # no facts, no bytes
    without_facts = msgpack.packb(
        [3, 1, 2, 3, 12.0, 3, 12.0, 1, 5.0, -1.0, 0.0, b"01234567", 4, False, []]
    )
    signed = MAGIC + bytes((VERSION,)) + without_facts
    assert codec.decode(signed + codec.mac(signed)).message == sync()  # facts optional


@pytest.mark.parametrize(
    "facts",
    [
        ((1, 0, 5, 5),),  # seq 0
        ((1, 1, -5, 5),),  # negative tick
        ((1, 1, 5, 1.5),),  # not an int
        ((1, 1, 5),),  # three fields
        tuple((1, 1, 5, 5) for _ in range(MAX_SLACK_FACTS + 1)),
    ],
)
def test_bad_slack_facts_are_remote_errors(facts: tuple[tuple[int, ...], ...]) -> None:
    codec = WireCodec("room")
    message = sync(facts)  # type: ignore[arg-type]
    encoded = codec.encode(1, 2, 3, message) if len(facts) <= MAX_SLACK_FACTS else None
    if encoded is None:  # too many facts: build the datagram by hand
        body = msgpack.packb(
            [3, 1, 2, 3, 12.0, 3, 12.0, 1, 5.0, -1.0, 0.0, b"01234567", 4, False, facts]
        )
        signed = MAGIC + bytes((VERSION,)) + body
        encoded = signed + codec.mac(signed)
    with pytest.raises(RemoteError):
        codec.decode(encoded)


# ------------------------------------------------------------------ settings and CLI
def test_session_config_accepts_auto_or_a_number() -> None:
    SessionConfig(delay_ms=AUTO_DELAY).validate()
    SessionConfig(delay_ms=40).validate()
    auto = SessionConfig(delay_ms="auto", auto_start_ms=60.0)
    assert auto.auto and auto.delta_ticks == 3 and auto.max_delta_ticks == 500
    assert SessionConfig(delay_ms=60).max_delta_ticks == 3
    for bad in ("fast", -1.0, True, None, 700_000):
        with pytest.raises(UsageError, match="delay_ms"):
            SessionConfig(delay_ms=bad).validate()  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="auto_max_ms"):
        SessionConfig(delay_ms="auto", auto_start_ms=500.0, auto_max_ms=100.0).validate()


def parse_sim(argv: list[str]) -> SimConfig:
    args = build_parser("sim").parse_args(["sim", *argv])
    return config_from_args(args)


def test_sim_parses_delay_auto() -> None:
    config = parse_sim(["--delay-ms", "auto", "--latency-ms", "10"])
    assert config.auto and config.delta_ms == 100.0  # starts from L x 5 x mult
    session = config.session_config()
    assert session.auto and session.auto_start_ms == 100.0
    assert parse_sim(["--delay-ms", "40"]).delay_ms == 40.0
    with pytest.raises(UsageError):
        parse_sim(["--delay-ms", "soon"])


@pytest.mark.parametrize("which", ["peer", "game"])
def test_peer_and_game_options_parse_delay_auto(which: str) -> None:
    if which == "game":
        from arcade_p2p.window import _argument_parser
        from sample_games.moving_rect import MovingRect

        parser: argparse.ArgumentParser = _argument_parser(MovingRect)
        defaults = MovingRect.CONFIG
    else:
        parser = CommandParser(prog="peer")
        defaults = SessionConfig(delay_ms=100.0)
        add_peer_options(parser, defaults)
    options = peer_options(parser.parse_args(["--delay-ms", "auto"]), defaults)
    assert options.config.auto
    assert peer_options(parser.parse_args(["--delay-ms", "80"]), defaults).config.delay_ms == 80
    with pytest.raises(UsageError):
        parser.parse_args(["--delay-ms", "nan"])


# ------------------------------------------------------------------ simulator
def test_auto_converges_with_fewer_late_events_than_a_too_small_fixed_delta() -> None:
    base = SimConfig(
        topology="line",
        peers=5,
        latency_ms=30.0,
        rate_per_min=5 * 120.0,
        delay_ms=20.0,  # one tick: far too small for 4 hops of 30 ms
        duration_s=40.0,
        warmup_s=10.0,
        quiet_s=5.0,
        start_spread_s=2.0,
        seed=3,
    )
    fixed = run_simulation(base)
    auto = run_simulation(SimConfig(**{**base.to_dict(), "key": None, "delay_ms": "auto"}))
    assert fixed.converged and auto.converged
    assert not fixed.delta_auto and auto.delta_auto
    assert fixed.delta_ms_mean == 20.0
    assert fixed.late_events_pct > 20.0
    assert auto.late_events_pct < fixed.late_events_pct / 5
    assert auto.rollback_pct < fixed.rollback_pct / 5
    assert auto.delta_ms_mean is not None and auto.delta_ms_mean > 20.0


# ------------------------------------------------------------------ sweep
def test_sweep_grid_runs_fixed_and_auto_side_by_side() -> None:
    grid = build_grid(
        SimConfig(),
        latencies_ms=[50],
        rates_per_min=[25],
        mults=[2, 1],
        clocks=[ClockMode.DEFAULT],
        delays=[None, AUTO_DELAY],
    )
    assert [(c.mult, c.delay_ms) for c in grid] == [
        (2, None),
        (2, AUTO_DELAY),
        (1, None),
        (1, AUTO_DELAY),
    ]
    assert grid[1].delta_ms == 500.0  # auto starts from the cell's rule


def sweep_row(delay: float | str | None, pct: float, delta: float) -> dict[str, object]:
    return {
        "clock": "default",
        "delay_ms": delay,
        "latency_ms": 50.0,
        "rate_per_min": 25.0,
        "mult": 2.0,
        "seed": 1,
        "rollback_pct": pct,
        "converged": True,
        "events_lost": 0,
        "events_total": 100,
        "pace_violation_pct": 0.0,
        "lag_ticks_p95": 1.0,
        "delta_ms_mean": delta,
        "late_events_pct": pct * 10,
    }


def test_summary_shows_auto_beside_the_fixed_delta() -> None:
    rows = [sweep_row(None, 0.2, 500.0), sweep_row(AUTO_DELAY, 0.05, 640.0)]
    assert [heatmap.variant(r) for r in rows] == ["default", "auto"]
    stats = heatmap.cell_stats(rows)
    assert stats["auto"][(50.0, 25.0, 2.0)].delta_ms_mean == 640.0
    text = heatmap.summary_table(rows)
    auto_line = next(line for line in text.splitlines() if line.startswith("auto "))
    assert auto_line.split()[6:9] == ["0.05", "640", "0.50"]
    assert "auto rolls back no more in 1 of them and uses a smaller mean Delta in 0" in text
