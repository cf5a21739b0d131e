"""Worker supervision: how the producer and consumer processes start, report, end and come back.

The supervisor starts each worker session as an OS process (a spare one, workers/spares.py, handed
the session's orders), reads its JSON reports, and notices
when it ends and why (the exit codes of workers/exits.py, or a signal). A clean finish is the end
of that worker; any other end is restarted as the spec's `restarts` allow, whatever caused it, and
the timeline says why. A failure nobody meant (not a scheduled or requested kill) counts against
MAX_FAILURES; past it, or when the worker could not start at all, or when restarts are off for a
failure nobody meant, the run is no longer a faithful run of its spec: that is a Problem.

The consumer is a group of members (consumer.members, and those add-consumer adds), each a worker
of its own, named by naming.member_name ("consumer", "consumer-1", ...): started, restarted,
stopped, frozen and killed by that name. Consumer sessions are counted over the whole group.
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
from playground.engine.naming import (
    CONSUMER,
    MAX_MEMBERS,
    PRODUCER,
    WORKER_ROLES,
    ExperimentNames,
    member_name,
    member_of,
)
from playground.engine.run import timeline
from playground.engine.run.problems import Problem, log_excerpt
from playground.engine.spec.model import Spec
from playground.engine.workers.exits import (
    EXIT_DONE,
    EXIT_INSTANCE_HELD,
    EXIT_START_FAILED,
    describe,
)
from playground.engine.workers.runtime import Crash, Orders, Report
from playground.engine.workers.spares import SPARES

MAX_FAILURES = 20  # unmeant failures of one worker in one run before the run is broken
START_SECONDS = 60.0  # a worker that has not started its clients by then is stuck: killed
STOP_GRACE_SECONDS = 15.0


def role_of_worker(name: str) -> str:
    """The role of the worker called `name`: CONSUMER for a member of the group, else PRODUCER."""
    return PRODUCER if member_of(name) is None else CONSUMER


@dataclass
class Worker:
    """One running worker session."""

    name: str  # the worker's: PRODUCER, or a member's (naming.member_name)
    session: int
    process: subprocess.Popen
    count: int = 0  # consumer: records this member handled, over all its sessions
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
    paused: bool = False  # frozen by pause-consumer (SIGSTOP) until SIGCONT
    stalled: bool = False  # its handler stalls (stall-consumer), from its report until it wakes
    leaving: bool = False  # remove-consumer: asked to stop; it ends for good, as meant

    @property
    def role(self) -> str:
        return role_of_worker(self.name)


@dataclass(frozen=True)
class Ending:
    """A worker session that ended (why is in the timeline)."""

    name: str
    for_good: bool  # no restart is coming

    @property
    def role(self) -> str:
        return role_of_worker(self.name)


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
        self.workers: dict[str, Worker] = {}  # by worker name
        self.sessions = dict.fromkeys(WORKER_ROLES, 0)  # the next session of each role
        self.failures: dict[str, int] = {}  # by worker name
        self.dead: set[str] = set()  # workers ended for good, by name
        # How and when each worker ended for good: (time.monotonic(), e.g. "had finished").
        self.ended: dict[str, tuple[float, str]] = {}
        self.members: list[str] = []  # the group's members, by name, in the order they joined
        self.member_counts: dict[str, int] = {}  # records each member handled, over its sessions
        self.consumer_count = 0  # records the group has handled, over all members and sessions
        self._messages: queue.Queue = queue.Queue()
        # Set by the conductor: the crashes and strikes a new session gets, and what it does
        # with each report (after the supervisor has noted it).
        self.crashes_for: Callable[[str], list[Crash]] = lambda role: []
        self.strikes: Callable[[], list[int]] = list
        self.on_report: Callable[[Worker, dict], None] = lambda worker, message: None
        SPARES.stock()  # the first run of a process: spares start while its topics are made

    # -- starting ---------------------------------------------------------------------------
    def start_group(self) -> None:
        """Start the consumer group's members, as many as consumer.members."""
        for member in range(self.spec.consumer.members):
            self.members.append(member_name(member))
            self.start(member_name(member))

    def add_member(self) -> str | None:
        """A new member joins the group (add-consumer): its name, or None when the group has
        MAX_MEMBERS already."""
        if len(self.members) >= MAX_MEMBERS:
            return None
        name = member_name(len(self.members))
        self.members.append(name)
        self.start(name)
        return name

    def start(self, name: str, why: str = "") -> None:
        """Start a new session of worker `name` (its crashes and strikes from the fault
        schedule)."""
        role = role_of_worker(name)
        session = self.sessions[role]
        self.sessions[role] += 1
        member = member_of(name)
        orders = Orders(
            role=role,
            experiment_dir=str(self.names.root),
            experiment_id=self.names.experiment_id,
            bootstrap_servers=self.servers,
            session=session,
            member=member or 0,
            crashes=self.crashes_for(name),
            strikes=self.strikes() if role == PRODUCER else [],
            counted_before=self.member_counts.get(name, 0),
        )
        # The worker opens its log itself (a spare is started before anyone knows its
        # experiment); the file exists from here on, for the timeline to name.
        self.names.worker_log(name).touch()
        process = SPARES.hand(orders.to_json())
        worker = Worker(name, session, process, count=orders.counted_before)
        worker.reader = threading.Thread(target=self._read_reports, args=(worker,), daemon=True)
        worker.reader.start()
        self.workers[name] = worker
        if name in self.failures:  # it ran before: a restart
            self.record(timeline.RESTART, f"{name} restarted (session {session}){why}")
        self.failures.setdefault(name, 0)

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
            if arm_file.path(str(self.names.root), worker.name).exists():
                # Armed while it was starting: its signal handler is in place only now.
                worker.process.send_signal(signal.SIGUSR1)
        elif event == Report.PROGRESS:
            positions = {int(p): offset for p, offset in message["positions"].items()}
            if message["count"] != worker.count or positions != worker.positions:
                worker.last_progress = time.monotonic()
            worker.count, worker.positions = message["count"], positions
            self._counted(worker)
        elif event == Report.CRASH:
            worker.crashed_at = message["point"]
            if worker.role == CONSUMER:
                worker.count = message["count"]
                self._counted(worker)
        elif event == Report.STALL:
            worker.stalled = True
        elif event == Report.WOKE:
            worker.stalled = False
            worker.last_progress = time.monotonic()
        elif event == Report.FINISHED:
            worker.finished = True
            worker.stopped_early = bool(message.get("stopped"))

    def _counted(self, member: Worker) -> None:
        self.member_counts[member.name] = member.count
        self.consumer_count = sum(self.member_counts.values())

    def running_members(self) -> list[Worker]:
        """The group's members that have a running session."""
        return [self.workers[name] for name in self.members if name in self.workers]

    def group_positions(self) -> dict[int, int]:
        """How far the group has got in each partition: the furthest any running member
        reports (each reports only the partitions it owns)."""
        positions: dict[int, int] = {}
        for member in self.running_members():
            for partition, offset in member.positions.items():
                positions[partition] = max(positions.get(partition, 0), offset)
        return positions

    def group_ended(self) -> bool:
        """Whether every member of the group has ended for good."""
        return all(name in self.dead for name in self.members)

    # -- endings ----------------------------------------------------------------------------
    def endings(self, *, restarting: bool) -> list[Ending]:
        """The workers that ended since the last call; each one is restarted when the spec and
        the run's phase (`restarting`) allow it."""
        ended = []
        for name, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            worker.reader.join(timeout=5)  # every report it wrote before dying comes first
            self.pump()
            del self.workers[name]
            ended.append(self._end(worker, code, restarting))
        return ended

    def _end(self, worker: Worker, code: int, restarting: bool) -> Ending:
        name, role = worker.name, worker.role
        # A consumer only ends cleanly when asked to (stop() collects it): one that ended on its
        # own did not finish anything.
        if code == EXIT_DONE and role == PRODUCER and worker.finished:
            self.record(timeline.STOP, f"{name} finished")
            self._ended(name, "had finished")
            return Ending(name, for_good=True)
        if worker.leaving and code in (EXIT_DONE, -signal.SIGKILL):
            self.record(timeline.STOP, f"{name} left the group")
            self._ended(name, "had left the group")
            return Ending(name, for_good=True)
        # A member refused while its dead predecessor's session runs out is the group's timeout
        # at work, not a failure: it is started again (as restarts allow) until the group lets it.
        meant = worker.crashed_at is not None or worker.kill_meant or code == EXIT_INSTANCE_HELD
        reason = self._reason(worker, code)
        log_name = self.names.worker_log(name).name
        self.record(timeline.EXIT, f"{name} {reason}; see {log_name}")
        excerpt = log_excerpt(self.names.worker_log(name))
        if code == EXIT_START_FAILED:
            self.problems.append(Problem(f"the {name} {reason}", excerpt))
            return self._for_good(worker)
        if not meant:
            self.failures[name] = self.failures.get(name, 0) + 1
            if self.failures[name] > MAX_FAILURES:
                self.problems.append(
                    Problem(
                        f"the {name} failed {self.failures[name]} times; last: {reason}", excerpt
                    )
                )
                return self._for_good(worker)
        restart = getattr(self.spec.restarts, role)
        if not restart.enabled or not restarting:
            if not meant and restarting:
                self.problems.append(
                    Problem(f"the {name} {reason}, and restarts.{role} is off", excerpt)
                )
            return self._for_good(worker)
        why = f" after it {reason}"
        self.after(restart.delay_ms / 1000, lambda: self._restart(name, why))
        return Ending(name, for_good=False)

    def _restart(self, name: str, why: str) -> None:
        if name not in self.dead and name not in self.workers:
            self.start(name, why)

    def _for_good(self, worker: Worker) -> Ending:
        self._ended(worker.name, "had ended for good")
        return Ending(worker.name, for_good=True)

    def _ended(self, name: str, how: str) -> None:
        self.dead.add(name)
        self.ended.setdefault(name, (time.monotonic(), how))

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
        for name, worker in list(self.workers.items()):
            if not worker.started and now - worker.created > START_SECONDS:
                self.kill(name, f"did not start within {START_SECONDS:.0f} s and was killed",
                          meant=False)  # fmt: skip

    # -- acting on workers ------------------------------------------------------------------
    def kill(self, name: str, reason: str, *, meant: bool) -> bool:
        """SIGKILL the running worker `name` now; False if none is running."""
        worker = self.workers.get(name)
        if worker is None or worker.process.poll() is not None:
            return False
        worker.kill_reason, worker.kill_meant = reason, meant
        worker.process.kill()
        return True

    def freeze(self, name: str) -> bool:
        """Freeze the running worker `name` (SIGSTOP; pause-consumer); False if none is
        running or it is frozen already."""
        worker = self.workers.get(name)
        if worker is None or worker.paused or worker.process.poll() is not None:
            return False
        worker.process.send_signal(signal.SIGSTOP)
        worker.paused = True
        return True

    def thaw(self, name: str) -> bool:
        """Let a frozen worker carry on (SIGCONT); False if it is not frozen (or gone)."""
        worker = self.workers.get(name)
        if worker is None or not worker.paused:
            return False
        worker.paused = False
        worker.last_progress = time.monotonic()  # its watch starts again from here
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGCONT)
        return True

    def retire(self, name: str) -> bool:
        """Ask a member to leave the group cleanly (remove-consumer): SIGTERM, no restart, and a
        SIGKILL if it has not ended STOP_GRACE_SECONDS later. Returns at once (the conductor
        goes on); False if it is not running."""
        worker = self.workers.get(name)
        if worker is None or worker.leaving or worker.process.poll() is not None:
            return False
        worker.leaving = True
        self.thaw(name)
        worker.process.send_signal(signal.SIGTERM)
        self.after(STOP_GRACE_SECONDS, lambda: self._kill_if_still(worker))
        return True

    @staticmethod
    def _kill_if_still(worker: Worker) -> None:
        if worker.process.poll() is None:
            worker.process.kill()

    def arm(self, name: str, crashes: list[Crash]) -> bool:
        """Have worker `name` die at its next point of each crash in `crashes` (the armed
        crashes that have not happened: [] disarms); False if it is not running (a new session
        reads them)."""
        path = arm_file.path(str(self.names.root), name)
        if not crashes:
            path.unlink(missing_ok=True)
            return False
        arm_file.write(path, [crash.__dict__ for crash in crashes])
        worker = self.workers.get(name)
        if worker is None:
            return False
        # A worker still starting has no handler for the signal yet (it would die of it); it
        # reads the arm file when its handler is in place, and is signalled once started.
        # One that finished its work is on its way out: the signal would only kill it.
        if worker.started and not worker.finished:
            worker.process.send_signal(signal.SIGUSR1)
        return True

    def stop(self, name: str) -> None:
        """Stop a worker cleanly (SIGTERM, then SIGKILL after a grace period); no restart."""
        worker = self.workers.get(name)
        self._ended(name, "had been stopped")
        if worker is None:
            return
        self.thaw(name)  # a frozen process would only act on SIGTERM once it carries on
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        worker.reader.join(timeout=5)
        self.pump()
        self.workers.pop(name, None)
        self.record(timeline.STOP, f"{name} stopped")

    def stop_group(self) -> None:
        """Stop every member of the group: SIGTERM to all at once, then each collected (so the
        group's members leave together, not one rebalance after another)."""
        for member in self.running_members():
            self.thaw(member.name)
            member.process.send_signal(signal.SIGTERM)
        for name in list(self.members):
            self.stop(name)

    def stop_all(self) -> None:
        for name in list(self.workers):
            self.stop(name)
