"""Timing from the raw records: the latency before the first disturbance leaves out the records
that waited for a restart."""

from __future__ import annotations

from playground.engine import timing

START = 1_000_000


def test_the_undisturbed_latency_counts_only_effects_before_the_first_disturbance():
    steady = [(START + i * 100, START + i * 100 + 20) for i in range(10)]  # 20 ms each
    waited = [(START + 1_000 + i * 100, START + 5_000 + i) for i in range(5)]  # behind a restart
    summary = timing.summarize(steady + waited, START, disturbed_at_ms=START + 1_000)
    assert summary["undisturbed"] == {"records": 10, "latency_ms_p50": 20, "latency_ms_p99": 20}
    assert summary["latency_ms_p99"] > 3_000  # the whole run still shows the wait


def test_an_undisturbed_run_has_the_same_latency_both_ways():
    records = [(START + i, START + i + 7) for i in range(50)]
    summary = timing.summarize(records, START)
    assert summary["undisturbed"]["records"] == 50
    assert summary["undisturbed"]["latency_ms_p50"] == summary["latency_ms_p50"] == 7


def test_a_run_with_no_effects_has_no_figures():
    summary = timing.summarize([], START, disturbed_at_ms=START)
    assert summary["records_per_second"] is None
    assert summary["undisturbed"] == {"records": 0, "latency_ms_p50": None, "latency_ms_p99": None}
