"""A consumer group of several members on the real cluster: members share the partitions, each
record names the member that handled it, and a member stalled past max.poll.interval.ms wakes up
as a zombie whose work is a duplicate, skipped by the idempotent consumer, or fenced in a
transaction. Every count comes from the audit of the run's three records."""

from __future__ import annotations

import pytest

from playground.engine.formats import group_log, ledger
from playground.engine.naming import member_name
from tests.engine.experiments import build_spec, run_experiment

# A stall long enough for the group to move the member's partitions on: past its poll interval.
POLL_INTERVAL_MS = 3000
STALL_SECONDS = 7.0


def group_spec(**sections):
    """Two members sharing four partitions, at a steady rate, so records keep arriving while the
    group rebalances."""
    base = {
        "workload": {"records": 400, "rate": 100, "partitions": 4},
        "consumer": {
            "members": 2,
            "batch_size": 5,
            "session_timeout_ms": 2000,
            "max_poll_interval_ms": POLL_INTERVAL_MS,
        },
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return build_spec(**base)


def stall(member: int = 0, at: int = 100) -> list[dict]:
    return [
        {
            "kind": "stall-consumer",
            "member": member,
            "seconds": STALL_SECONDS,
            "at": {"records": at},
        }
    ]


def test_members_share_the_partitions_and_each_charge_names_its_member(lab):
    result, conductor = run_experiment(lab, group_spec())

    audit = result["audit"]
    assert audit["delivered"] == 400
    assert audit["lost"] == 0
    runs = list(ledger.read(conductor.names.sink))
    assert {run.member for run in runs} == {0, 1}
    assert all(run.generation >= 0 for run in runs)
    events = list(group_log.read(conductor.names.group_log))
    assigned = {e.member for e in events if e.event == group_log.ASSIGNED and e.partitions}
    assert assigned == {0, 1}
    assert (conductor.names.root / f"{member_name(1)}.log").exists()


def test_a_member_stalled_past_its_poll_interval_makes_duplicates_with_after_processing(lab):
    result, conductor = run_experiment(
        lab, group_spec(consumer={"commit": "after-processing"}, faults=stall())
    )

    audit = result["audit"]
    assert audit["lost"] == 0
    assert audit["duplicated_by_consumer"] > 0
    # The stalled member's batch: handled again by the new owner (a rebalance), or finished by
    # the stalled member after its partitions had moved (a zombie); never a crash.
    assert audit["duplicated_by_rebalance"] + audit["duplicated_by_zombie"] > 0
    assert audit["duplicated_by_crash"] == 0
    assert audit["rebalances"], "the group moved the stalled member's partitions"
    events = list(group_log.read(conductor.names.group_log))
    refused = [e for e in events if e.event == group_log.COMMIT_REFUSED and e.member == 0]
    assert refused, "the zombie's commit should have been refused by the group"


def test_the_idempotent_consumer_absorbs_a_stalled_members_zombie_work(lab):
    result, _ = run_experiment(
        lab,
        group_spec(consumer={"commit": "after-processing", "idempotent": True}, faults=stall()),
    )

    audit = result["audit"]
    assert (audit["lost"], audit["duplicated"]) == (0, 0)
    assert audit["deduplicated"] > 0
    assert result["observed_semantic"] == "exactly-once"


def test_a_transactional_zombie_is_fenced_in_kafka_to_kafka(lab):
    result, conductor = run_experiment(
        lab,
        group_spec(
            pipeline="kafka-to-kafka",
            producer={"enable_idempotence": True},
            consumer={"commit": "transactional"},
            faults=stall(),
        ),
    )

    audit = result["audit"]
    assert (audit["lost"], audit["duplicated"]) == (0, 0)
    assert result["observed_semantic"] == "exactly-once"
    events = list(group_log.read(conductor.names.group_log))
    assert any(e.event == group_log.COMMIT_REFUSED and e.member == 0 for e in events)


@pytest.mark.parametrize(
    "protocol, assignor", [("classic", "cooperative-sticky"), ("consumer", "uniform")]
)
def test_a_member_added_and_one_removed_leave_nothing_lost(lab, protocol, assignor):
    result, conductor = run_experiment(
        lab,
        group_spec(
            consumer={"group_protocol": protocol, "assignor": assignor, "static_membership": False},
            faults=[
                {"kind": "add-consumer", "at": {"records": 100}},
                {"kind": "remove-consumer", "member": 0, "at": {"records": 250}},
            ],
        ),
    )

    audit = result["audit"]
    assert audit["lost"] == 0
    assert audit["delivered"] == 400
    runs = list(ledger.read(conductor.names.sink))
    assert 2 in {run.member for run in runs}


def test_a_member_frozen_past_its_session_is_fenced_in_kafka_to_kafka(lab):
    result, _ = run_experiment(
        lab,
        group_spec(
            pipeline="kafka-to-kafka",
            producer={"enable_idempotence": True},
            consumer={"commit": "transactional"},
            faults=[{"kind": "pause-consumer", "member": 1, "seconds": 5, "at": {"records": 100}}],
        ),
    )

    audit = result["audit"]
    assert (audit["lost"], audit["duplicated"]) == (0, 0)
    details = [event["detail"] for event in result["timeline"]]
    assert any("consumer-1 paused (SIGSTOP)" in detail for detail in details)
    assert any("consumer-1 carries on (SIGCONT)" in detail for detail in details)


def test_killing_the_groups_coordinator_loses_nothing(lab):
    result, _ = run_experiment(
        lab,
        group_spec(
            faults=[{"kind": "kill-coordinator", "coordinator": "group", "at": {"records": 150}}]
        ),
    )

    assert result["audit"]["lost"] == 0
    details = [event["detail"] for event in result["timeline"]]
    assert any("coordinator of group" in detail for detail in details)


def test_a_fault_on_a_member_that_never_runs_makes_the_run_invalid_with_the_reason(lab):
    from tests.engine.experiments import conductor_for

    spec = group_spec(
        consumer={"members": 1},
        faults=[
            {"kind": "stall-consumer", "member": 1, "seconds": 1, "at": {"seconds": 0.5}},
            {"kind": "add-consumer", "at": {"seconds": 30}},
        ],
    )
    result = conductor_for(lab, spec).run()

    assert not result["valid"]
    assert result["observed_semantic"] is None
    messages = " ".join(problem["message"] for problem in result["problems"])
    assert "consumer-1" in messages


@pytest.mark.parametrize(
    "name, observed",
    [
        ("notification-service-group", "at-least-once"),
        ("payment-service-group", "exactly-once"),
        ("payments-aggregation-group", "exactly-once"),
    ],
)
def test_the_group_presets_show_what_they_advertise(lab, name, observed):
    from playground.engine.spec.presets import preset

    result, _ = run_experiment(lab, preset(name).spec)

    audit = result["audit"]
    assert result["observed_semantic"] == observed
    assert audit["lost"] == 0
    if observed == "at-least-once":
        assert audit["duplicated_by_rebalance"] + audit["duplicated_by_zombie"] > 0
