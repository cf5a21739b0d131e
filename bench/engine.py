"""Benchmarks of the engine: end-to-end throughput against raw confluent-kafka, and time to the
first record consumed.

`python -m bench.engine` (or `make bench-engine`) uses the running lab (KAFKA_LAB_DIR)
or starts one of its own, and prints each number next to its target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

from playground.engine.run.clusters import Target
from playground.engine.run.conductor import Conductor
from playground.engine.spec.model import Spec
from playground.engine.workers.spares import SPARES
from playground.lab.admin import create_topic
from playground.lab.control import LabClient
from playground.lab.launcher import PROJECT_ROOT, launch

TARGET_RATIO = 0.8
TARGET_FIRST_RECORD_SECONDS = 0.3
RECORD_BYTES = 60  # about the size of an order's JSON value


def raw_produce_and_consume(bootstrap: str, records: int) -> float:
    """Records/s of a plain producer (acks=all, idempotent) and a plain consumer running at once,
    from the first send to the last record consumed."""
    topic = f"raw-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": topic,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    consumer.subscribe([topic])
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "log_level": 3}
    )
    payload = b"x" * RECORD_BYTES

    def produce() -> None:
        for index in range(records):
            while True:
                try:
                    producer.produce(topic, key=str(index), value=payload)
                    break
                except BufferError:
                    producer.poll(0.01)
            producer.poll(0)
        producer.flush(120)

    started = time.perf_counter()
    sender = threading.Thread(target=produce)
    sender.start()
    consumed = 0
    while consumed < records:
        consumed += sum(1 for m in consumer.consume(1000, timeout=1.0) if m.error() is None)
    elapsed = time.perf_counter() - started
    sender.join()
    consumer.close()
    return records / elapsed


def run_spec(target: Target, document: dict) -> dict:
    experiment_id = uuid.uuid4().hex[:12]
    conductor = Conductor(
        Spec.from_json(document),
        experiment_id=experiment_id,
        root=PROJECT_ROOT / "var" / "bench-experiments" / experiment_id,
        bootstrap_servers=target.bootstrap_servers,
        direct_bootstrap_servers=target.direct_bootstrap_servers,
        lab=target.lab,
    )
    return conductor.run()


# At-least-once: acks=all, an idempotent producer, a synchronous commit after every 10000 records
# handled (the most a batch may hold). A synchronous commit waits for the offsets topic to
# replicate, about 10 ms on this 2-core lab, a third of the time it takes to handle the batch
# itself; a crash redelivers at most one batch, still far less than the Java client's auto-commit
# would (it commits every 5 s).
AT_LEAST_ONCE = {
    "name": "benchmark: at-least-once, no faults",
    "producer": {"acks": "all", "enable_idempotence": True},
    "consumer": {"commit": "after-processing", "batch_size": 10_000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    # Spare workers start now, as in an app that has run an experiment before: every round
    # measures runs that find them ready (a process's very first run waits for their imports).
    SPARES.stock()
    lab_dir = Path(os.environ.get("KAFKA_LAB_DIR", PROJECT_ROOT / "var" / "lab"))
    client, own_lab = LabClient(lab_dir), None
    if not client.is_running():
        own_lab = launch(lab_dir, int(os.environ.get("KAFKA_LAB_PORT_BASE", "19000")))
        client.wait_ready()
    try:
        target = Target.managed(client)
        raw, engine, first = [], [], []
        for round_ in range(1, args.rounds + 1):
            raw.append(raw_produce_and_consume(target.bootstrap_servers, args.records))
            result = run_spec(target, AT_LEAST_ONCE | {"workload": {"records": args.records}})
            assert result["audit"]["delivered"] == args.records, result["audit"]
            engine.append(result["timing"]["records_per_second"])
            small = run_spec(target, AT_LEAST_ONCE | {"workload": {"records": 100}})
            first.append(small["timing"]["first_effect_seconds"])
            print(
                f"round {round_}: raw {raw[-1]:>7.0f}/s  engine {engine[-1]:>7.0f}/s  "
                f"ratio {engine[-1] / raw[-1]:.3f}  first record {first[-1]:.3f} s",
                flush=True,
            )
    finally:
        if own_lab is not None:
            own_lab.stop()
    ratio = statistics.median(engine) / statistics.median(raw)
    paired = statistics.median(e / r for e, r in zip(engine, raw, strict=True))
    print(json.dumps({"raw": raw, "engine": engine, "first_effect_seconds": first}))
    print(
        f"raw produce+consume records/s   {statistics.median(raw):>9.0f}\n"
        f"engine at-least-once records/s  {statistics.median(engine):>9.0f}\n"
        f"engine / raw                    {ratio:>9.3f}   target >= {TARGET_RATIO} "
        f"(median of each round's ratio: {paired:.3f})\n"
        f"run to first record consumed    {statistics.median(first):>9.3f} s target <= "
        f"{TARGET_FIRST_RECORD_SECONDS} s"
    )


if __name__ == "__main__":
    main()
