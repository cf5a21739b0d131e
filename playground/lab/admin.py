"""What the cluster looks like to a client: brokers it sees, partition leaders, topic creation.

Plain AdminClient calls, usable from any process against any bootstrap list.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from playground.lab import status

EXPERIMENT_REPLICATION_FACTOR = 3
EXPERIMENT_MIN_INSYNC_REPLICAS = 2


@dataclass(frozen=True)
class Leadership:
    """Who leads one partition, who follows, and who is in sync."""

    topic: str
    partition: int
    leader: int  # -1 when the partition has no leader
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def followers(self) -> tuple[int, ...]:
        return tuple(r for r in self.replicas if r != self.leader)


def admin_client(bootstrap_servers: str) -> AdminClient:
    # log_level 2: "connection refused" while a broker is down is expected, not worth a log line.
    return AdminClient(
        {"bootstrap.servers": bootstrap_servers, "socket.timeout.ms": 5000, "log_level": 2}
    )


def visible_broker_ids(bootstrap_servers: str, timeout: float = 3.0) -> set[int]:
    """Ids of the brokers that the cluster's metadata lists as alive right now."""
    metadata = admin_client(bootstrap_servers).list_topics(timeout=timeout)
    return set(metadata.brokers)


def partition_leaderships(bootstrap_servers: str, timeout: float = 5.0) -> list[Leadership]:
    """Leader, replicas and ISR of every partition of every topic, internal ones included."""
    metadata = admin_client(bootstrap_servers).list_topics(timeout=timeout)
    return [
        Leadership(
            topic=name,
            partition=p.id,
            leader=p.leader,
            replicas=tuple(p.replicas),
            isr=tuple(p.isrs),
        )
        for name, topic in sorted(metadata.topics.items())
        for p in sorted(topic.partitions.values(), key=lambda p: p.id)
    ]


def leadership(bootstrap_servers: str, topic: str, partition: int = 0) -> Leadership:
    """Leader and followers of one partition."""
    for found in partition_leaderships(bootstrap_servers):
        if found.topic == topic and found.partition == partition:
            return found
    raise KeyError(f"no partition {topic}-{partition}")


def create_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    partitions: int = 1,
    replication_factor: int = EXPERIMENT_REPLICATION_FACTOR,
    min_insync_replicas: int = EXPERIMENT_MIN_INSYNC_REPLICAS,
    timeout: float = 15.0,
) -> None:
    """Create `topic` and wait until every partition has a leader."""
    new = NewTopic(
        topic,
        num_partitions=partitions,
        replication_factor=replication_factor,
        config={"min.insync.replicas": str(min_insync_replicas)},
    )
    client = admin_client(bootstrap_servers)  # must outlive the future it returns
    future = client.create_topics([new], operation_timeout=timeout)[topic]
    try:
        future.result(timeout=timeout)
    except KafkaException as error:
        raise RuntimeError(f"could not create topic {topic}: {error}") from error
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [lead for lead in partition_leaderships(bootstrap_servers) if lead.topic == topic]
        if len(found) == partitions and all(lead.leader >= 0 for lead in found):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topic {topic} has partitions without a leader after {timeout} s")


def external_status(bootstrap_servers: str, timeout: float = 3.0) -> dict:
    """An external cluster's status (status.external_cluster), with the brokers it lists now."""
    try:
        brokers, error = visible_broker_ids(bootstrap_servers, timeout=timeout), ""
    except Exception as failure:  # noqa: BLE001 - any client error: the cluster is unreachable
        brokers, error = set(), f"cannot reach {bootstrap_servers}: {failure}"
    return status.external_cluster(bootstrap_servers, sorted(brokers), error)
