"""Honest runs: when the apparatus breaks, the result says so; what a real client survives, the
workers survive. Each test is a real experiment on the real cluster (issue 8's eight findings)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition

from playground.engine import orders
from playground.engine.formats import producer_log
from playground.engine.run.clients import output_producer
from playground.engine.run.conductor import Conductor
from tests.engine.experiments import build_spec, conductor_for, run_experiment


def when_consuming(conductor: Conductor, action, after_records: int = 50) -> threading.Thread:
    """Run `action(consumer_worker)` once the consumer has handled `after_records` records."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            worker = conductor.supervisor.workers.get("consumer")
            if worker is not None and conductor.supervisor.consumer_count >= after_records:
                action(worker)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def events(result: dict, kind: str) -> list[str]:
    return [e["detail"] for e in result["timeline"] if e["kind"] == kind]


def test_a_consumer_that_dies_of_something_nobody_scheduled_is_restarted(healthy_lab):
    spec = build_spec(workload={"records": 600, "rate": 200})
    conductor = conductor_for(healthy_lab, spec)
    when_consuming(conductor, lambda worker: os.kill(worker.process.pid, signal.SIGKILL))
    result = conductor.run()
    assert result["valid"], result["problems"]
    assert result["audit"]["lost"] == 0
    assert any("nobody here sent" in detail for detail in events(result, "exit"))
    assert any("restarted (session 1)" in detail for detail in events(result, "restart"))


def test_a_hung_consumer_is_killed_and_restarted(healthy_lab):
    spec = build_spec(workload={"records": 600, "rate": 200})
    conductor = conductor_for(healthy_lab, spec)
    conductor.hung_seconds = 3.0
    when_consuming(conductor, lambda worker: os.kill(worker.process.pid, signal.SIGSTOP))
    result = conductor.run()
    assert result["valid"], result["problems"]
    assert result["audit"]["lost"] == 0
    assert any("was hung" in detail for detail in events(result, "exit"))


def test_a_fenced_transactional_consumer_ends_restarts_and_does_not_loop(healthy_lab):
    spec = build_spec(
        workload={"records": 600, "rate": 150},
        consumer={"commit": "transactional", "batch_size": 10},
    )
    conductor = conductor_for(healthy_lab, spec)
    config = output_producer(spec, conductor.names, session=99, servers=conductor.bootstrap)

    def fence(worker) -> None:  # a second instance with the consumer's transactional id
        intruder = Producer({k: v for k, v in config.items() if k != "client.id"})
        intruder.init_transactions(30)

    when_consuming(conductor, fence, after_records=100)
    result = conductor.run()
    assert result["valid"], result["problems"]
    assert result["audit"]["lost"] == 0
    assert any("fenced" in detail for detail in events(result, "exit"))
    charges = sum(1 for line in conductor.names.sink.read_text().splitlines()
                  if json.loads(line)["charged"])  # fmt: skip
    assert charges <= 600 + 5 * 10  # a few batches again at most, never a loop


def test_dropped_acks_hit_only_the_source_producer_by_default(healthy_lab):
    result, _ = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 400, "rate": 200},
            pipeline="kafka-to-kafka",
            producer={"enable_idempotence": True, "request_timeout_ms": 2000},
            faults=[{"kind": "drop-acks", "at": {"records": 100}, "count": 5}],
        ),
    )
    assert result["audit"]["lost"] == 0
    assert not events(result, "exit")  # the consumer's own producer never lost a response


def test_dropped_acks_aimed_at_the_output_producer_are_survived(healthy_lab):
    result, _ = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 300, "rate": 150},
            pipeline="kafka-to-kafka",
            producer={"enable_idempotence": True, "transactional": True},
            consumer={"commit": "transactional"},
            faults=[
                {
                    "kind": "drop-acks",
                    "at": {"records": 100},
                    "count": 2,
                    "target": "output-producer",
                }
            ],
        ),
    )
    assert result["observed_semantic"] == "exactly-once"


def test_a_producer_that_cannot_start_makes_the_run_invalid(healthy_lab):
    spec = build_spec(restarts={"producer": {"enabled": False}, "consumer": {"enabled": False}})
    conductor = conductor_for(healthy_lab, spec)
    prepare = conductor._prepare

    def prepare_with_a_broken_spec_file() -> None:  # the apparatus breaks, not the settings
        prepare()
        conductor.names.spec_file.write_text('{"version": 99}')

    conductor._prepare = prepare_with_a_broken_spec_file
    result = conductor.run()
    assert result["valid"] is False
    assert result["observed_semantic"] is None
    assert any("could not start" in p["message"] for p in result["problems"])
    assert any("version" in p["log"] for p in result["problems"])


def test_a_worker_that_keeps_failing_breaks_the_run_after_twenty_failures(healthy_lab):
    spec = build_spec(restarts={"consumer": {"delay_ms": 0}})
    conductor = conductor_for(healthy_lab, spec)
    prepare = conductor._prepare

    def prepare_then_break_the_consumer_group() -> None:
        prepare()
        conductor.names.spec_file.write_text('{"version": 99}')

    conductor._prepare = prepare_then_break_the_consumer_group
    result = conductor.run()
    assert result["valid"] is False
    assert any("failed 21 times" in p["message"] for p in result["problems"])


def rate_per_second(log) -> list[int]:
    """Attempts in each whole second of the run, from the attempt log's own timestamps."""
    stamps = sorted(event.at_ms for event in log if event.kind == "attempt")
    start, end = stamps[0], stamps[-1]
    seconds = Counter((stamp - start) // 1000 for stamp in stamps)
    return [seconds[s] for s in range((end - start) // 1000)]


def test_the_workload_rate_is_honoured_within_ten_percent_every_second(healthy_lab):
    for rate, records in ((30, 150), (500, 2500)):
        _, conductor = run_experiment(
            healthy_lab, build_spec(workload={"records": records, "rate": rate})
        )
        per_second = rate_per_second(producer_log.read(conductor.names.producer_log))
        assert len(per_second) >= 4
        assert all(abs(count - rate) <= rate * 0.1 for count in per_second), (rate, per_second)


def partition_end(bootstrap: str, topic: str) -> int:
    """The high watermark of the topic's partition 0: one past its last offset, markers included."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "partition-end"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def test_a_transactional_producer_commits_in_transactions_of_transaction_records(lab):
    # 30 records in transactions of 7 are 5 commits (7, 7, 7, 7, 2). Each commit writes a marker
    # that takes an offset of its own, so record i lands i // 7 offsets after i.
    _, conductor = run_experiment(
        lab,
        build_spec(
            workload={"records": 30},
            producer={"enable_idempotence": True, "transactional": True, "transaction_records": 7},
        ),
    )
    log = producer_log.read(conductor.names.producer_log)
    acked_at = {orders.order_index(e.order_id): e.offset for e in log if e.kind == "ack"}
    assert acked_at == {index: index + index // 7 for index in range(30)}
    assert partition_end(conductor.direct_bootstrap, conductor.names.input_topic) == 30 + 5


def test_orders_never_sent_are_counted_and_named(healthy_lab):
    result, _ = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 1500},
            faults=[{"kind": "kill-producer", "at": {"records": 587}}],
            restarts={"producer": {"enabled": False}},
        ),
    )
    audit = result["audit"]
    assert audit["planned"] == 1500
    assert audit["never_sent"] == 1500 - audit["attempted"] > 0
    assert result["never_sent_reason"] == "the producer was killed and not restarted"


def test_a_fault_that_never_fires_makes_the_run_invalid_with_the_reason(healthy_lab):
    spec = build_spec(
        workload={"records": 50},
        faults=[
            {
                "kind": "kill-consumer",
                "at": {"seconds": 2},
                "point": "after-processing-before-commit",
            }
        ],
    )
    result = conductor_for(healthy_lab, spec).run()
    assert result["valid"] is False
    assert result["observed_semantic"] is None
    assert "never fired" in result["problems"][0]["message"]
    assert result["audit"]["delivered"] == 50  # the counts stay true


def test_a_broker_fault_at_a_record_count_meets_records_in_flight(healthy_lab):
    result, _ = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 3000, "rate": 1000},
            producer={"acks": "0"},
            faults=[{"kind": "kill-leader", "at": {"records": 1000}}],
        ),
    )
    assert result["audit"]["lost_at_producer"] > 0
    struck = [e for e in result["timeline"] if e["kind"] == "fault" and e["fault"] == 0]
    assert struck and "producer at record" in struck[0]["detail"]


def test_a_stopped_run_audits_fewer_orders_whole_and_names_the_rest(healthy_lab):
    conductor = conductor_for(healthy_lab, build_spec(workload={"records": 3000, "rate": 200}))
    when_consuming(conductor, lambda worker: conductor.request_stop(), after_records=100)
    result = conductor.run()
    assert result["valid"], result["problems"]
    assert result["audit"]["lost"] == 0  # the consumer finished what was in the log
    assert result["audit"]["never_sent"] > 0
    assert result["never_sent_reason"] == "the run was stopped before the producer finished"


def test_a_run_that_can_never_end_is_ended_and_says_why(healthy_lab):
    pause = {"kind": "pause-broker", "at": {"records": 60}, "seconds": None}
    spec = build_spec(
        workload={"records": 300, "rate": 100},
        # Its transaction cannot commit while the brokers are frozen, so it never gets further.
        producer={"enable_idempotence": True, "transactional": True},
        faults=[pause | {"broker": b} for b in (1, 2, 3)]
        + [{"kind": "resume-broker", "at": {"records": 250}}],  # never reached: all are paused
    )
    conductor = conductor_for(healthy_lab, spec)
    conductor.stall_seconds = 10.0
    result = conductor.run()
    assert result["valid"] is False
    assert any("made no progress" in p["message"] for p in result["problems"])
    assert any("never fired" in p["message"] for p in result["problems"])
    assert "because nothing moved" in result["never_sent_reason"]


def test_a_crash_armed_while_the_consumer_starts_waits_for_it_instead_of_killing_it(healthy_lab):
    conductor = conductor_for(healthy_lab, build_spec(workload={"records": 400, "rate": 200}))
    # Queued before the run: applied in its first step, while the consumer is still importing.
    conductor.request_fault({"kind": "kill-consumer", "point": "next-commit-point"})
    result = conductor.run()
    assert result["valid"], result["problems"]
    assert not any("SIGUSR1" in detail for detail in events(result, "exit"))
    assert len(events(result, "crash")) == 1  # it struck once, not again in the next session
    assert result["audit"]["lost"] == 0
