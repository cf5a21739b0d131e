"""The built-in presets: valid specs that promise exactly what they advertise."""

from __future__ import annotations

import dataclasses

import pytest

from playground.engine.spec.model import Spec, consumer_config
from playground.engine.spec.presets import PRESETS, preset
from playground.engine.spec.semantics import Semantic, promise

ALL_PRESETS = list(PRESETS.values())
NAMES = [item.name for item in ALL_PRESETS]


def test_the_presets_exist():
    assert NAMES == [
        "metrics",
        "notification-service",
        "payment-service",
        "payments-aggregation",
        "kafka-defaults",
        "notification-service-group",
        "payment-service-group",
        "payments-aggregation-group",
    ]


@pytest.mark.parametrize("item", ALL_PRESETS, ids=NAMES)
def test_preset_spec_round_trips_through_validation(item):
    assert Spec.from_json(item.spec.to_json()) == item.spec


@pytest.mark.parametrize("item", ALL_PRESETS, ids=NAMES)
def test_preset_promises_the_semantic_it_advertises(item):
    assert promise(item.spec).semantic == item.semantic


@pytest.mark.parametrize("item", ALL_PRESETS, ids=NAMES)
def test_preset_crashes_something(item):
    assert item.spec.faults


@pytest.mark.parametrize("item", ALL_PRESETS, ids=NAMES)
def test_preset_runs_few_records(item):
    assert item.spec.workload.records <= 500


@pytest.mark.parametrize("item", ALL_PRESETS, ids=NAMES)
def test_preset_explanation_is_one_paragraph(item):
    assert item.explanation
    assert "\n" not in item.explanation


def test_presets_show_every_semantic():
    assert {item.semantic for item in ALL_PRESETS} == set(Semantic)


def test_preset_looks_up_by_name():
    assert preset("metrics") is PRESETS["metrics"]


def test_unknown_preset_lists_the_known_names():
    with pytest.raises(KeyError) as raised:
        preset("billing")

    assert "payments-aggregation" in str(raised.value)


def test_metrics_kills_the_consumer_after_committing_unprocessed_records():
    fault = preset("metrics").spec.faults[0]

    assert fault.point == "after-commit-before-processing"
    assert fault.at.records == 80


def test_payment_service_is_the_notification_service_plus_an_idempotent_consumer():
    notification = preset("notification-service").spec
    payment = preset("payment-service").spec

    same_consumer = dataclasses.replace(payment.consumer, idempotent=False)

    assert payment.consumer.idempotent
    assert dataclasses.replace(payment, consumer=same_consumer, name="") == dataclasses.replace(
        notification, name=""
    )


def test_payments_aggregation_uses_transactions_end_to_end():
    spec = preset("payments-aggregation").spec

    assert spec.pipeline == "kafka-to-kafka"
    assert spec.producer.transactional
    assert spec.consumer.commit == "transactional"
    assert spec.consumer.isolation_level == "read_committed"


def test_kafka_defaults_stores_offsets_when_messages_are_handed_over():
    config = consumer_config(preset("kafka-defaults").spec)

    assert config["enable.auto.commit"] is True
    assert config["enable.auto.offset.store"] is True
    assert config["auto.commit.interval.ms"] == 5000
