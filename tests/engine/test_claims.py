"""The material's claims, each reproduced against the real cluster with real crashes.

Each test runs a real experiment: producer and consumer processes, a SIGKILL at an exact point,
and the three-way audit. The numbers asserted come from the audit, never from the workers.
"""

from __future__ import annotations

import pytest

from tests.engine.experiments import build_spec, run_experiment


def audited(lab, **sections) -> dict:
    result, _ = run_experiment(lab, build_spec(**sections))
    return result["audit"]


KILL_AFTER_PROCESSING = {"kind": "kill-consumer", "at": {"records": 80},
                         "point": "after-processing-before-commit"}  # fmt: skip


def test_1_commit_before_processing_loses_records_when_the_consumer_dies(healthy_lab):
    audit = audited(
        healthy_lab,
        consumer={"commit": "before-processing"},
        faults=[{"kind": "kill-consumer", "at": {"records": 80},
                 "point": "after-commit-before-processing"}],
    )  # fmt: skip
    assert audit["lost"] > 0
    assert audit["lost_at_consumer"] == audit["lost"]
    assert audit["duplicated"] == 0


def test_2_commit_after_processing_duplicates_records_when_the_consumer_dies(healthy_lab):
    audit = audited(
        healthy_lab, consumer={"commit": "after-processing"}, faults=[KILL_AFTER_PROCESSING]
    )
    assert audit["duplicated"] > 0
    assert audit["duplicated_by_consumer"] == audit["duplicated"]
    assert audit["lost"] == 0


def test_3_idempotent_consumer_sees_records_again_but_charges_each_once(healthy_lab):
    audit = audited(
        healthy_lab,
        consumer={"commit": "after-processing", "idempotent": True},
        faults=[KILL_AFTER_PROCESSING],
    )
    assert audit["lost"] == 0
    assert audit["duplicated"] == 0
    assert audit["redelivered"] > 0
    assert audit["deduplicated"] > 0


EXACTLY_ONCE_PRODUCER = {"acks": "all", "enable_idempotence": True, "transactional": True}


def test_4_transactions_keep_kafka_to_kafka_exactly_once_when_the_transformer_dies(healthy_lab):
    result, _ = run_experiment(
        healthy_lab,
        build_spec(
            pipeline="kafka-to-kafka",
            producer=EXACTLY_ONCE_PRODUCER,
            consumer={"commit": "transactional", "isolation_level": "read_committed"},
            faults=[{"kind": "kill-consumer", "at": {"records": 85}, "point": "mid-transaction"}],
        ),
    )
    committed, uncommitted = result["audit"], result["uncommitted_view"]
    assert committed["lost"] == 0
    assert committed["duplicated"] == 0
    assert uncommitted["duplicated"] > 0  # the aborted transaction's output, read_uncommitted


def test_5_transactions_do_not_make_an_external_side_effect_exactly_once(healthy_lab):
    audit = audited(
        healthy_lab,
        pipeline="side-effect",
        consumer={"commit": "transactional"},
        faults=[KILL_AFTER_PROCESSING],
    )
    assert audit["duplicated"] > 0
    assert audit["lost"] == 0


@pytest.mark.parametrize(("idempotence", "expect_duplicates"), [(False, True), (True, False)])
def test_6_lost_acks_duplicate_records_unless_the_producer_is_idempotent(
    healthy_lab, idempotence, expect_duplicates
):
    audit = audited(
        healthy_lab,
        workload={"records": 200, "rate": 200},
        producer={"acks": "all", "enable_idempotence": idempotence, "max_in_flight": 1,
                  "request_timeout_ms": 1500},
        faults=[{"kind": "drop-acks", "at": {"records": 50}, "count": 3}],
    )  # fmt: skip
    assert (audit["duplicated_by_producer"] > 0) is expect_duplicates
    assert audit["lost"] == 0


def test_7_acks_0_loses_records_at_the_producer_which_believed_them_sent(healthy_lab):
    result, conductor = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 400, "rate": 200},
            producer={"acks": "0", "enable_idempotence": False},
            faults=[{"kind": "blackhole-broker", "at": {"records": 100}, "seconds": 1.0}],
        ),
    )
    audit = result["audit"]
    assert audit["lost_at_producer"] > 0
    lost = conductor.audit_result.anomalies("lost")
    assert {story.producer_outcome for story in lost} == {"sent"}


PAUSE_FOLLOWERS_KILL_LEADER = {"kind": "pause-followers-kill-leader", "at": {"records": 100}}


def test_8_acks_1_loses_acknowledged_records_when_the_lone_leader_dies(healthy_lab):
    audit = audited(
        healthy_lab,
        workload={"records": 600, "rate": 300},
        producer={"acks": "1", "enable_idempotence": False},
        faults=[PAUSE_FOLLOWERS_KILL_LEADER],
    )
    assert audit["lost_at_broker"] > 0


def test_8_acks_all_loses_no_acknowledged_record_under_the_same_faults(healthy_lab):
    result, conductor = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 600, "rate": 300},
            producer={"acks": "all", "enable_idempotence": True},
            faults=[PAUSE_FOLLOWERS_KILL_LEADER],
        ),
    )
    assert result["audit"]["lost_at_broker"] == 0
    assert all(
        story.producer_outcome != "acked" for story in conductor.audit_result.anomalies("lost")
    )


KILL_PRODUCER = {"kind": "kill-producer", "at": {"records": 100}}


def test_9_idempotence_lasts_one_session_so_a_restarted_producer_duplicates(healthy_lab):
    audit = audited(
        healthy_lab,
        workload={"records": 200, "rate": 200},
        producer={"acks": "all", "enable_idempotence": True, "transactional": False},
        faults=[KILL_PRODUCER],
    )
    assert audit["duplicated_by_producer"] > 0


def test_9_a_transactional_producer_restarts_without_duplicates_for_read_committed(healthy_lab):
    audit = audited(
        healthy_lab,
        workload={"records": 200, "rate": 200},
        producer={"acks": "all", "enable_idempotence": True, "transactional": True},
        consumer={"isolation_level": "read_committed"},
        faults=[KILL_PRODUCER],
    )
    assert audit["duplicated_by_producer"] == 0
    assert audit["log_duplicates"] == 0


NO_FAULT_SETTINGS = {
    "at-most-once": {"producer": {"acks": "1", "retries": 0},
                     "consumer": {"commit": "before-processing"}},
    "at-least-once": {"consumer": {"commit": "after-processing"}},
    "idempotent-consumer": {"consumer": {"idempotent": True}},
    "auto-commit": {"consumer": {"commit": "auto", "auto_commit_interval_ms": 500}},
    "acks-0": {"producer": {"acks": "0"}},
    "exactly-once": {"pipeline": "kafka-to-kafka",
                     "producer": {"enable_idempotence": True, "transactional": True},
                     "consumer": {"commit": "transactional"}},
    "three-partitions": {"workload": {"records": 300, "partitions": 3}},
}  # fmt: skip


@pytest.mark.parametrize("settings", NO_FAULT_SETTINGS.values(), ids=NO_FAULT_SETTINGS.keys())
def test_10_without_faults_every_setting_delivers_everything_once(lab, settings):
    audit = audited(lab, **settings)
    assert audit["delivered"] == audit["attempted"]
    assert audit["lost"] == 0
    assert audit["duplicated"] == 0
    assert audit["observed_semantic"] == "exactly-once"
