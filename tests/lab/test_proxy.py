"""Clients reach the brokers through the fault proxy, and the proxy's faults do what they say."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer

from playground.lab.admin import create_topic
from tests.kafka_reading import read_partition


def produced_through_proxy(lab, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": lab.bootstrap_servers(), "acks": "all"})
    for i in range(count):
        producer.produce(topic, value=f"record-{i}".encode())
    assert producer.flush(30) == 0


def test_produce_and_consume_through_the_proxy(lab, topic_name):
    create_topic(lab.bootstrap_servers(), topic_name)
    before = sum(b["produce_requests"] for b in lab.status()["proxy"]["brokers"].values())
    produced_through_proxy(lab, topic_name, 500)

    consumer = Consumer(
        {
            "bootstrap.servers": lab.bootstrap_servers(),
            "group.id": f"group-{topic_name}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic_name])
    values, deadline = [], time.monotonic() + 30
    while len(values) < 500 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            values.append(message.value())
    consumer.close()

    assert values == [f"record-{i}".encode() for i in range(500)]
    after = sum(b["produce_requests"] for b in lab.status()["proxy"]["brokers"].values())
    assert after > before  # the records went through the proxies, not around them


def produce_one_at_a_time(lab, topic: str, count: int, idempotent: bool) -> list[str]:
    """Produce `count` records, each in its own Produce request; return delivery errors."""
    producer = Producer(
        {
            "bootstrap.servers": lab.bootstrap_servers(),
            "acks": "all",
            "enable.idempotence": idempotent,
            "max.in.flight.requests.per.connection": 1 if not idempotent else 5,
            "retries": 10,
            "retry.backoff.ms": 100,
            # librdkafka's client-side timeout for a request in flight is socket.timeout.ms
            # (request.timeout.ms is the broker's ack timeout): retry a lost response after 1.5 s.
            "socket.timeout.ms": 1500,
            "message.timeout.ms": 30000,
            "linger.ms": 0,
        }
    )
    errors: list[str] = []

    def on_delivery(error, _message) -> None:
        if error is not None:
            errors.append(str(error))

    for i in range(count):
        producer.produce(topic, value=f"order-{i}".encode(), on_delivery=on_delivery)
        assert producer.flush(30) == 0
    return errors


def duplicates_in_log(lab, topic: str) -> int:
    values = [value for _, value in read_partition(lab.direct_bootstrap_servers(), topic)]
    return len(values) - len(set(values))


def test_dropped_produce_responses_duplicate_records_without_idempotence(healthy_lab, topic_name):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    lab.drop_produce_responses(3)

    errors = produce_one_at_a_time(lab, topic_name, 10, idempotent=False)

    assert errors == []
    assert duplicates_in_log(lab, topic_name) == 3
    dropped = sum(b["dropped_produce_responses"] for b in lab.status()["proxy"]["brokers"].values())
    assert dropped >= 3


def test_dropped_produce_responses_leave_no_duplicates_with_idempotence(healthy_lab, topic_name):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    lab.drop_produce_responses(3)

    errors = produce_one_at_a_time(lab, topic_name, 10, idempotent=True)

    assert errors == []
    assert duplicates_in_log(lab, topic_name) == 0
    values = {value for _, value in read_partition(lab.direct_bootstrap_servers(), topic_name)}
    assert values == {f"order-{i}".encode() for i in range(10)}
