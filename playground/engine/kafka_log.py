"""The second raw record: what Kafka itself holds, read from offset 0 after the run.

Every partition is read twice, read_uncommitted and read_committed; a record seen only by the first
belongs to an aborted transaction. The reads use the lab's direct listener, so no proxy fault can
hide a record from the audit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, TopicPartition

from playground.engine.records import Effect, LogCopy

READ_TIMEOUT_SECONDS = 120.0
BATCH = 5000


def read_topic(bootstrap: str, topic: str, isolation: str) -> Iterator:
    """Every record of every partition of `topic`, from offset 0 to its end, as messages."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"audit-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "log_level": 3,
        }
    )
    try:
        partitions = sorted(reader.list_topics(topic, timeout=10).topics[topic].partitions)
        remaining = set()
        assignment = []
        for partition in partitions:
            _, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > 0:
                remaining.add(partition)
                assignment.append(TopicPartition(topic, partition, 0))
        reader.assign(assignment)
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end: {sorted(remaining)} left")
            for message in reader.consume(num_messages=BATCH, timeout=1.0):
                error = message.error()
                if error is None:
                    yield message
                elif error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(message.partition())
                else:
                    raise RuntimeError(f"reading {topic}: {error}")
    finally:
        reader.close()


def read_log_copies(bootstrap: str, topic: str) -> list[LogCopy]:
    """Every record in the input topic, each marked committed or not (aborted transaction)."""
    committed = {
        (m.partition(), m.offset()) for m in read_topic(bootstrap, topic, "read_committed")
    }
    return [
        LogCopy(
            m.key().decode(), m.partition(), m.offset(), (m.partition(), m.offset()) in committed
        )
        for m in read_topic(bootstrap, topic, "read_uncommitted")
    ]


def read_output_effects(bootstrap: str, topic: str) -> list[Effect]:
    """Every running-total record of the output topic, as the effect of the input copy it names."""
    return read_output(bootstrap, topic)[0]


def read_output(bootstrap: str, topic: str) -> tuple[list[Effect], list[tuple[int, int]]]:
    """The output topic's effects (each with the consumer session that produced it, None for a
    record written before the value carried one), and for each committed one
    (source_timestamp_ms, its own timestamp), for latency and throughput."""
    committed = {
        (m.partition(), m.offset()) for m in read_topic(bootstrap, topic, "read_committed")
    }
    effects, timings = [], []
    for message in read_topic(bootstrap, topic, "read_uncommitted"):
        value = json.loads(message.value())
        is_committed = (message.partition(), message.offset()) in committed
        effects.append(
            Effect(
                value["order_id"],
                value["source_partition"],
                value["source_offset"],
                is_committed,
                value.get("session"),
            )
        )
        if is_committed:
            timings.append((value["source_timestamp_ms"], message.timestamp()[1]))
    return effects, timings
