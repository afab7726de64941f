"""Integer collision helpers and the input coalescer: exact answers, bounded rates."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arcade_p2p.coalesce import Coalescer
from arcade_p2p.errors import UsageError
from arcade_p2p.geometry import Box, circle_hits_box, circles_overlap, clamp, step_toward

coords = st.integers(-10_000, 10_000)
sizes = st.integers(0, 500)


def test_boxes_overlap_but_touching_edges_do_not() -> None:
    a = Box(0, 0, 10, 10)  # x in -5 .. 5
    assert a.overlaps(Box(9, 0, 10, 10))
    assert not a.overlaps(Box(10, 0, 10, 10))  # shares the edge x == 5
    assert not a.overlaps(Box(0, 10, 10, 10))
    assert a.contains(-5, -5) and not a.contains(5, 0)


def test_circles_overlap_exactly_at_integer_boundaries() -> None:
    assert circles_overlap(0, 0, 3, 6, 0, 4)  # centres 6 apart, radii sum 7
    assert not circles_overlap(0, 0, 3, 7, 0, 4)  # touching
    assert not circles_overlap(0, 0, 3, 5, 5, 4)  # 7.07 apart


def test_circle_against_box_uses_the_nearest_point() -> None:
    box = Box(0, 0, 20, 20)  # -10 .. 10
    assert circle_hits_box(0, 0, 1, box)  # centre inside
    assert circle_hits_box(14, 0, 5, box)  # 4 from the right edge
    assert not circle_hits_box(15, 0, 5, box)  # touching
    assert not circle_hits_box(14, 14, 5, box)  # corner is 5.66 away
    assert circle_hits_box(13, 13, 5, box)  # corner is 4.24 away


@given(coords, coords, sizes, sizes, coords, coords, sizes, sizes)
def test_box_overlap_is_symmetric(
    x: int, y: int, w: int, h: int, x2: int, y2: int, w2: int, h2: int
) -> None:
    assert Box(x, y, w, h).overlaps(Box(x2, y2, w2, h2)) == Box(x2, y2, w2, h2).overlaps(
        Box(x, y, w, h)
    )


@given(coords, coords, sizes, coords, coords, sizes)
def test_circles_agree_with_the_float_distance_away_from_the_boundary(
    ax: int, ay: int, ar: int, bx: int, by: int, br: int
) -> None:
    distance = math.hypot(ax - bx, ay - by)
    if abs(distance - (ar + br)) > 1e-6:
        assert circles_overlap(ax, ay, ar, bx, by, br) == (distance < ar + br)


@given(coords, coords, coords, coords, st.integers(0, 300))
def test_step_toward_moves_at_most_speed_and_lands_on_the_target(
    x: int, y: int, tx: int, ty: int, speed: int
) -> None:
    nx, ny = step_toward(x, y, tx, ty, speed)
    assert isinstance(nx, int) and isinstance(ny, int)
    assert math.hypot(nx - x, ny - y) <= speed + 1e-9
    assert math.hypot(tx - nx, ty - ny) <= math.hypot(tx - x, ty - y)  # never away
    if math.hypot(tx - x, ty - y) <= speed:
        assert (nx, ny) == (tx, ty)


def test_step_toward_reaches_a_far_target_in_bounded_steps() -> None:
    x, y, steps = 0, 0, 0
    while (x, y) != (1000, -700):
        x, y = step_toward(x, y, 1000, -700, 9)
        steps += 1
    assert steps <= math.ceil(math.hypot(1000, 700) / 8)  # rounding loses < 1 unit per axis


def test_clamp() -> None:
    assert [clamp(v, 0, 10) for v in (-3, 0, 4, 10, 12)] == [0, 0, 4, 10, 10]


def test_coalescer_keeps_the_newest_value_and_bounds_the_rate() -> None:
    aim: Coalescer[list[int]] = Coalescer(rate_hz=10.0)  # one release per 0.1 s
    released = []
    for step in range(100):  # 1 s of input at 100 Hz, one new position each time
        now = step / 100
        aim.offer([step, step])
        send, value = aim.release(now=now)
        if send:
            released.append((now, value))
    assert aim.offered == 100 and aim.released == len(released) == 10
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(released)]
    assert min(gaps) >= 0.1 - 1e-9
    for now, value in released:  # each the newest at its time, never a stale one
        assert value == [round(now * 100)] * 2


def test_coalescer_sends_the_last_value_once_input_stops_and_skips_repeats() -> None:
    aim: Coalescer[tuple[int, int]] = Coalescer(rate_hz=10.0)
    aim.offer((1, 1))
    assert aim.release(now=0.0) == (True, (1, 1))
    aim.offer((2, 2))
    aim.offer((3, 3))
    assert aim.release(now=0.05) == (False, None)  # too soon: kept
    assert aim.release(now=0.1) == (True, (3, 3))  # the final position is not lost
    assert aim.release(now=0.5) == (False, None)  # nothing new
    aim.offer((3, 3))
    assert aim.release(now=0.6) == (False, None)  # same as the last one sent


@pytest.mark.parametrize("rate", [0.0, -1.0, math.nan])
def test_coalescer_refuses_a_rate_that_is_not_positive(rate: float) -> None:
    with pytest.raises(UsageError, match="rate_hz"):
        Coalescer(rate)
