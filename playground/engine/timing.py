"""How fast an experiment went: time to the first effect, throughput and end-to-end latency.

Measured from timestamps in the raw records (the Kafka timestamp a record got when it was produced,
and when its effect happened), not from the workers' own clocks of their progress.

The latency of a run with a crash mixes two things: how long a record takes when nothing goes
wrong, and how long the ones that waited for a restart took. So the latency is also given over the
records whose effect came before the first disturbance (a fault, a crash button, a worker that
died): the run's undisturbed latency, at its own pace.
"""

from __future__ import annotations

import statistics


def summarize(
    timings: list[tuple[int, int]], started_at_ms: int, disturbed_at_ms: int | None = None
) -> dict:
    """First effect after the start, records/s from the first send to the last effect, latency
    percentiles (ms), and the same percentiles over the effects before `disturbed_at_ms` (the
    first disturbance; None when nothing disturbed the run, and then they are over all)."""
    if not timings:
        return {
            "first_effect_seconds": None,
            "records_per_second": None,
            **_latency([]),
            "undisturbed": {"records": 0, **_latency([])},
        }
    first_sent = min(produced for produced, _ in timings)
    last_effect = max(effect for _, effect in timings)
    span = max(last_effect - first_sent, 1) / 1000
    before = (
        timings
        if disturbed_at_ms is None
        else [(produced, effect) for produced, effect in timings if effect < disturbed_at_ms]
    )
    return {
        "first_effect_seconds": round((min(e for _, e in timings) - started_at_ms) / 1000, 3),
        "records_per_second": round(len(timings) / span),
        **_latency(timings),
        "undisturbed": {"records": len(before), **_latency(before)},
    }


def _latency(timings: list[tuple[int, int]]) -> dict:
    if not timings:
        return {"latency_ms_p50": None, "latency_ms_p99": None}
    latencies = sorted(effect - produced for produced, effect in timings)
    return {
        "latency_ms_p50": statistics.median(latencies),
        "latency_ms_p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }
