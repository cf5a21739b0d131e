"""bench.scale reads Kafka's ProducerPerformance summary and an experiment's own timeline."""

from __future__ import annotations

import pytest

from bench import scale

OUTPUT = """\
SLF4J(W): No SLF4J providers were found.
496216 records sent, 99203.5 records/sec (5.68 MB/sec), 180.1 ms avg latency, 420.0 ms max.
1000000 records sent, 101245.6 records/sec (5.79 MB/sec), 170.22 ms avg latency, 433.00 ms max \
latency, 160 ms 50th, 390 ms 95th, 420 ms 99th, 431 ms 99.9th.
"""


def test_the_final_summary_of_producer_performance_is_the_one_read():
    assert scale.parse_performance(OUTPUT) == 101245.6


def test_no_summary_is_an_error_quoting_the_output():
    with pytest.raises(RuntimeError, match="no summary"):
        scale.parse_performance("Exception in thread main")


def test_pipeline_and_audit_time_come_from_the_result():
    result = {
        "valid": True,
        "audit": {"delivered": 100},
        "duration_seconds": 12.0,
        "audit_seconds": 8.0,
        "timing": {"records_per_second": 9000, "first_effect_seconds": 0.7},
        "timeline": [
            {"at": 0.0, "kind": "phase", "detail": "running"},
            {"at": 11.5, "kind": "phase", "detail": "draining"},
            {"at": 12.0, "kind": "phase", "detail": "auditing"},
        ],
    }
    figures = scale.summarize(100, result, wall_seconds=22.0, peak_mb=812.4)
    assert (figures["pipeline_seconds"], figures["audit_seconds"]) == (12.0, 8.0)
    assert figures["peak_memory_mb"] == 812 and figures["command_seconds"] == 22.0
