"""How fast an experiment went: time to the first effect, throughput and end-to-end latency.

Measured from timestamps in the raw records (the Kafka timestamp a record got when it was produced,
and when its effect happened), not from the workers' own clocks of their progress.

The latency of a run with a crash mixes two things: how long a record takes when nothing goes
wrong, and how long the ones that waited for a restart took. So the latency is also given over the
records whose effect came before the first disturbance (a fault, a crash button, a worker that
died): the run's undisturbed latency, at its own pace.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize(
    timings: np.ndarray | Sequence[tuple[int, int]],
    started_at_ms: int,
    disturbed_at_ms: int | None = None,
) -> dict:
    """First effect after the start, records/s from the first send to the last effect, latency
    percentiles (ms), and the same percentiles over the effects before `disturbed_at_ms` (the
    first disturbance; None when nothing disturbed the run, and then they are over all).
    timings holds (produced_at_ms, effect_at_ms) of each counted effect, one row each."""
    pairs = np.asarray(timings, dtype=np.int64).reshape(-1, 2)
    produced, effect = pairs[:, 0], pairs[:, 1]
    ends = (int(produced.min()), int(effect.min()), int(effect.max())) if len(pairs) else None
    latencies = effect - produced
    before = None if disturbed_at_ms is None else latencies[effect < disturbed_at_ms]
    return figures(ends, latencies, before, started_at_ms)


def figures(
    ends: tuple[int, int, int] | None,
    latencies: np.ndarray,
    before: np.ndarray | None,
    started_at_ms: int,
) -> dict:
    """summarize()'s figures from what they need of the counted effects: (first produced, first
    effect, last effect) in epoch ms (None: no effect), the latency of each, and of each whose
    effect came before the first disturbance (None: nothing disturbed the run). The arrays are
    sorted in place: ten million effects are 80 MB an array, and a copy would be 80 more."""
    if ends is None:
        return {
            "first_effect_seconds": None,
            "records_per_second": None,
            **_latency(latencies),
            "undisturbed": {"records": 0, **_latency(latencies)},
        }
    first_produced, first_effect, last_effect = ends
    span = max(last_effect - first_produced, 1) / 1000
    latencies.sort()
    if before is None:
        before = latencies
    else:
        before.sort()
    return {
        "first_effect_seconds": round((first_effect - started_at_ms) / 1000, 3),
        "records_per_second": round(len(latencies) / span),
        **_latency(latencies),
        "undisturbed": {"records": len(before), **_latency(before)},
    }


def _latency(latencies: np.ndarray) -> dict:
    """The median (the mean of the middle two for an even count) and the 99th percentile (the
    latency at index int(0.99 n) of the n) of `latencies`, sorted."""
    if not len(latencies):
        return {"latency_ms_p50": None, "latency_ms_p99": None}
    count = len(latencies)
    middle = count // 2
    if count % 2:
        median: int | float = int(latencies[middle])
    else:
        median = (int(latencies[middle - 1]) + int(latencies[middle])) / 2
    return {
        "latency_ms_p50": median,
        "latency_ms_p99": int(latencies[min(count - 1, int(count * 0.99))]),
    }
