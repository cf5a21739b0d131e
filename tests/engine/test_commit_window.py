"""A transactional source producer killed as its commit goes out, or right after it returns.

The coordinator completes a commit whose request it received, whether or not the producer lives to
hear the answer. A producer that keeps its position in its own log (written after the commit
returns) resumes from before that transaction and sends its records again: duplicates, under a
transactional producer. One that keeps its position in the transaction resumes after it: none.
Real cluster, real SIGKILL at the named point, counts from the audit.
"""

from __future__ import annotations

import pytest

from playground.engine.spec.semantics import Semantic, promise
from tests.engine.experiments import build_spec, run_experiment

TRANSACTION_RECORDS = 10
KILL_AT = 50

PIPELINES = {
    "side-effect, 1 partition": {"workload": {"partitions": 1}, "pipeline": "side-effect",
                                 "consumer": {"commit": "after-processing"}},
    "kafka-to-kafka, 3 partitions": {"workload": {"partitions": 3}, "pipeline": "kafka-to-kafka",
                                     "consumer": {"commit": "transactional"}},
}  # fmt: skip


def commit_window_spec(pipeline: dict, *, point: str, position: str):
    return build_spec(
        **pipeline,
        producer={
            "enable_idempotence": True,
            "transactional": True,
            "transaction_records": TRANSACTION_RECORDS,
            "position": position,
        },
        faults=[{"kind": "kill-producer", "point": point, "at": {"records": KILL_AT}}],
    )


@pytest.mark.parametrize("point", ["during-commit", "after-commit-before-log"])
@pytest.mark.parametrize("pipeline", PIPELINES.values(), ids=PIPELINES.keys())
def test_a_position_kept_in_the_log_sends_a_committed_transaction_again(lab, pipeline, point):
    spec = commit_window_spec(pipeline, point=point, position="log")
    assert "producer.position" in [risk.setting for risk in promise(spec).duplicate_risks]

    result, _ = run_experiment(lab, spec)

    audit = result["audit"]
    assert audit["duplicated_by_producer"] == TRANSACTION_RECORDS
    assert audit["log_duplicates"] == TRANSACTION_RECORDS
    assert audit["lost"] == 0
    assert result["observed_semantic"] == Semantic.AT_LEAST_ONCE
    assert result["promised_semantic"] == Semantic.AT_LEAST_ONCE


@pytest.mark.parametrize("point", ["during-commit", "after-commit-before-log"])
@pytest.mark.parametrize("pipeline", PIPELINES.values(), ids=PIPELINES.keys())
def test_a_position_kept_in_the_transaction_never_sends_a_record_twice(lab, pipeline, point):
    spec = commit_window_spec(pipeline, point=point, position="transaction")
    assert "producer.position" not in [risk.setting for risk in promise(spec).duplicate_risks]

    result, _ = run_experiment(lab, spec)

    audit = result["audit"]
    crashes = [event for event in result["timeline"] if event["kind"] == "crash"]
    assert [event["fault"] for event in crashes] == [0], result["timeline"]
    assert audit["log_duplicates"] == 0
    assert audit["duplicated"] == 0
    assert audit["lost"] == 0
    assert audit["delivered"] == audit["attempted"] == 200
