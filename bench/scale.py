"""Benchmark of scale: experiments of 100,000 and 1,000,000 records, beside Kafka's own producer.

`python -m bench.scale` (or `make bench-scale`) starts a fresh cluster of its own (var/bench-scale,
port base 32900) and, on it:

1. runs `manage.py experiment run` (the command a person would use) on bench.engine's
   at-least-once spec with no faults, as fast as the producer can send, for each size
   (--records; `--records 10000000` for the largest run the spec allows), in --rounds interleaved
   rounds (3; the machine is noisy, so each figure is the median of its rounds, the audit's
   share of the pipeline taken within each round). From the result it
   takes the pipeline time (`duration_seconds`: producing, consuming, draining) and the audit
   time (`audit_seconds`); the wall time of the whole command; its peak resident memory (the
   largest of the command's processes, from wait4's rusage); and, through bench.verdict, how
   long the experiment's verdict page and audit table take to open;
2. runs Kafka's ProducerPerformance (kafka-tools from Maven Central, like the broker: the jars of
   bench/kafka-tools/pom.xml) with 1,000,000 records of 60 bytes, acks=all, idempotent, through
   the fault proxy and direct: the client's physical limit on this cluster, in the same run.

Each number is printed next to its target (issue 12); everything goes to
var/bench-scale/result.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.engine import AT_LEAST_ONCE
from playground.lab.admin import create_topic
from playground.lab.jars import ensure_jars
from playground.lab.launcher import PROJECT_ROOT, launch

VAR_DIR = PROJECT_ROOT / "var" / "bench-scale"
LAB_PORT_BASE = 32900
TOOLS_POM = PROJECT_ROOT / "bench" / "kafka-tools" / "pom.xml"
SIZES = (100_000, 1_000_000)
ROUNDS = 3
TARGET_AUDIT_SHARE = 0.5  # the audit of 1,000,000 records: at most half the pipeline's time
TARGET_PEAK_MB = 500.0
TARGET_VERDICT_SECONDS = 1.0  # the verdict page and its audit table, at any size
TARGET_ENGINE_RATIO = 0.8  # engine records/s against the raw client's (bench.engine measures it)
PERFORMANCE_RECORDS = 1_000_000
PERFORMANCE_RECORD_BYTES = 60
# "1000000 records sent, 93075.2 records/sec (5.33 MB/sec), 212.3 ms avg latency, ..."
PERFORMANCE_SUMMARY = re.compile(r"(\d+) records sent, ([\d.]+) records/sec")

# The spec bench.engine sets beside the raw client: at-least-once, a commit per 10,000 records.
SPEC = AT_LEAST_ONCE | {"workload": {"rate": 0}}


def run_experiment(records: int, lab_dir: Path) -> dict:
    """`manage.py experiment run` of SPEC with `records` records: its timings and peak memory."""
    spec_file = VAR_DIR / f"spec-{records}.json"
    document = SPEC | {"workload": SPEC["workload"] | {"records": records}}
    spec_file.write_text(json.dumps(document))
    env = os.environ | {
        "KAFKA_LAB_DIR": str(lab_dir),
        "KAFKA_LAB_PORT_BASE": str(LAB_PORT_BASE),
        "PLAYGROUND_VAR_DIR": str(VAR_DIR / "app"),
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    started = time.perf_counter()
    with (VAR_DIR / f"result-{records}.json").open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "experiment", "run", str(spec_file)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        stderr = process.stderr.read()
        _, status, usage = os.wait4(process.pid, 0)  # waitpid with the child tree's rusage
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"experiment of {records} records failed:\n{stderr[-2000:]}")
    result = json.loads((VAR_DIR / f"result-{records}.json").read_text())
    return summarize(records, result, wall, usage.ru_maxrss / 1024) | {
        "verdict": verdict_pages(VAR_DIR / f"result-{records}.json")
    }


def verdict_pages(result_file: Path) -> dict:
    """bench.verdict on the experiment: seconds to open its verdict page and audit table."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.verdict", str(result_file)],
        cwd=PROJECT_ROOT,
        env=os.environ | {"PLAYGROUND_VAR_DIR": str(VAR_DIR / "app")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if output.returncode != 0:
        raise RuntimeError(f"bench.verdict failed:\n{output.stderr[-2000:]}")
    return json.loads(output.stdout)["seconds"]


def summarize(records: int, result: dict, wall_seconds: float, peak_mb: float) -> dict:
    """The figures of one experiment's result: the pipeline's time (the run, up to the audit) and
    the audit's."""
    return {
        "records": records,
        "valid": result["valid"],
        "delivered": result["audit"]["delivered"],
        "pipeline_seconds": round(result["duration_seconds"], 2),
        "audit_seconds": round(result["audit_seconds"], 2),
        "command_seconds": round(wall_seconds, 2),
        "records_per_second": result["timing"]["records_per_second"],
        "first_effect_seconds": result["timing"]["first_effect_seconds"],
        "peak_memory_mb": round(peak_mb),
    }


def producer_performance(tools: Path, bootstrap: str) -> float:
    """Records/s of Kafka's ProducerPerformance on a new replicated topic."""
    topic = f"bench-scale-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    command = [
        "java", "-cp", f"{tools}/*", "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic,
        "--num-records", str(PERFORMANCE_RECORDS),
        "--record-size", str(PERFORMANCE_RECORD_BYTES),
        "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
        "enable.idempotence=true",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return parse_performance(output.stdout + output.stderr)


def parse_performance(output: str) -> float:
    """The final records/s line of ProducerPerformance's output (the last summary printed)."""
    found = [m for m in PERFORMANCE_SUMMARY.finditer(output) if int(m[1]) == PERFORMANCE_RECORDS]
    if not found:
        raise RuntimeError(f"ProducerPerformance printed no summary:\n{output[-2000:]}")
    return float(found[-1][2])


def median_run(runs: list[dict]) -> dict:
    """One size's figures over its rounds: the median of each, the largest peak memory, each
    round's audit / pipeline share and their median, and the slowest verdict page of any."""
    numbers = ("pipeline_seconds", "audit_seconds", "command_seconds", "records_per_second")
    shares = [run["audit_seconds"] / run["pipeline_seconds"] for run in runs]
    return {
        "records": runs[0]["records"],
        "rounds": len(runs),
        **{name: statistics.median(run[name] for run in runs) for name in numbers},
        "peak_memory_mb": max(run["peak_memory_mb"] for run in runs),
        "audit_shares": [round(share, 3) for share in shares],
        "audit_share": round(statistics.median(shares), 3),
        "verdict": {page: max(run["verdict"][page] for run in runs) for page in runs[0]["verdict"]},
    }


def report(data: dict) -> str:
    experiments = [median_run(runs) for runs in data["experiments"].values()]
    lines = ["| measure | measured | target |", "|---|---|---|"]
    for run in experiments:
        records = run["records"]
        lines.append(
            f"| {records:,} records: pipeline / audit / whole command (median of "
            f"{run['rounds']}) | {run['pipeline_seconds']} s / {run['audit_seconds']} s / "
            f"{run['command_seconds']} s | (report) |"
        )
        lines.append(f"| {records:,} records: peak memory (largest round) | "
                     f"{run['peak_memory_mb']} MB | {TARGET_PEAK_MB:.0f} MB or less |")  # fmt: skip
        lines.append(f"| {records:,} records: engine records/s | "
                     f"{run['records_per_second']:,.0f} | (report) |")  # fmt: skip
        slowest = max(run["verdict"], key=run["verdict"].get)
        lines.append(
            f"| {records:,} records: slowest verdict page ({slowest}) | "
            f"{run['verdict'][slowest]} s | {TARGET_VERDICT_SECONDS} s or less |"
        )
        if records == 1_000_000:
            lines.append(
                f"| 1,000,000 records: audit / pipeline time, median of the rounds "
                f"({', '.join(f'{share:.2f}' for share in run['audit_shares'])}) | "
                f"{run['audit_share']:.2f} | {TARGET_AUDIT_SHARE} or less |"
            )
    proxy, direct = data["producer_performance"]["proxy"], data["producer_performance"]["direct"]
    lines.append(
        f"| ProducerPerformance, {PERFORMANCE_RECORDS:,} x {PERFORMANCE_RECORD_BYTES} B, "
        f"acks=all, idempotent: through the proxy / direct | {proxy:,.0f} / {direct:,.0f} "
        "records/s | (the client's limit here) |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    tools = ensure_jars(TOOLS_POM)
    lab_dir = VAR_DIR / "lab"
    lab = launch(lab_dir, LAB_PORT_BASE)
    try:
        status = lab.client.wait_ready(timeout=180)
        print("cluster ready; running the experiments ...", flush=True)
        experiments: dict[int, list[dict]] = {records: [] for records in args.records}
        for number in range(args.rounds):
            for records in args.records:
                experiments[records].append(run_experiment(records, lab_dir))
                print(f"  round {number + 1}, {records:,} records: {experiments[records][-1]}",
                      flush=True)  # fmt: skip
        performance = {
            "proxy": producer_performance(tools, status["bootstrap_servers"]),
            "direct": producer_performance(tools, status["direct_bootstrap_servers"]),
        }
    finally:
        lab.stop()
    data = {"experiments": experiments, "producer_performance": performance}
    (VAR_DIR / "result.json").write_text(json.dumps(data, indent=1))
    print(report(data))
    print(f"written to {VAR_DIR / 'result.json'}")


if __name__ == "__main__":
    main()
