"""The consumer group in the spec: its settings' ranges and the rules between them, the faults that
act on one member or on a coordinator, and the client properties the group settings give.

Every refusal is checked with the path and the message of its error, so a rule that starts failing
the wrong field, or a field that stops naming what it accepts, shows here. Pure logic: no cluster.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from playground.engine import naming
from playground.engine.spec.model import (
    ASSIGNORS,
    FAULT_FIELDS,
    MAX_MEMBERS,
    MEMBER_FAULTS,
    Assignor,
    At,
    Commit,
    Consumer,
    Coordinator,
    Fault,
    FaultKind,
    GroupProtocol,
    Spec,
    SpecError,
    consumer_config,
    default_spec,
    read_live_fault,
)

# The consumer's group settings and the defaults every spec written before them reads with.
GROUP_DEFAULTS = {
    "members": 1,
    "group_protocol": "classic",
    "assignor": "range",
    "max_poll_interval_ms": 300_000,
    "session_timeout_ms": 6000,
    "static_membership": True,
    "commit_on_revoke": False,
}
TRANSACTIONAL_PRODUCER = {"enable_idempotence": True, "transactional": True}
MEMBER_FAULT_KINDS = sorted(kind.value for kind in MEMBER_FAULTS)
# The librdkafka properties the group settings decide (consumer_config).
GROUP_PROPERTIES = (
    "group.protocol",
    "partition.assignment.strategy",
    "group.remote.assignor",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
)


def errors_of(document: Any) -> dict[str, str]:
    """Every error `document` gets, as {path: message}; {} when it is a valid spec."""
    try:
        Spec.from_json(document)
    except SpecError as error:
        return {e.path: e.message for e in error.errors}
    return {}


def live_errors_of(document: Any, spec: Spec) -> dict[str, str]:
    try:
        read_live_fault(document, spec)
    except SpecError as error:
        return {e.path: e.message for e in error.errors}
    return {}


def group(**consumer: Any) -> dict[str, Any]:
    return {"consumer": consumer}


def fault(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "at": {"records": 1}, **fields}


def with_faults(*faults: dict[str, Any], **consumer: Any) -> dict[str, Any]:
    return {"consumer": consumer, "faults": list(faults)}


# --- defaults, old documents and round-trips ---------------------------------------------------


def test_the_group_settings_default_to_one_static_classic_member():
    consumer = default_spec().consumer

    assert consumer == Consumer()
    assert {key: default_spec().to_json()["consumer"][key] for key in GROUP_DEFAULTS} == (
        GROUP_DEFAULTS
    )
    assert consumer.group_protocol == GroupProtocol.CLASSIC
    assert consumer.assignor == Assignor.RANGE


def test_a_document_written_before_the_group_settings_reads_with_their_defaults():
    document = Spec.from_json(
        {
            "consumer": {"commit": "auto", "batch_size": 10},
            "faults": [fault("kill-consumer", point="anywhere")],
        }
    ).to_json()
    for key in GROUP_DEFAULTS:
        del document["consumer"][key]
    del document["faults"][0]["member"]

    spec = Spec.from_json(document)

    assert spec.consumer == Consumer(commit=Commit.AUTO, batch_size=10)
    assert spec.faults[0].member == 0
    assert {key: spec.to_json()["consumer"][key] for key in GROUP_DEFAULTS} == GROUP_DEFAULTS


def test_every_group_setting_round_trips():
    consumer = {
        "members": 3,
        "group_protocol": "consumer",
        "assignor": "uniform",
        "max_poll_interval_ms": 2000,
        "session_timeout_ms": 45_000,
        "static_membership": False,
        "commit_on_revoke": True,
    }
    spec = Spec.from_json(group(**consumer))

    assert {key: spec.to_json()["consumer"][key] for key in consumer} == consumer
    assert Spec.from_json(spec.to_json()) == spec


def test_member_faults_and_kill_coordinator_round_trip_with_only_their_own_fields():
    faults = [
        {"kind": "add-consumer", "at": {"records": 10}},
        {"kind": "kill-consumer", "at": {"records": 20}, "point": "anywhere", "member": 2},
        {"kind": "remove-consumer", "at": {"seconds": 1.5}, "member": 1},
        {"kind": "stall-consumer", "at": {"records": 30}, "member": 2, "seconds": 40.0},
        {"kind": "pause-consumer", "at": {"seconds": 2.0}, "member": 0, "seconds": 0.1},
        {"kind": "kill-coordinator", "at": {"records": 40}, "coordinator": "transaction"},
    ]
    document = {
        "producer": TRANSACTIONAL_PRODUCER,
        "consumer": {"members": 2},
        "faults": faults,
    }
    spec = Spec.from_json(document)

    assert spec.to_json()["faults"] == faults
    assert Spec.from_json(spec.to_json()) == spec


def test_a_member_fault_left_without_its_fields_gets_their_defaults():
    spec = Spec.from_json(
        with_faults(
            fault("remove-consumer"),
            fault("stall-consumer"),
            fault("pause-consumer"),
            fault("kill-coordinator"),
            fault("add-consumer"),
        )
    )

    assert spec.faults == (
        Fault(FaultKind.REMOVE_CONSUMER, At(records=1), member=0),
        Fault(FaultKind.STALL_CONSUMER, At(records=1), member=0, seconds=10.0),
        Fault(FaultKind.PAUSE_CONSUMER, At(records=1), member=0, seconds=5.0),
        Fault(FaultKind.KILL_COORDINATOR, At(records=1), coordinator=Coordinator.GROUP),
        Fault(FaultKind.ADD_CONSUMER, At(records=1)),
    )


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("add-consumer", "member"),
        ("add-consumer", "seconds"),
        ("remove-consumer", "seconds"),
        ("kill-coordinator", "member"),
        ("kill-consumer", "coordinator"),
        ("kill-producer", "member"),
        ("kill-leader", "member"),
    ],
)
def test_a_field_the_kind_does_not_take_is_refused(kind, field):
    errors = errors_of(with_faults(fault(kind, **{field: 0})))

    assert list(errors) == [f"faults[0].{field}"]
    assert errors[f"faults[0].{field}"].startswith("unknown field; expected one of")


def test_the_member_faults_are_those_with_a_member_field():
    assert {kind for kind, fields in FAULT_FIELDS.items() if "member" in fields} == MEMBER_FAULTS
    assert {kind.value for kind in MEMBER_FAULTS} == {
        "kill-consumer",
        "remove-consumer",
        "stall-consumer",
        "pause-consumer",
    }


def test_only_kill_coordinator_among_the_group_faults_touches_the_cluster():
    kinds = [*MEMBER_FAULTS, FaultKind.ADD_CONSUMER]

    assert not any(Fault(kind, At(records=1)).touches_cluster for kind in kinds)
    assert Fault(FaultKind.KILL_COORDINATOR, At(records=1)).touches_cluster


# --- members ---------------------------------------------------------------------------------


@pytest.mark.parametrize("members", [1, 2, 3, 4])
def test_one_to_four_members_are_accepted(members):
    assert Spec.from_json(group(members=members)).consumer.members == members


@pytest.mark.parametrize("members", [0, 5, -1, 2.0, "2", True, None])
def test_members_outside_one_to_four_are_refused_naming_the_range(members):
    assert errors_of(group(members=members)) == {
        "consumer.members": f"expected an integer from 1 to 4, got {json.dumps(members)}"
    }


def test_member_names_are_consumer_then_consumer_1_and_on():
    assert [naming.member_name(member) for member in range(4)] == [
        "consumer",
        "consumer-1",
        "consumer-2",
        "consumer-3",
    ]
    assert [naming.member_of(naming.member_name(m)) for m in range(MAX_MEMBERS)] == list(
        range(MAX_MEMBERS)
    )


# --- the protocol and its assignors ------------------------------------------------------------


def test_each_protocol_offers_its_own_assignors():
    assert ASSIGNORS == {
        GroupProtocol.CLASSIC: (Assignor.RANGE, Assignor.ROUNDROBIN, Assignor.COOPERATIVE_STICKY),
        GroupProtocol.CONSUMER: (Assignor.UNIFORM, Assignor.RANGE),
    }


@pytest.mark.parametrize(
    ("protocol", "assignor"),
    [
        (protocol.value, assignor.value)
        for protocol, offered in ASSIGNORS.items()
        for assignor in offered
    ],
)
def test_an_assignor_the_protocol_offers_is_accepted(protocol, assignor):
    consumer = Spec.from_json(group(group_protocol=protocol, assignor=assignor)).consumer

    assert (consumer.group_protocol, consumer.assignor) == (protocol, assignor)


@pytest.mark.parametrize(
    ("protocol", "assignor", "offered"),
    [
        ("classic", "uniform", '"range", "roundrobin", "cooperative-sticky"'),
        ("consumer", "roundrobin", '"uniform", "range"'),
        ("consumer", "cooperative-sticky", '"uniform", "range"'),
    ],
)
def test_an_assignor_the_protocol_does_not_offer_is_refused_on_consumer_assignor(
    protocol, assignor, offered
):
    assert errors_of(group(group_protocol=protocol, assignor=assignor)) == {
        "consumer.assignor": f"expected one of {offered} with consumer.group_protocol "
        f'"{protocol}", got "{assignor}"'
    }


def test_the_default_assignor_stays_valid_when_only_the_protocol_changes():
    consumer = Spec.from_json(group(group_protocol="consumer")).consumer

    assert consumer.assignor == Assignor.RANGE


def test_an_unknown_assignor_names_every_assignor_and_nothing_else():
    assert errors_of(group(group_protocol="consumer", assignor="sticky")) == {
        "consumer.assignor": 'expected one of "range", "roundrobin", "cooperative-sticky", '
        '"uniform", got "sticky"'
    }


def test_an_unknown_protocol_is_one_error_not_also_one_on_the_assignor():
    assert errors_of(group(group_protocol="kip-848", assignor="uniform")) == {
        "consumer.group_protocol": 'expected one of "classic", "consumer", got "kip-848"'
    }


# --- timeouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "low", "high"),
    [
        ("max_poll_interval_ms", 999, 1000, 300000),
        ("max_poll_interval_ms", 300_001, 1000, 300000),
        ("session_timeout_ms", 999, 1000, 60000),
        ("session_timeout_ms", 60_001, 1000, 60000),
        ("session_timeout_ms", "6000", 1000, 60000),
    ],
)
def test_a_timeout_out_of_range_names_its_field_and_range(field, value, low, high):
    errors = errors_of(group(**{field: value}))

    assert errors == {
        f"consumer.{field}": f"expected an integer from {low} to {high}, got {json.dumps(value)}"
    }


def test_with_the_classic_protocol_the_poll_interval_must_cover_the_session_timeout():
    assert errors_of(group(max_poll_interval_ms=5999, session_timeout_ms=6000)) == {
        "consumer.max_poll_interval_ms": "must be at least consumer.session_timeout_ms (6000) "
        'with consumer.group_protocol "classic", got 5999'
    }
    assert errors_of(group(max_poll_interval_ms=6000, session_timeout_ms=6000)) == {}


def test_with_the_consumer_protocol_the_poll_interval_may_be_shorter_than_the_session():
    spec = Spec.from_json(
        group(group_protocol="consumer", max_poll_interval_ms=1000, session_timeout_ms=60_000)
    )

    assert spec.consumer.max_poll_interval_ms < spec.consumer.session_timeout_ms


def test_a_bad_timeout_does_not_also_fail_the_rule_between_them():
    assert list(errors_of(group(max_poll_interval_ms=2000, session_timeout_ms=0))) == [
        "consumer.session_timeout_ms"
    ]
    assert list(errors_of(group(max_poll_interval_ms=10, session_timeout_ms=6000))) == [
        "consumer.max_poll_interval_ms"
    ]


# --- commit on revoke ------------------------------------------------------------------------


@pytest.mark.parametrize("commit", ["after-processing", "auto"])
def test_commit_on_revoke_is_accepted_where_processed_work_can_be_left_uncommitted(commit):
    spec = Spec.from_json(group(commit=commit, commit_on_revoke=True))

    assert spec.consumer.commit_on_revoke


@pytest.mark.parametrize("commit", ["before-processing", "transactional"])
def test_commit_on_revoke_is_refused_with_commits_that_leave_nothing_to_commit(commit):
    assert errors_of(group(commit=commit, commit_on_revoke=True)) == {
        "consumer.commit_on_revoke": 'requires consumer.commit "after-processing" or "auto", '
        f'got "{commit}": nothing processed is left uncommitted to commit'
    }


def test_commit_on_revoke_off_is_accepted_with_every_commit_mode():
    for commit in Commit:
        assert errors_of(group(commit=commit.value, commit_on_revoke=False)) == {}


def test_a_bad_commit_mode_does_not_also_fail_commit_on_revoke():
    assert list(errors_of(group(commit="never", commit_on_revoke=True))) == ["consumer.commit"]


def test_commit_on_revoke_must_be_a_boolean():
    assert errors_of(group(commit_on_revoke="yes")) == {
        "consumer.commit_on_revoke": 'expected true or false, got "yes"'
    }


def test_static_membership_must_be_a_boolean():
    assert errors_of(group(static_membership=1)) == {
        "consumer.static_membership": "expected true or false, got 1"
    }


# --- the member a fault acts on ----------------------------------------------------------------


@pytest.mark.parametrize("kind", MEMBER_FAULT_KINDS)
def test_a_member_fault_may_name_each_member_of_the_group(kind):
    for member in range(3):
        spec = Spec.from_json(with_faults(fault(kind, member=member), members=3))
        assert spec.faults[0].member == member


@pytest.mark.parametrize("kind", MEMBER_FAULT_KINDS)
def test_a_member_fault_naming_a_member_beyond_the_group_is_refused_on_its_member(kind):
    assert errors_of(with_faults(fault(kind, member=3), members=3)) == {
        "faults[0].member": "expected an integer from 0 to 2, got 3"
    }


@pytest.mark.parametrize("member", [-1, 1.0, "0", None, True])
def test_a_member_that_is_not_a_member_number_is_refused(member):
    assert errors_of(with_faults(fault("stall-consumer", member=member))) == {
        "faults[0].member": f"expected an integer from 0 to 0, got {json.dumps(member)}"
    }


def test_the_members_add_consumer_adds_can_be_named_too():
    add = fault("add-consumer")
    document = with_faults(add, add, fault("pause-consumer", member=3), members=2)

    assert Spec.from_json(document).faults[2].member == 3


def test_a_member_beyond_those_added_is_refused_naming_the_fault_it_belongs_to():
    add = fault("add-consumer")
    document = with_faults(
        add, fault("kill-consumer", member=0), add, fault("remove-consumer", member=4), members=2
    )

    assert errors_of(document) == {"faults[3].member": "expected an integer from 0 to 3, got 4"}


def test_an_add_consumer_later_in_the_list_still_counts_for_an_earlier_member_fault():
    document = with_faults(fault("stall-consumer", member=1), fault("add-consumer"))

    assert Spec.from_json(document).faults[0].member == 1


def test_a_member_fault_on_a_bad_group_size_is_checked_only_against_the_largest_group():
    document = with_faults(fault("stall-consumer", member=MAX_MEMBERS - 1), members=9)

    assert errors_of(document) == {"consumer.members": "expected an integer from 1 to 4, got 9"}
    document = with_faults(fault("stall-consumer", member=MAX_MEMBERS), members=9)
    assert set(errors_of(document)) == {"consumer.members", "faults[0].member"}


@pytest.mark.parametrize("kind", MEMBER_FAULT_KINDS)
def test_a_live_member_fault_may_name_any_member_the_group_may_grow_to(kind):
    spec = default_spec()  # one member

    assert read_live_fault({"kind": kind, "member": MAX_MEMBERS - 1}, spec).member == 7
    assert live_errors_of({"kind": kind, "member": MAX_MEMBERS}, spec) == {
        "fault.member": "expected an integer from 0 to 7, got 8"
    }


def test_a_live_member_fault_defaults_to_member_0():
    fault_ = read_live_fault({"kind": "pause-consumer"}, default_spec())

    assert (fault_.member, fault_.seconds, fault_.at) == (0, 5.0, At(now=True))


@pytest.mark.parametrize("kind", ["stall-consumer", "pause-consumer"])
@pytest.mark.parametrize("seconds", [0, 0.05, 600.5, None, "10"])
def test_a_stall_or_pause_lasts_a_tenth_of_a_second_to_ten_minutes(kind, seconds):
    assert errors_of(with_faults(fault(kind, seconds=seconds))) == {
        "faults[0].seconds": f"expected a number from 0.1 to 600, got {json.dumps(seconds)}"
    }


# --- kill-coordinator ------------------------------------------------------------------------


def test_the_group_coordinator_can_always_be_killed():
    spec = Spec.from_json(with_faults(fault("kill-coordinator", coordinator="group")))

    assert spec.faults[0].coordinator == Coordinator.GROUP


def test_killing_the_transaction_coordinator_needs_a_transactional_client():
    assert errors_of(with_faults(fault("kill-coordinator", coordinator="transaction"))) == {
        "faults[0].coordinator": '"transaction" requires producer.transactional true or '
        'consumer.commit "transactional"; expected "group"'
    }


@pytest.mark.parametrize(
    "settings",
    [
        {"producer": TRANSACTIONAL_PRODUCER},
        {"consumer": {"commit": "transactional"}},
        {"pipeline": "kafka-to-kafka", "consumer": {"commit": "transactional"}},
    ],
    ids=["transactional producer", "transactional commits", "kafka-to-kafka"],
)
def test_the_transaction_coordinator_can_be_killed_when_a_client_is_transactional(settings):
    document = settings | {"faults": [fault("kill-coordinator", coordinator="transaction")]}

    assert Spec.from_json(document).faults[0].coordinator == Coordinator.TRANSACTION


def test_an_unknown_coordinator_names_both():
    assert errors_of(with_faults(fault("kill-coordinator", coordinator="controller"))) == {
        "faults[0].coordinator": 'expected one of "group", "transaction", got "controller"'
    }


def test_a_bad_transactional_setting_does_not_also_fail_the_coordinator():
    document = {
        "producer": {"transactional": "yes"},
        "faults": [fault("kill-coordinator", coordinator="transaction")],
    }

    assert list(errors_of(document)) == ["producer.transactional"]


def test_a_live_kill_coordinator_is_checked_against_its_spec():
    assert live_errors_of(
        {"kind": "kill-coordinator", "coordinator": "transaction"}, default_spec()
    ) == {
        "fault.coordinator": '"transaction" requires producer.transactional true or '
        'consumer.commit "transactional"; expected "group"'
    }
    transactional = Spec.from_json({"producer": TRANSACTIONAL_PRODUCER})
    live = read_live_fault(
        {"kind": "kill-coordinator", "coordinator": "transaction"}, transactional
    )
    assert live.coordinator == Coordinator.TRANSACTION


# --- every error names its field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "path"),
    [
        (group(members=0), "consumer.members"),
        (group(group_protocol="eager"), "consumer.group_protocol"),
        (group(assignor="sticky"), "consumer.assignor"),
        (group(group_protocol="consumer", assignor="roundrobin"), "consumer.assignor"),
        (group(max_poll_interval_ms=0), "consumer.max_poll_interval_ms"),
        (
            group(max_poll_interval_ms=1000, session_timeout_ms=2000),
            "consumer.max_poll_interval_ms",
        ),
        (group(session_timeout_ms=500), "consumer.session_timeout_ms"),
        (group(static_membership="on"), "consumer.static_membership"),
        (group(commit_on_revoke=None), "consumer.commit_on_revoke"),
        (group(commit="before-processing", commit_on_revoke=True), "consumer.commit_on_revoke"),
        (group(rebalance_timeout_ms=1000), "consumer.rebalance_timeout_ms"),
        (with_faults(fault("kill-consumer", member=1)), "faults[0].member"),
        (
            with_faults(fault("add-consumer"), fault("remove-consumer", member=2)),
            "faults[1].member",
        ),
        (with_faults(fault("stall-consumer", seconds=0)), "faults[0].seconds"),
        (with_faults(fault("pause-consumer", seconds=None)), "faults[0].seconds"),
        (with_faults(fault("kill-coordinator", coordinator=1)), "faults[0].coordinator"),
        (
            with_faults(fault("kill-coordinator", coordinator="transaction")),
            "faults[0].coordinator",
        ),
    ],
)
def test_every_group_error_names_its_field(document, path):
    assert list(errors_of(document)) == [path]


def test_every_group_error_is_collected():
    document = {
        "consumer": {
            "members": 5,
            "group_protocol": "consumer",
            "assignor": "cooperative-sticky",
            "commit": "transactional",
            "commit_on_revoke": True,
        },
        "faults": [
            fault("pause-consumer", member=MAX_MEMBERS),
            fault("kill-coordinator", coordinator="x"),
        ],
    }

    assert list(errors_of(document)) == [
        "consumer.members",
        "consumer.assignor",
        "consumer.commit_on_revoke",
        "faults[0].member",
        "faults[1].coordinator",
    ]


# --- client properties -------------------------------------------------------------------------


@pytest.mark.parametrize("assignor", ["range", "roundrobin", "cooperative-sticky"])
def test_a_classic_consumer_names_its_assignor_and_its_session_to_the_client(assignor):
    spec = Spec.from_json(
        group(assignor=assignor, session_timeout_ms=9000, max_poll_interval_ms=20_000)
    )

    config = consumer_config(spec)

    assert config["group.protocol"] == "classic"
    assert config["partition.assignment.strategy"] == assignor
    assert config["session.timeout.ms"] == 9000
    assert config["heartbeat.interval.ms"] == 1000
    assert config["max.poll.interval.ms"] == 20_000
    assert "group.remote.assignor" not in config


@pytest.mark.parametrize(("session", "heartbeat"), [(1000, 333), (2400, 800), (6000, 1000)])
def test_a_classic_consumer_heartbeats_three_times_a_session_at_least_once_a_second(
    session, heartbeat
):
    spec = Spec.from_json(group(session_timeout_ms=session))

    assert consumer_config(spec)["heartbeat.interval.ms"] == heartbeat


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_a_consumer_protocol_member_names_the_brokers_assignor_and_leaves_the_session_to_it(
    assignor,
):
    spec = Spec.from_json(
        group(group_protocol="consumer", assignor=assignor, session_timeout_ms=12_000)
    )

    config = consumer_config(spec)

    assert config["group.protocol"] == "consumer"
    assert config["group.remote.assignor"] == assignor
    assert config["max.poll.interval.ms"] == 300_000
    # librdkafka refuses these with group.protocol=consumer: the broker keeps the session.
    assert not {
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "partition.assignment.strategy",
    } & set(config)


def test_the_default_consumer_config_is_the_classic_range_member_of_a_six_second_session():
    config = consumer_config(default_spec())

    assert {key: config[key] for key in GROUP_PROPERTIES if key in config} == {
        "group.protocol": "classic",
        "partition.assignment.strategy": "range",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 300_000,
    }
