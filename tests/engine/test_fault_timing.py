"""A fault strikes when its worker can be struck, says truly why it never did, and holds the run's
watches back only as long as it actually costs the clients it hit (issue 20). Each test is a real
experiment on the real cluster."""

from __future__ import annotations

import threading
import time

from playground.engine.naming import OUTPUT_PRODUCER
from playground.engine.run.clients import OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS
from tests.engine.experiments import build_spec, conductor_for, run_experiment


def events(result: dict, kind: str) -> list[dict]:
    return [e for e in result["timeline"] if e["kind"] == kind]


def test_a_producer_kill_timed_before_the_producer_started_waits_and_strikes_it_running(
    healthy_lab,
):
    result, _ = run_experiment(
        healthy_lab,
        build_spec(
            workload={"records": 300, "rate": 100},
            faults=[{"kind": "kill-producer", "at": {"seconds": 0}}],
        ),
    )
    struck = [e for e in events(result, "fault") if e["fault"] == 0]
    assert struck and "producer killed" in struck[0]["detail"]
    exits = [e["detail"] for e in events(result, "exit")]
    assert exits == ["producer was killed (SIGKILL) by a fault; see producer.log"]  # not "could
    # not start": the kill waited until the producer had started its clients


def test_a_producer_kill_timed_after_the_producer_finished_says_so(healthy_lab):
    spec = build_spec(
        workload={"records": 100},  # sent at full speed: the producer is done within a second
        # The consumer is killed at once and comes back after 10 s, so the run outlives the kill.
        faults=[
            {"kind": "kill-consumer", "point": "anywhere", "at": {"records": 1}},
            {"kind": "kill-producer", "at": {"seconds": 8}},
        ],
        restarts={"consumer": {"delay_ms": 10_000}},
    )
    result = conductor_for(healthy_lab, spec).run()

    finished = next(e for e in events(result, "stop") if e["detail"] == "producer finished")
    assert finished["at"] < 8
    assert result["valid"] is False and result["observed_semantic"] is None
    assert [p["message"] for p in result["problems"]] == [
        f"faults[1] (kill-producer at 8 s) never fired: the producer had finished at "
        f"{finished['at']:.1f} s"
    ]


def test_answers_dropped_for_the_output_producer_hold_the_watches_for_its_own_timeout(
    healthy_lab,
):
    # The hung run: drops aimed at every client of the experiment once the source producer
    # (30 s request timeout) has finished, so only the output producer (5 s) loses answers. One
    # record a batch, each batch's output flushed: the consumer is far behind the producer.
    spec = build_spec(
        workload={"records": 3000},
        pipeline="kafka-to-kafka",
        consumer={"commit": "auto", "batch_size": 1},
    )
    conductor = conductor_for(healthy_lab, spec)
    held_for: list[float] = []  # how far ahead the watches were held, sampled through the run
    dropped: dict[str, dict] = {}  # the lab's answer: whose responses it dropped

    def drop_then_sample() -> None:
        while not conductor.producer_done:
            time.sleep(0.05)
        conductor.request_fault({"kind": "drop-acks", "count": 3, "target": "all"})
        while not conductor.drained:
            held_for.append(conductor.faults.quiet_until() - time.monotonic())
            dropped.update(healthy_lab.dropped_responses([conductor.names.client_prefix()]))
            time.sleep(0.5)

    sampler = threading.Thread(target=drop_then_sample, daemon=True)
    sampler.start()
    result = conductor.run()
    sampler.join(timeout=5)

    assert result["valid"], result["problems"]
    output_producer = conductor.names.client_prefix(OUTPUT_PRODUCER)
    assert sum(d["count"] for d in dropped.values()) == 3
    assert all(client.startswith(output_producer) for client in dropped)
    assert max(held_for) > 0  # the drops held the watches back
    assert max(held_for) <= OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS / 1000 + 1  # not 3 x 30 s
