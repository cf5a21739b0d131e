"""The experiment spec: defaults, round-trips, and an error naming the field for every bad input."""

from __future__ import annotations

import json

import pytest

from playground.engine.spec.model import (
    CLUSTER_FAULTS,
    CONSUMER_TRANSACTIONAL_ID,
    DEFAULT_TRANSACTIONAL_ID,
    FAULT_DEFAULTS,
    FAULT_FIELDS,
    MAX_FAULTS,
    At,
    Consumer,
    Coordinator,
    DropTarget,
    Fault,
    FaultKind,
    KillPoint,
    Spec,
    SpecError,
    commit_point,
    consumer_config,
    consumer_producer_config,
    default_spec,
    fault_defaults,
    kill_points,
    producer_config,
    read_live_fault,
)

EVERY_FAULT_KIND = [
    {
        "kind": "kill-consumer",
        "point": "after-processing-before-commit",
        "member": 0,
        "at": {"records": 10},
    },
    {"kind": "add-consumer", "at": {"records": 5}},
    {"kind": "remove-consumer", "member": 1, "at": {"seconds": 3.0}},
    {"kind": "stall-consumer", "member": 0, "seconds": 12.5, "at": {"records": 15}},
    {"kind": "pause-consumer", "member": 1, "seconds": 4.0, "at": {"seconds": 6.0}},
    {"kind": "kill-producer", "at": {"seconds": 2.5}, "point": "anywhere"},
    {"kind": "kill-leader", "partition": 1, "at": {"records": 20}},
    {"kind": "pause-followers-kill-leader", "partition": 0, "at": {"seconds": 1.0}},
    {"kind": "drop-acks", "count": 4, "target": "all", "at": {"records": 30}},
    {"kind": "blackhole-broker", "seconds": 3.0, "broker": 2, "at": {"records": 40}},
    {"kind": "pause-broker", "broker": 3, "seconds": None, "at": {"seconds": 4.0}},
    {"kind": "resume-broker", "broker": 3, "at": {"seconds": 9.0}},
    {"kind": "kill-coordinator", "coordinator": "group", "at": {"records": 50}},
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


def live_errors_of(document: object, spec: Spec | None = None) -> dict[str, str]:
    """Every error `document` gets as a live action on `spec` (the defaults if None)."""
    with pytest.raises(SpecError) as raised:
        read_live_fault(document, spec or default_spec())
    return {error.path: error.message for error in raised.value.errors}


def kill_at(point: str, **consumer: object) -> dict[str, object]:
    """A spec document with `consumer` settings and one kill-consumer at `point`."""
    fault = {"kind": "kill-consumer", "point": point, "at": {"records": 1}}
    return {"consumer": consumer, "faults": [fault]}


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
        "transaction_records": 50,
        "position": "log",
    }
    assert document["consumer"] == {
        "commit": "after-processing",
        "auto_commit_interval_ms": 5000,
        "batch_size": 1,
        "isolation_level": "read_committed",
        "idempotent": False,
        "members": 1,
        "group_protocol": "classic",
        "assignor": "range",
        "max_poll_interval_ms": 300000,
        "session_timeout_ms": 6000,
        "static_membership": True,
        "commit_on_revoke": False,
    }
    assert document["faults"] == []
    assert document["restarts"] == {
        "consumer": {"enabled": True, "delay_ms": 1000},
        "producer": {"enabled": True, "delay_ms": 1000},
    }


def test_every_fault_kind_is_in_the_list_of_every_fault_kind():
    assert {fault["kind"] for fault in EVERY_FAULT_KIND} == {kind.value for kind in FaultKind}


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
                {"kind": "pause-broker", "at": {"records": 1}},
                {"kind": "resume-broker", "at": {"records": 1}},
                {"kind": "add-consumer", "at": {"records": 1}},
                {"kind": "remove-consumer", "at": {"records": 1}},
                {"kind": "stall-consumer", "at": {"records": 1}},
                {"kind": "pause-consumer", "at": {"records": 1}},
                {"kind": "kill-coordinator", "at": {"records": 1}},
            ]
        }
    )

    assert spec.faults == (
        Fault(FaultKind.KILL_CONSUMER, At(records=1), point=KillPoint.NEXT_COMMIT_POINT, member=0),
        Fault(FaultKind.KILL_LEADER, At(records=1), partition=0),
        Fault(FaultKind.DROP_ACKS, At(records=1), count=3, target=DropTarget.SOURCE_PRODUCER),
        Fault(FaultKind.BLACKHOLE_BROKER, At(records=1), seconds=5.0, broker="leader"),
        Fault(FaultKind.PAUSE_BROKER, At(records=1), broker="leader", seconds=5.0),
        Fault(FaultKind.RESUME_BROKER, At(records=1), broker="all"),
        Fault(FaultKind.ADD_CONSUMER, At(records=1)),
        Fault(FaultKind.REMOVE_CONSUMER, At(records=1), member=0),
        Fault(FaultKind.STALL_CONSUMER, At(records=1), member=0, seconds=10.0),
        Fault(FaultKind.PAUSE_CONSUMER, At(records=1), member=0, seconds=5.0),
        Fault(FaultKind.KILL_COORDINATOR, At(records=1), coordinator=Coordinator.GROUP),
    )


def test_resume_broker_is_the_one_kind_whose_broker_defaults_to_all():
    assert fault_defaults(FaultKind.RESUME_BROKER) == {"broker": "all"}
    assert fault_defaults(FaultKind.PAUSE_BROKER) == {"broker": "leader", "seconds": 5.0}
    assert fault_defaults(FaultKind.BLACKHOLE_BROKER)["broker"] == "leader"


def test_every_kind_has_a_default_for_each_of_its_fields():
    for kind in FaultKind:
        assert set(fault_defaults(kind)) == set(FAULT_FIELDS[kind])


def test_the_default_of_three_dropped_acks_is_the_one_live_actions_get():
    fault = read_live_fault({"kind": "drop-acks"}, default_spec())

    assert fault.count == FAULT_DEFAULTS["count"] == 3


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


TRANSACTIONAL_PRODUCER = {"enable_idempotence": True, "transactional": True}


def test_the_transaction_size_is_read_and_round_trips():
    spec = Spec.from_json({"producer": TRANSACTIONAL_PRODUCER | {"transaction_records": 500}})

    assert spec.producer.transaction_records == 500
    assert spec.to_json()["producer"]["transaction_records"] == 500
    assert Spec.from_json(spec.to_json()) == spec


def test_a_document_stored_before_the_transaction_size_existed_commits_every_50_records():
    document = Spec.from_json({"producer": TRANSACTIONAL_PRODUCER}).to_json()
    del document["producer"]["transaction_records"]

    assert Spec.from_json(document).producer.transaction_records == 50


def test_a_producer_that_is_not_transactional_accepts_and_keeps_a_transaction_size():
    spec = Spec.from_json({"producer": {"transaction_records": 7}})

    assert spec.producer.transaction_records == 7
    assert Spec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("size", [0, 10_001, 2.5, "50", True])
def test_a_transaction_size_out_of_range_names_the_field_and_the_range(size):
    document = {"producer": TRANSACTIONAL_PRODUCER | {"transaction_records": size}}

    message = f"expected an integer from 1 to 10000, got {json.dumps(size)}"
    assert errors_of(document) == {"producer.transaction_records": message}


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


def test_a_lone_surrogate_in_the_name_is_refused():
    assert errors_of({"name": "\udfff"}) == {
        "name": "must not contain control characters or lone surrogates; found U+DFFF at position 0"
    }


def test_a_control_character_in_the_name_is_refused():
    assert errors_of({"name": "orders\nrun"}) == {
        "name": "must not contain control characters or lone surrogates; found U+000A at position 6"
    }


def test_a_lone_surrogate_in_the_transactional_id_is_refused():
    document = {"producer": {"transactional_id": "txn-\ud800"}}

    assert errors_of(document) == {
        "producer.transactional_id": "must not contain control characters or lone surrogates; "
        "found U+D800 at position 4"
    }


def test_a_control_character_in_the_transactional_id_is_refused():
    assert error_paths({"producer": {"transactional_id": "\x00"}}) == ["producer.transactional_id"]


def test_a_name_in_any_script_is_kept_and_survives_utf8():
    spec = Spec.from_json({"name": "Zahlungsdienst ✓ é 支付 😀"})

    assert spec.name == "Zahlungsdienst ✓ é 支付 😀"
    assert json.dumps(spec.to_json(), ensure_ascii=False).encode()


def test_an_unknown_key_with_a_lone_surrogate_gets_an_error_that_survives_utf8():
    with pytest.raises(SpecError) as raised:
        Spec.from_json({"producer": {"\udfff": 1}})

    assert [error.path for error in raised.value.errors] == ["producer.\\udfff"]
    assert str(raised.value).encode()


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"workload": {"records": 0}}, "workload.records"),
        ({"workload": {"records": 10_000_001}}, "workload.records"),
        ({"workload": {"rate": -1}}, "workload.rate"),
        ({"workload": {"partitions": 13}}, "workload.partitions"),
        ({"pipeline": "batch"}, "pipeline"),
        ({"producer": {"retries": -1}}, "producer.retries"),
        ({"producer": {"max_in_flight": 0}}, "producer.max_in_flight"),
        ({"producer": {"linger_ms": 60_001}}, "producer.linger_ms"),
        ({"producer": {"request_timeout_ms": 99}}, "producer.request_timeout_ms"),
        ({"producer": {"message_timeout_ms": 900_001}}, "producer.message_timeout_ms"),
        ({"producer": {"transactional_id": ""}}, "producer.transactional_id"),
        ({"producer": {"transaction_records": 0}}, "producer.transaction_records"),
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
        "workload.records": 'expected an integer from 1 to 10000000, got "500"'
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


def test_more_than_twenty_faults_is_an_error():
    fault = {"kind": "kill-producer", "at": {"records": 1}}

    assert MAX_FAULTS == 20
    assert len(Spec.from_json({"faults": [fault] * 20}).faults) == 20
    assert errors_of({"faults": [fault] * 21}) == {"faults": "expected at most 20 faults, got 21"}


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


KILL_POINTS_OF_COMMIT = {
    "before-processing": ("after-commit-before-processing",),
    "after-processing": ("after-processing-before-commit",),
    "auto": ("after-processing-before-commit", "after-commit-before-processing"),
    "transactional": ("after-processing-before-commit", "mid-transaction"),
}


@pytest.mark.parametrize(("commit", "points"), KILL_POINTS_OF_COMMIT.items())
def test_kill_points_are_those_the_commit_mode_passes_then_the_two_that_fit_every_mode(
    commit, points
):
    consumer = Consumer(commit=commit, batch_size=1)

    assert kill_points(consumer) == (*points, "next-commit-point", "anywhere")


@pytest.mark.parametrize("commit", KILL_POINTS_OF_COMMIT)
def test_mid_batch_is_a_kill_point_of_every_mode_with_batches_of_two_or_more(commit):
    assert "mid-batch" in kill_points(Consumer(commit=commit, batch_size=2))
    assert "mid-batch" not in kill_points(Consumer(commit=commit, batch_size=1))


@pytest.mark.parametrize(
    ("commit", "point"),
    [
        ("before-processing", "after-commit-before-processing"),
        ("after-processing", "after-processing-before-commit"),
        ("auto", "after-processing-before-commit"),
        ("transactional", "mid-transaction"),
    ],
)
def test_the_commit_point_is_where_the_mode_has_processed_but_not_committed(commit, point):
    consumer = Consumer(commit=commit)

    assert commit_point(consumer) == point
    assert commit_point(consumer) in kill_points(consumer)


@pytest.mark.parametrize("commit", KILL_POINTS_OF_COMMIT)
@pytest.mark.parametrize("point", ["next-commit-point", "anywhere"])
def test_next_commit_point_and_anywhere_fit_every_commit_mode(commit, point):
    assert Spec.from_json(kill_at(point, commit=commit)).faults[0].point == point


def test_a_kill_point_the_commit_mode_never_reaches_is_refused_with_the_points_it_has():
    document = kill_at("after-commit-before-processing", commit="after-processing", batch_size=10)

    assert errors_of(document) == {
        "faults[0].point": 'expected one of "after-processing-before-commit", "mid-batch", '
        '"next-commit-point", "anywhere" with consumer.commit "after-processing" and '
        'consumer.batch_size 10, got "after-commit-before-processing"'
    }


def test_mid_transaction_kill_requires_transactional_commit():
    assert error_paths(kill_at("mid-transaction")) == ["faults[0].point"]


def test_after_commit_before_processing_kill_is_refused_with_transactional_commit():
    document = kill_at("after-commit-before-processing", commit="transactional")

    assert error_paths(document) == ["faults[0].point"]


def test_after_processing_before_commit_kill_is_refused_with_commit_before_processing():
    document = kill_at("after-processing-before-commit", commit="before-processing")

    assert error_paths(document) == ["faults[0].point"]


@pytest.mark.parametrize("commit", ["before-processing", "auto"])
def test_after_commit_before_processing_kill_is_allowed_where_the_mode_commits_first(commit):
    document = kill_at("after-commit-before-processing", commit=commit)

    assert Spec.from_json(document).faults[0].point == "after-commit-before-processing"


def test_mid_batch_kill_requires_a_batch_of_at_least_two():
    assert error_paths(kill_at("mid-batch")) == ["faults[0].point"]


def test_an_unknown_kill_point_is_refused_with_the_points_of_the_mode():
    assert errors_of(kill_at("halfway", commit="before-processing")) == {
        "faults[0].point": 'expected one of "after-commit-before-processing", '
        '"next-commit-point", "anywhere" with consumer.commit "before-processing" and '
        'consumer.batch_size 1, got "halfway"'
    }


def test_a_bad_commit_mode_does_not_also_fail_a_kill_point_it_might_have():
    assert error_paths(kill_at("mid-transaction", commit="sometimes")) == ["consumer.commit"]


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


def test_drop_acks_targets_the_source_producer_by_default():
    spec = Spec.from_json({"faults": [{"kind": "drop-acks", "at": {"records": 1}}]})

    assert spec.faults[0].target == DropTarget.SOURCE_PRODUCER


def test_drop_acks_at_the_output_producer_is_refused_when_the_consumer_does_not_produce():
    document = {
        "faults": [{"kind": "drop-acks", "target": "output-producer", "at": {"records": 1}}]
    }

    assert errors_of(document) == {
        "faults[0].target": 'expected "source-producer" or "all": the consumer has a producer of '
        'its own only with pipeline "kafka-to-kafka" or consumer.commit "transactional", '
        'got "output-producer"'
    }


@pytest.mark.parametrize(
    "settings", [{"pipeline": "kafka-to-kafka"}, {"consumer": {"commit": "transactional"}}]
)
def test_drop_acks_at_the_output_producer_is_allowed_when_the_consumer_produces(settings):
    fault = {"kind": "drop-acks", "target": "output-producer", "at": {"records": 1}}

    spec = Spec.from_json({**settings, "faults": [fault]})

    assert spec.faults[0].target == DropTarget.OUTPUT_PRODUCER


def test_drop_acks_at_the_output_producer_does_not_need_a_source_producer_waiting_for_acks():
    document = {
        "pipeline": "kafka-to-kafka",
        "producer": {"acks": "0"},
        "faults": [{"kind": "drop-acks", "target": "output-producer", "at": {"records": 1}}],
    }

    assert Spec.from_json(document).faults[0].target == DropTarget.OUTPUT_PRODUCER


def test_drop_acks_at_all_clients_with_acks_0_needs_a_consumer_that_produces():
    fault = {"kind": "drop-acks", "target": "all", "at": {"records": 1}}

    assert error_paths({"producer": {"acks": "0"}, "faults": [fault]}) == ["faults[0].kind"]
    spec = Spec.from_json(
        {"pipeline": "kafka-to-kafka", "producer": {"acks": "0"}, "faults": [fault]}
    )
    assert spec.faults[0].target == DropTarget.ALL


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


def test_blackhole_broker_has_no_open_ended_duration():
    document = {"faults": [{"kind": "blackhole-broker", "seconds": None, "at": {"records": 1}}]}

    assert error_paths(document) == ["faults[0].seconds"]


def test_pause_broker_with_null_seconds_pauses_until_resumed_and_round_trips():
    fault = {"kind": "pause-broker", "broker": 2, "seconds": None, "at": {"records": 1}}
    spec = Spec.from_json({"faults": [fault]})

    assert spec.faults[0].seconds is None
    assert Spec.from_json(spec.to_json()) == spec


def test_pause_broker_seconds_names_null_among_the_allowed_values():
    document = {"faults": [{"kind": "pause-broker", "seconds": 601, "at": {"records": 1}}]}

    assert errors_of(document) == {
        "faults[0].seconds": "expected null or a number from 0.1 to 600, got 601"
    }


def test_pause_broker_refuses_all_brokers():
    document = {"faults": [{"kind": "pause-broker", "broker": "all", "at": {"records": 1}}]}

    assert errors_of(document) == {
        "faults[0].broker": 'expected "leader" or an integer from 1 to 3, got "all"'
    }


def test_resume_broker_refuses_the_leader():
    document = {"faults": [{"kind": "resume-broker", "broker": "leader", "at": {"records": 1}}]}

    assert errors_of(document) == {
        "faults[0].broker": 'expected "all" or an integer from 1 to 3, got "leader"'
    }


def test_cluster_faults_are_the_kinds_that_act_on_brokers():
    assert {
        "kill-leader",
        "pause-followers-kill-leader",
        "blackhole-broker",
        "pause-broker",
        "resume-broker",
        "kill-coordinator",
    } == CLUSTER_FAULTS


def test_drop_acks_does_not_touch_the_cluster_but_pause_broker_does():
    assert not Fault(FaultKind.DROP_ACKS, At(records=1), count=3).touches_cluster
    assert Fault(FaultKind.PAUSE_BROKER, At(records=1), broker=1).touches_cluster


# --- live actions ---------------------------------------------------------------------------


def test_now_is_only_for_live_faults():
    assert errors_of({"faults": [{"kind": "kill-producer", "at": "now"}]}) == {
        "faults[0].at": '"now" is for live actions; use {"seconds": 0}'
    }


@pytest.mark.parametrize(
    "action",
    [
        {"kind": "kill-consumer", "point": "anywhere"},
        {"kind": "kill-consumer", "point": "next-commit-point"},
        {"kind": "kill-producer"},
        {"kind": "kill-leader", "partition": 0},
        {"kind": "pause-broker", "broker": 2, "seconds": None},
        {"kind": "resume-broker", "broker": 2},
        {"kind": "drop-acks", "count": 3},
    ],
)
def test_a_live_action_is_a_fault_at_now(action):
    fault = read_live_fault(action, default_spec())

    assert fault.at == At(now=True)
    assert fault.to_json()["at"] == "now"


def test_a_live_fault_may_say_now_but_nothing_else():
    assert read_live_fault({"kind": "kill-producer", "at": "now"}, default_spec()).at.now
    assert live_errors_of({"kind": "kill-producer", "at": {"seconds": 0}}) == {
        "fault.at": 'expected "now" (a live action fires at once), got {"seconds": 0}'
    }


def test_a_live_fault_fills_in_the_defaults_of_its_kind():
    fault = read_live_fault({"kind": "resume-broker"}, default_spec())

    assert fault == Fault(FaultKind.RESUME_BROKER, At(now=True), broker="all")


def test_live_fault_errors_name_paths_under_fault():
    assert live_errors_of({"kind": "drop-acks", "count": 0, "colour": "red"}) == {
        "fault.colour": 'unknown field; expected one of "kind", "at", "count", "target"',
        "fault.count": "expected an integer from 1 to 1000, got 0",
    }


def test_a_live_fault_is_checked_against_the_settings_of_its_spec():
    spec = Spec.from_json({"consumer": {"commit": "before-processing"}})

    errors = live_errors_of({"kind": "kill-consumer", "point": "mid-transaction"}, spec)

    assert list(errors) == ["fault.point"]
    assert 'with consumer.commit "before-processing"' in errors["fault.point"]


def test_a_live_kill_leader_partition_must_exist_in_the_workload():
    assert list(live_errors_of({"kind": "kill-leader", "partition": 1})) == ["fault.partition"]


def test_a_live_fault_without_a_kind_says_so():
    assert list(live_errors_of({})) == ["fault.kind"]


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


def test_a_position_in_the_transaction_needs_a_transactional_producer():
    with pytest.raises(SpecError) as caught:
        Spec.from_json({"producer": {"position": "transaction"}})

    (error,) = caught.value.errors
    assert error.path == "producer.position"
    assert "producer.transactional" in error.message


def test_a_commit_kill_point_needs_a_transactional_producer():
    fault = {"kind": "kill-producer", "point": "during-commit", "at": {"records": 5}}
    with pytest.raises(SpecError) as caught:
        Spec.from_json({"faults": [fault]})

    (error,) = caught.value.errors
    assert error.path == "faults[0].point"
    assert '"after-send", "anywhere"' in error.message


def test_a_producer_kill_without_a_point_strikes_after_a_send_or_from_outside():
    spec = Spec.from_json(
        {
            "faults": [
                {"kind": "kill-producer", "at": {"records": 5}},
                {"kind": "kill-producer", "at": {"seconds": 1}},
            ]
        }
    )

    assert [fault.point for fault in spec.faults] == [KillPoint.AFTER_SEND, KillPoint.ANYWHERE]


def test_a_consumer_cannot_die_at_a_producer_point():
    fault = {"kind": "kill-consumer", "point": "during-commit", "at": {"records": 5}}
    with pytest.raises(SpecError) as caught:
        Spec.from_json({"faults": [fault]})

    assert caught.value.errors[0].path == "faults[0].point"
