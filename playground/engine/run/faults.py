"""Faults: when each of an experiment's faults strikes, and the one piece of code that applies it.

A fault scheduled in the spec and a button pressed on the live page are the same thing, a spec
`Fault` (the button's has "now" as its time), applied by `Faults.apply`. When they strike:
- `at.seconds`: on the run's clock (the timeline's); "now": at once. A kill due while its worker
  has not started (or is between sessions) waits for it and strikes once it has started; a kill
  due after its worker ended for good never strikes, and the run says so;
- `at.records` of a consumer kill: the consumer kills itself at its point once it has handled that
  many records ("anywhere": the conductor kills it once its reports show that many). With several
  members in the group, the count is the group's: the member is armed once the group has handled
  that many, and strikes at its next point; so are the other member faults (stall, pause, remove)
  at a record count;
- `at.records` of a producer kill: the producer kills itself at its point once it has sent that
  many records (right after sending that record, or at the next commit's points); "anywhere": the
  conductor kills it once it reports reaching that record;
- `at.seconds` (or "now") of a kill at a point: the worker is armed then and dies at its next
  point of that kind;
- `at.records` of any other fault: the producer reports the record as it sends it and keeps
  sending at its pace, as it would in production, so that records in flight meet the fault; the
  timeline says at which record count the fault actually struck.
A member fault acts on one member of the consumer group (naming.member_name): a kill, a stall (the
member's handler sleeps mid-batch, Crash at STALL_POINT), a pause (SIGSTOP, then SIGCONT), a clean
leave (remove-consumer); add-consumer starts a new member.
A proxy fault hits only this experiment's clients (their client ids), never another experiment's.
A spec fault that has not struck by the end of the run makes the run invalid (`unfired`).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable

from confluent_kafka import KafkaException

from playground.engine.naming import (
    OUTPUT_PRODUCER,
    PRODUCER,
    SOURCE_PRODUCER,
    ExperimentNames,
    member_name,
)
from playground.engine.run import coordinators, timeline
from playground.engine.run.clients import OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS
from playground.engine.run.problems import Problem
from playground.engine.run.supervision import Supervisor
from playground.engine.spec.fault_words import describe_fault
from playground.engine.spec.model import (
    ALL_BROKERS,
    CONSUMER_TRANSACTIONAL_ID,
    LEADER,
    MEMBER_FAULTS,
    Coordinator,
    DropTarget,
    Fault,
    FaultKind,
    KillPoint,
    Spec,
    commit_point,
)
from playground.engine.workers.runtime import STALL_POINT, Crash
from playground.lab.control import LabClient, LabError
from playground.lab.node import DOWN, PAUSED

BROKER_RESTART_DELAY_SECONDS = 3.0  # a killed broker comes back so the cluster ends whole
BROKER_RECOVERY_SECONDS = 20.0  # how long a cluster may be slow after a broker came back
PAUSE_WINDOW_SECONDS = 1.0  # pause-followers-kill-leader: the leader takes writes alone this long
# A scheduled broker fault that the cluster cannot take yet (its broker is down, restarting after
# an earlier fault) is tried again for this long before it counts as not applied.
CLUSTER_RETRY_SECONDS = 20.0
CLUSTER_RETRY_INTERVAL_SECONDS = 0.5
# How often, at most, the lab is asked whose responses its proxies dropped (only while a watch
# would otherwise call the run stuck).
DROPS_ASKED_EVERY_SECONDS = 1.0

KILLS = frozenset({FaultKind.KILL_CONSUMER, FaultKind.KILL_PRODUCER})
# How long past a consumer fault's own end the group may stand still: the members notice a frozen
# or stalled member only after its session or poll interval, then rebalance.
GROUP_RECOVERY_SECONDS = 20.0


def struck_at_producer_count(fault: Fault) -> bool:
    """Whether the conductor strikes `fault` when the producer reports reaching its record (a
    kill at a point is carried out by its worker instead; a member fault counts the group's
    records)."""
    if fault.at.records is None or fault.kind in MEMBER_FAULTS:
        return False
    return fault.kind != FaultKind.KILL_PRODUCER or fault.point == KillPoint.ANYWHERE


def role_of(fault: Fault) -> str:
    """The worker a kill or a member fault acts on, by name."""
    if fault.kind == FaultKind.KILL_PRODUCER:
        return PRODUCER
    return member_name(fault.member or 0)


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
        self.record = record  # record(kind, detail, fault=None): a timeline event (timeline.py)
        self.after = after
        self.producer_count = producer_count  # attempted records so far, from the producer log
        self.problems = problems
        self.fired: set[int] = set()  # spec fault indexes that struck
        self.armed: dict[int, Crash] = {}  # crashes waiting for their point, by fault index
        self.armed_roles: dict[int, str] = {}  # the worker each armed crash belongs to
        self.touched_cluster = False
        self.pauses: Counter[int] = Counter()  # brokers paused by this experiment's faults
        self.blackholes: set[int] = set()  # brokers this experiment cut off (clear() ends them)
        # Until when the run may stand still because a fault with an end is still playing out
        # (a blackhole, a timed pause, a broker coming back): see quiet_until().
        self._quiet_until = 0.0
        self._dropping = False  # a drop-acks fault was armed: the lab knows whose answers it lost
        self._drops_quiet_until = 0.0
        self._drops_worst_until = 0.0  # if the lab cannot tell (see _drop_acks)
        self._drops_asked = -DROPS_ASKED_EVERY_SECONDS
        self._tries: Counter[int] = Counter()  # scheduled faults the cluster could not take yet
        # Kills that came due while their worker was not running: index -> (fault, when due).
        self._waiting: dict[int, tuple[Fault, float]] = {}
        self._started = time.monotonic()  # the run's start (schedule() sets it)
        self._live_ids = itertools.count(-1, -1)  # live faults: negative indexes
        self._running = True
        # Whether a consumer kill at a record count is carried out by the member itself (it
        # counts its own records): only when the spec's group has one member; otherwise the
        # count is the group's, and the conductor arms the member when the group reaches it.
        self._one_member = spec.consumer.members == 1 and not any(
            fault.kind == FaultKind.ADD_CONSUMER for fault in spec.faults
        )

    # -- what the workers get when they start ----------------------------------------------
    def crashes_for(self, name: str) -> list[Crash]:
        """The crashes a new session of worker `name` carries out by itself."""
        crashes = []
        for index, fault in enumerate(self.spec.faults):
            if (
                index in self.fired
                or fault.at.records is None
                or not self._counted_by_worker(fault)
            ):
                continue
            if role_of(fault) == name and fault.point != KillPoint.ANYWHERE:
                crashes.append(Crash(self._point(fault), fault.at.records, fault=index))
        return crashes + self._armed_for(name)

    def _counted_by_worker(self, fault: Fault) -> bool:
        """Whether a kill at a record count is carried out by its worker at that count."""
        if fault.kind == FaultKind.KILL_PRODUCER:
            return True
        return fault.kind == FaultKind.KILL_CONSUMER and self._one_member

    def _armed_for(self, role: str) -> list[Crash]:
        return [
            crash
            for index, crash in self.armed.items()
            if index not in self.fired and self.armed_roles[index] == role
        ]

    def strikes(self) -> list[int]:
        """The records at which the producer reports, for the conductor to strike."""
        return sorted(
            {
                fault.at.records
                for index, fault in enumerate(self.spec.faults)
                if index not in self.fired and struck_at_producer_count(fault)
            }
        )

    def _point(self, fault: Fault) -> str:
        if fault.kind == FaultKind.STALL_CONSUMER:
            return STALL_POINT
        if fault.point == KillPoint.NEXT_COMMIT_POINT:
            return commit_point(self.spec.consumer).value
        return fault.point.value

    # -- when they strike -------------------------------------------------------------------
    def schedule(self, started: float) -> None:
        """Put the faults timed in seconds on the conductor's clock, counted from `started` (the
        run's start, time.monotonic()), as the timeline counts."""
        self._started = started
        for index, fault in enumerate(self.spec.faults):
            if fault.at.seconds is not None:
                delay = max(0.0, started + fault.at.seconds - time.monotonic())
                self.after(delay, lambda i=index, f=fault: self._due(i, f))

    def on_started(self, name: str) -> None:
        """A session of worker `name` has started its clients: the faults waiting for it strike
        now."""
        for index, (fault, _) in list(self._waiting.items()):
            if role_of(fault) == name:
                self._due(index, fault)

    def on_producer_reached(self, count: int) -> None:
        """The producer reports sending record `count`: the faults due there strike."""
        for index, fault in enumerate(self.spec.faults):
            if struck_at_producer_count(fault) and fault.at.records == count:
                self._due(index, fault)

    def on_producer_resumed(self, position: int) -> None:
        """A new producer session starts after `position` records, so it will never report the
        records before: the faults due there that have not struck (nor wait to be tried again)
        strike now."""
        for index, fault in enumerate(self.spec.faults):
            if (
                struck_at_producer_count(fault)
                and fault.at.records <= position
                and not self._tries[index]
            ):
                self._due(index, fault)

    def on_consumer_count(self, count: int) -> None:
        """The group has handled `count` records: member faults at a record count that its
        members do not carry out themselves (a kill "anywhere", any member fault of a group of
        several) strike now."""
        for index, fault in enumerate(self.spec.faults):
            if (
                fault.kind in MEMBER_FAULTS
                and fault.at.records is not None
                and count >= fault.at.records
                and index not in self.armed
                and not (self._counted_by_worker(fault) and fault.point != KillPoint.ANYWHERE)
            ):
                self._due(index, fault)

    def on_stall(self, name: str, report: dict) -> None:
        """Member `name` reports its handler stalls now (an armed stall-consumer)."""
        index = report.get("fault", -1)
        if index >= 0:
            self.fired.add(index)
        if self.armed.pop(index, None) is not None:
            self.armed_roles.pop(index)
            self.supervisor.arm(name, self._armed_for(name))  # the rest stay armed
        seconds = report.get("seconds") or 0
        self._quiet_for(seconds + self._group_notices() + GROUP_RECOVERY_SECONDS)
        self.record(
            timeline.FAULT,
            f"{name} stalls {seconds:g} s in the middle of its batch, after record "
            f"{report.get('count')}, its commit not made",
            index if index >= 0 else None,
        )

    def _group_notices(self) -> float:
        """How long the group takes at most to notice a member gone quiet, in seconds."""
        consumer = self.spec.consumer
        return max(consumer.session_timeout_ms, consumer.max_poll_interval_ms) / 1000

    def on_crash(self, fault_index: int, detail: str) -> None:
        """A worker reports it is killing itself for fault `fault_index`."""
        if fault_index >= 0:
            self.fired.add(fault_index)
        if self.armed.pop(fault_index, None) is not None:
            role = self.armed_roles.pop(fault_index)
            self.supervisor.arm(role, self._armed_for(role))  # the rest stay armed
        self.record(timeline.CRASH, detail, fault=fault_index if fault_index >= 0 else None)

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
        except (LabError, KafkaException, LookupError, ValueError) as error:
            self._tries[index] += 1
            waited = self._tries[index] * CLUSTER_RETRY_INTERVAL_SECONDS
            if not live and fault.touches_cluster and waited < CLUSTER_RETRY_SECONDS:
                self.after(CLUSTER_RETRY_INTERVAL_SECONDS, lambda: self._due(index, fault))
                return
            self.record(
                timeline.ERROR,
                f"{label} could not be applied: {error}",
                index if not live else None,
            )
            if not live:
                self.fired.add(index)  # it will not be tried again
                self.problems.append(
                    Problem(f"faults[{index}] ({label}) could not be applied: {error}")
                )
            return
        if struck is None:  # its worker has not started, or is between sessions: wait for it
            if live:
                self.record(timeline.ERROR, f"{label}: no {role_of(fault)} is running right now")
                return
            else:
                self._waiting.setdefault(index, (fault, time.monotonic()))
            return
        self._waiting.pop(index, None)
        if not live and not self._armed_for_later(fault):
            self.fired.add(index)  # an armed crash has fired when the worker reports it
        self.record(timeline.FAULT, f"{struck} (producer at record {self.producer_count()})",
                    None if live else index)  # fmt: skip

    @staticmethod
    def _armed_for_later(fault: Fault) -> bool:
        """A kill at a point of its worker's loop, or a stall: applying it arms it; it strikes
        later."""
        if fault.kind == FaultKind.STALL_CONSUMER:
            return True
        return fault.kind in KILLS and fault.point != KillPoint.ANYWHERE

    def _strike(self, fault: Fault, index: int) -> str | None:
        """Do it: the words for the timeline, or None when its worker is not running."""
        kind = fault.kind
        if kind in KILLS and fault.point == KillPoint.ANYWHERE:
            role = role_of(fault)
            if not self._kill(role):
                return None
            return f"{role} killed (SIGKILL)"
        if kind in KILLS:
            role = role_of(fault)
            worker = self.supervisor.workers.get(role)
            if role in self.supervisor.dead or (worker is not None and worker.finished):
                return None  # it will pass no point again: the kill waits, and says why
            crash = Crash(self._point(fault), None, fault=index)
            self.armed[index], self.armed_roles[index] = crash, role
            self.supervisor.arm(role, self._armed_for(role))
            return f"{role} armed to crash at its next {crash.point}"
        if kind in (
            FaultKind.ADD_CONSUMER,
            FaultKind.REMOVE_CONSUMER,
            FaultKind.STALL_CONSUMER,
            FaultKind.PAUSE_CONSUMER,
        ):
            return self._group_fault(fault, index)
        if kind == FaultKind.DROP_ACKS:
            return self._drop_acks(fault)
        return self._cluster_fault(fault)

    def _group_fault(self, fault: Fault, index: int) -> str | None:
        """A member joins, leaves, stalls or freezes; None when the member is not running."""
        supervisor, kind = self.supervisor, fault.kind
        if kind == FaultKind.ADD_CONSUMER:
            name = supervisor.add_member()
            if name is None:
                raise ValueError(f"the group has {len(supervisor.members)} members, the most")
            self._quiet_for(GROUP_RECOVERY_SECONDS)
            return f"{name} joins the group"
        name = role_of(fault)
        worker = supervisor.workers.get(name)
        if name in supervisor.dead or worker is None or not worker.started:
            return None  # not running (yet, or between sessions): it waits, and says why
        if kind == FaultKind.REMOVE_CONSUMER:
            supervisor.retire(name)
            self._quiet_for(self._group_notices() + GROUP_RECOVERY_SECONDS)
            return f"{name} leaves the group (stopped cleanly, SIGTERM)"
        if kind == FaultKind.STALL_CONSUMER:
            crash = Crash(STALL_POINT, None, fault=index, seconds=fault.seconds)
            self.armed[index], self.armed_roles[index] = crash, name
            supervisor.arm(name, self._armed_for(name))
            return f"{name} armed to stall {fault.seconds:g} s after its next record"
        if not supervisor.freeze(name):
            raise ValueError(f"{name} is paused already")
        self._quiet_for(fault.seconds + self._group_notices() + GROUP_RECOVERY_SECONDS)
        self.after(fault.seconds, lambda: self._thaw(name))
        return f"{name} paused (SIGSTOP) for {fault.seconds:g} s"

    def _thaw(self, name: str) -> None:
        if self.supervisor.thaw(name):
            self.record(timeline.FAULT, f"{name} carries on (SIGCONT)")

    def _kill(self, role: str) -> bool:
        """SIGKILL `role` if it runs and has started its clients (a kill before that would find
        nothing to interrupt); False if not."""
        worker = self.supervisor.workers.get(role)
        if worker is None or not worker.started:
            return False
        return self.supervisor.kill(role, "was killed (SIGKILL) by a fault", meant=True)

    def _drop_acks(self, fault: Fault) -> str:
        prefixes = {
            DropTarget.SOURCE_PRODUCER: [self.names.client_prefix(SOURCE_PRODUCER)],
            DropTarget.OUTPUT_PRODUCER: [self.names.client_prefix(OUTPUT_PRODUCER)],
            DropTarget.ALL: [self.names.client_prefix()],
        }[fault.target]
        # What it costs in time is counted as the answers are lost, for the clients that lost
        # them (quiet_until): a fault that finds nobody sending costs nothing. Only if the lab
        # cannot tell, every answer armed counts as lost by the slowest client aimed at.
        timeouts = {
            DropTarget.SOURCE_PRODUCER: self.spec.producer.request_timeout_ms,
            DropTarget.OUTPUT_PRODUCER: OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS,
            DropTarget.ALL: max(
                self.spec.producer.request_timeout_ms, OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS
            ),
        }
        self._lab().drop_produce_responses(fault.count, clients=prefixes)
        self._dropping = True
        worst = max(time.monotonic(), self._drops_worst_until)
        self._drops_worst_until = worst + fault.count * timeouts[fault.target] / 1000
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
            # All or none: a follower that is down (an earlier fault) fails the try before any
            # other is paused, so a try that is repeated never stacks pauses nobody releases.
            self._check_up(leadership.followers)
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
        if fault.kind == FaultKind.KILL_COORDINATOR:
            broker, whose = self._coordinator(fault.coordinator)
            self._quiet_for(recovery)
            lab.kill(broker)
            self.after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(broker))
            return f"killed broker {broker}, coordinator of {whose}"
        if fault.kind == FaultKind.RESUME_BROKER:
            if fault.broker == ALL_BROKERS:
                paused = [n["id"] for n in lab.status()["nodes"] if n["state"] == PAUSED]
            else:
                paused = [int(fault.broker)]
            for broker in paused:
                self.pauses.pop(broker, None)  # an explicit resume ends every pause of it
                lab.resume(broker)
            return f"resumed broker(s) {paused}" if paused else "no broker was paused"
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _coordinator(self, coordinator: Coordinator) -> tuple[int, str]:
        """The broker coordinating the experiment's group, or its transactions (the source
        producer's when it is transactional, else the consumer's own producer's), asked of
        Kafka; with the words for whose coordinator it is."""
        servers = self._lab().direct_bootstrap_servers()
        if coordinator == Coordinator.GROUP:
            group = self.names.group_id
            return coordinators.coordinator(servers, coordinators.GROUP, group), f"group {group}"
        if self.spec.producer.transactional:
            chosen = self.spec.producer.transactional_id
        else:
            chosen = CONSUMER_TRANSACTIONAL_ID
        transactional_id = self.names.transactional_id(chosen)
        broker = coordinators.coordinator(servers, coordinators.TRANSACTION, transactional_id)
        return broker, f"transactional id {transactional_id}"

    def _lab(self) -> LabClient:
        if self.lab is None:
            raise LabError("this fault needs the managed cluster; this app uses an external one")
        return self.lab

    def _broker(self, broker: str | int) -> int:
        if broker == LEADER:
            return self._lab().leadership(self.names.input_topic, 0).leader
        return int(broker)

    def _quiet_for(self, seconds: float) -> None:
        self._quiet_until = max(self._quiet_until, time.monotonic() + seconds)

    def quiet_until(self) -> float:
        """Until when (time.monotonic()) the run may stand still because a fault is still playing
        out: a blackhole, a timed pause, a broker coming back, or an answer the proxy dropped,
        which costs the client that lost it its own request timeout before it retries. The
        conductor's watches for a hung consumer and a stalled run wait this long first; they ask
        only once they would otherwise call the run stuck."""
        return max(self._quiet_until, self._drops_cost_until())

    def _drops_cost_until(self) -> float:
        """When the last answer each client lost stops costing it: the drop, plus that client's
        request timeout (the retry of a request is a new request, and a drop of its own)."""
        now = time.monotonic()
        if not self._dropping or now - self._drops_asked < DROPS_ASKED_EVERY_SECONDS:
            return self._drops_quiet_until
        self._drops_asked = now
        try:
            dropped = self._lab().dropped_responses([self.names.client_prefix()])
        except LabError:  # a lab that does not know (an older one) or does not answer
            self._drops_quiet_until = max(self._drops_quiet_until, self._drops_worst_until)
            return self._drops_quiet_until
        for client_id, drops in dropped.items():
            until = now - drops["seconds_ago"] + self._request_timeout(client_id)
            self._drops_quiet_until = max(self._drops_quiet_until, until)
        return self._drops_quiet_until

    def _request_timeout(self, client_id: str) -> float:
        """How long the client `client_id` of this experiment waits for an answer, in seconds."""
        if client_id.startswith(self.names.client_prefix(OUTPUT_PRODUCER)):
            return OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS / 1000
        return self.spec.producer.request_timeout_ms / 1000  # the source producer's

    def _pause(self, broker: int) -> None:
        """SIGSTOP a broker that is up (LabError while it is down: a pause would do nothing)."""
        self._check_up([broker])
        self._lab().pause(broker)
        self.pauses[broker] += 1

    def _check_up(self, brokers) -> None:
        """LabError naming the first of `brokers` that is down."""
        states = {node["id"]: node["state"] for node in self._lab().status()["nodes"]}
        for broker in brokers:
            if states.get(broker) == DOWN:
                raise LabError(f"broker {broker} is down")

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
            timeline.BROKER,
            f"killed broker {leadership.leader} and resumed {list(leadership.followers)}: "
            "what only the old leader had is gone",
        )
        self.after(BROKER_RESTART_DELAY_SECONDS, lambda: self._restart_broker(leadership.leader))

    def _restart_broker(self, broker: int) -> None:
        if self._guarded(lambda: self._lab().restart(broker)):
            self.record(timeline.BROKER, f"broker {broker} restarted")

    def _resume(self, broker: int) -> None:
        if self._guarded(lambda: self._lab().resume(broker)):
            self.record(timeline.BROKER, f"broker {broker} resumed")

    def _guarded(self, action: Callable[[], object]) -> bool:
        """A follow-up step of a fault; a failure is a problem of the run."""
        try:
            action()
            return True
        except LabError as error:
            self.problems.append(Problem(f"a fault's follow-up step failed: {error}"))
            self.record(timeline.ERROR, f"a fault's follow-up step failed: {error}")
            return False

    # -- at the end -------------------------------------------------------------------------
    def unfired(self, *, elapsed: float, consumer_count: int) -> list[Problem]:
        """A problem for each spec fault that never struck, with the reason."""
        problems = []
        for index, fault in enumerate(self.spec.faults):
            if index in self.fired:
                continue
            if (fault.at.seconds is not None and index not in self.armed) or index in self._waiting:
                why = self._why_not_due(fault, index, elapsed)
            elif fault.kind in MEMBER_FAULTS:
                if fault.at.records is not None and consumer_count < fault.at.records:
                    why = f"the consumer handled only {consumer_count} records"
                elif fault.kind in (FaultKind.KILL_CONSUMER, FaultKind.STALL_CONSUMER):
                    why = f"{role_of(fault)} never reached its {self._point(fault)} point"
                else:
                    why = f"{role_of(fault)} was not running when it was due"
            elif fault.kind == FaultKind.KILL_PRODUCER:
                why = self._why_producer_not_killed(fault)
            else:
                why = f"the producer sent only {self.producer_count()} records"
            problems.append(
                Problem(f"faults[{index}] ({describe_fault(fault)}) never fired: {why}")
            )
        return problems

    def _why_producer_not_killed(self, fault: Fault) -> str:
        """Why a producer kill at a record count, or armed for a point, never struck."""
        sent = self.producer_count()
        if fault.at.records is not None and sent < fault.at.records:
            return f"the producer sent only {sent} records"
        if PRODUCER in self.supervisor.ended:
            at, how = self.supervisor.ended[PRODUCER]
            return f"the producer {how} at {at - self._started:.1f} s, before it struck"
        return f"the producer never reached its {fault.point} point"

    def _why_not_due(self, fault: Fault, index: int, elapsed: float) -> str:
        """Why a fault timed in seconds never struck: it was never due, or its worker had ended
        for good (or never ran) from the moment it was."""
        if index not in self._waiting:
            return f"the run ended after {elapsed:.1f} s"
        role = role_of(fault)
        ended = self.supervisor.ended.get(role)
        if ended is not None:
            at, how = ended
            return f"the {role} {how} at {at - self._started:.1f} s"
        _, due = self._waiting[index]
        return (
            f"no {role} was running from {due - self._started:.1f} s to the end of the run "
            f"({elapsed:.1f} s)"
        )

    def clear(self) -> None:
        """Disarm what this experiment armed on the proxies: its own clients' faults, and the
        blackholes it started, which would otherwise outlive a run that ends first (a blackhole
        of 0 s ends one now). Other experiments' faults stay armed: the next experiments, side by
        side, must find every broker reachable, and their neighbours' faults untouched."""
        if self.lab is not None:
            self.lab.clear_client_faults([self.names.client_prefix()])
            for broker in sorted(self.blackholes):
                self.lab.blackhole(0, node=broker)
