"""Benchmarks of the lab: cold start to ready, JVM memory, and the fault proxy's cost.

`python -m bench.lab` (or `make bench-lab`) starts a fresh cluster of its own
(KAFKA_BENCH_PORT_BASE, default 29300), measures, prints each number next to its target, and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from pathlib import Path

import psutil
from confluent_kafka import Producer

from playground.lab.admin import create_topic
from playground.lab.launcher import PROJECT_ROOT, launch

TARGET_COLD_START_SECONDS = 20.0
TARGET_JVM_MEMORY_MB = 1536.0
TARGET_PROXY_RATIO = 0.8


def produce_rate(bootstrap: str, records: int, record_bytes: int) -> float:
    """Records/s of one acks=all producer writing `records` to a new replicated topic."""
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "log_level": 3}
    )
    payload = b"x" * record_bytes
    started = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, payload)
                break
            except BufferError:
                producer.poll(0.01)  # the local queue is full: let deliveries drain it
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("records still unacknowledged after 120 s")
    return records / (time.perf_counter() - started)


def jvm_memory_mb(status: dict) -> float:
    """Resident memory of all the cluster's JVMs together."""
    total = 0
    for node in status["nodes"]:
        if node["pid"]:
            total += psutil.Process(node["pid"]).memory_info().rss
    return total / 2**20


def run(records: int, record_bytes: int, rounds: int) -> dict:
    lab_dir = PROJECT_ROOT / "var" / "lab-bench"
    port_base = int(os.environ.get("KAFKA_BENCH_PORT_BASE", "29300"))
    started = time.perf_counter()
    lab = launch(Path(lab_dir), port_base)
    try:
        status = lab.client.wait_ready(timeout=180)
        cold_start = time.perf_counter() - started
        memory_ready = jvm_memory_mb(status)
        direct, proxied = [], []
        for _ in range(rounds):  # interleaved, so that drift in the machine hits both alike
            direct.append(produce_rate(status["direct_bootstrap_servers"], records, record_bytes))
            proxied.append(produce_rate(status["bootstrap_servers"], records, record_bytes))
        memory_loaded = jvm_memory_mb(lab.client.status())
    finally:
        lab.stop()
    ratio = statistics.median(proxied) / statistics.median(direct)
    return {
        "cold_start_seconds": round(cold_start, 2),
        "jvm_memory_mb_ready": round(memory_ready),
        "jvm_memory_mb_after_load": round(memory_loaded),
        "direct_records_per_second": [round(r) for r in direct],
        "proxied_records_per_second": [round(r) for r in proxied],
        "proxy_to_direct_ratio": round(ratio, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--record-bytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.records, args.record_bytes, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    memory = max(result["jvm_memory_mb_ready"], result["jvm_memory_mb_after_load"])
    print(
        f"cold start to ready      {result['cold_start_seconds']:>8.1f} s     "
        f"target <= {TARGET_COLD_START_SECONDS:.0f} s\n"
        f"JVM resident memory      {memory:>8.0f} MB    target <= {TARGET_JVM_MEMORY_MB:.0f} MB\n"
        f"direct  records/s        {statistics.median(result['direct_records_per_second']):>8.0f}"
        f"       {result['direct_records_per_second']}\n"
        f"proxied records/s        {statistics.median(result['proxied_records_per_second']):>8.0f}"
        f"       {result['proxied_records_per_second']}\n"
        f"proxy / direct           {result['proxy_to_direct_ratio']:>8.3f}       "
        f"target >= {TARGET_PROXY_RATIO}"
    )


if __name__ == "__main__":
    main()
