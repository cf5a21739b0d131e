"""The promised semantic: each rule that adds a loss or duplicate risk, and how they combine."""

from __future__ import annotations

from typing import Any

from playground.engine.spec.model import Spec
from playground.engine.spec.semantics import Promise, Semantic, promise

# Settings with no risk at all: a transactional, idempotent producer that commits its position
# with its records, and a transactional kafka-to-kafka consumer reading committed data. Each test
# changes one thing from here.
SAFE: dict[str, Any] = {
    "pipeline": "kafka-to-kafka",
    "producer": {
        "acks": "all",
        "enable_idempotence": True,
        "transactional": True,
        "position": "transaction",
    },
    "consumer": {"commit": "transactional", "isolation_level": "read_committed"},
}


def promise_of(**changes: Any) -> Promise:
    """The promise of SAFE with whole sections replaced or merged from `changes`."""
    document = {**SAFE}
    for section, value in changes.items():
        if isinstance(value, dict) and isinstance(document.get(section), dict):
            document[section] = {**document[section], **value}
        else:
            document[section] = value
    producer = document["producer"]
    if not producer.get("transactional", True) and "position" not in changes.get("producer", {}):
        document["producer"] = {**producer, "position": "log"}  # only a transaction holds one
    return promise(Spec.from_json(document))


def loss_settings(result: Promise) -> list[str]:
    return [risk.setting for risk in result.loss_risks]


def duplicate_settings(result: Promise) -> list[str]:
    return [risk.setting for risk in result.duplicate_risks]


def test_transactional_kafka_to_kafka_is_exactly_once():
    assert promise_of().semantic == Semantic.EXACTLY_ONCE


def test_default_spec_is_at_least_once():
    assert promise(Spec()).semantic == Semantic.AT_LEAST_ONCE


# --- loss -----------------------------------------------------------------------------------


def test_acks_0_risks_loss():
    result = promise_of(producer={"acks": "0", "enable_idempotence": False, "transactional": False})

    assert "producer.acks" in loss_settings(result)


def test_acks_1_risks_loss():
    result = promise_of(producer={"acks": "1", "enable_idempotence": False, "transactional": False})

    assert "producer.acks" in loss_settings(result)


def test_acks_all_risks_no_loss():
    assert loss_settings(promise_of(producer={"acks": "all"})) == []


def test_zero_retries_risks_loss():
    result = promise_of(
        producer={"retries": 0, "enable_idempotence": False, "transactional": False}
    )

    assert "producer.retries" in loss_settings(result)


def test_commit_before_processing_risks_loss():
    result = promise_of(consumer={"commit": "before-processing"})

    assert loss_settings(result) == ["consumer.commit"]


def test_auto_commit_risks_loss():
    result = promise_of(consumer={"commit": "auto"})

    assert loss_settings(result) == ["consumer.commit"]


def test_commit_after_processing_risks_no_loss():
    assert loss_settings(promise_of(consumer={"commit": "after-processing"})) == []


def test_a_producer_that_is_not_restarted_risks_loss():
    result = promise_of(restarts={"producer": {"enabled": False}})

    assert loss_settings(result) == ["restarts.producer.enabled"]


def test_a_consumer_that_is_not_restarted_risks_loss():
    result = promise_of(restarts={"consumer": {"enabled": False}})

    assert loss_settings(result) == ["restarts.consumer.enabled"]


# --- duplicates -----------------------------------------------------------------------------


def test_retries_without_idempotence_risk_duplicates():
    result = promise_of(producer={"enable_idempotence": False, "transactional": False})

    assert "producer.enable_idempotence" in duplicate_settings(result)


def test_idempotence_removes_the_retry_duplicate_risk():
    result = promise_of(producer={"transactional": False})

    assert "producer.enable_idempotence" not in duplicate_settings(result)


def test_without_retries_there_is_no_retry_duplicate_risk():
    result = promise_of(
        producer={"retries": 0, "enable_idempotence": False, "transactional": False}
    )

    assert "producer.enable_idempotence" not in duplicate_settings(result)


def test_a_restarted_idempotent_producer_risks_duplicates():
    result = promise_of(producer={"transactional": False})

    assert duplicate_settings(result) == ["restarts.producer.enabled"]


def test_a_restarted_transactional_producer_risks_no_duplicates():
    assert "restarts.producer.enabled" not in duplicate_settings(promise_of())


def test_commit_after_processing_risks_duplicates():
    result = promise_of(consumer={"commit": "after-processing"})

    assert duplicate_settings(result) == ["consumer.commit"]


def test_auto_commit_risks_duplicates():
    result = promise_of(consumer={"commit": "auto"})

    assert duplicate_settings(result) == ["consumer.commit"]


def test_commit_after_processing_without_consumer_restarts_risks_no_duplicates():
    result = promise_of(
        consumer={"commit": "after-processing"}, restarts={"consumer": {"enabled": False}}
    )

    assert duplicate_settings(result) == []


def test_commit_before_processing_risks_no_duplicates():
    assert duplicate_settings(promise_of(consumer={"commit": "before-processing"})) == []


def test_transactional_commit_with_a_side_effect_risks_duplicates():
    result = promise_of(pipeline="side-effect")

    assert duplicate_settings(result) == ["consumer.commit"]


def test_transactional_commit_in_kafka_to_kafka_risks_no_duplicates():
    assert duplicate_settings(promise_of(pipeline="kafka-to-kafka")) == []


def test_read_uncommitted_with_a_transactional_producer_risks_duplicates():
    result = promise_of(consumer={"isolation_level": "read_uncommitted"})

    assert duplicate_settings(result) == ["consumer.isolation_level"]


def test_read_uncommitted_without_transactions_adds_no_risk():
    result = promise_of(
        producer={"transactional": False}, consumer={"isolation_level": "read_uncommitted"}
    )

    assert "consumer.isolation_level" not in duplicate_settings(result)


def test_an_idempotent_consumer_removes_every_duplicate_risk():
    result = promise(
        Spec.from_json(
            {
                "producer": {"enable_idempotence": False, "transactional": False},
                "consumer": {"commit": "after-processing", "idempotent": True},
            }
        )
    )

    assert duplicate_settings(result) == []


def test_an_idempotent_consumer_does_not_remove_loss_risks():
    result = promise(
        Spec.from_json({"consumer": {"commit": "before-processing", "idempotent": True}})
    )

    assert result.semantic == Semantic.AT_MOST_ONCE


# --- the semantic and its summary -----------------------------------------------------------


def test_only_duplicate_risks_is_at_least_once():
    assert promise_of(consumer={"commit": "after-processing"}).semantic == Semantic.AT_LEAST_ONCE


def test_only_loss_risks_is_at_most_once():
    assert promise_of(consumer={"commit": "before-processing"}).semantic == Semantic.AT_MOST_ONCE


def test_loss_and_duplicate_risks_together_is_none():
    assert promise_of(consumer={"commit": "auto"}).semantic == Semantic.NONE


def test_every_explanation_is_one_sentence():
    result = promise(
        Spec.from_json(
            {
                "producer": {"acks": "0", "retries": 0},
                "consumer": {"commit": "auto"},
                "restarts": {"producer": {"enabled": False}, "consumer": {"enabled": False}},
            }
        )
    )

    for _, explanation in result.loss_risks + result.duplicate_risks:
        assert explanation.endswith(".")
        assert ". " not in explanation


def test_summary_of_exactly_once_names_no_setting():
    assert promise_of().summary.startswith("Exactly-once:")


def test_summary_names_each_risky_setting_once():
    summary = promise_of(consumer={"commit": "auto"}).summary

    assert summary == (
        "Neither guarantee: consumer.commit can lose a record "
        "and consumer.commit can repeat an effect."
    )


def test_summary_of_at_least_once_joins_the_settings():
    result = promise_of(producer={"transactional": False}, consumer={"commit": "after-processing"})

    assert result.summary == (
        "At-least-once: no record is lost, but restarts.producer.enabled and consumer.commit "
        "can repeat an effect."
    )


def test_a_restarted_transactional_producer_with_its_position_in_its_log_risks_duplicates():
    result = promise_of(producer={"position": "log"})

    assert duplicate_settings(result) == ["producer.position"]
    assert result.semantic == Semantic.AT_LEAST_ONCE


def test_a_position_committed_in_the_transaction_removes_the_commit_window():
    assert "producer.position" not in duplicate_settings(promise_of())


def test_the_commit_window_needs_a_restart_to_repeat_anything():
    result = promise_of(producer={"position": "log"}, restarts={"producer": {"enabled": False}})

    assert "producer.position" not in duplicate_settings(result)


def test_faults_that_outlast_the_message_timeout_risk_loss():
    # Ten lost answers at a 30 s request timeout keep one record waiting five minutes.
    result = promise_of(
        producer={"transactional": False, "message_timeout_ms": 60_000},
        restarts={"producer": {"enabled": False}},
        faults=[{"kind": "drop-acks", "at": {"records": 10}, "count": 10}],
    )

    assert "producer.message_timeout_ms" in loss_settings(result)


def test_faults_within_the_message_timeout_add_no_risk():
    result = promise_of(
        producer={"transactional": False},
        faults=[{"kind": "drop-acks", "at": {"records": 10}, "count": 3}],
    )

    assert loss_settings(result) == []


def test_a_broker_paused_until_the_end_outlasts_any_message_timeout():
    result = promise_of(
        producer={"transactional": False, "message_timeout_ms": 900_000},
        faults=[{"kind": "pause-broker", "at": {"seconds": 1}, "seconds": None}],
    )

    assert "producer.message_timeout_ms" in loss_settings(result)


def test_more_lost_answers_than_retries_risk_loss():
    result = promise_of(
        producer={"transactional": False, "enable_idempotence": False, "retries": 3},
        faults=[{"kind": "drop-acks", "at": {"records": 10}, "count": 10}],
    )  # fmt: skip

    assert "producer.retries" in loss_settings(result)


def test_a_transactional_producer_sends_what_it_gave_up_on_again():
    result = promise_of(
        producer={"message_timeout_ms": 30_000},
        faults=[{"kind": "drop-acks", "at": {"records": 10}, "count": 10}],
    )

    assert loss_settings(result) == []
