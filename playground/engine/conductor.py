"""The conductor: runs one experiment from its spec to its audited result.

It creates the experiment's topics, starts the consumer and producer as OS processes, applies the
fault schedule at its exact points, restarts crashed workers, drains (until the consumer has caught
up with everything the producer got acknowledged), restores the cluster, and audits the three raw
records. It emits progress snapshots several times a second to whoever listens (the CLI, the page).
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playground.engine import timing
from playground.engine.evidence import gather_evidence, promise_json
from playground.engine.live import LiveTally, LogEnds
from playground.engine.naming import ExperimentNames
from playground.engine.spec import Commit, Fault, FaultKind, Pipeline, Spec
from playground.engine.workers import runtime as worker_runtime
from playground.engine.workers.runtime import Crash, Orders, arm_file
from playground.lab.admin import create_topic
from playground.lab.control import LabClient, LabError
from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof

SNAPSHOT_INTERVAL_SECONDS = 0.1  # the live page updates 10 times a second
DRAIN_STALL_SECONDS = 30.0  # draining gives up when the consumer makes no progress this long
DRAIN_MAX_SECONDS = 900.0  # and in any case after this long
END_CHECK_INTERVAL_SECONDS = 0.25  # how often draining compares the consumer with the log's end
BROKER_RESTART_DELAY_SECONDS = 3.0  # a killed broker comes back so the cluster ends whole
PAUSE_WINDOW_SECONDS = 1.0  # pause-followers-kill-leader: the leader takes writes alone this long
STOP_GRACE_SECONDS = 15.0
LIVE_CRASH = -1  # fault index of the crash the page can arm at the consumer's next crash point

BROKER_FAULTS = (
    FaultKind.KILL_LEADER,
    FaultKind.PAUSE_FOLLOWERS_KILL_LEADER,
    FaultKind.DROP_ACKS,
    FaultKind.BLACKHOLE_BROKER,
)

# Phases of an experiment, as snapshots report them.
STARTING, RUNNING, DRAINING, AUDITING, DONE, FAILED = (
    "starting", "running", "draining", "auditing", "done", "failed",
)  # fmt: skip


class ExperimentError(RuntimeError):
    """The experiment could not run (not a finding about delivery semantics)."""


@dataclass
class Worker:
    """One running worker session."""

    role: str
    session: int
    process: subprocess.Popen
    count: int = 0
    positions: dict[int, int] = field(default_factory=dict)  # partition -> offset reached
    finished: bool = False
    reader: threading.Thread | None = None


@dataclass
class Event:
    """One entry of the timeline: something that happened, and when (seconds since the start)."""

    at: float
    # "phase", "fault", "crash", "restart", "exit" (died), "stop" (ended cleanly), "broker",
    # "action", "error"
    kind: str
    detail: str
    fault: int | None = None

    def to_json(self) -> dict:
        return {
            "at": round(self.at, 3),
            "kind": self.kind,
            "detail": self.detail,
            "fault": self.fault,
        }


@dataclass(order=True)
class _Scheduled:
    due: float
    sequence: int
    action: Callable[[], None] = field(compare=False)


class Conductor:
    """Runs one experiment. `run()` blocks until the result is ready; `act()` is thread-safe."""

    def __init__(
        self,
        spec: Spec,
        *,
        experiment_id: str,
        root: Path,
        bootstrap_servers: str,
        direct_bootstrap_servers: str,
        lab: LabClient | None,
        on_snapshot: Callable[[dict], None] | None = None,
    ) -> None:
        self.spec = spec
        self.names = ExperimentNames(experiment_id, Path(root))
        self.bootstrap = bootstrap_servers
        self.direct_bootstrap = direct_bootstrap_servers
        self.lab = lab
        self.on_snapshot = on_snapshot
        self.phase = STARTING
        self.timeline: list[Event] = []
        self.workers: dict[str, Worker] = {}
        self.sessions = {"producer": 0, "consumer": 0}
        self.dead: set[str] = set()  # roles that crashed with no restart coming
        self.fired: set[int] = set()  # fault indexes already applied
        self.consumer_count = 0
        self.producer_done = False
        self.drain_started: float | None = None
        self.last_progress = time.monotonic()  # when the consumer's count last moved
        self.drained = False
        self.errors: list[str] = []
        self._scheduled: list[_Scheduled] = []
        self._sequence = itertools.count()
        self._messages: queue.Queue = queue.Queue()
        self._requests: queue.Queue = queue.Queue()
        self._started = time.monotonic()
        self._last_snapshot = 0.0
        unavailable = [i for i, f in enumerate(spec.faults) if f.kind in BROKER_FAULTS]
        if unavailable and lab is None:
            raise ExperimentError(
                f"faults[{unavailable[0]}].kind: broker faults need the managed cluster; "
                "this app uses an external one (KAFKA_BOOTSTRAP_SERVERS)"
            )
        self.tally = LiveTally(self.names, spec, direct_bootstrap_servers)
        self.ends = LogEnds(direct_bootstrap_servers, self.names.input_topic, spec)
        self._last_end_check = 0.0

    # -- the experiment -----------------------------------------------------------------------
    def run(self) -> dict:
        """Run the experiment to its end and return its result (also written to result.json)."""
        try:
            self._prepare()
            self._started = time.monotonic()
            self._started_at_ms = int(time.time() * 1000)
            self._set_phase(RUNNING)
            self._start("consumer")
            self._start("producer")
            self._schedule_timed_faults()
            while not self._finished():
                self._step()
            self._set_phase(AUDITING)
        finally:
            self._stop_workers()
            self._restore_cluster()
            self.tally.close()
            self.ends.close()
        result = self._audit()
        self._set_phase(DONE)
        self.names.result_file.write_text(json.dumps(result, indent=1))
        return result

    def act(self, action: str, **params: object) -> None:
        """Ask for a live action (from any thread): kill-consumer, kill-consumer-at-point,
        kill-producer, kill-leader, pause-broker, resume-broker, drop-acks, stop."""
        self._requests.put((action, params))

    def _prepare(self) -> None:
        self.names.root.mkdir(parents=True)  # a fresh folder: the raw records start empty
        self.names.spec_file.write_text(json.dumps(self.spec.to_json(), indent=1))
        partitions = self.spec.workload.partitions
        create_topic(self.direct_bootstrap, self.names.input_topic, partitions=partitions)
        if self.spec.pipeline == Pipeline.KAFKA_TO_KAFKA:
            create_topic(self.direct_bootstrap, self.names.output_topic, partitions=partitions)

    def _step(self) -> None:
        try:
            worker, message = self._messages.get(timeout=0.05)
            self._on_message(worker, message)
        except queue.Empty:
            pass
        self._handle_queued_messages()
        now = time.monotonic()
        while self._scheduled and self._scheduled[0].due <= now:
            heapq.heappop(self._scheduled).action()
        while not self._requests.empty():
            self._on_request(*self._requests.get())
        self._check_exits()
        self._check_drain()
        if now - self._last_snapshot >= SNAPSHOT_INTERVAL_SECONDS:
            self._last_snapshot = now
            self._snapshot()

    def _finished(self) -> bool:
        return (
            self.drained
            or (self.producer_done and "consumer" in self.dead)
            or bool(self.errors and not self.workers)
        )

    # -- workers ------------------------------------------------------------------------------
    def _start(self, role: str) -> None:
        session = self.sessions[role]
        self.sessions[role] += 1
        orders = Orders(
            role=role,
            experiment_dir=str(self.names.root),
            experiment_id=self.names.experiment_id,
            bootstrap_servers=self.bootstrap,
            session=session,
            crashes=self._crashes_for(role),
            checkpoints=self._checkpoints() if role == "producer" else [],
            counted_before=self.consumer_count if role == "consumer" else 0,
        )
        command = orphan_proof(
            [sys.executable, "-m", "playground.engine.workers", orders.to_json()]
        )
        with open(self.names.worker_log(role), "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                bufsize=1,
            )
        worker = Worker(role, session, process, count=orders.counted_before)
        worker.reader = threading.Thread(target=self._read_reports, args=(worker,), daemon=True)
        worker.reader.start()
        self.workers[role] = worker
        if session:
            self._event("restart", f"{role} restarted (session {session})")

    def _handle_queued_messages(self) -> None:
        while True:
            try:
                worker, message = self._messages.get_nowait()
            except queue.Empty:
                return
            self._on_message(worker, message)

    def _read_reports(self, worker: Worker) -> None:
        for line in worker.process.stdout:
            try:
                self._messages.put((worker, json.loads(line)))
            except json.JSONDecodeError:
                continue

    def _crashes_for(self, role: str) -> list[Crash]:
        """The record-counted crashes of `role` that have not happened yet."""
        crashes = []
        for index, fault in enumerate(self.spec.faults):
            if index in self.fired or fault.at.records is None:
                continue
            if role == "consumer" and fault.kind == FaultKind.KILL_CONSUMER:
                crashes.append(Crash(fault.point.value, fault.at.records, fault=index))
            if role == "producer" and fault.kind == FaultKind.KILL_PRODUCER:
                crashes.append(Crash(worker_runtime.AFTER_SEND, fault.at.records, fault=index))
        return crashes

    def _arm_consumer(self, point: str, fault: int) -> bool:
        """Make the consumer die at its next crash point `point`; False if none is running."""
        worker = self.workers.get("consumer")
        if worker is None:
            return False
        arm_file(str(self.names.root), "consumer").write_text(
            json.dumps({"point": point, "after_records": None, "fault": fault})
        )
        worker.process.send_signal(signal.SIGUSR1)
        return True

    def _live_crash_point(self) -> str:
        """The point between processing and commit that the page's crash button aims at."""
        if self.spec.consumer.commit == Commit.BEFORE_PROCESSING:
            return worker_runtime.AFTER_COMMIT_BEFORE_PROCESSING
        if self.spec.consumer.commit == Commit.TRANSACTIONAL:
            return worker_runtime.MID_TRANSACTION
        return worker_runtime.AFTER_PROCESSING_BEFORE_COMMIT

    def _checkpoints(self) -> list[int]:
        return sorted(
            {
                fault.at.records
                for index, fault in enumerate(self.spec.faults)
                if index not in self.fired and fault.kind in BROKER_FAULTS and fault.at.records
            }
        )

    def _on_message(self, worker: Worker, message: dict) -> None:
        event = message.get("event")
        if event == "progress":
            positions = {int(p): offset for p, offset in message["positions"].items()}
            if message["count"] != worker.count or positions != worker.positions:
                self.last_progress = time.monotonic()
            worker.count, worker.positions = message["count"], positions
            self.consumer_count = max(self.consumer_count, worker.count)
        elif event == "crash":
            if worker.role == "consumer":
                self.consumer_count = message["count"]
            fault = message.get("fault")
            if fault is not None and fault != LIVE_CRASH:
                self.fired.add(fault)
            self._event(
                "crash",
                f"{worker.role} killed itself (SIGKILL) at {message['point']} after record "
                f"{message['count']}",
                fault=fault,
            )
        elif event == "checkpoint":
            self._apply_checkpoint(message["count"])
            worker.process.stdin.write("go\n")
            worker.process.stdin.flush()
        elif event == "finished":
            worker.finished = True

    def _check_exits(self) -> None:
        for role, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            worker.reader.join(timeout=5)  # every report it wrote before dying is handled first
            self._handle_queued_messages()
            del self.workers[role]
            if code == 0 and (role == "consumer" or worker.finished):
                self._event("stop", f"{role} finished")
                if role == "producer":
                    self._producer_complete()
                continue
            killed = code == -signal.SIGKILL
            what = "was killed (SIGKILL)" if killed else f"failed (exit code {code})"
            self._event("exit", f"{role} {what}; see {self.names.worker_log(role).name}")
            restart = getattr(self.spec.restarts, role)
            if not killed:
                self.errors.append(f"{role} exited with code {code}")
            if killed and restart.enabled and self.phase in (RUNNING, DRAINING):
                self._after(restart.delay_ms / 1000, lambda role=role: self._start(role))
            else:
                self.dead.add(role)
                if role == "producer":
                    self._producer_complete()

    def _producer_complete(self) -> None:
        if not self.producer_done:
            self.producer_done = True
            self.drain_started = self.last_progress = time.monotonic()
            self._set_phase(DRAINING)

    def _check_drain(self) -> None:
        """Once the producer is done: stop the consumer when it has reached the end of every
        partition (as Kafka reports it), or give up when it stalls (no progress for
        DRAIN_STALL_SECONDS) or drains too long."""
        if not self.producer_done or self.drained:
            return
        consumer = self.workers.get("consumer")
        now = time.monotonic()
        if consumer and now - self._last_end_check >= END_CHECK_INTERVAL_SECONDS:
            self._last_end_check = now
            if self.ends.caught_up(consumer.positions):
                self._stop(consumer)
                self.drained = True
                return
        stalled = now - self.last_progress > DRAIN_STALL_SECONDS
        if stalled or now - self.drain_started > DRAIN_MAX_SECONDS:
            why = "made no progress" if stalled else "was still behind"
            self.errors.append(f"draining gave up: the consumer {why}")
            self._event("error", f"draining gave up: the consumer {why}; stopping it where it is")
            if consumer:
                self._stop(consumer)
            self.drained = True

    def _stop(self, worker: Worker) -> None:
        """Stop a worker cleanly (SIGTERM, then SIGKILL after a grace period)."""
        worker.process.send_signal(signal.SIGTERM)
        try:
            worker.process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
        self.workers.pop(worker.role, None)
        self._event("stop", f"{worker.role} stopped")

    def _stop_workers(self) -> None:
        for worker in list(self.workers.values()):
            self._stop(worker)

    # -- faults -------------------------------------------------------------------------------
    def _schedule_timed_faults(self) -> None:
        for index, fault in enumerate(self.spec.faults):
            if fault.at.seconds is not None:
                self._after(fault.at.seconds, lambda i=index, f=fault: self._apply_timed(i, f))

    def _apply_timed(self, index: int, fault: Fault) -> None:
        if index in self.fired:
            return
        if fault.kind == FaultKind.KILL_CONSUMER:
            if self._arm_consumer(fault.point.value, index):  # it dies at its next such point
                self._event("fault", f"consumer armed to crash at {fault.point}", fault=index)
            return
        if fault.kind == FaultKind.KILL_PRODUCER:
            self.fired.add(index)
            self._kill_worker("producer", fault=index)
            return
        self._apply_broker_fault(index, fault)

    def _apply_checkpoint(self, count: int) -> None:
        for index, fault in enumerate(self.spec.faults):
            if (
                index not in self.fired
                and fault.kind in BROKER_FAULTS
                and fault.at.records == count
            ):
                self._apply_broker_fault(index, fault)

    def _apply_broker_fault(self, index: int, fault: Fault) -> None:
        self.fired.add(index)
        lab, topic = self.lab, self.names.input_topic
        try:
            if fault.kind == FaultKind.KILL_LEADER:
                leader = lab.kill_leader(topic, fault.partition)
                self._event(
                    "fault", f"killed broker {leader}, leader of {topic}-{fault.partition}", index
                )
                self._after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(leader))
            elif fault.kind == FaultKind.PAUSE_FOLLOWERS_KILL_LEADER:
                leadership = lab.leadership(topic, fault.partition)
                for follower in leadership.followers:
                    lab.pause(follower)
                self._event(
                    "fault",
                    f"paused followers {list(leadership.followers)} of {topic}-{fault.partition}; "
                    f"broker {leadership.leader} leads alone",
                    index,
                )
                self._after(PAUSE_WINDOW_SECONDS, lambda: self._kill_lone_leader(leadership))
            elif fault.kind == FaultKind.DROP_ACKS:
                lab.drop_produce_responses(fault.count)
                self._event(
                    "fault",
                    f"the proxy drops the responses to the next {fault.count} Produce requests",
                    index,
                )
            elif fault.kind == FaultKind.BLACKHOLE_BROKER:
                broker = fault.broker
                if broker == "leader":
                    broker = lab.leadership(topic, 0).leader
                lab.blackhole(fault.seconds, node=broker)
                self._event("fault", f"broker {broker} blackholed for {fault.seconds} s", index)
        except (LabError, KeyError) as error:
            self.errors.append(f"faults[{index}]: {error}")
            self._event("error", f"fault {fault.kind} could not be applied: {error}", index)

    def _kill_lone_leader(self, leadership) -> None:
        self.lab.kill(leadership.leader)
        for follower in leadership.followers:
            self.lab.resume(follower)
        self._event(
            "broker",
            f"killed broker {leadership.leader} and resumed {list(leadership.followers)}: "
            "what only the old leader had is gone",
        )
        self._after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(leadership.leader))

    def _restart_broker(self, broker: int) -> None:
        self.lab.restart(broker)
        self._event("broker", f"broker {broker} restarted")

    def _kill_worker(self, role: str, fault: int | None = None) -> None:
        worker = self.workers.get(role)
        if worker:
            worker.process.kill()
            self._event("crash", f"{role} killed (SIGKILL) by the conductor", fault=fault)

    def _on_request(self, action: str, params: dict) -> None:
        self._event("action", f"{action} {params or ''}".strip())
        try:
            if action in ("kill-consumer", "kill-consumer-at-point", "kill-producer"):
                role = action.split("-")[1]
                if role not in self.workers:
                    raise ValueError(f"no {role} is running right now")
                if action == "kill-consumer-at-point":
                    self._arm_consumer(self._live_crash_point(), LIVE_CRASH)
                else:
                    self._kill_worker(role)
            elif action == "kill-leader":
                leader = self.lab.kill_leader(
                    self.names.input_topic, int(params.get("partition", 0))
                )
                self._after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(leader))
            elif action == "pause-broker":
                self.lab.pause(int(params["broker"]))
            elif action == "resume-broker":
                self.lab.resume(int(params["broker"]))
            elif action == "drop-acks":
                self.lab.drop_produce_responses(int(params.get("count", 3)))
            elif action == "stop":
                self._producer_complete()
                self.drain_started -= DRAIN_MAX_SECONDS  # stop now, wherever the consumer is
            else:
                raise ValueError(f"unknown action {action!r}")
        except (LabError, KeyError, ValueError, TypeError) as error:
            self._event("error", f"{action} failed: {error}")

    # -- bookkeeping --------------------------------------------------------------------------
    def _after(self, seconds: float, action: Callable[[], None]) -> None:
        heapq.heappush(
            self._scheduled, _Scheduled(time.monotonic() + seconds, next(self._sequence), action)
        )

    def _event(self, kind: str, detail: str, fault: int | None = None) -> None:
        event = Event(time.monotonic() - self._started, kind, detail, fault)
        self.timeline.append(event)
        with self.names.timeline.open("a") as timeline:
            timeline.write(json.dumps(event.to_json()) + "\n")

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self._event("phase", phase)
        self._snapshot()

    def _snapshot(self) -> None:
        if self.on_snapshot is None:
            return
        self.on_snapshot(
            {
                "experiment_id": self.names.experiment_id,
                "phase": self.phase,
                "elapsed": round(time.monotonic() - self._started, 3),
                "records": self.spec.workload.records,
                "workers": {
                    role: {"session": w.session, "pid": w.process.pid}
                    for role, w in self.workers.items()
                },
                **self.tally.read(),
                "timeline": [e.to_json() for e in self.timeline],
            }
        )

    def _restore_cluster(self) -> None:
        """Leave the cluster whole for the next experiment: every node up, no fault armed."""
        if self.lab is None:
            return
        try:
            self.lab.clear_faults()
            for node in self.lab.status()["nodes"]:
                if node["state"] == "paused":
                    self.lab.resume(node["id"])
                elif node["state"] == "down":
                    self.lab.restart(node["id"])
            self.lab.wait_healthy(timeout=90)
        except LabError as error:
            self.errors.append(f"restoring the cluster: {error}")

    def _audit(self) -> dict:
        evidence = gather_evidence(self.spec, self.names, self.direct_bootstrap)
        self.audit_result = evidence.audit()
        return {
            "experiment_id": self.names.experiment_id,
            "spec": self.spec.to_json(),
            **promise_json(self.spec),
            "observed_semantic": self.audit_result.observed_semantic,
            "audit": self.audit_result.to_json(),
            "uncommitted_view": evidence.uncommitted_view(),
            "timeline": [e.to_json() for e in self.timeline],
            "duration_seconds": round(time.monotonic() - self._started, 3),
            "timing": timing.summarize(evidence.timings, self._started_at_ms),
            "errors": self.errors,
        }
