"""Benchmark of the live page: latency from a worker's side effect to the viewers' screens.

With one browser, and with many more viewers of the same experiment.

`python -m bench.live` (or `make bench-live`) serves the whole app (AppServer, DEBUG
off, var/bench-live, its own cluster at port base 29350 unless one runs there already) and, for
each viewer count, runs an at-least-once side-effect experiment with no faults while one headless
Chromium page and N plain websocket clients watch it. It prints each number next to its target and
writes everything to var/bench-live/result.json.

What is measured: the ledger (ledger.jsonl) records, for every charge, the wall-clock ms at which
the side effect was written (processed_at_ms); the delivered count reached k when the k-th distinct
order was charged. When a viewer first shows delivered = k at time t (the browser: a
MutationObserver's Date.now() after htmx swapped the counters in; a websocket client: when the
message arrived), its latency is t minus the time the count reached k. Same machine, same clock.
Also reported, to tell where the time goes: the browser's own share (websocket message in to DOM
changed), the latency per record (which adds the wait for the next 0.1 s snapshot), the spread of
one update over the websocket viewers (the fan-out), and the app process's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from itertools import pairwise

import psutil

from playground.engine.naming import ExperimentNames
from playground.lab.launcher import PROJECT_ROOT
from tools.appserver import AppServer

TARGET_P95_MS = 250.0
VAR_DIR = PROJECT_ROOT / "var" / "bench-live"
LAB_DIR = VAR_DIR / "lab"
LAB_PORT_BASE = 29350
CHROMIUM = "/usr/bin/chromium"
RUN_TIMEOUT_SECONDS = 300.0
DELIVERED = re.compile(r'id="count-delivered"[^>]*>\s*(\d+)\s*<')
HANDLED = re.compile(r'data-handled="(\d+)"')  # the log strip: handlings it has drawn

# Records [Date.now(), delivered] each time the text of #count-delivered changes, and each
# websocket message htmx receives that carries a delivered count, with the number of messages
# received so far (the first one is the catch-up a viewer gets on connecting, not an update).
OBSERVER_SCRIPT = r"""
(() => {
  const seen = {changes: [], messages: [], strip: []};
  let handled = null;
  let messages = 0;
  let last = null;
  window.__benchLive = seen;
  document.addEventListener("htmx:wsBeforeMessage", (event) => {
    messages += 1;
    const found = /id="count-delivered"[^>]*>\s*(\d+)\s*</.exec(event.detail.message || "");
    if (found) seen.messages.push([Date.now(), Number(found[1]), messages]);
  });
  const check = () => {
    const element = document.getElementById("count-delivered");
    const text = element ? element.textContent.trim() : null;
    if (text === last) return;
    last = text;
    if (text !== null && /^\d+$/.test(text)) {
      seen.changes.push([Date.now(), Number(text), messages]);
    }
  };
  const checkStrip = () => {
    const svg = document.querySelector("#log-strip svg[data-handled]");
    const value = svg ? svg.getAttribute("data-handled") : null;
    if (value === handled) return;
    handled = value;
    if (value !== null) seen.strip.push([Date.now(), Number(value), messages]);
  };
  // document, not document.body: this runs before the body exists.
  new MutationObserver(() => { check(); checkStrip(); }).observe(
    document, {subtree: true, childList: true, characterData: true});
})();
"""


# -- the latency computation (pure) ------------------------------------------------------------
def reached_times(ledger_lines: Iterable[str | dict]) -> list[int]:
    """processed_at_ms of each line that first charged its order, in file order: element k - 1
    is when the delivered count reached k."""
    times, seen = [], set()
    for line in ledger_lines:
        if isinstance(line, str) and not line.strip():
            continue
        run = json.loads(line) if isinstance(line, str) else line
        if run["charged"] and run["order_id"] not in seen:
            seen.add(run["order_id"])
            times.append(run["processed_at_ms"])
    return times


def handled_times(ledger_lines: Iterable[str]) -> list[int]:
    """processed_at_ms of every handling, in file order: element k - 1 is when the log strip's
    count of handlings reached k."""
    return [json.loads(line)["processed_at_ms"] for line in ledger_lines if line.strip()]


def first_shown(observations: Iterable[Sequence]) -> list[tuple[float, int]]:
    """(t, k) of the observations that show a count higher than any before (a viewer shows each k
    once; a stale or repeated value is no update)."""
    shown, highest = [], 0
    for t, k, *_ in observations:
        if k > highest:
            shown.append((t, k))
            highest = k
    return shown


def latencies(observations: Iterable[Sequence], reached: Sequence[int]) -> list[float]:
    """t - (time the count reached k) for each observation (t, k) with 0 < k <= len(reached)."""
    return [t - reached[k - 1] for t, k, *_ in observations if 0 < k <= len(reached)]


def record_latencies(observations: Sequence[Sequence], reached: Sequence[int]) -> list[float]:
    """For every record shown after the first observation: first time a count >= its index was
    shown, minus when it was charged (this includes the wait for the next snapshot)."""
    out = []
    for (_, before, *_), (t, k, *_) in pairwise(observations):
        out.extend(t - reached[i - 1] for i in range(before + 1, min(k, len(reached)) + 1))
    return out


def fanout_spreads(per_viewer: Sequence[Sequence[Sequence]]) -> list[float]:
    """For each count every viewer showed: last viewer's time minus first viewer's (the cost of
    sending one update to all of them)."""
    first: dict[int, list[float]] = {}
    for observations in per_viewer:
        for t, k, *_ in observations:
            first.setdefault(k, []).append(t)
    return [max(ts) - min(ts) for ts in first.values() if len(ts) == len(per_viewer)]


def earliest(per_viewer: Sequence[Sequence[Sequence]]) -> list[tuple[float, int]]:
    """(t, k): for each count, when the first of the viewers showed it."""
    first: dict[int, float] = {}
    for observations in per_viewer:
        for t, k, *_ in observations:
            first[k] = min(t, first.get(k, t))
    return sorted((t, k) for k, t in first.items())


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(values: Sequence[float]) -> dict:
    return {
        "samples": len(values),
        "p50_ms": round(percentile(values, 50), 1) if values else None,
        "p95_ms": round(percentile(values, 95), 1) if values else None,
        "max_ms": round(max(values), 1) if values else None,
        "mean_ms": round(statistics.fmean(values), 1) if values else None,
    }


# -- the websocket viewers ---------------------------------------------------------------------
class Viewers:
    """N websocket clients of one experiment, in a thread with its own event loop, each keeping
    (time.time() ms, delivered, message number) for every message that carries a delivered count."""

    def __init__(self, ws_url: str, origin: str, count: int) -> None:
        self.ws_url, self.origin, self.count = ws_url, origin, count
        self.seen: list[list[tuple[float, int, int]]] = [[] for _ in range(count)]
        self.strip_seen: list[list[tuple[float, int, int]]] = [[] for _ in range(count)]
        self.strip_bytes: list[int] = []  # size of each log strip fragment
        self.connected = threading.Event()
        self.update_bytes = 0  # characters of the messages that carry a delivered count
        self.update_messages = 0
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="bench-viewers", daemon=True)

    def start(self, timeout: float = 60) -> Viewers:
        if self.count == 0:
            return self
        self._thread.start()
        if not self.connected.wait(timeout) or self.error is not None:
            self.stop()
            raise RuntimeError(f"websocket viewers could not connect: {self.error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # noqa: BLE001 - reported to start() / the report
            self.error = error
            self.connected.set()

    async def _main(self) -> None:
        from websockets.asyncio.client import connect

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sockets = await asyncio.gather(
            *(
                connect(self.ws_url, origin=self.origin, open_timeout=30, max_size=None)
                for _ in range(self.count)
            )
        )
        readers = [asyncio.create_task(self._read(s, i)) for i, s in enumerate(sockets)]
        self.connected.set()
        try:
            await self._stop.wait()
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
            await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, websocket, index: int) -> None:
        seen, strip_seen = self.seen[index], self.strip_seen[index]
        number = 0
        async for message in websocket:
            now = time.time() * 1000
            number += 1
            found = DELIVERED.search(message) if isinstance(message, str) else None
            if found:
                seen.append((now, int(found.group(1)), number))
                self.update_bytes += len(message)
                self.update_messages += 1
            handled = HANDLED.search(message) if isinstance(message, str) else None
            if handled:
                strip_seen.append((now, int(handled.group(1)), number))
                if index == 0:
                    self.strip_bytes.append(len(message.encode()))

    def updates(self) -> list[list[tuple[float, int]]]:
        """Per viewer, the counts first shown by an update (the catch-up message left out)."""
        return [first_shown(o for o in seen if o[2] > 1) for seen in self.seen]

    def strip_updates(self) -> list[list[tuple[float, int]]]:
        """Per viewer, the log strip's handlings first shown by an update."""
        return [first_shown(o for o in seen if o[2] > 1) for seen in self.strip_seen]


# -- one measurement ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _request(url: str, document: dict | None = None) -> dict:
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def spec(name: str, records: int, rate: int) -> dict:
    """At-least-once, no faults: acks=all, idempotent producer, commit after every 10 records."""
    return {
        "name": name,
        "pipeline": "side-effect",
        "workload": {"records": records, "rate": rate},
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {"commit": "after-processing", "batch_size": 10},
        "faults": [],
    }


def wait_finished(api_url: str, timeout: float = RUN_TIMEOUT_SECONDS) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _request(api_url)
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.5)
    raise RuntimeError(f"{api_url} did not finish within {timeout} s")


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure(server, browser, viewers: int, records: int, rate: int) -> dict:
    """One experiment watched by a browser page and `viewers` websocket clients."""
    base_url = server.url
    # A short experiment first: the measured one queues behind it while the page and the viewers
    # connect (they then see it start), and the server is warm.
    warmup = _request(f"{base_url}/api/experiments", spec("bench-live warm-up", 200, 0))
    created = _request(
        f"{base_url}/api/experiments",
        spec(f"bench-live: {viewers} viewers", records, rate),
    )
    share_id = created["id"]
    ws_url = base_url.replace("http://", "ws://") + f"/ws/e/{share_id}/"
    context = browser.new_context()
    load = Viewers(ws_url, base_url, viewers)
    try:
        page = context.new_page()
        page.add_init_script(OBSERVER_SCRIPT)
        page.goto(created["url"], wait_until="load")
        status_when_watching = _request(created["api_url"])["status"]
        load.start()
        cpu_before, started = _cpu_seconds(server.process.pid), time.monotonic()
        state = wait_finished(created["api_url"])
        server_cpu = (_cpu_seconds(server.process.pid) - cpu_before) / (time.monotonic() - started)
        browser_seen = page.evaluate("window.__benchLive")
    finally:
        load.stop()
        context.close()
    wait_finished(warmup["api_url"])
    if state["status"] != "done":
        raise RuntimeError(f"the experiment failed: {state.get('error')}")
    run_id = state["result"]["experiment_id"]
    names = ExperimentNames(run_id, VAR_DIR / "experiments" / run_id)
    ledger = names.sink.read_text().splitlines()
    reached = reached_times(ledger)
    handlings = handled_times(ledger)
    strip_shown = first_shown(c for c in browser_seen["strip"] if c[2] > 1)
    strip_ws = load.strip_updates()

    shown = first_shown(c for c in browser_seen["changes"] if c[2] > 1)
    arrived: dict[int, float] = {}  # k -> when the first message showing k arrived
    for t, k, number in browser_seen["messages"]:
        if number > 1:
            arrived.setdefault(k, t)
    swap = [t - arrived[k] for t, k in shown if k in arrived]  # message in -> DOM changed
    ws_updates = load.updates()
    started_ms = reached[0] if reached else 0
    return {
        "viewers": viewers,
        "share_id": share_id,
        "run_id": names.experiment_id,
        "status_when_page_opened": status_when_watching,
        "delivered": len(reached),
        "browser": summary(latencies(shown, reached)),
        "browser_per_record": summary(record_latencies(shown, reached)),
        "browser_message_to_dom": summary(swap),
        "ws": summary([x for seen in ws_updates for x in latencies(seen, reached)]),
        "ws_per_record": summary(
            [x for seen in ws_updates for x in record_latencies(seen, reached)]
        ),
        "ws_viewers_with_updates": sum(1 for seen in ws_updates if seen),
        "ws_first_viewer": summary(latencies(earliest(ws_updates), reached)),
        "ws_fanout_spread": summary(fanout_spreads(ws_updates) if viewers > 1 else []),
        # The log strip: from a handling written to the ledger to the strip showing it.
        "strip_browser": summary(latencies(strip_shown, handlings)),
        "strip_ws": summary([x for seen in strip_ws for x in latencies(seen, handlings)]),
        "strip_fragment_bytes_max": max(load.strip_bytes, default=None),
        "ws_update_message_bytes": (
            round(load.update_bytes / load.update_messages) if load.update_messages else None
        ),
        "server_process_cpu_percent": round(100 * server_cpu),
        "load_average_1min": round(os.getloadavg()[0], 2),
        # For a look at when slow updates happened: seconds since the first delivery, count,
        # latency in ms, of every update the browser showed.
        "browser_updates": [
            [round((t - started_ms) / 1000, 2), k, round(t - reached[k - 1])]
            for t, k in shown
            if 0 < k <= len(reached)
        ],
    }


def _ms(value: float | None) -> str:
    return "      -" if value is None else f"{value:>7.0f}"


def report(results: list[dict]) -> str:
    lines = [
        f"latency from the ledger write to the viewer, ms (target: browser p95 <= "
        f"{TARGET_P95_MS:.0f} ms)",
        "viewers | browser  p50     p95     max      n | ws       p50     p95     max      n "
        "| browser msg->DOM p95 | per-record browser p50/p95 | fan-out p95 | server CPU",
    ]
    strips = [
        f"the log strip: latency from a handling in the ledger to the strip showing it, ms "
        f"(target: browser p95 <= {TARGET_P95_MS:.0f} ms)",
        "viewers | browser p50   p95      n | ws      p50     p95      n | fragment bytes max",
    ]
    for r in results:
        b, w, s, pr = r["browser"], r["ws"], r["browser_message_to_dom"], r["browser_per_record"]
        verdict = "ok" if b["p95_ms"] is not None and b["p95_ms"] <= TARGET_P95_MS else "OVER"
        strip_b, strip_w = r["strip_browser"], r["strip_ws"]
        strip_ok = strip_b["p95_ms"] is not None and strip_b["p95_ms"] <= TARGET_P95_MS
        strips.append(
            f"{r['viewers']:>7} | {_ms(strip_b['p50_ms'])} {_ms(strip_b['p95_ms'])} "
            f"{strip_b['samples']:>6} | {_ms(strip_w['p50_ms'])} {_ms(strip_w['p95_ms'])} "
            f"{strip_w['samples']:>6} | {r['strip_fragment_bytes_max'] or '-':>8}   "
            f"{'ok' if strip_ok else 'OVER'}"
        )
        lines.append(
            f"{r['viewers']:>7} |      {_ms(b['p50_ms'])} {_ms(b['p95_ms'])} {_ms(b['max_ms'])} "
            f"{b['samples']:>6} |      {_ms(w['p50_ms'])} {_ms(w['p95_ms'])} {_ms(w['max_ms'])} "
            f"{w['samples']:>6} | {_ms(s['p95_ms'])}              "
            f"| {_ms(pr['p50_ms'])} {_ms(pr['p95_ms'])}                  "
            f"| {_ms(r['ws_fanout_spread']['p95_ms'])}     "
            f"| {r['server_process_cpu_percent']:>4} %   {verdict}"
        )
    return "\n".join(lines + strips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, nargs="+", default=[0, 100])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--rate", type=int, default=200, help="records per second")
    parser.add_argument("--rounds", type=int, default=2, help="measurements per viewer count")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    # A fresh database: experiments left queued by an interrupted run would run first.
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"):
        (VAR_DIR / name).unlink(missing_ok=True)
    shutil.rmtree(VAR_DIR / "experiments", ignore_errors=True)
    server = AppServer(
        port=_free_port(), var_dir=VAR_DIR, lab_dir=LAB_DIR, lab_port_base=LAB_PORT_BASE
    )
    results = []
    print(f"starting the app and the cluster (log: {server.log_path}) ...", flush=True)
    with server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            for round_number in range(1, args.rounds + 1):
                for viewers in args.viewers:
                    print(f"round {round_number}: {viewers} websocket viewers ...", flush=True)
                    result = measure(server, browser, viewers, args.records, args.rate)
                    result["round"] = round_number
                    results.append(result)
                    shown = report([result]).splitlines()
                    print(shown[2], shown[-1], sep="\n", flush=True)
        finally:
            browser.close()
    (VAR_DIR / "result.json").write_text(
        json.dumps({"records": args.records, "rate": args.rate, "results": results}, indent=1)
    )
    print(json.dumps([{k: r[k] for k in ("viewers", "round", "browser", "ws")} for r in results]))
    print(report(results))


if __name__ == "__main__":
    main()
