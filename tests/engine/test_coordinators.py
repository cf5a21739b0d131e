"""Finding the broker that coordinates a group or a transactional id (engine/run/coordinators.py),
checked against what Kafka itself answers: the group's describe, and the FindCoordinator answers
that the group's member and a transactional producer log; and again after that broker is killed
and the coordination moves."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from confluent_kafka import Consumer, Producer

from playground.engine.run import coordinators
from playground.engine.run.coordinators import GROUP, TRANSACTION
from playground.lab.admin import admin_client, create_topic

# String.hashCode and Utils.abs(hashCode) % 3 and % 50 as Kafka 4.1.1's JVM computed them.
JAVA_HASHES = [
    ("", 0, 0, 0),
    ("a", 97, 1, 47),
    ("exp-1a2b3c4d-group", 190353954, 0, 4),
    ("exp-1a2b3c4d-txn-consumer-0", -919334119, 1, 19),
    ("exp-zzzz-payments-tx", -1760250105, 0, 5),
    ("polygenelubricants", -(2**31), 0, 0),  # Integer.MIN_VALUE: Utils.abs makes it 0
    ("éclair-😀-txn", 90762613, 1, 13),  # beyond the BMP: two UTF-16 units
]
FAILOVER_SECONDS = 30.0
# What librdkafka logs (debug "cgrp", "eos") when FindCoordinator names a coordinator.
GROUP_ANSWER = re.compile(r"coordinator is \S+ id (\d+)")
TRANSACTION_ANSWER = re.compile(r"Transaction coordinator is broker (\d+)")


@pytest.mark.parametrize(("key", "hashed", "of_3", "of_50"), JAVA_HASHES)
def test_a_key_hashes_to_the_partition_kafka_picks(key, hashed, of_3, of_50):
    assert coordinators.java_string_hash(key) == hashed
    assert coordinators.state_partition(key, 3) == of_3
    assert coordinators.state_partition(key, 50) == of_50


def test_an_unknown_kind_of_coordinator_is_refused():
    with pytest.raises(ValueError, match="no coordinator of kind"):
        coordinators.coordinator("127.0.0.1:1", "cluster", "key")


def metadata(topic: str, leaders: list[int], error=None) -> SimpleNamespace:
    """A ClusterMetadata as list_topics gives it, with one topic of these partition leaders."""
    partitions = {p: SimpleNamespace(id=p, leader=leader) for p, leader in enumerate(leaders)}
    found = SimpleNamespace(topic=topic, partitions=partitions, error=error)
    return SimpleNamespace(topics={topic: found})


def test_the_coordinator_is_the_leader_of_the_partition_the_key_hashes_to():
    key = "exp-1a2b3c4d-txn-consumer-0"  # partition 1 of 3 (JAVA_HASHES)
    found = metadata("__transaction_state", [3, 1, 2])

    assert coordinators.leader_in(found, TRANSACTION, key) == 1
    assert coordinators.leader_in(metadata("__consumer_offsets", [3, -1, 2]), GROUP, key) == -1


def test_no_coordinator_where_the_state_topic_is_not_listed():
    assert coordinators.leader_in(metadata("orders", [1]), GROUP, "g") is None
    unknown = metadata("__consumer_offsets", [], error="UNKNOWN_TOPIC_OR_PART")
    assert coordinators.leader_in(unknown, GROUP, "g") is None


def test_a_port_nobody_listens_on_does_not_answer():
    with socket.socket() as vacant:
        vacant.bind(("127.0.0.1", 0))
        port = vacant.getsockname()[1]  # closed again before the probe
    assert not coordinators.answers("127.0.0.1", port, timeout=0.5)


def test_a_listener_that_never_replies_does_not_answer():
    """A frozen broker: the kernel accepts the connection, nobody reads the request."""
    with socket.socket() as frozen:
        frozen.bind(("127.0.0.1", 0))
        frozen.listen()
        started = time.monotonic()
        assert not coordinators.answers("127.0.0.1", frozen.getsockname()[1], timeout=0.3)
    assert time.monotonic() - started < 2.0


class FindCoordinatorLog(logging.Handler):
    """The coordinators a client's FindCoordinator answers named, in order, from its debug log."""

    def __init__(self, answer: re.Pattern) -> None:
        super().__init__()
        self.answer = answer
        self.named: list[int] = []
        self.guard = threading.Lock()  # not `lock`: Handler holds its own around emit()

    def emit(self, record: logging.LogRecord) -> None:
        found = self.answer.search(record.getMessage())
        if found:
            with self.guard:
                self.named.append(int(found.group(1)))

    def last(self) -> int | None:
        with self.guard:
            return self.named[-1] if self.named else None

    def logger(self, name: str) -> logging.Logger:
        logger = logging.getLogger(f"test-coordinators-{name}")
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        return logger


def transactional_producer(lab, transactional_id: str) -> tuple[Producer, FindCoordinatorLog]:
    heard = FindCoordinatorLog(TRANSACTION_ANSWER)
    producer = Producer(
        {
            "bootstrap.servers": lab.bootstrap_servers(),
            "transactional.id": transactional_id,
            "debug": "eos",
            "logger": heard.logger(transactional_id),
        }
    )
    producer.init_transactions(60)
    return producer, heard


def write_one_transaction(producer: Producer, topic: str) -> None:
    producer.begin_transaction()
    producer.produce(topic, b"order")
    producer.commit_transaction(60)


def group_member(lab, group: str, topic: str) -> tuple[Consumer, FindCoordinatorLog]:
    """A member of `group`, subscribed to `topic`, with its partitions."""
    heard = FindCoordinatorLog(GROUP_ANSWER)
    member = Consumer(
        {
            "bootstrap.servers": lab.bootstrap_servers(),
            "group.id": group,
            "debug": "cgrp",
            "logger": heard.logger(group),
        }
    )
    member.subscribe([topic])
    deadline = time.monotonic() + 30
    while not member.assignment() and time.monotonic() < deadline:
        member.poll(0.1)
    assert member.assignment(), "the member never got its partitions"
    return member, heard


def described_coordinator(lab, group: str) -> int:
    """The coordinator the group's describe names (asked only while every broker is up: see
    coordinators' docstring)."""
    client = admin_client(lab.direct_bootstrap_servers())
    futures = client.describe_consumer_groups([group], include_authorized_operations=False)
    return futures[group].result(timeout=15).coordinator.id


def moved_from(old: int, heard: FindCoordinatorLog, keep_going=lambda: None) -> int:
    """The coordinator a client is told of once it is no longer `old` (the failover done);
    `keep_going` lets the client work meanwhile."""
    deadline = time.monotonic() + FAILOVER_SECONDS
    while time.monotonic() < deadline:
        keep_going()
        if heard.last() not in (None, old):
            return heard.last()
        time.sleep(0.1)
    raise AssertionError(f"the client was still sent to broker {old} after {FAILOVER_SECONDS} s")


def test_a_group_coordinator_is_the_one_the_group_describe_and_its_member_name(lab, topic_name):
    create_topic(lab.direct_bootstrap_servers(), topic_name, partitions=2)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    member, heard = group_member(lab, group, topic_name)
    try:
        found = coordinators.coordinator(lab.direct_bootstrap_servers(), GROUP, group)

        assert found in (1, 2, 3)
        assert found == described_coordinator(lab, group)
        assert found == heard.last()
    finally:
        member.close()


def test_a_group_the_cluster_never_saw_has_a_coordinator_too(lab):
    group = f"test-group-{uuid.uuid4().hex[:8]}"

    found = coordinators.coordinator(lab.direct_bootstrap_servers(), GROUP, group)

    assert found == described_coordinator(lab, group)


def test_a_transaction_coordinator_is_the_one_the_producer_is_told(lab, topic_name):
    create_topic(lab.direct_bootstrap_servers(), topic_name)
    transactional_id = f"test-tx-{uuid.uuid4().hex[:8]}"
    producer, heard = transactional_producer(lab, transactional_id)
    write_one_transaction(producer, topic_name)

    found = coordinators.coordinator(lab.direct_bootstrap_servers(), TRANSACTION, transactional_id)

    assert heard.last() is not None
    assert found == heard.last()


def test_a_live_broker_answers(lab):
    metadata = admin_client(lab.direct_bootstrap_servers()).list_topics(timeout=10)

    for broker in metadata.brokers.values():
        assert coordinators.answers(broker.host, broker.port, timeout=2.0)


def test_killing_the_group_coordinator_sends_the_member_to_the_new_one(healthy_lab, topic_name):
    lab = healthy_lab
    create_topic(lab.direct_bootstrap_servers(), topic_name, partitions=2)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    member, heard = group_member(lab, group, topic_name)
    try:
        killed = coordinators.coordinator(lab.direct_bootstrap_servers(), GROUP, group)
        assert killed == heard.last()

        lab.kill(killed)
        moved = moved_from(killed, heard, keep_going=lambda: member.poll(0.1))

        assert moved == coordinators.coordinator(lab.direct_bootstrap_servers(), GROUP, group)
    finally:
        member.close()


def test_killing_the_transaction_coordinator_sends_the_producer_to_the_new_one(
    healthy_lab, topic_name
):
    lab = healthy_lab
    create_topic(lab.direct_bootstrap_servers(), topic_name)
    transactional_id = f"test-tx-{uuid.uuid4().hex[:8]}"
    producer, heard = transactional_producer(lab, transactional_id)
    write_one_transaction(producer, topic_name)
    servers = lab.direct_bootstrap_servers()
    killed = coordinators.coordinator(servers, TRANSACTION, transactional_id)
    assert killed == heard.last()

    lab.kill(killed)
    write_one_transaction(producer, topic_name)  # finds its coordinator again
    moved = moved_from(killed, heard)

    assert moved == coordinators.coordinator(servers, TRANSACTION, transactional_id)


def test_a_frozen_coordinator_does_not_answer(healthy_lab):
    lab = healthy_lab
    metadata = admin_client(lab.direct_bootstrap_servers()).list_topics(timeout=10)
    broker = metadata.brokers[1]

    lab.pause(1)

    assert not coordinators.answers(broker.host, broker.port, timeout=0.5)
