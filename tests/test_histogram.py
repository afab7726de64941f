"""The fixed-bucket histogram gives the figures a list of the values gave, in bounded memory."""

from __future__ import annotations

import random

import pytest

from arcade_p2p.histogram import EXACT_LIMIT, SUB_BUCKETS, Histogram, bucket_floor
from arcade_p2p.sim.metrics import percentile


def filled(values: list[int]) -> Histogram:
    histogram = Histogram()
    for value in values:
        histogram.add(value)
    return histogram


def test_small_values_give_exactly_the_percentiles_of_the_list() -> None:
    rng = random.Random(3)
    values = [rng.randrange(EXACT_LIMIT) for _ in range(2_000)]
    histogram = filled(values)
    for fraction in (0.0, 0.25, 0.5, 0.95, 0.99, 1.0):
        assert histogram.quantile(fraction) == percentile(values, fraction)
    assert histogram.count == len(values) == len(histogram)
    assert histogram.max == max(values)
    assert histogram.mean() == pytest.approx(sum(values) / len(values))
    assert histogram.count_above(500) == sum(1 for v in values if v > 500)


def test_large_values_land_within_one_sub_bucket_and_the_maximum_stays_exact() -> None:
    values = [1_500, 20_000, 14_923, 3_000_000]
    histogram = filled(values)
    assert histogram.max == 3_000_000
    assert histogram.total == sum(values)
    median = histogram.quantile(0.5)
    assert median is not None
    exact = percentile(values, 0.5)
    assert exact is not None
    assert exact * (1 - 1 / SUB_BUCKETS) <= median <= exact
    for value in values:
        assert value * (1 - 1 / SUB_BUCKETS) < bucket_floor(value) <= value


def test_memory_is_bounded_whatever_the_number_of_values() -> None:
    histogram = Histogram()
    rng = random.Random(1)
    for _ in range(50_000):
        histogram.add(rng.randrange(10**9))
    assert histogram.count == 50_000
    assert histogram.buckets <= EXACT_LIMIT + SUB_BUCKETS * 30


def test_a_window_is_what_was_added_since_a_copy() -> None:
    histogram = filled([3, 3, 9, 40])
    baseline = histogram.copy()
    for value in (5, 3, 100):
        histogram.add(value)
    window = histogram.minus(baseline)
    assert window.count == 3 and window.total == 108 and window.max == 100
    assert window.quantile(0.5) == 5
    assert filled([1, 2]).minus(filled([1, 2])).quantile(0.5) is None
    merged = filled([1])
    merged.merge(window)
    assert merged.count == 4 and merged.max == 100


def test_buckets_round_trip_through_a_dict_and_bad_input_is_refused() -> None:
    histogram = filled([0, 7, 7, 2048])
    again = Histogram.from_dict({str(k): v for k, v in histogram.to_dict().items()})
    assert again.to_dict() == histogram.to_dict()
    with pytest.raises(ValueError):
        Histogram.from_dict({2049: 1})
    with pytest.raises(ValueError):
        Histogram().add(-1)
