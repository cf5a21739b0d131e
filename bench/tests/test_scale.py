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


def test_a_size_over_rounds_takes_medians_and_the_share_within_each_round():
    def run(pipeline: float, audit: float, peak: float, page_seconds: float) -> dict:
        return {
            "records": 1_000_000, "pipeline_seconds": pipeline, "audit_seconds": audit,
            "command_seconds": pipeline + audit + 1, "records_per_second": 1_000_000 / pipeline,
            "peak_memory_mb": peak, "verdict": {"verdict page": page_seconds},
        }  # fmt: skip

    figures = scale.median_run([run(10.0, 4.0, 400, 0.1), run(8.0, 4.4, 450, 0.3),
                                run(9.0, 4.05, 420, 0.2)])  # fmt: skip
    assert figures["audit_shares"] == [0.4, 0.55, 0.45]
    assert figures["audit_share"] == 0.45  # the median round's, not median audit / median pipeline
    assert (figures["pipeline_seconds"], figures["audit_seconds"]) == (9.0, 4.05)
    assert figures["peak_memory_mb"] == 450 and figures["verdict"]["verdict page"] == 0.3
    assert "0.40, 0.55, 0.45" in scale.report(
        {"experiments": {"1000000": [run(10.0, 4.0, 400, 0.1), run(8.0, 4.4, 450, 0.3),
                                     run(9.0, 4.05, 420, 0.2)]},
         "producer_performance": {"proxy": 1.0, "direct": 2.0}}
    )  # fmt: skip
