"""The conductor: runs one experiment from its spec to its audited result, phase by phase.

It creates the experiment's topics, has the supervisor start the consumer and the producer as OS
processes, lets the fault schedule strike (faults.py), watches the consumer for a hang, drains
(until the consumer has caught up with everything in the log), restores the cluster, and audits
the three raw records. It emits progress snapshots several times a second to whoever listens (the
CLI, the page). The result says whether the run was a faithful run of its spec (`valid`), and if
not, what broke (`problems`), instead of naming a semantic.
"""

from __future__ import annotations

import heapq
import itertools
import json
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playground.engine.audit.evidence import Evidence, gather_evidence, promise_json
from playground.engine.formats.group_log import GroupEvent
from playground.engine.naming import PRODUCER, ExperimentNames
from playground.engine.observe.tally import LiveTally, LogEnds, TallyInBackground
from playground.engine.run import experiment_topics, timeline
from playground.engine.run.faults import Faults
from playground.engine.run.group_settling import GroupSettling, group_event_words
from playground.engine.run.problems import Problem
from playground.engine.run.supervision import Ending, Supervisor, Worker
from playground.engine.spec.model import (
    Fault,
    FaultKind,
    Spec,
    SpecError,
    read_live_fault,
)
from playground.engine.workers.runtime import Report
from playground.lab.control import LabClient, LabError

SNAPSHOT_INTERVAL_SECONDS = 0.1  # the live page updates 10 times a second
HUNG_SECONDS = 30.0  # a consumer behind the log that makes no progress this long is hung
# Neither the producer nor the consumer moved this long (and no fault with an end is playing
# out): the run is stuck, as with brokers paused until a resume that can never come.
RUN_STALL_SECONDS = 120.0
SETTLE_MAX_SECONDS = 30.0  # how long the audit waits for the log's end to settle
SETTLE_LONG_SECONDS = 3.0  # how long it must stand still when acked records are not yet in it
DRAIN_MAX_SECONDS = 900.0  # draining gives up after this long
# Past its time limit a run's consumer gets this long to finish the log before it is stopped.
TIME_LIMIT_DRAIN_SECONDS = 60.0
END_CHECK_INTERVAL_SECONDS = 0.25  # how often the consumer is compared with the log's end

# Phases of an experiment, as snapshots report them.
# What a long audit is doing, for the live page.
AUDIT_READING = "reading the producer log, the Kafka log and the sink back"
AUDIT_COUNTING = "counting every order and writing its story"
STARTING, RUNNING, DRAINING, AUDITING, DONE, FAILED = (
    "starting", "running", "draining", "auditing", "done", "failed",
)  # fmt: skip


# A producer that died during its commit: whether the coordinator's answer had arrived first.
COMMIT_ANSWER_WORDS = {
    False: ": its commit request was sent, its answer not in (the coordinator decides)",
    True: ": its commit's answer arrived as it died (it never recorded it)",
}


class ExperimentError(RuntimeError):
    """The experiment could not run (not a finding about delivery semantics)."""


@dataclass
class Event:
    """One entry of the timeline: something that happened, and when (seconds since the start)."""

    at: float
    kind: str  # one of timeline.EVENT_KINDS
    detail: str
    fault: int | None = None

    @property
    def disturbs(self) -> bool:
        """Whether this event breaks the run's steady flow (see timing: undisturbed latency)."""
        return self.fault is not None or self.kind in timeline.DISTURBING_KINDS

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
    """Runs one experiment. `run()` blocks until the result is ready; `request_fault()` and
    `request_stop()` are thread-safe."""

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
        time_limit: float | None = None,
    ) -> None:
        self.spec = spec
        self.time_limit = time_limit  # wall-clock seconds the run may take, or None
        self.names = ExperimentNames(experiment_id, Path(root))
        self.bootstrap = bootstrap_servers
        self.direct_bootstrap = direct_bootstrap_servers
        self.lab = lab
        self.on_snapshot = on_snapshot
        self.phase = STARTING
        self.audit_step = ""  # while auditing: AUDIT_READING, then AUDIT_COUNTING
        self.timeline: list[Event] = []
        self.problems: list[Problem] = []
        self.producer_done = False
        self.stopped = False  # a person asked to stop
        self.stopped_by: str | None = None  # timeline.STOP_REASONS
        self.stuck = False  # ended because nothing moved
        self.drain_started: float | None = None
        self.drained = False
        self._scheduled: list[_Scheduled] = []
        self._sequence = itertools.count()
        self._requests: queue.Queue = queue.Queue()
        self._started = time.monotonic()
        self._last_snapshot = 0.0
        self._last_end_check = 0.0
        self.hung_seconds = HUNG_SECONDS
        self.stall_seconds = RUN_STALL_SECONDS
        self._moved_at = time.monotonic()
        self._movement: tuple = ()
        needs_lab = [
            i
            for i, f in enumerate(spec.faults)
            if f.touches_cluster or f.kind == FaultKind.DROP_ACKS
        ]
        if needs_lab and lab is None:
            raise ExperimentError(
                f"faults[{needs_lab[0]}].kind: broker and proxy faults need the managed cluster; "
                "this app uses an external one (KAFKA_BOOTSTRAP_SERVERS)"
            )
        self.supervisor = Supervisor(
            spec, self.names, servers=bootstrap_servers, record=self._event,
            after=self._after, problems=self.problems,
        )  # fmt: skip
        self.faults = Faults(
            spec, self.names, lab=lab, supervisor=self.supervisor, record=self._event,
            after=self._after, producer_count=self._producer_count, problems=self.problems,
        )  # fmt: skip
        self.supervisor.crashes_for = self.faults.crashes_for
        self.supervisor.strikes = self.faults.strikes
        self.supervisor.on_report = self._on_report
        # Read in a thread of its own: a snapshot shows the newest counts without waiting.
        self.tally = TallyInBackground(
            LiveTally(self.names, spec, direct_bootstrap_servers), SNAPSHOT_INTERVAL_SECONDS / 2
        )
        self.ends = LogEnds(direct_bootstrap_servers, self.names.input_topic, spec)
        self.settling = GroupSettling(spec, self.names, on_event=self._on_group_event)

    # -- the experiment -----------------------------------------------------------------------
    def run(self) -> dict:
        """Run the experiment to its end and return its result (also written to result.json)."""
        try:
            self._prepare()
            self.tally.start()
            self._started = time.monotonic()
            self._started_at_ms = int(time.time() * 1000)
            self._set_phase(RUNNING)
            self.supervisor.start_group()
            self.supervisor.start(PRODUCER)
            self.faults.schedule(self._started)
            while not self._finished():
                self._step()
            self._set_phase(AUDITING)
        finally:
            self.faults.stop()
            self.supervisor.stop_all()
            self._restore_cluster()
            self.tally.close()
        elapsed = time.monotonic() - self._started
        self.problems += self.faults.unfired(
            elapsed=elapsed, consumer_count=self.supervisor.consumer_count
        )
        try:
            result = self._audit(elapsed)
        finally:
            self.ends.close()
        self._set_phase(DONE)
        self.names.result_file.write_text(json.dumps(result, indent=1))
        return result

    def request_fault(self, document: dict) -> None:
        """Apply a live fault (a spec fault document whose time is "now"), from any thread."""
        self._requests.put(document)

    def request_stop(self) -> None:
        """Stop the producer now (the consumer still finishes the log, then the audit); asked a
        second time, stop the consumer too. From any thread."""
        self._requests.put(None)

    def _prepare(self) -> None:
        self.names.root.mkdir(parents=True)  # a fresh folder: the raw records start empty
        self.names.spec_file.write_text(json.dumps(self.spec.to_json(), indent=1))
        experiment_topics.create_for(self.direct_bootstrap, self.names, self.spec)

    def _step(self) -> None:
        # Wait for the workers' reports no longer than until the next snapshot is due.
        due = self._last_snapshot + SNAPSHOT_INTERVAL_SECONDS - time.monotonic()
        self.supervisor.pump(wait=min(0.05, max(0.0, due)))
        now = time.monotonic()
        while self._scheduled and self._scheduled[0].due <= now:
            heapq.heappop(self._scheduled).action()
        while not self._requests.empty():
            self._on_request(self._requests.get())
        for ending in self.supervisor.endings(restarting=self.phase in (RUNNING, DRAINING)):
            self._on_ending(ending)
        self.supervisor.kill_stuck_starters(now)
        self._watch_consumer(now)
        self._watch_run(now)
        self._watch_time_limit(now)
        if now - self._last_snapshot >= SNAPSHOT_INTERVAL_SECONDS:
            # On a fixed cadence, not "an interval after the last one": each step's lateness
            # would otherwise add up, and the page would update 8 times a second, not 10.
            self._last_snapshot = max(
                self._last_snapshot + SNAPSHOT_INTERVAL_SECONDS, now - SNAPSHOT_INTERVAL_SECONDS
            )
            self._snapshot()

    def _finished(self) -> bool:
        return self.producer_done and (self.drained or self.supervisor.group_ended())

    # -- reports and endings --------------------------------------------------------------------
    def _on_report(self, worker: Worker, message: dict) -> None:
        event = message.get("event")
        if event == Report.PROGRESS:
            self.faults.on_consumer_count(self.supervisor.consumer_count)
        elif event == Report.STARTED:
            self.faults.on_started(worker.name)
            if worker.role == PRODUCER:
                self.faults.on_producer_resumed(message.get("position", 0))
        elif event == Report.CRASH:
            fault = message.get("fault", -1)
            answered = message.get("answered")  # during-commit: whether the answer came first
            self.faults.on_crash(
                fault,
                f"{worker.name} killed itself (SIGKILL) at {message['point']} after record "
                f"{message['count']}"
                + ("" if answered is None else COMMIT_ANSWER_WORDS[bool(answered)]),
            )
        elif event == Report.STALL:
            self.faults.on_stall(worker.name, message)
        elif event == Report.WOKE:
            self._event(
                timeline.FAULT,
                f"{worker.name} woke from its stall and finishes its batch",
                message.get("fault") if message.get("fault", -1) >= 0 else None,
            )
        elif event == Report.REACHED:
            self.faults.on_producer_reached(message["count"])

    def _on_group_event(self, event: GroupEvent) -> None:
        """What the group gave a member or took back, on the timeline at the time it happened."""
        words = group_event_words(event)
        if words is not None:
            at = max(0.0, (event.at_ms - self._started_at_ms) / 1000)
            self._event(timeline.GROUP, words, at=at)

    def _on_ending(self, ending: Ending) -> None:
        if ending.name == PRODUCER and ending.for_good:
            self._producer_complete()

    def _producer_complete(self) -> None:
        if not self.producer_done:
            self.producer_done = True
            self.drain_started = time.monotonic()
            self._set_phase(DRAINING)

    def _watch_consumer(self, now: float) -> None:
        """Drain: stop the group once it has caught up with every partition (as Kafka reports
        it). All along: a member that is behind the log and makes no progress is hung, and is
        treated as failed (killed; the supervisor restarts it as the spec allows). Behind means
        behind on a partition it owns; a member alone in its group is also behind before it owns
        anything."""
        members = self.supervisor.running_members()
        if now - self._last_end_check < END_CHECK_INTERVAL_SECONDS:
            return
        self._last_end_check = now
        for problem in self.settling.check(now, members, self.faults.quiet_until()):
            self.problems.append(problem)
            self._event(timeline.ERROR, problem.sentence)
        if not members:
            return
        # A member stalled or frozen by a fault is part of the run until it carries on: what it
        # does when it wakes (a zombie's work) is what the run is there to show.
        waking = any(member.stalled or member.paused for member in members)
        if self.producer_done:
            if not waking and self.ends.caught_up(self.supervisor.group_positions()):
                self.supervisor.stop_group()
                self.drained = True
                return
            if now - self.drain_started > DRAIN_MAX_SECONDS:
                self.problems.append(
                    Problem(
                        f"the drain gave up after {DRAIN_MAX_SECONDS:.0f} s: the consumer "
                        "was still behind the log"
                    )
                )
                self._event(timeline.ERROR, "draining gave up; stopping the consumer where it is")
                self.supervisor.stop_group()
                self.drained = True
                return
        alone = len(members) == 1
        for member in members:
            quiet = now - member.last_progress
            if quiet <= self.hung_seconds or member.paused:
                continue
            since = max(member.last_progress, self.faults.quiet_until())  # a fault playing out
            if now - since <= self.hung_seconds:
                continue
            behind = (
                self.ends.behind(member.positions)
                if alone
                else self.ends.behind_on_owned(member.positions)
            )
            if behind:
                self.supervisor.kill(
                    member.name,
                    f"was hung (no progress for {quiet:.0f} s while behind the log) and was killed",
                    meant=False,
                )

    def _watch_time_limit(self, now: float) -> None:
        """At the time limit the producer stops, as on a person's first stop, and the consumer
        finishes the log; if that still runs past the limit by TIME_LIMIT_DRAIN_SECONDS, the
        consumer stops where it is (the run is then cut short: invalid)."""
        if self.time_limit is None or self.drained:
            return
        over = now - self._started - self.time_limit
        if over < 0:
            return
        if self.stopped_by != timeline.STOPPED_AT_TIME_LIMIT:
            self._event(
                timeline.ACTION, f"the time limit of {self.time_limit:.0f} s: stopping the run"
            )
            self.stopped_by = timeline.STOPPED_AT_TIME_LIMIT
            if not self.stopped:
                self.stopped = True
                self.supervisor.stop(PRODUCER)
                self._producer_complete()
            return
        if over > TIME_LIMIT_DRAIN_SECONDS:
            self.problems.append(
                Problem(
                    f"the run reached its time limit ({self.time_limit:.0f} s) and the consumer "
                    f"had still not handled the whole log {TIME_LIMIT_DRAIN_SECONDS:.0f} s later"
                )
            )
            self._event(timeline.ERROR, "still draining past the time limit: the consumer stops")
            self.supervisor.stop_group()
            self.drained = True

    def _watch_run(self, now: float) -> None:
        """End a run in which nothing has moved for `stall_seconds`: it would never end."""
        log = self.names.producer_log
        movement = (
            log.stat().st_size if log.exists() else 0,
            self.supervisor.consumer_count,
            tuple(sorted(self.supervisor.group_positions().items())),
        )
        if movement != self._movement:
            self._movement, self._moved_at = movement, now
            return
        if now - self._moved_at <= self.stall_seconds:
            return
        if now - max(self._moved_at, self.faults.quiet_until()) <= self.stall_seconds:
            return
        paused = sorted(self.faults.pauses)
        self.problems.append(
            Problem(
                f"the run made no progress for {self.stall_seconds:.0f} s and was ended: the "
                f"producer had sent {self._producer_count()} records, the consumer handled "
                f"{self.supervisor.consumer_count}"
                + (f"; brokers {paused} were paused by faults" if paused else "")
            )
        )
        self._event(timeline.ERROR, f"no progress for {self.stall_seconds:.0f} s: ending the run")
        self.stuck = True
        self.supervisor.stop(PRODUCER)
        self.supervisor.stop_group()
        self._producer_complete()
        self.drained = True

    # -- live requests --------------------------------------------------------------------------
    def _on_request(self, document: dict | None) -> None:
        if document is None:
            self._on_stop()
            return
        try:
            fault = read_live_fault(document, self.spec)
        except SpecError as error:
            self._event(timeline.ERROR, f"live action refused: {error}")
            return
        self._event(timeline.ACTION, _describe_live(fault))
        self.faults.live(fault)

    def _on_stop(self) -> None:
        """The first stop ends the producer; the consumer still handles what is in the log, so
        the audit judges a whole run of fewer orders. A second stop ends the consumer too,
        wherever it is (the run is then cut short: invalid)."""
        if not self.stopped:
            self._event(timeline.ACTION, "stop: the producer stops; the consumer finishes the log")
            self.stopped, self.stopped_by = True, timeline.STOPPED_BY_HAND
            self.supervisor.stop(PRODUCER)
            self._producer_complete()
            return
        self._event(timeline.ACTION, "stop again: the consumer stops where it is")
        self.problems.append(
            Problem("the run was stopped by hand before the consumer had handled the whole log")
        )
        self.supervisor.stop_group()
        self.drained = True

    # -- bookkeeping ----------------------------------------------------------------------------
    def _after(self, seconds: float, action: Callable[[], None]) -> None:
        heapq.heappush(
            self._scheduled, _Scheduled(time.monotonic() + seconds, next(self._sequence), action)
        )

    def _event(
        self, kind: str, detail: str, fault: int | None = None, *, at: float | None = None
    ) -> None:
        """Add an event to the timeline: now, or `at` (seconds since the start) when it is known
        to have happened a moment ago."""
        event = Event(time.monotonic() - self._started if at is None else at, kind, detail, fault)
        self.timeline.append(event)
        with self.names.timeline.open("a") as written:
            written.write(json.dumps(event.to_json()) + "\n")

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self._event(timeline.PHASE, phase)
        self._snapshot()

    def _producer_count(self) -> int:
        """Records the producer has attempted so far, as its log showed at the newest read."""
        return self.tally.attempted()

    def _snapshot(self) -> None:
        if self.on_snapshot is None:
            return
        tally = self.tally.latest()
        self.on_snapshot(
            {
                "experiment_id": self.names.experiment_id,
                "phase": self.phase,
                "audit_step": (self.audit_step or None) if self.phase == AUDITING else None,
                "elapsed": round(time.monotonic() - self._started, 3),
                "records": self.spec.workload.records,
                "workers": {
                    name: {"session": w.session, "pid": w.process.pid}
                    for name, w in self.supervisor.workers.items()
                },
                **tally,
                "timeline": [e.to_json() for e in self.timeline],
            }
        )

    def _restore_cluster(self) -> None:
        """Leave the cluster as this experiment found it: its proxy faults disarmed, and after a
        broker fault every node up again."""
        if self.lab is None:
            return
        try:
            self.faults.clear()
            if self.faults.touched_cluster:
                self.lab.restore_nodes(timeout=90)
        except LabError as error:
            self.problems.append(Problem(f"the cluster could not be restored: {error}"))

    def _never_sent_reason(self) -> str:
        if self.stopped_by == timeline.STOPPED_AT_TIME_LIMIT:
            return f"the run was stopped at the time limit ({self.time_limit:.0f} s)"
        if self.stopped:
            return "the run was stopped before the producer finished"
        if self.stuck:
            return "the run was ended before the producer finished, because nothing moved"
        if any(problem.message.startswith(f"the {PRODUCER}") for problem in self.problems):
            return "the producer failed and was not restarted"
        return "the producer was killed and not restarted"

    def _settled_evidence(self):
        """The three records, read once the log has settled: after a run that did not end by
        draining, or one that touched brokers, the log's end must stop moving first; and while
        acknowledged records are not yet visible (the high watermark trailing the leader after a
        broker fault), it is read once more after the end stood still longer, before they count
        as lost."""
        if self.faults.touched_cluster or not self.drained:
            self.ends.wait_until_settled(timeout=SETTLE_MAX_SECONDS)
        evidence = gather_evidence(self.spec, self.names, self.direct_bootstrap)
        if evidence.acked_beyond_the_log():
            evidence.close()
            self.ends.wait_until_settled(timeout=SETTLE_MAX_SECONDS, stable=SETTLE_LONG_SECONDS)
            evidence = gather_evidence(self.spec, self.names, self.direct_bootstrap)
        return evidence

    def _audit(self, elapsed: float) -> dict:
        audit_started = time.monotonic()
        self._audit_step(AUDIT_READING)
        evidence = self._settled_evidence()
        try:
            return self._audited(evidence, elapsed, audit_started)
        finally:
            evidence.close()

    def _audit_step(self, step: str) -> None:
        """Say which part of a long audit is under way (the snapshot's audit_step)."""
        self.audit_step = step
        self._snapshot()

    def _audited(self, evidence: Evidence, elapsed: float, audit_started: float) -> dict:
        self._audit_step(AUDIT_COUNTING)
        self.audit_result = evidence.audit(stories_path=self.names.stories)
        audit = self.audit_result.to_json()
        valid = not self.problems
        result = {
            "experiment_id": self.names.experiment_id,
            "spec": self.spec.to_json(),
            **promise_json(self.spec),
            "valid": valid,
            "problems": [problem.to_json() for problem in self.problems],
            "observed_semantic": self.audit_result.observed_semantic if valid else None,
            "audit": audit,
            "never_sent_reason": self._never_sent_reason() if audit["never_sent"] else None,
            "stopped": self.stopped_by,  # None, "hand" or "time limit"
            "uncommitted_view": evidence.uncommitted_view(),
            "timeline": [e.to_json() for e in self.timeline],
            "duration_seconds": round(elapsed, 3),
            "timing": evidence.timing(self._started_at_ms, self._disturbed_at_ms()),
        }
        # Reading the three records back and counting them (the verdict waits for this).
        result["audit_seconds"] = round(time.monotonic() - audit_started, 3)
        return result

    def _disturbed_at_ms(self) -> int | None:
        """When the first disturbance happened (a fault, a crash button, a worker that died), in
        epoch ms, or None for an undisturbed run."""
        first = next((e for e in self.timeline if e.disturbs), None)
        return None if first is None else self._started_at_ms + round(first.at * 1000)


def _describe_live(fault: Fault) -> str:
    fields = {k: v for k, v in fault.to_json().items() if k not in ("kind", "at")}
    details = ", ".join(f"{k} {v}" for k, v in fields.items() if v is not None)
    return f"{fault.kind}" + (f" ({details})" if details else "")
