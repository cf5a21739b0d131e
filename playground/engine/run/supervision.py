"""Worker supervision: how the producer and consumer processes start, report, end and come back.

The supervisor starts each worker session as an OS process (a spare one, workers/spares.py, handed
the session's orders), reads its JSON reports, and notices
when it ends and why (the exit codes of workers/exits.py, or a signal). A clean finish is the end
of that worker; any other end is restarted as the spec's `restarts` allow, whatever caused it, and
the timeline says why. A failure nobody meant (not a scheduled or requested kill) counts against
MAX_FAILURES; past it, or when the worker could not start at all, or when restarts are off for a
failure nobody meant, the run is no longer a faithful run of its spec: that is a Problem.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.engine.formats import arm_file
from playground.engine.naming import CONSUMER, PRODUCER, WORKER_ROLES, ExperimentNames
from playground.engine.run import timeline
from playground.engine.run.problems import Problem, log_excerpt
from playground.engine.spec.model import Spec
from playground.engine.workers.exits import EXIT_DONE, EXIT_START_FAILED, describe
from playground.engine.workers.runtime import Crash, Orders, Report
from playground.engine.workers.spares import SPARES

MAX_FAILURES = 20  # unmeant failures of one worker in one run before the run is broken
START_SECONDS = 60.0  # a worker that has not started its clients by then is stuck: killed
STOP_GRACE_SECONDS = 15.0


@dataclass
class Worker:
    """One running worker session."""

    role: str
    session: int
    process: subprocess.Popen
    count: int = 0  # consumer: records handled, over all sessions
    positions: dict[int, int] = field(default_factory=dict)  # partition -> offset reached
    started: bool = False  # it reported that its clients are up
    finished: bool = False  # producer: it reported the end of its workload
    stopped_early: bool = False  # producer: it finished because it was asked to stop
    created: float = field(default_factory=time.monotonic)
    last_progress: float = field(default_factory=time.monotonic)
    kill_reason: str | None = None  # why the conductor killed it, when it did
    kill_meant: bool = False  # whether that kill was a fault (or a request), not a rescue
    crashed_at: str | None = None  # the crash point it reported before killing itself
    reader: threading.Thread | None = None


@dataclass(frozen=True)
class Ending:
    """A worker session that ended (why is in the timeline)."""

    role: str
    for_good: bool  # no restart is coming


class Supervisor:
    """Starts, watches and restarts the workers of one experiment."""

    def __init__(
        self,
        spec: Spec,
        names: ExperimentNames,
        *,
        servers: str,
        record: Callable[..., None],
        after: Callable[[float, Callable[[], None]], None],
        problems: list[Problem],
    ) -> None:
        self.spec = spec
        self.names = names
        self.servers = servers
        self.record = record  # record(kind, detail, fault=None): a timeline event
        self.after = after
        self.problems = problems
        self.workers: dict[str, Worker] = {}
        self.sessions = dict.fromkeys(WORKER_ROLES, 0)
        self.failures = dict.fromkeys(WORKER_ROLES, 0)
        self.dead: set[str] = set()  # roles ended for good
        # How and when each role ended for good: (time.monotonic(), e.g. "had finished").
        self.ended: dict[str, tuple[float, str]] = {}
        self.consumer_count = 0  # records the consumer has handled, over all sessions
        self._messages: queue.Queue = queue.Queue()
        # Set by the conductor: the crashes and strikes a new session gets, and what it does
        # with each report (after the supervisor has noted it).
        self.crashes_for: Callable[[str], list[Crash]] = lambda role: []
        self.strikes: Callable[[], list[int]] = list
        self.on_report: Callable[[Worker, dict], None] = lambda worker, message: None
        SPARES.stock()  # the first run of a process: spares start while its topics are made

    # -- starting ---------------------------------------------------------------------------
    def start(self, role: str, why: str = "") -> None:
        """Start a new session of `role` (its crashes and strikes from the fault schedule)."""
        session = self.sessions[role]
        self.sessions[role] += 1
        orders = Orders(
            role=role,
            experiment_dir=str(self.names.root),
            experiment_id=self.names.experiment_id,
            bootstrap_servers=self.servers,
            session=session,
            crashes=self.crashes_for(role),
            strikes=self.strikes() if role == PRODUCER else [],
            counted_before=self.consumer_count if role == CONSUMER else 0,
        )
        # The worker opens its log itself (a spare is started before anyone knows its
        # experiment); the file exists from here on, for the timeline to name.
        self.names.worker_log(role).touch()
        process = SPARES.hand(orders.to_json())
        worker = Worker(role, session, process, count=orders.counted_before)
        worker.reader = threading.Thread(target=self._read_reports, args=(worker,), daemon=True)
        worker.reader.start()
        self.workers[role] = worker
        if session:
            self.record(timeline.RESTART, f"{role} restarted (session {session}){why}")

    def _read_reports(self, worker: Worker) -> None:
        for line in worker.process.stdout:
            try:
                self._messages.put((worker, json.loads(line)))
            except json.JSONDecodeError:
                continue

    # -- reports ----------------------------------------------------------------------------
    def pump(self, wait: float = 0.0) -> None:
        """Take the reports received so far (waiting up to `wait` seconds for the first)."""
        try:
            item = self._messages.get(timeout=wait) if wait else self._messages.get_nowait()
        except queue.Empty:
            return
        while True:
            self.note(*item)
            self.on_report(*item)
            try:
                item = self._messages.get_nowait()
            except queue.Empty:
                return

    def note(self, worker: Worker, message: dict) -> None:
        """Keep what a report says about the worker's own state."""
        event = message.get("event")
        if event == Report.STARTED:
            worker.started = True
            worker.last_progress = time.monotonic()
            if arm_file.path(str(self.names.root), worker.role).exists():
                # Armed while it was starting: its signal handler is in place only now.
                worker.process.send_signal(signal.SIGUSR1)
        elif event == Report.PROGRESS:
            positions = {int(p): offset for p, offset in message["positions"].items()}
            if message["count"] != worker.count or positions != worker.positions:
                worker.last_progress = time.monotonic()
            worker.count, worker.positions = message["count"], positions
            self.consumer_count = max(self.consumer_count, worker.count)
        elif event == Report.CRASH:
            worker.crashed_at = message["point"]
            if worker.role == CONSUMER:
                self.consumer_count = worker.count = message["count"]
        elif event == Report.FINISHED:
            worker.finished = True
            worker.stopped_early = bool(message.get("stopped"))

    # -- endings ----------------------------------------------------------------------------
    def endings(self, *, restarting: bool) -> list[Ending]:
        """The workers that ended since the last call; each one is restarted when the spec and
        the run's phase (`restarting`) allow it."""
        ended = []
        for role, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            worker.reader.join(timeout=5)  # every report it wrote before dying comes first
            self.pump()
            del self.workers[role]
            ended.append(self._end(worker, code, restarting))
        return ended

    def _end(self, worker: Worker, code: int, restarting: bool) -> Ending:
        role = worker.role
        # A consumer only ends cleanly when asked to (stop() collects it): one that ended on its
        # own did not finish anything.
        if code == EXIT_DONE and role == PRODUCER and worker.finished:
            self.record(timeline.STOP, f"{role} finished")
            self._ended(role, "had finished")
            return Ending(role, for_good=True)
        meant = worker.crashed_at is not None or worker.kill_meant
        reason = self._reason(worker, code)
        log_name = self.names.worker_log(role).name
        self.record(timeline.EXIT, f"{role} {reason}; see {log_name}")
        excerpt = log_excerpt(self.names.worker_log(role))
        if code == EXIT_START_FAILED:
            self.problems.append(Problem(f"the {role} {reason}", excerpt))
            return self._for_good(worker)
        if not meant:
            self.failures[role] += 1
            if self.failures[role] > MAX_FAILURES:
                self.problems.append(
                    Problem(
                        f"the {role} failed {self.failures[role]} times; last: {reason}", excerpt
                    )
                )
                return self._for_good(worker)
        restart = getattr(self.spec.restarts, role)
        if not restart.enabled or not restarting:
            if not meant and restarting:
                self.problems.append(
                    Problem(f"the {role} {reason}, and restarts.{role} is off", excerpt)
                )
            return self._for_good(worker)
        why = f" after it {reason}"
        self.after(restart.delay_ms / 1000, lambda: self._restart(role, why))
        return Ending(role, for_good=False)

    def _restart(self, role: str, why: str) -> None:
        if role not in self.dead and role not in self.workers:
            self.start(role, why)

    def _for_good(self, worker: Worker) -> Ending:
        self._ended(worker.role, "had ended for good")
        return Ending(worker.role, for_good=True)

    def _ended(self, role: str, how: str) -> None:
        self.dead.add(role)
        self.ended.setdefault(role, (time.monotonic(), how))

    @staticmethod
    def _reason(worker: Worker, code: int) -> str:
        if worker.crashed_at is not None:
            return f"killed itself (SIGKILL) at {worker.crashed_at}"
        if worker.kill_reason is not None:
            return worker.kill_reason
        if code < 0:
            why = f"was killed by signal {signal.Signals(-code).name}, which nobody here sent"
        elif code == EXIT_DONE:
            why = "ended on its own without finishing"
        else:
            why = describe(code)
        return why if worker.started else f"could not start: it {why}"

    def kill_stuck_starters(self, now: float) -> None:
        """A worker that has not started its clients within START_SECONDS is stuck (a client
        call that never returns): it is treated as failed, and restarted as the spec allows."""
        for role, worker in list(self.workers.items()):
            if not worker.started and now - worker.created > START_SECONDS:
                self.kill(role, f"did not start within {START_SECONDS:.0f} s and was killed",
                          meant=False)  # fmt: skip

    # -- acting on workers ------------------------------------------------------------------
    def kill(self, role: str, reason: str, *, meant: bool) -> bool:
        """SIGKILL the running `role` now; False if none is running."""
        worker = self.workers.get(role)
        if worker is None or worker.process.poll() is not None:
            return False
        worker.kill_reason, worker.kill_meant = reason, meant
        worker.process.kill()
        return True

    def arm(self, role: str, crashes: list[Crash]) -> bool:
        """Have `role` die at its next point of each crash in `crashes` (the armed crashes that
        have not happened: [] disarms); False if none is running (a new session reads them)."""
        path = arm_file.path(str(self.names.root), role)
        if not crashes:
            path.unlink(missing_ok=True)
            return False
        arm_file.write(path, [crash.__dict__ for crash in crashes])
        worker = self.workers.get(role)
        if worker is None:
            return False
        # A worker still starting has no handler for the signal yet (it would die of it); it
        # reads the arm file when its handler is in place, and is signalled once started.
        # One that finished its work is on its way out: the signal would only kill it.
        if worker.started and not worker.finished:
            worker.process.send_signal(signal.SIGUSR1)
        return True

    def stop(self, role: str) -> None:
        """Stop a worker cleanly (SIGTERM, then SIGKILL after a grace period); no restart."""
        worker = self.workers.get(role)
        self._ended(role, "had been stopped")
        if worker is None:
            return
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.reader.join(timeout=5)
        self.pump()
        self.workers.pop(role, None)
        self.record(timeline.STOP, f"{role} stopped")

    def stop_all(self) -> None:
        for role in list(self.workers):
            self.stop(role)
