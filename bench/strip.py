"""Benchmark of the log strip at volume: a million-record, twelve-partition experiment, watched.

`python -m bench.strip` (or `make bench-strip`) serves the app (DEBUG off, var/bench-strip, its
own cluster at port base 32700, or KAFKA_LAB_DIR and KAFKA_LAB_PORT_BASE when set), starts an
at-least-once experiment of 1,000,000 records over 12 partitions at full speed with a consumer
kill half-way (between processing and commit, so the strip has a rewind and a duplicated range to
draw), and watches it over one websocket. It prints, each next to its target: the largest strip
fragment sent (target 20 KB), how many updates of the live page (snapshots) arrived per second of
the run (target 10) and how many of them showed new counter numbers, how many strip updates
arrived per second (target 10, the snapshot rate: the strip rides on a snapshot when it changed
and its read was done in time), and whether the final strip agrees with the audit (committed
equal to the log end on every partition, duplicated offsets equal to the audit's duplicates by
the consumer).
With `--rounds N` it runs N such experiments one after the other on the same server and reports
the median of their update rates (the machine is shared: one round can be unlucky).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import time
from pathlib import Path

from bench.live import _free_port, _request
from playground.lab.launcher import PROJECT_ROOT
from tools.appserver import AppServer

VAR_DIR = PROJECT_ROOT / "var" / "bench-strip"
LAB_PORT_BASE = 32700
TARGET_FRAGMENT_BYTES = 20_000
TARGET_UPDATES_PER_SECOND = 10.0  # the live page's snapshot rate
STRIP = re.compile(r'<div id="log-strip".*?</div>', re.DOTALL)
COUNTERS = '<div id="counters"'  # every snapshot's message has the counters
COUNT = re.compile(r'id="count-([a-z]+)">(\d+)<')  # a counter's number
RUN_TIMEOUT_SECONDS = 900.0


def spec(records: int, partitions: int) -> dict:
    return {
        "name": f"bench-strip: {records:,} records, {partitions} partitions",
        "workload": {"records": records, "rate": 0, "partitions": partitions},
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {"commit": "after-processing", "batch_size": 500},
        "faults": [
            {
                "kind": "kill-consumer",
                "at": {"records": records // 2},
                "point": "after-processing-before-commit",
            }
        ],
    }


async def watch(ws_url: str, origin: str, stop: asyncio.Event) -> list[tuple[float, int, bool]]:
    """(time, bytes of its strip fragment or 0, whether a counter's number moved) of every
    snapshot's message received until `stop`."""
    from websockets.asyncio.client import connect

    seen = []
    numbers: list[tuple[str, str]] = []
    async with connect(ws_url, origin=origin, max_size=None, open_timeout=30) as websocket:
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(websocket.recv(), timeout=0.5)
            except TimeoutError:
                continue
            if not isinstance(message, str):
                continue
            if COUNTERS not in message:
                continue
            found = STRIP.search(message)
            shown = COUNT.findall(message)
            moved, numbers = shown != numbers, shown
            seen.append((time.monotonic(), len(found.group().encode()) if found else 0, moved))
    return seen


async def measure(server: AppServer, records: int, partitions: int) -> dict:
    created = await asyncio.to_thread(
        _request, f"{server.url}/api/experiments", spec(records, partitions)
    )
    ws_url = server.url.replace("http://", "ws://") + f"/ws/e/{created['id']}/"
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(ws_url, server.url, stop))
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    running_since = None
    while time.monotonic() < deadline:
        state = await asyncio.to_thread(_request, created["api_url"])
        if state["status"] == "running" and running_since is None:
            running_since = time.monotonic()
        if state["status"] in ("done", "failed"):
            break
        await asyncio.sleep(1)
    stop.set()
    received = await watcher
    fragments = [(at, size) for at, size, _ in received if size]
    if state["status"] != "done":
        raise RuntimeError(f"the experiment did not finish: {state.get('error')}")
    audit = state["result"]["audit"]
    partitions_data = state["partitions"]
    duplicated = sum(
        end - start for p in partitions_data for start, end in p["ranges"].get("duplicated", [])
    )
    live_seconds = (fragments[-1][0] - fragments[0][0]) if len(fragments) > 1 else 0.0
    # Snapshots over the same stretch: what the strip could have ridden on at most.
    snapshots = [
        (at, moved)
        for at, _, moved in received
        if fragments and fragments[0][0] <= at <= fragments[-1][0]
    ]
    moving = [at for at, moved in snapshots if moved]
    return {
        "records": records,
        "partitions": partitions,
        "fragments": len(fragments),
        "fragment_bytes_max": max((size for _, size in fragments), default=0),
        "updates_per_second": round(len(fragments) / live_seconds, 1) if live_seconds else None,
        "snapshots_per_second": round(len(snapshots) / live_seconds, 1) if live_seconds else None,
        # Snapshots whose counters showed new numbers: the page visibly moving.
        "counters_moved_per_second": (
            round(len(moving) / live_seconds, 1) if live_seconds else None
        ),
        "all_committed_to_log_end": all(p["committed"] == p["log_end"] for p in partitions_data),
        "duplicated_offsets": duplicated,
        "audit_duplicated_by_consumer": audit["duplicated_by_consumer"],
        "audit_lost": audit["lost"],
        "duration_seconds": state["result"]["duration_seconds"],
    }


def report(result: dict) -> str:
    size = result["fragment_bytes_max"]
    agrees = (
        result["all_committed_to_log_end"]
        and result["duplicated_offsets"] == result["audit_duplicated_by_consumer"]
    )
    return "\n".join(
        [
            f"{result['records']:,} records over {result['partitions']} partitions, "
            f"{result['duration_seconds']:.0f} s run",
            f"largest strip fragment: {size:,} bytes (target: {TARGET_FRAGMENT_BYTES:,} or less) "
            f"{'ok' if size <= TARGET_FRAGMENT_BYTES else 'OVER'}",
            f"strip updates received: {result['fragments']} "
            f"({result['updates_per_second']} a second while it ran, of "
            f"{result['snapshots_per_second']} snapshots a second; counters with new numbers: "
            f"{result['counters_moved_per_second']} a second)",
            f"final strip agrees with the audit: {'yes' if agrees else 'NO'} (duplicated offsets "
            f"{result['duplicated_offsets']:,}, audit's duplicates by the consumer "
            f"{result['audit_duplicated_by_consumer']:,}; committed = log end everywhere: "
            f"{result['all_committed_to_log_end']})",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"):
        (VAR_DIR / name).unlink(missing_ok=True)
    server = AppServer(
        port=_free_port(),
        var_dir=VAR_DIR,
        lab_dir=Path(os.environ.get("KAFKA_LAB_DIR", VAR_DIR / "lab")),
        lab_port_base=int(os.environ.get("KAFKA_LAB_PORT_BASE", LAB_PORT_BASE)),
    )
    print(f"starting the app and the cluster (log: {server.log_path}) ...", flush=True)
    results = []
    with server:
        for _ in range(args.rounds):
            results.append(asyncio.run(measure(server, args.records, args.partitions)))
            print(report(results[-1]), flush=True)
    rates = [r["updates_per_second"] or 0.0 for r in results]
    median = statistics.median(rates)
    page = [r["snapshots_per_second"] or 0.0 for r in results]
    moved = [r["counters_moved_per_second"] or 0.0 for r in results]
    (VAR_DIR / "result.json").write_text(
        json.dumps({"rounds": results, "updates_per_second_median": median}, indent=1)
    )
    print(
        f"live page updates (snapshots) a second, median of {len(page)} round(s): "
        f"{statistics.median(page)} (rounds {', '.join(map(str, page))}; target: "
        f"{TARGET_UPDATES_PER_SECOND} or more); of them with new counter numbers: "
        f"{statistics.median(moved)} (rounds {', '.join(map(str, moved))})"
    )
    print(
        f"strip updates a second, median of {len(rates)} round(s): {median} "
        f"(rounds {', '.join(map(str, rates))}; target: {TARGET_UPDATES_PER_SECOND} or more) "
        f"{'ok' if median >= TARGET_UPDATES_PER_SECOND else 'UNDER'}"
    )


if __name__ == "__main__":
    main()
