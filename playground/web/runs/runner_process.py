"""`manage.py serve`'s runner: `manage.py runner` as a child process, restarted when it dies.

The process that serves the pages loads no Kafka client, because a native abort in librdkafka
cannot be caught in Python. Its experiments run in this child, with their conductors, live
pages' Kafka reads and retention's deletions; their workers are the child's children. The child
is tied to serve (orphan_proof: the kernel kills it when serve dies, however serve dies) and
linked to it (runner_link: live fragments up, wake-ups down).

When the child dies (a native abort, SIGKILL, any exit serve did not ask for), the experiments it
was running are marked failed at once with how it died, and their live pages reload to say so;
a new child starts after a short backoff, longer while children keep dying young, and takes the
queue from there. Stopping serve stops the child as SIGTERM stops any `manage.py runner`: it
claims nothing more, asks its experiments to stop, and waits for their audits.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time

from django.db import connections

from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof
from playground.web.runs import experiments
from playground.web.runs.runner_link import ParentEnd, runner_name

log = logging.getLogger(__name__)

RESTART_FIRST_SECONDS = 0.5  # a child that died is replaced this soon ...
RESTART_MAX_SECONDS = 30.0  # ... doubling, up to this, while children keep dying young
YOUNG_SECONDS = 60.0  # a child that lived longer died of something new: replace it soon again
# How long a stopping serve waits for the child: more than `manage.py runner` itself waits for
# its experiments' audits (STOP_WAIT_SECONDS there).
STOP_WAIT_SECONDS = 150.0


class RunnerProcess:
    """The supervised runner child of this process (start, wake, stop)."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._link: ParentEnd | None = None
        self._thread = threading.Thread(target=self._supervise, name="runner-supervisor")
        self._thread.daemon = True

    def start(self) -> RunnerProcess:
        self._thread.start()
        return self

    @property
    def pid(self) -> int | None:
        """The running child's process id (None between a death and the restart)."""
        with self._lock:
            alive = self._process is not None and self._process.poll() is None
            return self._process.pid if alive else None

    def wake(self) -> None:
        """Tell the child to look at the queue now."""
        with self._lock:
            link = self._link
        if link is not None:
            link.wake()

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> int | None:
        """Stop the child (SIGTERM: its experiments are stopped and audited as far as they ran;
        SIGKILL after `timeout`) and restart it no more; return its exit code."""
        with self._lock:  # a child being started now is either registered, or never started
            self._stopping.set()
            process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("the runner process did not stop within %.0f s: killed", timeout)
                process.kill()
                process.wait()
        self._thread.join(timeout=10)
        return process.returncode

    def _supervise(self) -> None:
        delay = RESTART_FIRST_SECONDS
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                started_child = self._spawn()
            except OSError as error:  # no process to start (a full process table): try again
                log.error("could not start the runner process: %s", error)
            else:
                if started_child is None:
                    return  # serve is stopping
                process, link = started_child
                process.wait()
                link.close()
                if self._stopping.is_set():
                    return
                self._lost(process)
            if time.monotonic() - started >= YOUNG_SECONDS:
                delay = RESTART_FIRST_SECONDS
            log.warning("a new runner process starts in %.1f s", delay)
            self._stopping.wait(delay)
            delay = min(2 * delay, RESTART_MAX_SECONDS)

    def _spawn(self) -> tuple[subprocess.Popen, ParentEnd] | None:
        """A new child and its link (None when serve is stopping: no child started)."""
        link, theirs = ParentEnd.pair()
        fd = theirs.fileno()
        command = [sys.executable, "manage.py", "runner", "--link-fd", str(fd)]
        try:
            with self._lock:
                if self._stopping.is_set():
                    link.close()
                    return None
                self._process = subprocess.Popen(
                    orphan_proof(command),  # setpriv execs python: the same pid, its runner name
                    cwd=PROJECT_ROOT,
                    stdin=subprocess.DEVNULL,
                    pass_fds=(fd,),
                )
                self._link = link
                return self._process, link
        except OSError:
            link.close()
            raise
        finally:
            theirs.close()

    def _lost(self, process: subprocess.Popen) -> None:
        """The child died unasked: fail the experiments it was running, saying how it died."""
        how = describe_exit(process.returncode)
        try:
            lost = experiments.lose_runs(
                runner=runner_name(process.pid),
                reason=(
                    f"the run was lost: the runner process running it {how} before the run "
                    "finished, so it has no audit; run it again"
                ),
            )
        except Exception:  # a database hiccup must not end the supervision
            log.exception("marking the experiments of runner %s failed went wrong", process.pid)
            lost = []
        finally:
            connections.close_all()  # this thread's own connections
        log.warning(
            "the runner process %d %s; experiments lost: %s",
            process.pid,
            how,
            ", ".join(lost) or "none",
        )


def describe_exit(returncode: int) -> str:
    """How a child process ended, in words: "was killed by SIGABRT", "exited with code 1"."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"
