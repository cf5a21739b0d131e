"""An experiment's topics and group in the cluster: deleted after its audit, however the cluster
is, in bounded time, and in a child process, so a native abort costs only the deletion."""

from __future__ import annotations

import sys
import time
import uuid
from concurrent.futures import Future
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition

from playground.engine.naming import ExperimentNames
from playground.engine.run import apart, experiment_topics
from playground.engine.run.clusters import Target
from playground.lab.admin import admin_client, create_topic
from tests.engine.experiments import build_spec, run_experiment


def cluster_names(servers: str) -> set[str]:
    """Every topic and consumer group the cluster lists now."""
    client = admin_client(servers)
    topics = set(client.list_topics(timeout=10).topics)
    groups = client.list_consumer_groups(request_timeout=10).result(timeout=10).valid
    return topics | {group.group_id for group in groups}


def owned_by(run_id: str, names: set[str]) -> set[str]:
    return {name for name in names if name.startswith(f"exp-{run_id}-")}


# -- the cluster --------------------------------------------------------------------------------
def test_an_audited_experiment_leaves_no_topic_or_group_after_its_deletion(lab):
    spec = build_spec(
        pipeline="kafka-to-kafka",
        workload={"records": 60},
        producer={"acks": "all", "enable_idempotence": True, "transactional": True},
        consumer={"commit": "transactional", "isolation_level": "read_committed"},
    )
    _result, conductor = run_experiment(lab, spec)
    run_id = conductor.names.experiment_id
    servers = lab.direct_bootstrap_servers()
    assert owned_by(run_id, cluster_names(servers)) == {
        f"exp-{run_id}-orders",
        f"exp-{run_id}-totals",
        f"exp-{run_id}-group",
    }

    started = time.monotonic()
    assert experiment_topics.delete_experiment(servers, run_id) == []
    assert time.monotonic() - started < experiment_topics.DELETE_TIMEOUT_SECONDS + 1
    assert owned_by(run_id, cluster_names(servers)) == set()


def test_deleting_the_topics_of_an_experiment_that_has_none_is_no_problem(lab):
    assert (
        experiment_topics.delete_experiment(lab.direct_bootstrap_servers(), uuid.uuid4().hex[:12])
        == []
    )


def test_an_unreachable_cluster_is_a_problem_returned_in_bounded_time():
    started = time.monotonic()
    problems = experiment_topics.delete_experiment("127.0.0.1:9", "abc123", timeout=2)
    assert problems and all(isinstance(problem, str) for problem in problems)
    assert time.monotonic() - started < 6


def empty_group_with_offsets(servers: str, group: str, topic: str) -> None:
    """A consumer group that committed an offset and has no member left (as an audited run's)."""
    consumer = Consumer({"bootstrap.servers": servers, "group.id": group, "log_level": 2})
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    consumer.close()


def test_a_group_whose_coordinator_broker_was_just_killed_is_deleted_once_the_cluster_answers(
    healthy_lab,
):
    servers = healthy_lab.direct_bootstrap_servers()
    run_id = uuid.uuid4().hex[:12]
    names = ExperimentNames(run_id, Path())
    create_topic(servers, names.input_topic)
    empty_group_with_offsets(servers, names.group_id, names.input_topic)
    client = admin_client(servers)  # must outlive its request
    described = client.describe_consumer_groups([names.group_id], request_timeout=10)
    coordinator = described[names.group_id].result(timeout=15).coordinator.id
    healthy_lab.kill(coordinator)

    started = time.monotonic()
    problems = experiment_topics.delete_experiment(servers, run_id)

    assert problems == []
    assert time.monotonic() - started < experiment_topics.DELETE_TIMEOUT_SECONDS
    assert owned_by(run_id, cluster_names(servers)) == set()


def test_a_request_still_open_after_its_timeout_keeps_its_admin_client_alive(monkeypatch):
    monkeypatch.setattr(experiment_topics, "ANSWER_GRACE_SECONDS", 0.05)
    monkeypatch.setattr(experiment_topics, "_in_flight", [])
    client, unanswered = object(), Future()

    outcomes = experiment_topics._answers(client, {"exp-x-group": unanswered}, seconds=0.05)

    assert outcomes["exp-x-group"].code() == KafkaError._TIMED_OUT
    assert experiment_topics._in_flight == [(client, [unanswered])]  # never destroyed in flight
    unanswered.set_result(None)
    experiment_topics._answers(object(), {"other": Future()}, seconds=0.05)
    assert [kept for kept, _ in experiment_topics._in_flight] != [client]  # let go once answered


# -- in a child process ---------------------------------------------------------------------------
def test_the_child_deletes_an_experiments_topics(lab):
    run_id = uuid.uuid4().hex[:12]
    servers = Target.managed(lab).direct_bootstrap_servers
    create_topic(servers, f"exp-{run_id}-orders")

    problems = experiment_topics.delete_apart(servers, run_id, timeout=30)

    assert problems == []
    assert f"exp-{run_id}-orders" not in admin_client(servers).list_topics(timeout=10).topics


def test_the_child_lists_the_clusters_topics_and_groups(lab):
    servers = Target.managed(lab).direct_bootstrap_servers
    run_id = uuid.uuid4().hex[:12]
    names = ExperimentNames(run_id, Path())
    create_topic(servers, names.input_topic)
    empty_group_with_offsets(servers, names.group_id, names.input_topic)
    try:
        topics, groups = experiment_topics.list_apart(servers)
        assert names.input_topic in topics and names.group_id in groups
    finally:
        experiment_topics.delete_experiment(servers, run_id)


def test_a_child_that_aborts_costs_only_the_deletion(monkeypatch):
    aborting = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"]
    monkeypatch.setattr(apart, "child_command", lambda *args: aborting)

    problems = experiment_topics.delete_apart("127.0.0.1:1", "abc", timeout=5)

    assert len(problems) == 1
    assert "SIGABRT" in problems[0]
