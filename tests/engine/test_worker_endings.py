"""A worker that can do nothing more ends at once, and a fault never hides a dead or stuck worker
(issue 20): a fenced client ends its process within a second wherever its main thread waits, and
supervision restarts it. Each test is a real experiment on the real cluster."""

from __future__ import annotations

import threading
import time

from confluent_kafka import Consumer, KafkaException

from playground.engine.naming import OUTPUT_PRODUCER
from playground.engine.run.clients import consumer as consumer_config
from playground.engine.run.conductor import Conductor
from playground.engine.workers.exits import EXIT_FATAL, EXIT_FENCED, exit_code_of
from playground.engine.workers.watchdog import fatal_error_in
from tests.engine.experiments import build_spec, conductor_for


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.05)


def stuck_in_its_output_flush(conductor: Conductor) -> bool:
    """The proxy has dropped an answer to the consumer's output producer, and the consumer (its
    first session) has made no progress for a second since."""
    consumer = conductor.supervisor.workers.get("consumer")
    prefix = conductor.names.client_prefix(OUTPUT_PRODUCER)
    return (
        consumer is not None
        and consumer.session == 0
        and bool(conductor.lab.dropped_responses([prefix]))
        and time.monotonic() - consumer.last_progress > 1.0
    )


def fence_when_stuck(conductor: Conductor, run_over: threading.Event) -> threading.Thread:
    """Once the consumer waits in its output producer's flush, join its group with its own
    group.instance.id, as its own rejoin does after its session timed out: Kafka fences the stuck
    member. The intruder commits nothing; the restarted consumer fences it in turn."""

    def intrude() -> None:
        wait_for(lambda: stuck_in_its_output_flush(conductor), 60, "the consumer stuck")
        config = consumer_config(
            conductor.spec, conductor.names, session=99, servers=conductor.bootstrap
        )
        intruder = Consumer(config | {"enable.auto.commit": False, "error_cb": lambda e: None})
        intruder.subscribe([conductor.names.input_topic])
        while not run_over.is_set():
            intruder.poll(0.1)
        intruder.close()

    thread = threading.Thread(target=intrude, daemon=True)
    thread.start()
    return thread


def fatal_log_lines(conductor: Conductor, role: str) -> list[tuple[float, str]]:
    """librdkafka's FATAL lines in a worker's log: (seconds into the run, the line)."""
    started = conductor._started_at_ms / 1000
    lines = conductor.names.worker_log(role).read_text().splitlines()
    return [(float(line.split("|")[1]) - started, line) for line in lines if "|FATAL|" in line]


def test_a_consumer_fenced_while_it_waits_on_its_output_producer_ends_at_once(healthy_lab):
    spec = build_spec(
        workload={"records": 1000, "rate": 100},
        pipeline="kafka-to-kafka",
        consumer={"commit": "auto"},
        # Its output producer's answers lost, one after another: the consumer waits in its flush
        # (a retry every 5 s) while its group moves on without it.
        faults=[
            {"kind": "drop-acks", "at": {"records": 200}, "count": 6, "target": "output-producer"}
        ],
    )
    conductor = conductor_for(healthy_lab, spec)
    run_over = threading.Event()
    intruder = fence_when_stuck(conductor, run_over)
    started = time.monotonic()
    try:
        result = conductor.run()
    finally:
        run_over.set()
        intruder.join(timeout=10)

    fenced_at, line = fatal_log_lines(conductor, "consumer")[0]
    assert "-consumer-0#" in line and "Static consumer fenced" in line
    exit_ = next(e for e in result["timeline"] if e["kind"] == "exit")
    assert "was fenced by a newer instance" in exit_["detail"]
    # Within a second (a 0.5 s grace for its loop), and the conductor noticed on a busy machine:
    # not once its flush gave up, half a minute later.
    assert exit_["at"] - fenced_at < 1.5
    restart = next(e for e in result["timeline"] if e["kind"] == "restart")
    assert restart["at"] > exit_["at"]
    assert result["valid"], result["problems"]
    assert time.monotonic() - started < 100  # well within the time limit (300 s)


def test_librdkafkas_fatal_line_names_the_error_the_worker_ends_with():
    fenced = fatal_error_in(
        "%0|1796646889.060|FATAL|exp-x-consumer-0#consumer-3| [thrd:main]: Fatal error: Broker: "
        "Static consumer fenced by other consumer with same group.instance.id: OffsetCommit failed"
    )
    other = fatal_error_in(
        "%0|1796646889.060|FATAL|exp-x-source-producer-0#producer-1| [thrd:main]: Fatal error: "
        "Broker: Broker received an out of order sequence number: ProduceRequest failed"
    )

    assert exit_code_of(KafkaException(fenced)) == EXIT_FENCED
    assert exit_code_of(KafkaException(other)) == EXIT_FATAL
    assert fatal_error_in("%4|1796646889.060|REQTMOUT|exp-x-consumer-0#consumer-3| ...") is None
