"""The live benchmark's latency arithmetic: observations and ledger lines in, latencies out."""

from __future__ import annotations

import json
import math

from bench.live import (
    DELIVERED,
    earliest,
    fanout_spreads,
    first_shown,
    latencies,
    percentile,
    reached_times,
    record_latencies,
    summary,
)


def line(order_id: str, processed_at_ms: int, charged: bool = True) -> str:
    return json.dumps(
        {"order_id": order_id, "charged": charged, "processed_at_ms": processed_at_ms}
    )


def test_the_count_reaches_k_when_the_kth_distinct_order_is_charged():
    ledger = [
        line("a", 1000),
        line("b", 1010),
        line("a", 1020),  # charged again (at-least-once): a duplicate, not a new delivery
        line("c", 1030, charged=False),  # deduplicated: no charge
        line("c", 1040),
        "",  # a blank line at the end of the file
    ]
    assert reached_times(ledger) == [1000, 1010, 1040]


def test_latency_is_when_shown_minus_when_reached():
    reached = [1000, 1010, 1040]
    observations = [(1100, 2), (1150.5, 3)]
    assert latencies(observations, reached) == [90, 110.5]


def test_zero_and_counts_beyond_the_ledger_are_no_samples():
    assert latencies([(900, 0), (1100, 1), (1200, 4)], [1000, 1010, 1040]) == [100]


def test_each_count_counts_once_and_stale_values_not_at_all():
    observations = [(1, 0, 2), (2, 5, 2), (3, 5, 3), (4, 3, 4), (5, 8, 5)]
    assert first_shown(observations) == [(2, 5), (5, 8)]


def test_per_record_latency_waits_for_the_first_count_that_includes_the_record():
    reached = [1000, 1010, 1040, 1050]
    observations = [(1005, 1), (1100, 3), (1120, 4)]
    # records 2 and 3 first shown at 1100, record 4 at 1120; record 1 came before the first one
    assert record_latencies(observations, reached) == [90, 60, 70]


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile([7], 95) == 7
    assert math.isnan(percentile([], 50))
    assert summary([]) == {
        "samples": 0, "p50_ms": None, "p95_ms": None, "max_ms": None, "mean_ms": None
    }  # fmt: skip


def test_the_delivered_count_is_read_from_a_fragment():
    html = '<div id="counters"><span class="value" id="count-delivered">1234</span></div>'
    assert DELIVERED.search(html).group(1) == "1234"
    assert DELIVERED.search('<span id="count-sent">5</span>') is None


def test_fanout_spread_is_last_viewer_minus_first_for_counts_all_of_them_showed():
    viewers = [[(100, 1), (200, 2)], [(130, 1), (210, 2), (300, 3)], [(110, 1), (250, 2)]]
    assert fanout_spreads(viewers) == [30, 50]


def test_earliest_is_the_first_viewer_to_show_each_count():
    viewers = [[(100, 1), (200, 2)], [(90, 1), (210, 2), (300, 3)]]
    assert earliest(viewers) == [(90, 1), (200, 2), (300, 3)]
