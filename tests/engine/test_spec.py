"""The experiment spec: defaults, round-trips, and an error naming the field for every bad input."""

from __future__ import annotations

import pytest

from playground.engine.spec import (
    CONSUMER_TRANSACTIONAL_ID,
    DEFAULT_TRANSACTIONAL_ID,
    At,
    Fault,
    FaultKind,
    KillPoint,
    Spec,
    SpecError,
    consumer_config,
    consumer_producer_config,
    default_spec,
    producer_config,
)

EVERY_FAULT_KIND = [
    {"kind": "kill-consumer", "point": "after-processing-before-commit", "at": {"records": 10}},
    {"kind": "kill-producer", "at": {"seconds": 2.5}},
    {"kind": "kill-leader", "partition": 1, "at": {"records": 20}},
    {"kind": "pause-followers-kill-leader", "partition": 0, "at": {"seconds": 1.0}},
    {"kind": "drop-acks", "count": 4, "at": {"records": 30}},
    {"kind": "blackhole-broker", "seconds": 3.0, "broker": 2, "at": {"records": 40}},
]


def errors_of(document: object) -> dict[str, str]:
    """Every error `document` gets, as {path: message}."""
    with pytest.raises(SpecError) as raised:
        Spec.from_json(document)
    return {error.path: error.message for error in raised.value.errors}


def error_paths(document: object) -> list[str]:
    with pytest.raises(SpecError) as raised:
        Spec.from_json(document)
    return [error.path for error in raised.value.errors]


# --- defaults and round-trips ---------------------------------------------------------------


def test_empty_document_gives_the_default_spec():
    assert Spec.from_json({}) == default_spec()


def test_default_spec_round_trips_through_json():
    spec = default_spec()

    assert Spec.from_json(spec.to_json()) == spec


def test_to_json_fills_every_default():
    document = default_spec().to_json()

    assert document["version"] == 1
    assert document["workload"] == {"records": 1000, "rate": 0, "partitions": 1}
    assert document["pipeline"] == "side-effect"
    assert document["producer"] == {
        "acks": "all",
        "enable_idempotence": False,
        "retries": 2147483647,
        "max_in_flight": 5,
        "linger_ms": 5,
        "request_timeout_ms": 30000,
        "message_timeout_ms": 300000,
        "transactional": False,
        "transactional_id": None,
    }
    assert document["consumer"] == {
        "commit": "after-processing",
        "auto_commit_interval_ms": 5000,
        "batch_size": 1,
        "isolation_level": "read_committed",
        "idempotent": False,
    }
    assert document["faults"] == []
    assert document["restarts"] == {
        "consumer": {"enabled": True, "delay_ms": 1000},
        "producer": {"enabled": True, "delay_ms": 1000},
    }


def test_a_spec_with_every_fault_kind_round_trips():
    spec = Spec.from_json(
        {"workload": {"records": 100, "partitions": 2}, "faults": EVERY_FAULT_KIND}
    )

    assert Spec.from_json(spec.to_json()) == spec


def test_to_json_writes_only_the_fields_of_each_fault_kind():
    spec = Spec.from_json(
        {"workload": {"records": 100, "partitions": 2}, "faults": EVERY_FAULT_KIND}
    )

    assert spec.to_json()["faults"] == EVERY_FAULT_KIND


def test_fault_fields_get_their_defaults():
    spec = Spec.from_json(
        {
            "faults": [
                {"kind": "kill-consumer", "at": {"records": 1}},
                {"kind": "kill-leader", "at": {"records": 1}},
                {"kind": "drop-acks", "at": {"records": 1}},
                {"kind": "blackhole-broker", "at": {"records": 1}},
            ]
        }
    )

    assert spec.faults == (
        Fault(
            FaultKind.KILL_CONSUMER, At(records=1), point=KillPoint.AFTER_PROCESSING_BEFORE_COMMIT
        ),
        Fault(FaultKind.KILL_LEADER, At(records=1), partition=0),
        Fault(FaultKind.DROP_ACKS, At(records=1), count=3),
        Fault(FaultKind.BLACKHOLE_BROKER, At(records=1), seconds=5.0, broker="leader"),
    )


def test_whole_seconds_are_read_as_floats():
    spec = Spec.from_json({"faults": [{"kind": "kill-producer", "at": {"seconds": 5}}]})

    assert spec.faults[0].at.seconds == 5.0
    assert isinstance(spec.faults[0].at.seconds, float)


@pytest.mark.parametrize(("written", "normalized"), [(0, "0"), (1, "1"), (-1, "all")])
def test_integer_acks_are_normalized_to_strings(written, normalized):
    spec = Spec.from_json({"producer": {"acks": written}})

    assert spec.to_json()["producer"]["acks"] == normalized


def test_transactional_id_defaults_when_the_producer_is_transactional():
    spec = Spec.from_json({"producer": {"enable_idempotence": True, "transactional": True}})

    assert spec.producer.transactional_id == DEFAULT_TRANSACTIONAL_ID


def test_a_filled_in_transactional_id_round_trips():
    spec = Spec.from_json({"producer": {"enable_idempotence": True, "transactional": True}})

    assert Spec.from_json(spec.to_json()) == spec


# --- field errors ---------------------------------------------------------------------------


def test_unknown_acks_names_the_allowed_values():
    with pytest.raises(SpecError) as raised:
        Spec.from_json({"producer": {"acks": "2"}})

    assert str(raised.value.errors[0]) == 'producer.acks: expected one of "0", "1", "all", got "2"'


def test_boolean_acks_is_refused():
    assert "producer.acks" in errors_of({"producer": {"acks": True}})


def test_unknown_top_level_key_is_refused():
    assert error_paths({"colour": "blue"}) == ["colour"]


def test_unknown_section_key_is_refused():
    assert error_paths({"consumer": {"autocommit": True}}) == ["consumer.autocommit"]


def test_unknown_fault_field_is_refused():
    document = {"faults": [{"kind": "kill-producer", "partition": 0, "at": {"records": 1}}]}

    assert error_paths(document) == ["faults[0].partition"]


def test_unknown_restart_field_is_refused():
    assert error_paths({"restarts": {"consumer": {"delay": 5}}}) == ["restarts.consumer.delay"]


def test_a_document_that_is_not_an_object_is_an_error():
    assert error_paths(["not", "a", "spec"]) == [""]


def test_version_other_than_1_is_refused():
    assert errors_of({"version": 2}) == {"version": "expected 1, got 2"}


def test_name_longer_than_120_characters_is_refused():
    assert error_paths({"name": "x" * 121}) == ["name"]


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"workload": {"records": 0}}, "workload.records"),
        ({"workload": {"records": 1_000_001}}, "workload.records"),
        ({"workload": {"rate": -1}}, "workload.rate"),
        ({"workload": {"partitions": 13}}, "workload.partitions"),
        ({"pipeline": "batch"}, "pipeline"),
        ({"producer": {"retries": -1}}, "producer.retries"),
        ({"producer": {"max_in_flight": 0}}, "producer.max_in_flight"),
        ({"producer": {"linger_ms": 60_001}}, "producer.linger_ms"),
        ({"producer": {"request_timeout_ms": 99}}, "producer.request_timeout_ms"),
        ({"producer": {"message_timeout_ms": 900_001}}, "producer.message_timeout_ms"),
        ({"producer": {"transactional_id": ""}}, "producer.transactional_id"),
        ({"producer": {"enable_idempotence": "yes"}}, "producer.enable_idempotence"),
        ({"consumer": {"commit": "sometimes"}}, "consumer.commit"),
        ({"consumer": {"auto_commit_interval_ms": 99}}, "consumer.auto_commit_interval_ms"),
        ({"consumer": {"batch_size": 10_001}}, "consumer.batch_size"),
        ({"consumer": {"isolation_level": "serializable"}}, "consumer.isolation_level"),
        ({"consumer": {"idempotent": 1}}, "consumer.idempotent"),
        ({"restarts": {"producer": {"enabled": "no"}}}, "restarts.producer.enabled"),
        ({"restarts": {"consumer": {"delay_ms": 60_001}}}, "restarts.consumer.delay_ms"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_field(document, path):
    assert error_paths(document) == [path]


def test_range_error_names_the_range():
    assert errors_of({"workload": {"partitions": 13}}) == {
        "workload.partitions": "expected an integer from 1 to 12, got 13"
    }


def test_string_for_an_integer_is_an_error_naming_the_field():
    assert errors_of({"workload": {"records": "500"}}) == {
        "workload.records": 'expected an integer from 1 to 1000000, got "500"'
    }


def test_boolean_for_an_integer_is_an_error():
    assert error_paths({"workload": {"rate": True}}) == ["workload.rate"]


def test_fractional_number_for_an_integer_is_an_error():
    assert error_paths({"workload": {"records": 10.5}}) == ["workload.records"]


def test_section_that_is_not_an_object_is_an_error():
    assert errors_of({"producer": "fast"}) == {"producer": 'expected an object, got "fast"'}


def test_faults_that_are_not_a_list_is_an_error():
    assert error_paths({"faults": {"kind": "kill-producer"}}) == ["faults"]


def test_a_fault_that_is_not_an_object_is_an_error():
    assert error_paths({"faults": [7]}) == ["faults[0]"]


def test_more_than_ten_faults_is_an_error():
    faults = [{"kind": "kill-producer", "at": {"records": 1}}] * 11

    assert error_paths({"faults": faults}) == ["faults"]


def test_every_error_is_collected_not_just_the_first():
    document = {
        "workload": {"records": 0},
        "producer": {"acks": "2"},
        "consumer": {"batch_size": 0},
        "faults": [{"kind": "explode", "at": {"records": 1}}],
    }

    assert error_paths(document) == [
        "workload.records",
        "producer.acks",
        "consumer.batch_size",
        "faults[0].kind",
    ]


def test_spec_error_message_lists_every_error():
    with pytest.raises(SpecError) as raised:
        Spec.from_json({"workload": {"records": 0}, "pipeline": "batch"})

    assert "workload.records" in str(raised.value)
    assert "pipeline" in str(raised.value)


# --- cross-field rules ----------------------------------------------------------------------


def test_idempotence_requires_acks_all():
    assert errors_of({"producer": {"enable_idempotence": True, "acks": "1"}}) == {
        "producer.enable_idempotence": 'requires producer.acks "all", got "1"'
    }


def test_idempotence_requires_at_most_five_requests_in_flight():
    document = {"producer": {"enable_idempotence": True, "max_in_flight": 6}}

    assert error_paths(document) == ["producer.enable_idempotence"]


def test_idempotence_requires_at_least_one_retry():
    document = {"producer": {"enable_idempotence": True, "retries": 0}}

    assert error_paths(document) == ["producer.enable_idempotence"]


def test_transactional_requires_idempotence():
    assert errors_of({"producer": {"transactional": True}}) == {
        "producer.transactional": "requires producer.enable_idempotence true, got false"
    }


def test_message_timeout_must_cover_the_request_timeout():
    document = {"producer": {"request_timeout_ms": 20_000, "message_timeout_ms": 10_000}}

    assert error_paths(document) == ["producer.message_timeout_ms"]


def test_message_timeout_must_exceed_linger():
    document = {
        "producer": {"linger_ms": 2000, "request_timeout_ms": 1000, "message_timeout_ms": 2000}
    }

    assert error_paths(document) == ["producer.message_timeout_ms"]


def test_idempotent_consumer_requires_the_side_effect_pipeline():
    document = {"pipeline": "kafka-to-kafka", "consumer": {"idempotent": True}}

    assert error_paths(document) == ["consumer.idempotent"]


@pytest.mark.parametrize("pipeline", ["side-effect", "kafka-to-kafka"])
def test_transactional_commit_is_allowed_in_both_pipelines(pipeline):
    spec = Spec.from_json({"pipeline": pipeline, "consumer": {"commit": "transactional"}})

    assert spec.consumer.commit == "transactional"


def test_a_bad_field_does_not_also_break_the_rules_that_use_it():
    document = {"producer": {"enable_idempotence": True, "acks": "2"}}

    assert error_paths(document) == ["producer.acks"]


def test_fault_at_is_required():
    assert error_paths({"faults": [{"kind": "kill-producer"}]}) == ["faults[0].at"]


def test_fault_kind_is_required():
    assert error_paths({"faults": [{"at": {"records": 1}}]}) == ["faults[0].kind"]


def test_fault_at_with_neither_records_nor_seconds_is_an_error():
    assert errors_of({"faults": [{"kind": "kill-producer", "at": {}}]}) == {
        "faults[0].at": 'expected exactly one of "records" or "seconds", got neither'
    }


def test_fault_at_with_both_records_and_seconds_is_an_error():
    document = {"faults": [{"kind": "kill-producer", "at": {"records": 1, "seconds": 1}}]}

    assert error_paths(document) == ["faults[0].at"]


def test_fault_at_records_must_lie_within_the_workload():
    document = {
        "workload": {"records": 200},
        "faults": [
            {"kind": "kill-producer", "at": {"records": 10}},
            {"kind": "kill-producer", "at": {"records": 201}},
        ],
    }

    assert errors_of(document) == {
        "faults[1].at.records": "must be at most workload.records (200), got 201"
    }


def test_fault_at_seconds_is_limited_to_ten_minutes():
    document = {"faults": [{"kind": "kill-producer", "at": {"seconds": 600.5}}]}

    assert error_paths(document) == ["faults[0].at.seconds"]


def test_mid_transaction_kill_requires_transactional_commit():
    document = {
        "faults": [{"kind": "kill-consumer", "point": "mid-transaction", "at": {"records": 1}}]
    }

    assert errors_of(document) == {
        "faults[0].point": (
            '"mid-transaction" requires consumer.commit "transactional", got "after-processing"'
        )
    }


def test_after_commit_before_processing_kill_is_refused_with_transactional_commit():
    document = {
        "consumer": {"commit": "transactional"},
        "faults": [
            {
                "kind": "kill-consumer",
                "point": "after-commit-before-processing",
                "at": {"records": 1},
            }
        ],
    }

    assert error_paths(document) == ["faults[0].point"]


@pytest.mark.parametrize("commit", ["before-processing", "after-processing", "auto"])
def test_after_commit_before_processing_kill_is_allowed_with_other_commits(commit):
    document = {
        "consumer": {"commit": commit},
        "faults": [
            {
                "kind": "kill-consumer",
                "point": "after-commit-before-processing",
                "at": {"records": 1},
            }
        ],
    }

    assert Spec.from_json(document).faults[0].point == "after-commit-before-processing"


def test_mid_batch_kill_requires_a_batch_of_at_least_two():
    document = {"faults": [{"kind": "kill-consumer", "point": "mid-batch", "at": {"records": 1}}]}

    assert error_paths(document) == ["faults[0].point"]


@pytest.mark.parametrize("kind", ["kill-leader", "pause-followers-kill-leader"])
def test_leader_fault_partition_must_exist_in_the_workload(kind):
    document = {
        "workload": {"partitions": 2},
        "faults": [{"kind": kind, "partition": 2, "at": {"records": 1}}],
    }

    assert errors_of(document) == {
        "faults[0].partition": ("expected an integer from 0 to 1 (workload.partitions - 1), got 2")
    }


def test_drop_acks_requires_a_producer_that_waits_for_acks():
    document = {
        "producer": {"acks": "0"},
        "faults": [{"kind": "drop-acks", "at": {"records": 1}}],
    }

    assert error_paths(document) == ["faults[0].kind"]


def test_drop_acks_count_is_limited_to_1000():
    document = {"faults": [{"kind": "drop-acks", "count": 1001, "at": {"records": 1}}]}

    assert error_paths(document) == ["faults[0].count"]


def test_blackhole_broker_accepts_a_broker_id():
    document = {"faults": [{"kind": "blackhole-broker", "broker": 3, "at": {"records": 1}}]}

    assert Spec.from_json(document).faults[0].broker == 3


def test_blackhole_broker_refuses_an_unknown_broker():
    document = {"faults": [{"kind": "blackhole-broker", "broker": 4, "at": {"records": 1}}]}

    assert errors_of(document) == {
        "faults[0].broker": 'expected "leader" or an integer from 1 to 3, got 4'
    }


def test_blackhole_seconds_must_be_at_least_a_tenth():
    document = {"faults": [{"kind": "blackhole-broker", "seconds": 0.05, "at": {"records": 1}}]}

    assert error_paths(document) == ["faults[0].seconds"]


# --- client properties ----------------------------------------------------------------------


def test_producer_config_uses_librdkafka_names():
    assert producer_config(default_spec()) == {
        "acks": "all",
        "enable.idempotence": False,
        "retries": 2147483647,
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": 5,
        "request.timeout.ms": 30000,
        "socket.timeout.ms": 30000,
        "message.timeout.ms": 300000,
    }


def test_transactional_producer_config_carries_its_id_and_a_matching_transaction_timeout():
    spec = Spec.from_json(
        {
            "producer": {
                "enable_idempotence": True,
                "transactional": True,
                "transactional_id": "orders",
                "message_timeout_ms": 60_000,
            }
        }
    )

    config = producer_config(spec)

    assert config["transactional.id"] == "orders"
    assert config["transaction.timeout.ms"] == 60_000


def test_producer_config_leaves_out_the_servers():
    assert "bootstrap.servers" not in producer_config(default_spec())


def test_auto_commit_lets_librdkafka_commit_and_store_offsets():
    spec = Spec.from_json({"consumer": {"commit": "auto", "auto_commit_interval_ms": 1000}})

    config = consumer_config(spec)

    assert config["enable.auto.commit"] is True
    assert config["enable.auto.offset.store"] is True
    assert config["auto.commit.interval.ms"] == 1000


@pytest.mark.parametrize("commit", ["before-processing", "after-processing", "transactional"])
def test_explicit_commit_modes_turn_off_auto_commit_and_auto_store(commit):
    config = consumer_config(Spec.from_json({"consumer": {"commit": commit}}))

    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False


def test_consumer_config_reads_from_the_earliest_offset_with_the_chosen_isolation():
    spec = Spec.from_json({"consumer": {"isolation_level": "read_uncommitted"}})

    config = consumer_config(spec)

    assert config["auto.offset.reset"] == "earliest"
    assert config["isolation.level"] == "read_uncommitted"
    assert "group.id" not in config


def test_side_effect_consumer_with_plain_commits_needs_no_producer():
    assert consumer_producer_config(default_spec()) is None


def test_kafka_to_kafka_consumer_produces_idempotently():
    spec = Spec.from_json({"pipeline": "kafka-to-kafka"})

    assert consumer_producer_config(spec) == {"acks": "all", "enable.idempotence": True}


def test_transactional_commit_gives_the_consumer_a_transactional_producer():
    spec = Spec.from_json({"consumer": {"commit": "transactional"}})

    config = consumer_producer_config(spec)

    assert config is not None
    assert config["transactional.id"] == CONSUMER_TRANSACTIONAL_ID
