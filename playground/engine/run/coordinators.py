"""Which broker coordinates an experiment's consumer group, or its transactional producers: the
broker the kill-coordinator fault kills, found by asking Kafka, as kill-leader finds a leader.

A group's coordinator is what the cluster answers to a describe of the group (FindCoordinator,
asked by the admin client; it answers for a group it has never seen too). The admin client has
no such question for a transactional id (no describe-transactions in confluent-kafka 2.16), so
its coordinator is found as the broker finds it: the leader of the partition of
__transaction_state that the id hashes to (TransactionStateManager.partitionFor in Kafka 4.1:
Utils.abs(transactionalId.hashCode()) % the topic's partition count). Groups hash the same way
onto __consumer_offsets (GroupCoordinatorService.partitionFor), which is how the tests check the
hashing against the group's answer.

The partition count is read from the topic's metadata, as the broker reads it (its config only
counts before the topic exists).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Literal

from confluent_kafka import KafkaException

from playground.lab.admin import admin_client, partition_leaderships

Coordinated = Literal["group", "transaction"]
GROUP: Coordinated = "group"
TRANSACTION: Coordinated = "transaction"
# The internal topic whose partition leaders coordinate each kind.
STATE_TOPICS = {GROUP: "__consumer_offsets", TRANSACTION: "__transaction_state"}
ASK_TIMEOUT_SECONDS = 5.0
# librdkafka resolves a request's future with a time-out error at its request_timeout; this much
# later, the request is taken for hung.
ANSWER_GRACE_SECONDS = 2.0

# Admin clients whose request was still in flight when we stopped waiting, kept until it ends: a
# client destroyed with a request in flight can abort the process in librdkafka (see
# experiment_topics._answers).
_in_flight: list[tuple[object, Future]] = []
_in_flight_lock = threading.Lock()


class NoCoordinator(LookupError):
    """Kafka names no live coordinator now: its state topic does not exist yet (no client has
    used a group or a transaction), or the partition has no leader (a failover under way)."""


def coordinator(
    bootstrap_servers: str,
    kind: Coordinated,
    key: str,
    timeout: float = ASK_TIMEOUT_SECONDS,
) -> int:
    """The id of the broker that coordinates the group `key` (kind "group") or the transactional
    id `key` (kind "transaction"), as the cluster says now. Raises NoCoordinator."""
    if kind == GROUP:
        return group_coordinator(bootstrap_servers, key, timeout)
    if kind == TRANSACTION:
        return state_partition_leader(bootstrap_servers, TRANSACTION, key, timeout)
    raise ValueError(f"no coordinator of kind {kind!r}")


def group_coordinator(
    bootstrap_servers: str, group_id: str, timeout: float = ASK_TIMEOUT_SECONDS
) -> int:
    """The broker that coordinates `group_id`, as the describe of the group names it."""
    client = admin_client(bootstrap_servers)
    futures = client.describe_consumer_groups(
        [group_id], include_authorized_operations=False, request_timeout=timeout
    )
    future = futures[group_id]
    try:
        described = future.result(timeout=timeout + ANSWER_GRACE_SECONDS)
    except KafkaException as error:
        raise NoCoordinator(f"no coordinator for group {group_id}: {error}") from error
    except FutureTimeout:
        _keep_until_answered(client, future)
        raise NoCoordinator(f"no answer about group {group_id} within {timeout:.0f} s") from None
    if described.coordinator is None or described.coordinator.id < 0:
        raise NoCoordinator(f"no coordinator for group {group_id}")
    return described.coordinator.id


def _keep_until_answered(client, future: Future) -> None:
    with _in_flight_lock:
        _in_flight[:] = [(c, f) for c, f in _in_flight if not f.done()]
        _in_flight.append((client, future))


def state_partition_leader(
    bootstrap_servers: str, kind: Coordinated, key: str, timeout: float = ASK_TIMEOUT_SECONDS
) -> int:
    """The leader of the partition of `kind`'s state topic that holds `key`: its coordinator."""
    topic = STATE_TOPICS[kind]
    try:
        everything = partition_leaderships(bootstrap_servers, timeout=timeout)
    except KafkaException as error:
        raise NoCoordinator(
            f"no metadata to find the {kind} coordinator of {key}: {error}"
        ) from error
    leaders = {found.partition: found.leader for found in everything if found.topic == topic}
    if not leaders:
        raise NoCoordinator(f"{topic} does not exist yet: no {kind} coordinator for {key}")
    partition = state_partition(key, len(leaders))
    leader = leaders.get(partition, -1)
    if leader < 0:
        raise NoCoordinator(f"{topic}-{partition}, which coordinates {key}, has no leader now")
    return leader


def state_partition(key: str, partitions: int) -> int:
    """The partition of a state topic of `partitions` partitions that holds `key`, as Kafka
    picks it: Utils.abs(key.hashCode()) % partitions, where Utils.abs maps Integer.MIN_VALUE to
    0 (Math.abs would leave it negative)."""
    hashed = java_string_hash(key)
    return (0 if hashed == -(2**31) else abs(hashed)) % partitions


def java_string_hash(text: str) -> int:
    """Java's String.hashCode of `text`: s[0]*31^(n-1) + ... + s[n-1] over its UTF-16 code units
    (a character beyond the BMP counts as its two surrogates), wrapped to a signed 32-bit int."""
    units = text.encode("utf-16-be")
    hashed = 0
    for index in range(0, len(units), 2):
        hashed = (hashed * 31 + int.from_bytes(units[index : index + 2], "big")) & 0xFFFFFFFF
    return hashed - 2**32 if hashed >= 2**31 else hashed
