"""Which broker coordinates an experiment's consumer group, or its transactional producers: the
broker the kill-coordinator fault kills, found by asking Kafka, as kill-leader finds a leader.

A coordinator is the leader of one partition of an internal topic: the partition the group id or
transactional id hashes to, Utils.abs(key.hashCode()) % the topic's partition count, in
__consumer_offsets for a group (GroupCoordinatorService.partitionFor in Kafka 4.1) and in
__transaction_state for a transactional id (TransactionStateManager.partitionFor). The leader is
asked of the cluster's metadata, and the partition count too, as the broker counts it.

Why not the admin client's describe of the group, which names the coordinator? confluent-kafka
2.16 has no such question for a transactional id; and any admin request aimed at a group's
coordinator (describe, list offsets) aborts the whole process, now and then, when that
coordinator dies or freezes under it (librdkafka issue 4605, "rd_kafka_enq_once_del_source_return:
Assertion `eonce->refcnt > 0' failed"): here 5 times in 5 when a broker was killed during a
describe every second. The metadata request cannot, and the runner's process, which fires the
faults, holds every experiment it runs. The tests check the hashing against what Kafka answers.

`answers` serves those that must describe a group all the same (the live page's members): it
tells whether a broker answers a Kafka request at all, so that a dead or frozen coordinator is
not asked.
"""

from __future__ import annotations

import socket
import struct
from typing import Literal

from confluent_kafka import KafkaException

from playground.lab.admin import admin_client

Coordinated = Literal["group", "transaction"]
GROUP: Coordinated = "group"
TRANSACTION: Coordinated = "transaction"
# The internal topic whose partition leaders coordinate each kind.
STATE_TOPICS = {GROUP: "__consumer_offsets", TRANSACTION: "__transaction_state"}
ASK_TIMEOUT_SECONDS = 5.0
# ApiVersions v0 (api key 18), the one request every broker answers before any other.
_API_VERSIONS_KEY, _PROBE_CORRELATION_ID = 18, 0x0C00D
_PROBE_CLIENT_ID = b"playground-coordinator-probe"
_REQUEST_HEADER = struct.Struct(">hhih")


class NoCoordinator(LookupError):
    """Kafka names no live coordinator now: its state topic does not exist yet (no client has
    used a group or a transaction), the partition has no leader (a failover under way), or the
    metadata did not come."""


def coordinator(
    bootstrap_servers: str,
    kind: Coordinated,
    key: str,
    timeout: float = ASK_TIMEOUT_SECONDS,
) -> int:
    """The id of the broker that coordinates the group `key` (kind "group") or the transactional
    id `key` (kind "transaction"), as the cluster's metadata says now. Raises NoCoordinator.
    (Asking the metadata of a state topic that does not exist yet does not create it: checked on
    Kafka 4.1.)"""
    if kind not in STATE_TOPICS:
        raise ValueError(f"no coordinator of kind {kind!r}")
    try:
        metadata = admin_client(bootstrap_servers).list_topics(STATE_TOPICS[kind], timeout=timeout)
    except KafkaException as error:
        raise NoCoordinator(
            f"no metadata to find the {kind} coordinator of {key}: {error}"
        ) from error
    leader = leader_in(metadata, kind, key)
    if leader is None:
        raise NoCoordinator(f"{STATE_TOPICS[kind]} does not exist yet: no {kind} coordinator")
    if leader < 0:
        raise NoCoordinator(f"the partition of {STATE_TOPICS[kind]} that holds {key} has no leader")
    return leader


def leader_in(metadata, kind: Coordinated, key: str) -> int | None:
    """The coordinator of `key` in a ClusterMetadata (AdminClient.list_topics) that lists
    `kind`'s state topic: the leader of its partition, -1 when it has none, None when the
    metadata does not list the topic."""
    found = metadata.topics.get(STATE_TOPICS[kind])
    if found is None or found.error is not None or not found.partitions:
        return None
    partition = found.partitions.get(state_partition(key, len(found.partitions)))
    return -1 if partition is None else partition.leader


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


def answers(host: str, port: int, timeout: float) -> bool:
    """Whether the broker at host:port answers a Kafka request (ApiVersions), on a connection of
    its own, each step (connect, answer) within `timeout` seconds: False for a dead broker
    (refused) and for a frozen one (the connection opens, as the kernel accepts it, but no answer
    comes)."""
    body = (
        _REQUEST_HEADER.pack(_API_VERSIONS_KEY, 0, _PROBE_CORRELATION_ID, len(_PROBE_CLIENT_ID))
        + _PROBE_CLIENT_ID
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            connection.sendall(len(body).to_bytes(4, "big") + body)
            reply = b""
            while len(reply) < 8:
                chunk = connection.recv(8 - len(reply))
                if not chunk:
                    return False
                reply += chunk
    except OSError:
        return False
    return int.from_bytes(reply[4:8], "big") == _PROBE_CORRELATION_ID
