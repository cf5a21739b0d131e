"""The fault proxy's other faults: a connection reset after a Produce, delays, a blackhole."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from playground.lab.admin import create_topic
from tests.kafka_reading import read_partition
from tests.lab.test_proxy import duplicates_in_log, produce_one_at_a_time


def test_reset_after_a_produce_request_makes_a_non_idempotent_producer_write_twice(
    healthy_lab, topic_name
):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    resets_before = proxy_resets(lab)  # the counter covers the whole session
    lab.reset_after_produce(1)

    errors = produce_one_at_a_time(lab, topic_name, 5, idempotent=False)

    assert errors == []
    assert duplicates_in_log(lab, topic_name) == 1
    assert proxy_resets(lab) == resets_before + 1


def proxy_resets(lab) -> int:
    return sum(b["resets"] for b in lab.status()["proxy"]["brokers"].values())


def test_delayed_responses_slow_every_acknowledgement(healthy_lab, topic_name):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    producer = Producer({"bootstrap.servers": lab.bootstrap_servers(), "acks": "all"})
    producer.produce(topic_name, b"warm-up")
    assert producer.flush(30) == 0

    lab.delay_responses(ms=400)
    started = time.monotonic()
    producer.produce(topic_name, b"delayed")
    assert producer.flush(30) == 0
    delayed = time.monotonic() - started

    lab.clear_faults()
    started = time.monotonic()
    producer.produce(topic_name, b"prompt")
    assert producer.flush(30) == 0
    prompt = time.monotonic() - started

    assert delayed >= 0.4
    assert prompt < 0.3


def test_blackholed_broker_swallows_acks_0_records_the_producer_believes_sent(
    healthy_lab, topic_name
):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    leader = lab.leadership(topic_name).leader
    reported: list[bool] = []
    producer = Producer({"bootstrap.servers": lab.bootstrap_servers(), "acks": "0"})

    def produce(values: range) -> None:
        for i in values:
            producer.produce(
                topic_name, f"metric-{i}".encode(), on_delivery=lambda e, _m: reported.append(e)
            )
            producer.poll(0)
            time.sleep(0.005)
        assert producer.flush(30) == 0

    produce(range(100))
    lab.blackhole(seconds=2, node=leader)
    produce(range(100, 200))
    wait_until_not_blackholed(lab, leader)
    produce(range(200, 300))

    assert reported == [None] * 300  # the producer saw no error for any record
    in_log = {value for _, value in read_partition(lab.direct_bootstrap_servers(), topic_name)}
    lost = {f"metric-{i}".encode() for i in range(300)} - in_log
    assert lost
    assert lost <= {f"metric-{i}".encode() for i in range(100, 200)}


def wait_until_not_blackholed(lab, leader: int, timeout: float = 30) -> None:
    """Wait for the blackhole's end. The proxy resets the connections that lost frames by a timer
    due microseconds after the end its status reports: long before a record sent after this
    answer reaches it, which then goes out on a new connection."""
    deadline = time.monotonic() + timeout
    while lab.status()["proxy"]["brokers"][str(leader)]["blackholed"]:
        assert time.monotonic() < deadline, f"broker {leader} still blackholed after {timeout} s"
        time.sleep(0.05)
