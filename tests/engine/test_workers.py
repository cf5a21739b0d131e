"""Worker processes: spares started ahead of time, and the charges of a batch under real crashes.

The crash tests run real experiments (real Kafka, a real SIGKILL at an exact point) and read the
ledger the consumer wrote: a charge made before the crash is in it, whatever point the crash hit.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

import psutil

from playground.engine.workers.exits import EXIT_CONDUCTOR_GONE
from playground.engine.workers.spares import COMMAND, Spares
from playground.lab.launcher import PROJECT_ROOT
from tests.engine.experiments import build_spec, run_experiment
from tests.engine.raw_records import read_ledger
from tests.lab.processes import wait_until_gone

STOCK_AND_WAIT = """
import time
from playground.engine.workers.spares import Spares
Spares(ready=2).stock()
time.sleep(60)
"""


def test_spares_die_with_the_process_that_started_them():
    owner = subprocess.Popen([sys.executable, "-c", STOCK_AND_WAIT], cwd=PROJECT_ROOT)
    try:
        deadline = time.monotonic() + 20
        spares = []
        while len(spares) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            spares = psutil.Process(owner.pid).children()
        assert len(spares) == 2
        owner.send_signal(signal.SIGKILL)
        assert wait_until_gone([spare.pid for spare in spares], timeout=10) == []
    finally:
        owner.kill()
        owner.wait()


def test_a_spare_whose_pipe_closes_before_any_orders_exits():
    spare = subprocess.Popen(COMMAND, cwd=PROJECT_ROOT, stdin=subprocess.PIPE)
    spare.stdin.close()
    assert spare.wait(timeout=30) == EXIT_CONDUCTOR_GONE


def test_a_worker_outlives_the_thread_that_started_it():
    """A conductor's thread ends after its run; a worker it started must not die with it (the
    parent-death signal follows the thread that forked the process)."""
    waits = [sys.executable, "-c", "import sys, time; sys.stdin.readline(); time.sleep(60)"]
    spares = Spares(ready=1, command=waits)
    handed = []
    taker = threading.Thread(target=lambda: handed.append(spares.hand("{}")))
    taker.start()
    taker.join()
    worker = handed[0]
    try:
        time.sleep(0.5)
        assert worker.poll() is None
    finally:
        worker.kill()
        worker.wait()


def crash_count(result: dict) -> int:
    """The record count the consumer reported as it killed itself."""
    crashes = [e["detail"] for e in result["timeline"] if e["kind"] == "crash"]
    assert len(crashes) == 1, crashes
    return int(re.search(r"after record (\d+)", crashes[0])[1])


def first_session_runs(conductor) -> int:
    _, runs, _ = read_ledger(conductor.names.sink)
    return sum(1 for run in runs if run.session == 0)


def test_a_crash_in_the_middle_of_a_batch_keeps_the_charges_made_before_it(healthy_lab):
    result, conductor = run_experiment(
        healthy_lab,
        build_spec(
            consumer={"commit": "before-processing", "batch_size": 10},
            faults=[{"kind": "kill-consumer", "at": {"records": 85}, "point": "mid-batch"}],
        ),
    )
    crashed_after = crash_count(result)
    assert crashed_after >= 85
    assert first_session_runs(conductor) == crashed_after
    assert result["audit"]["lost"] > 0  # the rest of that batch: committed, never handled


def test_a_batch_is_charged_before_its_offsets_are_committed(healthy_lab):
    result, conductor = run_experiment(
        healthy_lab,
        build_spec(
            consumer={"commit": "after-processing", "batch_size": 10},
            faults=[{"kind": "kill-consumer", "at": {"records": 80},
                     "point": "after-processing-before-commit"}],
        ),
    )  # fmt: skip
    crashed_after = crash_count(result)
    assert first_session_runs(conductor) == crashed_after
    assert result["audit"]["lost"] == 0
    assert result["audit"]["duplicated_by_consumer"] > 0  # the batch, handled again
