"""Where the CPU goes while a benchmark runs: the app's process tree by part, the benchmark's own
(its HTTP clients, and Chromium with Playwright's driver), and everything else on the machine.

The parts of the app's tree: the app process itself (Daphne: the pages and the websockets), its
runner process (every conductor thread, the audits, the live pages' Kafka reads), the
experiments' worker processes, the lab's daemon (the fault proxies) and the JVMs (controller and
brokers). Workers live for seconds, so a sampler would miss their last moments: their total is
the runner's `children_*` times (what the kernel adds to a parent when it reaps a child) plus the
workers still alive at the end.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import psutil

APP, RUNNER, WORKERS, LAB, BROKERS, CLIENTS, BROWSER, OTHERS = (
    "app (pages)",
    "runner",
    "workers",
    "lab daemon (proxies)",
    "brokers (JVMs)",
    "benchmark clients",
    "Chromium + Playwright",
    "other processes on the machine",
)
SAMPLE_SECONDS = 1.0


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def _reaped(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.children_user + times.children_system


def _part(process: psutil.Process) -> str:
    try:
        name, cmdline = process.name(), process.cmdline()
    except psutil.Error:
        return WORKERS
    if name == "java" or (cmdline and os.path.basename(cmdline[0]) == "java"):
        return BROKERS
    if any("playground.engine.workers" in arg for arg in cmdline):
        return WORKERS
    if any(arg.endswith("manage.py") for arg in cmdline) and "runner" in cmdline:
        return RUNNER
    if any("playground.lab.daemon" in arg for arg in cmdline):
        return LAB
    return WORKERS  # a worker's own child, if any


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return root.children(recursive=True)
    except psutil.Error:
        return []


@dataclass
class _Reading:
    at: float
    machine_busy: float
    app: float
    reaped: dict[int, float]  # the children's times of the app and of each runner, by pid
    by_pid: dict[int, tuple[str, float]] = field(default_factory=dict)


class CpuWatch:
    """CPU seconds by part between start() and stop(), and a per-second timeline of the share of
    the machine each part used and how many workers were alive."""

    def __init__(self, app_pid: int) -> None:
        self.app = psutil.Process(app_pid)
        self.me = psutil.Process()
        self.cores = psutil.cpu_count() or 1
        self.timeline: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-cpu", daemon=True)
        self._first: _Reading | None = None

    def _read(self) -> _Reading:
        machine = psutil.cpu_times()
        busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        reaped = {self.app.pid: _reaped(self.app)}
        reading = _Reading(time.monotonic(), busy, _cpu(self.app), reaped)
        for process in _tree(self.app):
            part = _part(process)
            reading.by_pid[process.pid] = (part, _cpu(process))
            if part == RUNNER:
                reading.reaped[process.pid] = _reaped(process)
        reading.by_pid[self.me.pid] = (CLIENTS, _cpu(self.me))
        for process in _tree(self.me):  # the app server is a child of the benchmark too
            if process.pid != self.app.pid and process.pid not in reading.by_pid:
                reading.by_pid[process.pid] = (BROWSER, _cpu(process))
        return reading

    def start(self) -> CpuWatch:
        self._first = self._read()
        self._thread.start()
        return self

    def _sample(self) -> None:
        before = self._first
        while not self._stop.wait(SAMPLE_SECONDS):
            now = self._read()
            share = self._shares(before, now)
            workers = sum(1 for part, _ in now.by_pid.values() if part == WORKERS)
            self.timeline.append(
                {"t": round(now.at - self._first.at, 1), "workers_alive": workers}
                | {
                    part: round(100 * seconds / ((now.at - before.at) * self.cores))
                    for part, seconds in share.items()
                }
            )
            before = now

    def _shares(self, before: _Reading, after: _Reading) -> dict[str, float]:
        """CPU seconds of each part between two readings."""
        reaped = sum(t - before.reaped.get(pid, 0.0) for pid, t in after.reaped.items())
        parts = {APP: after.app - before.app, RUNNER: 0.0, WORKERS: reaped}
        parts |= {LAB: 0.0, BROKERS: 0.0, CLIENTS: 0.0, BROWSER: 0.0}
        for pid, (part, seconds) in after.by_pid.items():
            parts[part] += seconds - before.by_pid.get(pid, (part, 0.0))[1]
        for pid, (part, seconds) in before.by_pid.items():
            if pid not in after.by_pid and part == WORKERS:  # reaped: counted whole above
                parts[WORKERS] -= seconds
        # Other processes that ended between the readings lose their last moments to OTHERS.
        ours = sum(parts.values())
        parts[OTHERS] = max(0.0, (after.machine_busy - before.machine_busy) - ours)
        return parts

    def stop(self) -> dict:
        """CPU seconds and percent of the machine by part, over the whole watch."""
        self._stop.set()
        self._thread.join()
        last = self._read()
        elapsed = last.at - self._first.at
        parts = self._shares(self._first, last)
        return {
            "seconds": round(elapsed, 1),
            "cores": self.cores,
            "cpu_seconds": {part: round(seconds, 1) for part, seconds in parts.items()},
            "percent_of_machine": {
                part: round(100 * seconds / (elapsed * self.cores))
                for part, seconds in parts.items()
            },
            "idle_percent": round(100 - 100 * sum(parts.values()) / (elapsed * self.cores)),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "timeline": self.timeline,
        }
