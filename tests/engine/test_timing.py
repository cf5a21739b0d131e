"""Timing from the raw records: the latency before the first disturbance leaves out the records
that waited for a restart."""

from __future__ import annotations

import random

import numpy as np

from playground.engine.audit import record_tables, timing
from playground.engine.audit.evidence import Evidence
from playground.engine.spec.model import default_spec

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


def test_the_evidence_gives_the_figures_of_its_pairs_without_holding_them(tmp_path):
    """The conductor's figures come from the audit's table of timings a column at a time (ten
    million effects would be 160 MB as pairs): the same as summarize() of the pairs."""
    rng = random.Random(5)
    for count, disturbed in ((0, None), (1, START), (7, None), (2_001, START + 400)):
        produced = [START + rng.randrange(1_000) for _ in range(count)]
        pairs = [(at, at + rng.randrange(600)) for at in produced]
        db = record_tables.connect()
        record_tables.add_columns(db, "timings", {
            "produced_at_ms": np.array([p for p, _ in pairs], np.int64),
            "effect_at_ms": np.array([e for _, e in pairs], np.int64),
        })  # fmt: skip
        evidence = Evidence(default_spec(), db, tmp_path / "work")
        assert evidence.timing(START, disturbed) == timing.summarize(pairs, START, disturbed)
        evidence.close()
