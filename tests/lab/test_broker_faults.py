"""Killing and pausing real brokers: the cluster fails over and recovers."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Producer

from playground.lab import admin
from playground.lab.admin import create_topic
from tests.kafka_reading import read_partition


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class AckRecorder:
    """Delivery reports of an acks=all producer: what the broker acknowledged, and where."""

    def __init__(self) -> None:
        self.acked: dict[bytes, int] = {}
        self.failed: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, error, message) -> None:
        with self.lock:
            if error is None:
                self.acked[message.value()] = message.offset()
            else:
                self.failed.append(message.value())


def test_killing_the_leader_elects_a_new_one_and_loses_no_acked_record(healthy_lab, topic_name):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    old_leader = lab.leadership(topic_name).leader
    producer = Producer(
        {
            "bootstrap.servers": lab.bootstrap_servers(),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 60000,
        }
    )
    acks = AckRecorder()

    def produce(start: int, stop: int) -> None:
        for i in range(start, stop):
            producer.produce(topic_name, value=f"order-{i}".encode(), on_delivery=acks)
            producer.poll(0)
            time.sleep(0.002)

    produce(0, 1000)
    producer.flush(30)
    assert len(acks.acked) == 1000

    assert lab.kill_leader(topic_name) == old_leader
    produce(1000, 3000)  # the producer goes on while the cluster fails over
    new_leader = wait_for(
        lambda: (lead := lab.leadership(topic_name).leader) not in (-1, old_leader) and lead,
        timeout=30,
        what="a new leader",
    )
    assert producer.flush(60) == 0

    assert new_leader != old_leader
    assert acks.failed == []
    assert len(acks.acked) == 3000
    in_log = dict(
        (value, offset)
        for offset, value in read_partition(lab.direct_bootstrap_servers(), topic_name)
    )
    missing = [value for value in acks.acked if value not in in_log]
    assert missing == []
    assert all(in_log[value] == offset for value, offset in acks.acked.items())


def test_paused_broker_is_fenced_and_the_cluster_recovers_after_resume(healthy_lab, topic_name):
    lab = healthy_lab
    create_topic(lab.bootstrap_servers(), topic_name)
    paused = lab.leadership(topic_name).leader
    bootstrap = lab.direct_bootstrap_servers()

    lab.pause(paused)
    assert next(n for n in lab.status()["nodes"] if n["id"] == paused)["state"] == "paused"
    wait_for(
        lambda: paused not in admin.visible_broker_ids(bootstrap),
        timeout=30,
        what=f"broker {paused} to be fenced",
    )
    wait_for(
        lambda: lab.leadership(topic_name).leader not in (-1, paused),
        timeout=30,
        what="leadership to move off the paused broker",
    )

    lab.resume(paused)
    lab.wait_healthy(timeout=60)
    assert paused in admin.visible_broker_ids(bootstrap)
    # The resumed follower rejoins the in-sync replicas once it has caught up with the leader,
    # which may be a moment after the cluster reports healthy.
    wait_for(
        lambda: set(lab.leadership(topic_name).isr) == {1, 2, 3},
        timeout=30,
        what=f"broker {paused} back in the in-sync replicas",
    )
    producer = Producer({"bootstrap.servers": lab.bootstrap_servers(), "acks": "all"})
    producer.produce(topic_name, value=b"after resume")
    assert producer.flush(30) == 0
