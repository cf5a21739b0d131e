"""The live page's consumer group (engine/observe/group_watch.py): the child's describe of the
group, each member tied to the experiment's consumer session and member, and the last description
kept, with its age, while the group cannot be described."""

from __future__ import annotations

from pathlib import Path

from playground.engine.naming import CONSUMER, ExperimentNames, member_name
from playground.engine.observe.group_watch import GroupWatch

NAMES = ExperimentNames("abc123", Path("/nonexistent"))


def described(*members: dict) -> dict:
    return {
        "state": "stable",
        "type": "consumer",
        "assignor": "uniform",
        "coordinator": 2,
        "members": list(members),
        "error": "",
    }


def member(client_id: str, partitions: list[int], instance_id: str | None = None) -> dict:
    return {
        "member_id": f"id-{client_id}",
        "client_id": client_id,
        "instance_id": instance_id,
        "host": "/127.0.0.1",
        "partitions": partitions,
        "target": partitions,
    }


def test_nothing_is_known_before_the_first_description():
    state = GroupWatch(NAMES).state()

    assert state["members"] == []
    assert state["age_seconds"] is None
    assert state["error"]


def test_a_static_member_is_known_by_its_instance_id():
    watch = GroupWatch(NAMES)
    watch.take(
        described(
            member(NAMES.client_id(CONSUMER, 4), [0, 1], NAMES.consumer_instance_id(2)),
            member(NAMES.client_id(CONSUMER, 3), [2, 3], NAMES.consumer_instance_id(0)),
        ),
        failure="",
    )

    state = watch.state()

    assert [(m["session"], m["member"], m["partitions"]) for m in state["members"]] == [
        (4, 2, [0, 1]),
        (3, 0, [2, 3]),
    ]
    assert (state["state"], state["type"], state["assignor"], state["coordinator"]) == (
        "stable",
        "consumer",
        "uniform",
        2,
    )
    assert state["error"] == ""
    assert state["age_seconds"] is not None


def test_a_dynamic_member_is_known_by_the_session_its_worker_runs():
    watch = GroupWatch(NAMES)
    watch.sessions({member_name(0): {"session": 0, "pid": 1}, member_name(1): {"session": 2}})
    watch.sessions({"producer": {"session": 0}, member_name(0): {"session": 3}})  # restarted
    watch.take(
        described(
            member(NAMES.client_id(CONSUMER, 2), [1]),
            member(NAMES.client_id(CONSUMER, 3), [0]),
            member(NAMES.client_id(CONSUMER, 9), []),  # not in a snapshot yet
        ),
        failure="",
    )

    members = watch.state()["members"]

    assert [(m["session"], m["member"]) for m in members] == [(2, 1), (3, 0), (9, None)]


def test_a_client_that_is_not_one_of_the_experiments_consumers_has_no_session():
    watch = GroupWatch(NAMES)
    watch.take(described(member("someone-else", [0]), member("exp-abc123-consumer-x", [1])), "")

    assert [(m["session"], m["member"]) for m in watch.state()["members"]] == [
        (None, None),
        (None, None),
    ]


def test_the_last_description_stands_while_the_group_cannot_be_described():
    watch = GroupWatch(NAMES)
    watch.take(described(member(NAMES.client_id(CONSUMER, 0), [0, 1])), failure="")
    watch.take({"error": "its coordinator, broker 2, does not answer", "coordinator": 2}, "")

    state = watch.state()
    assert [m["partitions"] for m in state["members"]] == [[0, 1]]
    assert state["error"] == "its coordinator, broker 2, does not answer"

    watch.take(None, failure="the Kafka client process ended on SIGABRT; a new one answers next")
    assert watch.state()["error"].startswith("the Kafka client process ended")
    watch.take(None, failure="")
    assert watch.state()["error"] == "the group was not described in time"

    watch.take(described(), failure="")  # described again: the group is empty now
    assert watch.state()["members"] == []
    assert watch.state()["error"] == ""
