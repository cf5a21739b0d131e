"""Faults: when each of an experiment's faults strikes, and the one piece of code that applies it.

A fault scheduled in the spec and a button pressed on the live page are the same thing, a spec
`Fault` (the button's has "now" as its time), applied by `Faults.apply`. When they strike:
- `at.seconds`: on the conductor's clock; "now": at once;
- `at.records` of a consumer kill: the consumer kills itself at its point once it has handled that
  many records ("anywhere": the conductor kills it once its reports show that many);
- `at.records` of a producer kill: the producer kills itself right after sending that record;
- `at.records` of any other fault: the producer reports the record as it sends it and keeps
  sending at its pace, as it would in production, so that records in flight meet the fault; the
  timeline says at which record count the fault actually struck.
A proxy fault hits only this experiment's clients (their client ids), never another experiment's.
A spec fault that has not struck by the end of the run makes the run invalid (`unfired`).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import KafkaException

from playground.engine.clients import OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS
from playground.engine.fault_words import describe_fault
from playground.engine.naming import OUTPUT_PRODUCER, SOURCE_PRODUCER, ExperimentNames
from playground.engine.problems import Problem
from playground.engine.spec import (
    ALL_BROKERS,
    LEADER,
    DropTarget,
    Fault,
    FaultKind,
    KillPoint,
    Spec,
    commit_point,
)
from playground.engine.supervision import CONSUMER, PRODUCER, Supervisor
from playground.engine.workers.runtime import AFTER_SEND, Crash
from playground.lab.control import LabClient, LabError

BROKER_RESTART_DELAY_SECONDS = 3.0  # a killed broker comes back so the cluster ends whole
BROKER_RECOVERY_SECONDS = 20.0  # how long a cluster may be slow after a broker came back
PAUSE_WINDOW_SECONDS = 1.0  # pause-followers-kill-leader: the leader takes writes alone this long
RETRY_SECONDS = 0.2  # a kill due while its worker is between sessions is tried again this soon
# A scheduled broker fault that the cluster cannot take yet (its broker is down, restarting after
# an earlier fault) is tried again for this long before it counts as not applied.
CLUSTER_RETRY_SECONDS = 20.0
CLUSTER_RETRY_INTERVAL_SECONDS = 0.5

# Faults the conductor strikes when the producer reports reaching their record.
PRODUCER_COUNTED = frozenset(FaultKind) - {FaultKind.KILL_CONSUMER, FaultKind.KILL_PRODUCER}


class Faults:
    """The fault schedule of one running experiment, and the one way any fault is applied."""

    def __init__(
        self,
        spec: Spec,
        names: ExperimentNames,
        *,
        lab: LabClient | None,
        supervisor: Supervisor,
        record: Callable[..., None],
        after: Callable[[float, Callable[[], None]], None],
        producer_count: Callable[[], int],
        problems: list[Problem],
    ) -> None:
        self.spec = spec
        self.names = names
        self.lab = lab
        self.supervisor = supervisor
        self.record = record  # record(kind, detail, fault=None): a timeline event
        self.after = after
        self.producer_count = producer_count  # attempted records so far, from the producer log
        self.problems = problems
        self.fired: set[int] = set()  # spec fault indexes that struck
        self.armed: dict[int, Crash] = {}  # consumer crashes waiting for their point
        self.touched_cluster = False
        self.pauses: Counter[int] = Counter()  # brokers paused by this experiment's faults
        self.blackholes: set[int] = set()  # brokers this experiment cut off (clear() ends them)
        # Until when the run may stand still because a fault with an end is still playing out
        # (a blackhole, a timed pause, a broker coming back): the conductor's stall watch waits.
        self.quiet_until = 0.0
        self._tries: Counter[int] = Counter()  # scheduled faults the cluster could not take yet
        self._live_ids = itertools.count(-1, -1)  # live faults: negative indexes
        self._running = True

    # -- what the workers get when they start ----------------------------------------------
    def crashes_for(self, role: str) -> list[Crash]:
        """The crashes a new session of `role` carries out by itself."""
        crashes = []
        for index, fault in enumerate(self.spec.faults):
            if index in self.fired or fault.at.records is None:
                continue
            kill_consumer = fault.kind == FaultKind.KILL_CONSUMER
            if role == CONSUMER and kill_consumer and fault.point != KillPoint.ANYWHERE:
                crashes.append(Crash(self._point(fault), fault.at.records, fault=index))
            if role == PRODUCER and fault.kind == FaultKind.KILL_PRODUCER:
                crashes.append(Crash(AFTER_SEND, fault.at.records, fault=index))
        if role == CONSUMER:
            crashes += [c for i, c in self.armed.items() if i not in self.fired]
        return crashes

    def strikes(self) -> list[int]:
        """The records at which the producer reports, for the conductor to strike."""
        return sorted(
            {
                fault.at.records
                for index, fault in enumerate(self.spec.faults)
                if index not in self.fired
                and fault.kind in PRODUCER_COUNTED
                and fault.at.records is not None
            }
        )

    def _point(self, fault: Fault) -> str:
        if fault.point == KillPoint.NEXT_COMMIT_POINT:
            return commit_point(self.spec.consumer).value
        return fault.point.value

    # -- when they strike -------------------------------------------------------------------
    def schedule(self) -> None:
        """Put the faults timed in seconds on the conductor's clock."""
        for index, fault in enumerate(self.spec.faults):
            if fault.at.seconds is not None:
                self.after(fault.at.seconds, lambda i=index, f=fault: self._due(i, f))

    def on_producer_reached(self, count: int) -> None:
        for index, fault in enumerate(self.spec.faults):
            if fault.kind in PRODUCER_COUNTED and fault.at.records == count:
                self._due(index, fault)

    def on_consumer_count(self, count: int) -> None:
        """Consumer kills "anywhere" at a record count: struck from outside."""
        for index, fault in enumerate(self.spec.faults):
            if (
                fault.kind == FaultKind.KILL_CONSUMER
                and fault.point == KillPoint.ANYWHERE
                and fault.at.records is not None
                and count >= fault.at.records
            ):
                self._due(index, fault)

    def on_crash(self, fault_index: int, detail: str) -> None:
        """A worker reports it is killing itself for fault `fault_index`."""
        if fault_index >= 0:
            self.fired.add(fault_index)
        if self.armed.pop(fault_index, None) is not None:
            self.supervisor.arm(CONSUMER, list(self.armed.values()))  # the rest stay armed
        self.record("crash", detail, fault=fault_index if fault_index >= 0 else None)

    def live(self, fault: Fault) -> None:
        """A fault asked for on the live page (its time is "now")."""
        self.apply(fault, next(self._live_ids))

    def stop(self) -> None:
        """The run is over: faults still due no longer strike."""
        self._running = False

    def _due(self, index: int, fault: Fault) -> None:
        if self._running and index not in self.fired:
            self.apply(fault, index)

    # -- the one way a fault is applied ----------------------------------------------------
    def apply(self, fault: Fault, index: int) -> None:
        """Apply `fault` now; `index` is its place in the spec (negative for a live fault)."""
        live = index < 0
        label = describe_fault(fault)
        try:
            struck = self._strike(fault, index)
        # KafkaException: the cluster's metadata could not be read (every broker paused).
        except (LabError, KafkaException, KeyError, ValueError) as error:
            self._tries[index] += 1
            waited = self._tries[index] * CLUSTER_RETRY_INTERVAL_SECONDS
            if not live and fault.touches_cluster and waited < CLUSTER_RETRY_SECONDS:
                self.after(CLUSTER_RETRY_INTERVAL_SECONDS, lambda: self._due(index, fault))
                return
            self.record(
                "error", f"{label} could not be applied: {error}", index if not live else None
            )
            if not live:
                self.fired.add(index)  # it will not be tried again
                self.problems.append(
                    Problem(f"faults[{index}] ({label}) could not be applied: {error}")
                )
            return
        if struck is None:  # its worker is between sessions: try again in a moment
            if live:
                self.record("error", f"{label}: no {self._role(fault)} is running right now")
            else:
                self.after(RETRY_SECONDS, lambda: self._due(index, fault))
            return
        if not live and not self._armed_for_later(fault):
            self.fired.add(index)  # an armed crash has fired when the worker reports it
        self.record("fault", f"{struck} (producer at record {self.producer_count()})",
                    None if live else index)  # fmt: skip

    @staticmethod
    def _armed_for_later(fault: Fault) -> bool:
        """A consumer kill at a point of its loop: applying it arms it; it strikes later."""
        return fault.kind == FaultKind.KILL_CONSUMER and fault.point != KillPoint.ANYWHERE

    @staticmethod
    def _role(fault: Fault) -> str:
        return PRODUCER if fault.kind == FaultKind.KILL_PRODUCER else CONSUMER

    def _strike(self, fault: Fault, index: int) -> str | None:
        """Do it: the words for the timeline, or None when its worker is not running."""
        kind = fault.kind
        if kind == FaultKind.KILL_CONSUMER and fault.point == KillPoint.ANYWHERE:
            if not self.supervisor.kill(CONSUMER, "was killed (SIGKILL) by a fault", meant=True):
                return None
            return "consumer killed (SIGKILL)"
        if kind == FaultKind.KILL_CONSUMER:
            crash = Crash(self._point(fault), None, fault=index)
            self.armed[index] = crash
            self.supervisor.arm(CONSUMER, list(self.armed.values()))
            return f"consumer armed to crash at its next {crash.point}"
        if kind == FaultKind.KILL_PRODUCER:
            if not self.supervisor.kill(PRODUCER, "was killed (SIGKILL) by a fault", meant=True):
                return None
            return "producer killed (SIGKILL)"
        if kind == FaultKind.DROP_ACKS:
            return self._drop_acks(fault)
        return self._cluster_fault(fault)

    def _drop_acks(self, fault: Fault) -> str:
        prefixes = {
            DropTarget.SOURCE_PRODUCER: [self.names.client_prefix(SOURCE_PRODUCER)],
            DropTarget.OUTPUT_PRODUCER: [self.names.client_prefix(OUTPUT_PRODUCER)],
            DropTarget.ALL: [self.names.client_prefix()],
        }[fault.target]
        # Each lost response costs its client a request timeout before it retries (one after
        # another, at a consumer's pace): the run may stand still that long without being stuck.
        waits = {
            DropTarget.SOURCE_PRODUCER: self.spec.producer.request_timeout_ms,
            DropTarget.OUTPUT_PRODUCER: OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS,
            DropTarget.ALL: max(
                self.spec.producer.request_timeout_ms, OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS
            ),
        }
        self._quiet_for(fault.count * waits[fault.target] / 1000 + BROKER_RECOVERY_SECONDS)
        self._lab().drop_produce_responses(fault.count, clients=prefixes)
        return (
            f"the proxy drops the responses to the next {fault.count} Produce requests "
            f"of the {fault.target}"
        )

    def _cluster_fault(self, fault: Fault) -> str:
        lab, topic = self._lab(), self.names.input_topic
        self.touched_cluster = True
        recovery = BROKER_RESTART_DELAY_SECONDS + BROKER_RECOVERY_SECONDS
        if fault.kind == FaultKind.KILL_LEADER:
            self._quiet_for(recovery)
            leader = lab.kill_leader(topic, fault.partition)
            self.after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(leader))
            return f"killed broker {leader}, leader of {topic}-{fault.partition}"
        if fault.kind == FaultKind.PAUSE_FOLLOWERS_KILL_LEADER:
            self._quiet_for(PAUSE_WINDOW_SECONDS + recovery)
            leadership = lab.leadership(topic, fault.partition)
            for follower in leadership.followers:
                self._pause(follower)
            self.after(PAUSE_WINDOW_SECONDS, lambda: self._kill_lone_leader(leadership))
            return (
                f"paused followers {list(leadership.followers)} of {topic}-{fault.partition}; "
                f"broker {leadership.leader} leads alone"
            )
        if fault.kind == FaultKind.BLACKHOLE_BROKER:
            broker = self._broker(fault.broker)
            self._quiet_for(fault.seconds + BROKER_RECOVERY_SECONDS)
            lab.blackhole(fault.seconds, node=broker)
            self.blackholes.add(broker)
            return f"broker {broker} blackholed for {fault.seconds:g} s"
        if fault.kind == FaultKind.PAUSE_BROKER:
            broker = self._broker(fault.broker)
            self._pause(broker)
            if fault.seconds is None:
                return f"broker {broker} paused (SIGSTOP) until resumed"
            self._quiet_for(fault.seconds + BROKER_RECOVERY_SECONDS)
            self.after(fault.seconds, lambda: self._release(broker))
            return f"broker {broker} paused (SIGSTOP) for {fault.seconds:g} s"
        if fault.kind == FaultKind.RESUME_BROKER:
            if fault.broker == ALL_BROKERS:
                paused = [n["id"] for n in lab.status()["nodes"] if n["state"] == "paused"]
            else:
                paused = [int(fault.broker)]
            for broker in paused:
                self.pauses.pop(broker, None)  # an explicit resume ends every pause of it
                lab.resume(broker)
            return f"resumed broker(s) {paused}" if paused else "no broker was paused"
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _lab(self) -> LabClient:
        if self.lab is None:
            raise LabError("this fault needs the managed cluster; this app uses an external one")
        return self.lab

    def _broker(self, broker: str | int) -> int:
        if broker == LEADER:
            return self._lab().leadership(self.names.input_topic, 0).leader
        return int(broker)

    def _quiet_for(self, seconds: float) -> None:
        self.quiet_until = max(self.quiet_until, time.monotonic() + seconds)

    def _pause(self, broker: int) -> None:
        """SIGSTOP a broker that is up (LabError while it is down: a pause would do nothing)."""
        lab = self._lab()
        states = {node["id"]: node["state"] for node in lab.status()["nodes"]}
        if states.get(broker) == "down":
            raise LabError(f"broker {broker} is down")
        lab.pause(broker)
        self.pauses[broker] += 1

    def _release(self, broker: int) -> None:
        """End one pause of `broker`; it resumes when no other fault of this run holds it."""
        if self.pauses[broker] == 0:
            return  # an explicit resume-broker already resumed it
        self.pauses[broker] -= 1
        if self.pauses[broker] == 0:
            del self.pauses[broker]
            self._resume(broker)

    def _kill_lone_leader(self, leadership) -> None:
        self._guarded(lambda: self._lab().kill(leadership.leader))
        for follower in leadership.followers:
            self._release(follower)
        self.record(
            "broker",
            f"killed broker {leadership.leader} and resumed {list(leadership.followers)}: "
            "what only the old leader had is gone",
        )
        self.after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(leadership.leader))

    def _restart_broker(self, broker: int) -> None:
        if self._guarded(lambda: self._lab().restart(broker)):
            self.record("broker", f"broker {broker} restarted")

    def _resume(self, broker: int) -> None:
        if self._guarded(lambda: self._lab().resume(broker)):
            self.record("broker", f"broker {broker} resumed")

    def _guarded(self, action: Callable[[], object]) -> bool:
        """A follow-up step of a fault; a failure is a problem of the run."""
        try:
            action()
            return True
        except LabError as error:
            self.problems.append(Problem(f"a fault's follow-up step failed: {error}"))
            self.record("error", f"a fault's follow-up step failed: {error}")
            return False

    # -- at the end -------------------------------------------------------------------------
    def unfired(self, *, elapsed: float, consumer_count: int) -> list[Problem]:
        """A problem for each spec fault that never struck, with the reason."""
        problems = []
        for index, fault in enumerate(self.spec.faults):
            if index in self.fired:
                continue
            if fault.at.seconds is not None and index not in self.armed:
                why = f"the run ended after {elapsed:.1f} s"
            elif fault.kind == FaultKind.KILL_CONSUMER:
                why = (
                    f"the consumer never reached its {self._point(fault)} point"
                    if fault.at.records is None or consumer_count >= fault.at.records
                    else f"the consumer handled only {consumer_count} records"
                )
            else:
                why = f"the producer sent only {self.producer_count()} records"
            problems.append(
                Problem(f"faults[{index}] ({describe_fault(fault)}) never fired: {why}")
            )
        return problems

    def clear(self) -> None:
        """Disarm what this experiment armed on the proxies: its own clients' faults, and the
        blackholes it started, which would otherwise outlive a run that ends first (a blackhole
        of 0 s ends one now). Other experiments' faults stay armed: the next experiments, side by
        side, must find every broker reachable, and their neighbours' faults untouched."""
        if self.lab is not None:
            self.lab.clear_client_faults([self.names.client_prefix()])
            for broker in sorted(self.blackholes):
                self.lab.blackhole(0, node=broker)
