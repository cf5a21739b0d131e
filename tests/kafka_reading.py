"""Reading what Kafka holds, for assertions: a partition from offset 0 to its end."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition


def read_partition(
    bootstrap_servers: str, topic: str, partition: int = 0, timeout: float = 30.0
) -> list[tuple[int, bytes]]:
    """Every (offset, value) in the partition, from offset 0 up to the high watermark."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"reader-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        consumer.assign([TopicPartition(topic, partition, 0)])
        records: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout
        next_offset = 0
        while next_offset < high:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {next_offset} of {high} offsets of {topic}-{partition}")
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            records.append((message.offset(), message.value()))
            next_offset = message.offset() + 1
        return records
    finally:
        consumer.close()
