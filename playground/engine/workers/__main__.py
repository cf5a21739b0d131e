"""`python -m playground.engine.workers`: a spare worker, then one worker session.

Started ahead of time (spares.py), it imports everything a session needs, then waits for its
orders: one line of JSON on stdin. From then on its stderr is the session's log. Whatever ends the
worker's loop becomes one of the named exit codes of exits.py, with the reason on stderr, so the
conductor can say why it ended; a client that can do nothing more ends the process within a second
even while the loop waits in another call (watchdog.py).
"""

from __future__ import annotations

import os
import signal
import sys
import traceback

from playground.engine.naming import CONSUMER, PRODUCER
from playground.engine.workers import consumer, producer
from playground.engine.workers.exits import (
    EXIT_CONDUCTOR_GONE,
    EXIT_UNEXPECTED,
    describe,
    exit_code_of,
)
from playground.engine.workers.runtime import Orders, Runtime
from playground.engine.workers.setup import names_of
from playground.engine.workers.watchdog import Watchdog

WORKER_MAINS = {PRODUCER: producer.main, CONSUMER: consumer.main}


def log_to(orders: Orders) -> None:
    """Make the session's log file this process's stderr (Python's and librdkafka's)."""
    path = names_of(orders).worker_log(orders.worker)
    log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, sys.stderr.fileno())
    os.close(log)


def run() -> int:
    line = sys.stdin.readline()  # a spare waits here
    if not line:
        return EXIT_CONDUCTOR_GONE  # its process closed the pipe: no session will come
    orders = Orders.from_json(line)
    log_to(orders)
    runtime = Runtime(orders)
    Watchdog(runtime, names_of(orders).worker_log(orders.worker)).start()
    try:
        return WORKER_MAINS[orders.role](runtime)
    except Exception as failure:  # noqa: BLE001 - every failure becomes a named exit code
        code = exit_code_of(failure)
        if code == EXIT_UNEXPECTED:
            traceback.print_exc()
        print(f"worker ended: {describe(code)}: {failure}", file=sys.stderr, flush=True)
        return code
    finally:
        # An arm that comes as the session ends must not kill it on its way out: Python gives
        # SIGUSR1 its default action (terminate) back when it finalises, unless it is ignored.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(run())
