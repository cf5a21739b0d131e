"""Random settings under random faults, against the real cluster: the invariants always hold.

Seeded (PLAYGROUND_RANDOM_SEED overrides), so a failure can be replayed with the printed seed.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from playground.engine import kafka_log, sink
from playground.engine.producer_log import read_producer_log
from playground.engine.semantics import promise
from playground.engine.spec import Spec, SpecError
from tests.engine.experiments import run_experiment

SEED = int(os.environ.get("PLAYGROUND_RANDOM_SEED", "20261126"))
RUNS = int(os.environ.get("PLAYGROUND_RANDOM_RUNS", "8"))


def random_document(rng: random.Random) -> dict:
    records = rng.choice([100, 150, 200])
    pipeline = rng.choice(["side-effect", "side-effect", "kafka-to-kafka"])
    acks = rng.choice(["0", "1", "all", "all"])
    idempotence = acks == "all" and rng.random() < 0.6
    transactional = idempotence and rng.random() < 0.4
    commit = rng.choice(["before-processing", "after-processing", "auto", "transactional"])
    batch_size = rng.choice([1, 5, 10])
    faults = []
    for _ in range(rng.choice([0, 1, 1, 2])):
        at = {"records": rng.randint(10, records - 10)}
        kind = rng.choice(["kill-consumer", "kill-consumer", "kill-producer", "drop-acks"])
        fault = {"kind": kind, "at": at}
        if kind == "kill-consumer":
            points = ["after-processing-before-commit", "after-commit-before-processing"]
            if batch_size >= 2:
                points.append("mid-batch")
            if commit == "transactional":
                points = ["after-processing-before-commit", "mid-transaction"]
            fault["point"] = rng.choice(points)
        if kind == "drop-acks":
            fault["count"] = rng.randint(1, 3)
        faults.append(fault)
    return {
        "workload": {
            "records": records,
            "rate": rng.choice([0, 400]),
            "partitions": rng.choice([1, 2]),
        },
        "pipeline": pipeline,
        "producer": {
            "acks": acks,
            "enable_idempotence": idempotence,
            "transactional": transactional,
            "request_timeout_ms": 2000,
        },
        "consumer": {
            "commit": commit,
            "batch_size": batch_size,
            "auto_commit_interval_ms": 500,
            "isolation_level": rng.choice(["read_committed", "read_committed", "read_uncommitted"]),
            "idempotent": pipeline == "side-effect" and rng.random() < 0.3,
        },
        "faults": faults,
        "restarts": {
            "consumer": {"enabled": rng.random() < 0.85, "delay_ms": 300},
            "producer": {"enabled": rng.random() < 0.85, "delay_ms": 300},
        },
    }


def random_specs(seed: int, count: int) -> list[Spec]:
    rng, specs = random.Random(seed), []
    while len(specs) < count:
        try:
            specs.append(Spec.from_json(random_document(rng)))
        except SpecError:
            continue  # the generator is loose on purpose; the spec's own rules decide
    return specs


def recount(conductor) -> dict:
    """The totals, counted again straight from the three raw records with plain loops."""
    names, spec = conductor.names, conductor.spec
    attempted, acked = set(), set()
    for event in read_producer_log(names.producer_log):
        if event.kind == "attempt":
            attempted.add(event.order_id)
        elif event.kind == "ack":
            acked.add(event.order_id)
    if spec.pipeline == "kafka-to-kafka":
        effects = kafka_log.read_output_effects(conductor.direct_bootstrap, names.output_topic)
        effects = [e for e in effects if e.committed]
    else:
        effects = list(sink.read_effects(names.sink))
    per_order = Counter(effect.order_id for effect in effects)
    delivered = {order for order in per_order if order in attempted}
    return {
        "attempted": len(attempted),
        "acked": len(acked),
        "delivered": len(delivered),
        "lost": len(attempted - delivered),
        "duplicated": sum(n - 1 for n in per_order.values()),
    }


@pytest.mark.parametrize("run", range(RUNS))
def test_random_experiment_holds_the_invariants(healthy_lab, run):
    spec = random_specs(SEED, RUNS)[run]
    result, conductor = run_experiment(healthy_lab, spec)
    audit, promised = result["audit"], promise(spec).semantic
    context = f"seed {SEED} run {run}: {spec.to_json()}\naudit: {audit}"

    counted = recount(conductor)
    assert {key: audit[key] for key in counted} == counted, context
    if promised in ("at-least-once", "exactly-once"):
        lost_acked = [
            s for s in conductor.audit_result.anomalies("lost") if s.producer_outcome == "acked"
        ]
        assert lost_acked == [], context
        assert audit["lost"] == 0, context
    if promised == "exactly-once":
        assert audit["duplicated"] == 0, context
