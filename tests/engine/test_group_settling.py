"""The watch on the consumer group's settling (engine/run/group_settling.py): a partition the group
leaves without a member longer than the spec's limit, and a running member the group never gives an
assignment, are problems of the run, each reported once; a group held still by a fault, or with
nobody running, is not. Pure logic on a written group log: no cluster."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from playground.engine.formats import group_log
from playground.engine.naming import ExperimentNames, member_name
from playground.engine.run.group_settling import (
    GroupSettling,
    group_event_words,
    settle_limit_seconds,
)
from playground.engine.spec.model import Spec

LIMIT = 1 + 1 + 10  # max poll 1 s + session 1 s + the slack


@dataclass
class FakeWorker:
    name: str
    session: int
    created: float = 0.0
    stalled: bool = False
    paused: bool = False


@pytest.fixture
def names(tmp_path) -> ExperimentNames:
    names = ExperimentNames("settle", tmp_path / "runs")
    names.root.mkdir(parents=True)
    return names


def spec(partitions: int = 2, members: int = 2) -> Spec:
    return Spec.from_json({
        "workload": {"records": 100, "partitions": partitions},
        "consumer": {
            "members": members, "max_poll_interval_ms": 1000, "session_timeout_ms": 1000,
            "group_protocol": "consumer", "assignor": "uniform",
        },
    })  # fmt: skip


def write(names, member, session, event, partitions, at_ms=0):
    log = group_log.GroupLog(names.group_log, member=member, session=session)
    log.write(event, partitions, generation=1, at_ms=at_ms)
    log.close()


def workers(*members: int, session: int = 1) -> list[FakeWorker]:
    return [FakeWorker(member_name(m), session) for m in members]


def test_the_limit_is_the_poll_interval_and_the_session_timeout_and_a_slack():
    assert settle_limit_seconds(spec()) == LIMIT


def test_a_partition_without_a_member_past_the_limit_is_reported_once(names):
    watch = GroupSettling(spec(), names)
    write(names, 0, 1, group_log.ASSIGNED, [0, 1])
    write(names, 1, 1, group_log.ASSIGNED, [])
    assert watch.check(0.0, workers(0, 1), quiet_until=0) == []
    write(names, 0, 1, group_log.REVOKED, [1])
    assert watch.check(1.0, workers(0, 1), quiet_until=0) == []
    assert watch.check(1.0 + LIMIT - 0.5, workers(0, 1), quiet_until=0) == []

    problems = watch.check(1.0 + LIMIT + 0.5, workers(0, 1), quiet_until=0)

    assert [p.message for p in problems] == [
        "a rebalance never settled: partition 1 of the input topic had no member for more than "
        "12 s, the spec's limit: consumer.max_poll_interval_ms 1000 + "
        "consumer.session_timeout_ms 1000 + 10 s"
    ]
    assert watch.check(100.0, workers(0, 1), quiet_until=0) == []


def test_a_partition_given_again_in_time_is_no_problem(names):
    watch = GroupSettling(spec(), names)
    write(names, 0, 1, group_log.ASSIGNED, [0, 1])
    write(names, 1, 1, group_log.ASSIGNED, [])
    write(names, 0, 1, group_log.REVOKED, [1])
    watch.check(0.0, workers(0, 1), quiet_until=0)
    write(names, 1, 1, group_log.ASSIGNED, [1])

    assert watch.check(LIMIT + 5, workers(0, 1), quiet_until=0) == []


def test_the_clock_stops_while_nobody_runs_a_member_is_stalled_or_a_fault_plays_out(names):
    watch = GroupSettling(spec(), names)
    write(names, 0, 1, group_log.ASSIGNED, [0, 1])
    write(names, 0, 1, group_log.LEFT, [0, 1])
    assert watch.check(0.0, [], quiet_until=0) == []
    assert watch.check(LIMIT + 5, [], quiet_until=0) == []  # every member was removed
    stalled = [FakeWorker(member_name(1), 1, stalled=True)]
    assert watch.check(2 * LIMIT, stalled, quiet_until=0) == []
    assert watch.check(3 * LIMIT, workers(1), quiet_until=4 * LIMIT) == []
    write(names, 1, 1, group_log.ASSIGNED, [0, 1])

    assert watch.check(5 * LIMIT, workers(1), quiet_until=0) == []


def test_a_member_never_given_an_assignment_could_not_join(names):
    watch = GroupSettling(spec(), names)
    write(names, 0, 1, group_log.ASSIGNED, [0, 1])
    late = FakeWorker(member_name(1), 1, created=0.0)
    assert watch.check(LIMIT - 1, [*workers(0), late], quiet_until=0) == []

    problems = watch.check(LIMIT + 1, [*workers(0), late], quiet_until=0)

    assert [p.message for p in problems] == [
        "the consumer-1 could not join the group: the group gave it no assignment in more than "
        "12 s, the spec's limit: consumer.max_poll_interval_ms 1000 + "
        "consumer.session_timeout_ms 1000 + 10 s"
    ]


def test_sessions_that_never_join_add_up_and_a_join_starts_the_clock_again(names):
    watch = GroupSettling(spec(), names)
    write(names, 0, 1, group_log.ASSIGNED, [0, 1])
    assert watch.check(1.0, [*workers(0), FakeWorker(member_name(1), 1)], quiet_until=0) == []
    # A new session of the same member (the first one ended without joining) keeps waiting.
    second = FakeWorker(member_name(1), 2, created=LIMIT - 2)
    assert watch.check(LIMIT - 1, [*workers(0), second], quiet_until=0) == []
    assert len(watch.check(LIMIT + 1, [*workers(0), second], quiet_until=0)) == 1

    other = GroupSettling(spec(), names)
    write(names, 1, 3, group_log.ASSIGNED, [1])
    assert other.check(0.0, [*workers(0), FakeWorker(member_name(1), 3)], quiet_until=0) == []
    fourth = FakeWorker(member_name(1), 4, created=LIMIT)
    assert other.check(2 * LIMIT - 1, [*workers(0), fourth], quiet_until=0) == []


def test_no_join_is_asked_of_a_group_with_more_members_than_partitions(names):
    watch = GroupSettling(spec(partitions=1, members=2), names)
    write(names, 0, 1, group_log.ASSIGNED, [0])

    assert watch.check(LIMIT * 3, workers(0, 1), quiet_until=0) == []


def event(member, event_kind, partitions, generation=3):
    return group_log.GroupEvent(member, 1, generation, event_kind, tuple(partitions), 0)


WORDS = [
    (
        event(1, group_log.ASSIGNED, [2, 3]),
        "the group gave consumer-1 partitions 2, 3 (generation 3)",
    ),
    (event(0, group_log.ASSIGNED, []), "the group gave consumer no partitions (generation 3)"),
    (
        event(2, group_log.REVOKED, [4]),
        "the group took partition 4 back from consumer-2 (a rebalance)",
    ),
    (event(2, group_log.REVOKED, []), None),
    (
        event(1, group_log.LOST, [0]),
        "consumer-1 found partition 0 lost: its session or poll interval had run out",
    ),
    (
        event(1, group_log.COMMIT_REFUSED, [0, 1]),
        "the group refused consumer-1's commit of partitions 0, 1: it no longer owned them",
    ),
    (event(3, group_log.LEFT, [5]), "consumer-3 left the group, giving back partition 5"),
    (event(3, group_log.LEFT, [], generation=-1), "consumer-3 left the group"),
]


@pytest.mark.parametrize(("line", "words"), WORDS)
def test_each_group_event_in_the_timeline_words(line, words):
    assert group_event_words(line) == words


def test_every_event_read_is_handed_on(names):
    seen = []
    watch = GroupSettling(spec(), names, on_event=seen.append)
    write(names, 0, 1, group_log.ASSIGNED, [0, 1], at_ms=5)
    watch.check(0.0, workers(0), quiet_until=0)
    write(names, 0, 1, group_log.REVOKED, [1], at_ms=6)
    watch.check(0.1, workers(0), quiet_until=0)

    assert [(e.event, e.partitions, e.at_ms) for e in seen] == [
        (group_log.ASSIGNED, (0, 1), 5),
        (group_log.REVOKED, (1,), 6),
    ]
