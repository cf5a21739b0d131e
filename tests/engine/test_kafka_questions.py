"""The live page's Kafka questions are asked by a child process: an abort there costs a beat of
one experiment's picture, and a new child reads the output topic on from where the last one left
it (never twice), against the real cluster."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from playground.engine.naming import ExperimentNames
from playground.engine.observe import kafka_questions
from playground.engine.observe.log_strip import LogStripWatch
from playground.engine.spec.model import Spec
from playground.engine.spec.presets import preset
from playground.lab.admin import create_topic

PARTITIONS = 2


def kafka_to_kafka() -> Spec:
    spec = preset("payments-aggregation").spec.to_json()
    spec["workload"]["partitions"] = PARTITIONS
    return Spec.from_json(spec)


def produce(servers: str, topic: str, values: list[tuple[int, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": servers, "acks": "all"})
    for partition, value in values:
        producer.produce(topic, value, partition=partition)
    assert producer.flush(15) == 0


def output_value(partition: int, offset: int) -> bytes:
    fields = {"source_partition": partition, "source_offset": offset, "session": 1}
    return json.dumps(fields).encode()


def ask_until(questions, question: dict, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = questions.ask(question, 10.0)
        if answer is not None:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"no answer to {question} in {timeout} s ({questions.failure})")


def test_markers_and_metadata_come_from_the_child(lab, topic_name: str):
    servers = lab.direct_bootstrap_servers()
    names = ExperimentNames(topic_name, Path("/nonexistent"))
    create_topic(servers, names.input_topic, partitions=PARTITIONS)
    produce(servers, names.input_topic, [(0, b"a")] * 3 + [(1, b"b")] * 5)
    committer = Consumer({"bootstrap.servers": servers, "group.id": names.group_id})
    committer.commit(offsets=[TopicPartition(names.input_topic, 0, 2)], asynchronous=False)
    committer.close()
    questions = kafka_questions.Questions(servers, names.group_id, names.input_topic, "", 2)
    try:
        markers = ask_until(questions, {"ask": kafka_questions.MARKERS})
        assert dict(markers["log_ends"]) == {0: 3, 1: 5}
        assert dict(markers["committed"])[0] == 2
        cluster = ask_until(questions, {"ask": kafka_questions.CLUSTER})
        assert [p["partition"] for p in cluster["partitions"]] == [0, 1]
        assert all(p["leader"] >= 0 for p in cluster["partitions"])
        assert questions.pid != os.getpid()
    finally:
        questions.close()
    assert questions.pid is None


def test_a_child_that_aborts_is_replaced_and_the_output_is_read_on_not_again(lab, topic_name):
    servers = lab.direct_bootstrap_servers()
    names = ExperimentNames(topic_name, Path("/nonexistent"))
    create_topic(servers, names.input_topic, partitions=PARTITIONS)
    create_topic(servers, names.output_topic, partitions=PARTITIONS)
    produce(servers, names.output_topic, [(p, output_value(p, o)) for p in (0, 1) for o in (0, 1)])
    watch = LogStripWatch(names, kafka_to_kafka(), servers)
    try:
        deadline = time.monotonic() + 20
        while watch.handlings < 4 and time.monotonic() < deadline:
            watch._follow_output(final=False)
        assert watch.handlings == 4
        first = watch.questions.pid
        os.kill(first, signal.SIGABRT)  # as a native assertion in librdkafka would
        while watch.questions.pid == first:
            time.sleep(0.05)
        produce(servers, names.output_topic, [(0, output_value(0, 2))])
        deadline = time.monotonic() + 20
        while watch.handlings < 5 and time.monotonic() < deadline:
            watch._follow_output(final=False)
            time.sleep(0.1)
        assert "SIGABRT" in watch.questions.failure
        assert watch.questions.pid not in (None, first)
        time.sleep(1.0)  # anything read twice would show by now
        watch._follow_output(final=False)
        assert watch.handlings == 5  # the new child read on from offset 2, not from the start
        # Each source record was handled once and had one (committed) effect: none read twice.
        assert [bytes(p.runs) for p in watch.partitions] == [b"\x01" * 3, b"\x01" * 2]
        assert [bytes(p.effects) for p in watch.partitions] == [b"\x01" * 3, b"\x01" * 2]
    finally:
        watch.close()


def test_a_child_that_stops_answering_is_replaced_not_waited_on(lab, topic_name):
    servers = lab.direct_bootstrap_servers()
    names = ExperimentNames(topic_name, Path("/nonexistent"))
    create_topic(servers, names.input_topic, partitions=PARTITIONS)
    questions = kafka_questions.Questions(servers, names.group_id, names.input_topic, "", 2)
    try:
        ask_until(questions, {"ask": kafka_questions.MARKERS})
        hung = questions.pid
        os.kill(hung, signal.SIGSTOP)  # as a client hung inside librdkafka would
        assert questions.ask({"ask": kafka_questions.MARKERS}, 1.0) is None
        assert "no answer in 1 s" in questions.failure
        markers = ask_until(questions, {"ask": kafka_questions.MARKERS})
        assert questions.pid not in (None, hung)  # a new child answered
        assert dict(markers["log_ends"]) == {0: 0, 1: 0}
    finally:
        questions.close()
