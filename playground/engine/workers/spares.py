"""Spare worker processes: Python started and the client imported ahead of time, each waiting on
its stdin for the orders of one worker session.

Starting Python and importing confluent-kafka and the engine takes about 0.2 s on the lab machine,
most of the time from "run" to the first record consumed; a spare has done it before it is needed.
Every worker session runs in a spare: when none is ready, the one being started is handed its
orders, which it reads as soon as its imports are done.

One thread of this process starts every spare. The parent-death signal (orphan_proof) follows the
thread that forked a child: a spare started by one conductor's thread would die when that
conductor ends, while one started by this thread lives as long as the process does, and no longer
(SIGKILL when the process dies, however it dies). A spare whose stdin closes before any orders
come (the process closed its end) exits at once.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading

from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof

READY = 2  # a run starts a consumer and a producer at once
COMMAND = [sys.executable, "-m", "playground.engine.workers"]


class Spares:
    """The spare workers of this process, kept at READY by a thread of their own."""

    def __init__(self, ready: int = READY, command: list[str] = COMMAND) -> None:
        self.command = command
        # Started spares not yet handed orders, or the error that kept one from starting.
        self._ready: queue.Queue[subprocess.Popen | Exception] = queue.Queue()
        self._wanted = threading.Semaphore(ready)  # spares to start
        self._lock = threading.Lock()
        self._starter: threading.Thread | None = None

    def stock(self) -> None:
        """Have spares started, if they are not already (the first call starts the thread that
        keeps them)."""
        with self._lock:
            if self._starter is None:
                self._starter = threading.Thread(
                    target=self._keep_stocked, name="worker-spares", daemon=True
                )
                self._starter.start()

    def hand(self, orders: str) -> subprocess.Popen:
        """A worker process that runs `orders` (one line of JSON): a spare, given them."""
        self.stock()
        while True:
            spare = self._ready.get()
            self._wanted.release()
            if isinstance(spare, Exception):
                raise spare
            try:
                spare.stdin.write(orders + "\n")
                spare.stdin.close()
            except BrokenPipeError:  # it died waiting (killed from outside): the next one
                spare.wait()
                continue
            return spare

    def _keep_stocked(self) -> None:
        while True:
            self._wanted.acquire()
            try:
                spare = subprocess.Popen(
                    orphan_proof(self.command),
                    cwd=PROJECT_ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,  # its reports; the worker's log takes its stderr
                    text=True,
                    bufsize=1,
                )
            except Exception as error:  # noqa: BLE001 - told to whoever waits for this spare
                self._ready.put(error)
                continue
            self._ready.put(spare)


SPARES = Spares()
