"""How fast an experiment went: time to the first effect, throughput and end-to-end latency.

Measured from timestamps in the raw records (the Kafka timestamp a record got when it was produced,
and when its effect happened), not from the workers' own clocks of their progress.
"""

from __future__ import annotations

import statistics


def summarize(timings: list[tuple[int, int]], started_at_ms: int) -> dict:
    """First effect after the start, records/s from the first send to the last effect, and
    latency percentiles (ms)."""
    if not timings:
        return {"first_effect_seconds": None, "records_per_second": None,
                "latency_ms_p50": None, "latency_ms_p99": None}  # fmt: skip
    latencies = sorted(effect - produced for produced, effect in timings)
    first_sent = min(produced for produced, _ in timings)
    last_effect = max(effect for _, effect in timings)
    span = max(last_effect - first_sent, 1) / 1000
    return {
        "first_effect_seconds": round((min(e for _, e in timings) - started_at_ms) / 1000, 3),
        "records_per_second": round(len(timings) / span),
        "latency_ms_p50": statistics.median(latencies),
        "latency_ms_p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }
