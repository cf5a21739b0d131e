"""Every setting of the experiment spec, described once: path, label, explanation, values, section,
how to read its value from a spec and show it, and what the client does when nobody sets it.

The builder's form, its sections and help, the promise's risks, the verdict, the story sentences,
the lessons, the count of settings beyond the client's defaults and docs/spec.md all take a
setting from here, so a new spec field is described in one place (tests/engine/test_spec_fields.py
checks that every field of the spec is here and that docs/spec.md says the same). What a setting
accepts stays `Spec.from_json`'s: a choice lists the values of the spec's own enum, and the ranges
of numbers live only in the reader.

Use `setting(path)` for one setting ("producer.acks", "faults.kind"); `SPEC_SETTINGS` and
`FAULT_SETTINGS` list them in page order, grouped by `SECTIONS`; `CLIENT_DEFAULT_SETTINGS` are those
with a client default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from playground.engine.spec.model import (
    ALL_BROKERS,
    DEFAULT_TRANSACTIONAL_ID,
    LEADER,
    Acks,
    Assignor,
    Commit,
    Coordinator,
    DropTarget,
    FaultKind,
    GroupProtocol,
    IsolationLevel,
    KillPoint,
    Pipeline,
    SourcePosition,
    Spec,
)
from playground.lab.topology import BROKER_IDS

FAULTS_PATH = "faults"  # a fault field's path is "faults.<field>" for every fault of the list


class Kind(StrEnum):
    """What sort of value a setting takes, which decides the field that edits it."""

    INTEGER = "integer"
    NUMBER = "number"
    FLAG = "flag"
    CHOICE = "choice"
    TEXT = "text"


@dataclass(frozen=True)
class Section:
    """A group of settings that belong together on the page and in the docs."""

    title: str
    intro: str


WORKLOAD = Section("Workload", "What is sent, and what the consumer does with it.")
PRODUCER = Section(
    "Producer",
    "How the source producer writes: acknowledgements, retries, idempotence, transactions.",
)
CONSUMER = Section(
    "Consumer", "When the consumer commits, how much it handles per commit, and what it reads."
)
GROUP = Section(
    "Consumer group",
    "How many consumers share the partitions, how they agree who owns which, and when a member "
    "counts as gone: where rebalances and zombies come from.",
)
FAULTS = Section(
    "Faults",
    "Faults test the promise. Only one that can cost a record more than the producer's "
    "bounded retries allow changes it (a loss). Leave a row's kind blank for no fault.",
)
RESTARTS = Section("Restarts", "Whether a killed worker is started again, and after how long.")
SECTIONS = (WORKLOAD, PRODUCER, CONSUMER, GROUP, FAULTS, RESTARTS)


@dataclass(frozen=True)
class Value:
    """One value a choice accepts, as the page shows it, and what it does to the guarantee."""

    value: str
    label: str
    explanation: str


@dataclass(frozen=True)
class Setting:
    """One field of the spec, in the words every page uses for it."""

    path: str  # the dotted path FieldError names; "faults.<field>" for a field of each fault
    name: str  # short and unique among its own kind (spec or fault): the form field's name
    label: str
    kind: Kind
    section: Section
    explanation: str  # what the setting changes in the guarantee
    values: tuple[Value, ...] = ()  # a choice's values, in the spec enum's order
    blank: str = ""  # what an empty field stands for, where it may be left empty
    # The value a confluent-kafka (librdkafka) client has when nobody sets it, as the spec writes
    # it; None for a setting that is not counted among those a guarantee needs beyond it.
    client_default: str | int | bool | None = None

    @property
    def choices(self) -> dict[str, str]:
        """Each value of a choice and what it does ({} for other kinds)."""
        return {value.value: value.explanation for value in self.values}

    @property
    def per_fault(self) -> bool:
        """Whether each fault of the list has its own value of this setting."""
        return self.path.startswith(FAULTS_PATH + ".")

    def value(self, spec: Spec) -> Any:
        """This setting's value in `spec`, as its JSON document holds it ("1" for acks=1);
        ValueError for a field of each fault, which has a value per fault."""
        if self.per_fault:
            raise ValueError(f"{self.path} is a field of each fault, not of the spec")
        value: Any = spec.to_json()
        for key in self.path.split("."):
            value = value[key]
        return value

    def put(self, document: dict[str, Any], value: Any) -> None:
        """Write `value` at this setting's path of a spec document being built."""
        *parents, key = self.path.split(".")
        for parent in parents:
            document = document.setdefault(parent, {})
        document[key] = value

    def shown(self, value: Any) -> str:
        """A value of this setting in the pages' words: on or off for a flag, the blank's words
        for an empty value, else the value as the spec writes it."""
        if isinstance(value, bool):
            return "on" if value else "off"
        if value is None:
            return self.blank
        return str(value)


def _values(
    enum: type[StrEnum], explanations: Mapping[str, str], labels: Mapping[str, str] | None = None
) -> tuple[Value, ...]:
    """The enum's values with their words; a value without an explanation fails at import."""
    return tuple(
        Value(member.value, (labels or {}).get(member.value, member.value), explanations[member])
        for member in enum
    )


def _setting(
    path: str,
    label: str,
    kind: Kind,
    section: Section,
    explanation: str,
    *,
    name: str = "",
    values: tuple[Value, ...] = (),
    blank: str = "",
    client_default: str | int | bool | None = None,
) -> Setting:
    # The name is the path's last part unless that is ambiguous (two restarts have "enabled").
    short = name or path.rsplit(".", 1)[-1]
    return Setting(path, short, label, kind, section, explanation, values, blank, client_default)


SPEC_SETTINGS: tuple[Setting, ...] = (
    _setting(
        "name",
        "Name",
        Kind.TEXT,
        WORKLOAD,
        "A label for the experiment page. No effect on the guarantee.",
        blank="experiment",
    ),
    _setting(
        "workload.records",
        "Records",
        Kind.INTEGER,
        WORKLOAD,
        "Orders the producer sends, each with its own order id. No effect on the guarantee.",
    ),
    _setting(
        "workload.rate",
        "Rate (records/s)",
        Kind.INTEGER,
        WORKLOAD,
        "Orders per second; 0 sends as fast as possible. No effect on the guarantee.",
    ),
    _setting(
        "workload.partitions",
        "Partitions",
        Kind.INTEGER,
        WORKLOAD,
        "Partitions of the orders topic. No effect on the guarantee; leader faults pick one of "
        "them.",
    ),
    _setting(
        "pipeline",
        "Pipeline",
        Kind.CHOICE,
        WORKLOAD,
        "What the consumer does with each order, which decides what a Kafka transaction can cover.",
        values=_values(
            Pipeline,
            {
                Pipeline.SIDE_EFFECT: "the consumer charges each order outside Kafka. No Kafka "
                "transaction reaches that charge; only an idempotent consumer makes it happen "
                "once.",
                Pipeline.KAFKA_TO_KAFKA: "the consumer writes a running total back to Kafka, so "
                "its output and its offsets can share one transaction: exactly-once is possible.",
            },
        ),
    ),
    _setting(
        "producer.acks",
        "Acks",
        Kind.CHOICE,
        PRODUCER,
        "When the broker confirms a write to the producer.",
        values=_values(
            Acks,
            {
                Acks.NONE: "the producer does not wait for the broker, so a failed write goes "
                "unnoticed (loss).",
                Acks.LEADER: "the leader acknowledges alone; a leader that dies before a "
                "follower copies the record loses an acknowledged write (loss).",
                Acks.ALL: "every in-sync replica holds the record before it is acknowledged.",
            },
            labels={
                Acks.NONE: "0: none",
                Acks.LEADER: "1: leader only",
                Acks.ALL: "all: in-sync replicas",
            },
        ),
        client_default=Acks.ALL.value,  # acks=-1 since librdkafka 1.0 (CONFIGURATION.md)
    ),
    _setting(
        "producer.enable_idempotence",
        "Idempotent producer",
        Kind.FLAG,
        PRODUCER,
        "The broker recognises a retried batch by producer id and sequence number and writes it "
        "once. Off, a retry after a lost acknowledgement stores the record twice. Needs "
        "acks=all, retries of at least 1 and at most 5 in flight; it only holds within one "
        "producer session.",
        client_default=False,
    ),
    _setting(
        "producer.retries",
        "Retries",
        Kind.INTEGER,
        PRODUCER,
        "How often a failed send is tried again. 0: one transient error, such as a leader "
        "change, loses the record. 1 or more without idempotence: a retry can store it twice. "
        "Fewer than a fault can cost one record (each lost answer is one): the producer gives "
        "up on it (loss, unless it is transactional).",
        client_default=2_147_483_647,
    ),
    _setting(
        "producer.max_in_flight",
        "Max requests in flight",
        Kind.INTEGER,
        PRODUCER,
        "Unacknowledged requests per broker connection. No direct effect; idempotence allows at "
        "most 5.",
    ),
    _setting(
        "producer.linger_ms",
        "Linger (ms)",
        Kind.INTEGER,
        PRODUCER,
        "How long the producer waits to fill a batch: latency against throughput. No effect on "
        "the guarantee.",
    ),
    _setting(
        "producer.request_timeout_ms",
        "Request timeout (ms)",
        Kind.INTEGER,
        PRODUCER,
        "How long the producer waits for a broker's answer before it retries. No effect on the "
        "guarantee by itself.",
    ),
    _setting(
        "producer.message_timeout_ms",
        "Message timeout (ms)",
        Kind.INTEGER,
        PRODUCER,
        "How long a record may stay unacknowledged before the producer gives up on it and does "
        "not send it again: a fault that holds it longer loses it, acks=all or not (a "
        "transactional producer sends the aborted transaction again). At least the request "
        "timeout.",
    ),
    _setting(
        "producer.transactional",
        "Transactional producer",
        Kind.FLAG,
        PRODUCER,
        "Writes go in transactions. A restarted producer aborts what the dead one left open, so "
        "read_committed consumers never see its unfinished writes; with its position kept in "
        "the transaction, a restart never repeats a record. Needs idempotence.",
        client_default=False,  # no transactional.id
    ),
    _setting(
        "producer.transactional_id",
        "Transactional id",
        Kind.TEXT,
        PRODUCER,
        "Names the producer across restarts, so a new session fences the old one. Blank: "
        f"{DEFAULT_TRANSACTIONAL_ID}.",
        blank=DEFAULT_TRANSACTIONAL_ID,
    ),
    _setting(
        "producer.transaction_records",
        "Records per transaction",
        Kind.INTEGER,
        PRODUCER,
        "How many records the source producer puts in one transaction before committing it; "
        "only with producer.transactional. Larger transactions commit less often: more "
        "throughput, more records redone after an abort, and a read_committed consumer waits "
        "longer to see them.",
    ),
    _setting(
        "producer.position",
        "Position kept in",
        Kind.CHOICE,
        PRODUCER,
        "Where the producer keeps how far through its source it got, which a restarted producer "
        "resumes from: what decides whether a transaction's records can be sent twice.",
        values=_values(
            SourcePosition,
            {
                SourcePosition.LOG: "its own log, after each commit returns: a producer killed "
                "while its commit is in flight, or right after it, sends that transaction again "
                "(duplicates, transactions or not).",
                SourcePosition.TRANSACTION: "a topic, in the same transaction as the records it "
                "covers, read back with read_committed: what committed is never sent again. "
                "Needs a transactional producer.",
            },
            labels={
                SourcePosition.LOG: "log: after the commit",
                SourcePosition.TRANSACTION: "transaction: with the records",
            },
        ),
    ),
    _setting(
        "consumer.commit",
        "Commit",
        Kind.CHOICE,
        CONSUMER,
        "When the consumer commits its offsets: the sharpest lever on the guarantee.",
        values=_values(
            Commit,
            {
                Commit.BEFORE_PROCESSING: "commit, then process; a crash in between skips the "
                "batch (loss, never a duplicate).",
                Commit.AFTER_PROCESSING: "process, then commit; a crash in between processes the "
                "batch again (duplicates, never a loss).",
                Commit.AUTO: "librdkafka commits in the background, including offsets of records "
                "handed over but not yet processed (loss and duplicates).",
                Commit.TRANSACTIONAL: "offsets are committed in a producer transaction. In "
                "kafka-to-kafka with read_committed, nothing is lost or repeated; an external "
                "charge stays outside the transaction (duplicates).",
            },
        ),
        client_default=Commit.AUTO.value,  # librdkafka commits on its own (enable.auto.commit=true)
    ),
    _setting(
        "consumer.auto_commit_interval_ms",
        "Auto-commit interval (ms)",
        Kind.INTEGER,
        CONSUMER,
        "How often auto-commit runs; only used with commit=auto. A crash repeats everything "
        "processed since the last auto-commit.",
    ),
    _setting(
        "consumer.batch_size",
        "Batch size",
        Kind.INTEGER,
        CONSUMER,
        "Records handled between two commits. No effect on the semantic; a crash loses or "
        "repeats up to one batch.",
    ),
    _setting(
        "consumer.isolation_level",
        "Isolation level",
        Kind.CHOICE,
        CONSUMER,
        "Which records of a transactional producer the consumer sees.",
        values=_values(
            IsolationLevel,
            {
                IsolationLevel.READ_COMMITTED: "only records of committed transactions.",
                IsolationLevel.READ_UNCOMMITTED: "also records of aborted transactions, which a "
                "transactional producer sends again after the abort (duplicates).",
            },
        ),
        client_default=IsolationLevel.READ_COMMITTED.value,
    ),
    _setting(
        "consumer.idempotent",
        "Idempotent consumer",
        Kind.FLAG,
        CONSUMER,
        "The consumer records each order id in the same atomic write as the charge and skips "
        "ids it has charged: removes every duplicate risk. Side-effect pipeline only; in "
        "kafka-to-kafka, transactions do that job.",
        client_default=False,  # the plain consumer keeps no record of what it handled
    ),
    _setting(
        "consumer.members",
        "Members",
        Kind.INTEGER,
        GROUP,
        "Consumers in the group, each its own process; the partitions are shared among them. "
        "With more than one, a member that stalls, pauses, leaves or dies hands its partitions "
        "to the others, and what it processed without committing is processed again.",
    ),
    _setting(
        "consumer.group_protocol",
        "Rebalance protocol",
        Kind.CHOICE,
        GROUP,
        "How the members agree on who owns which partition when one joins or leaves.",
        values=_values(
            GroupProtocol,
            {
                GroupProtocol.CLASSIC: "join and sync rounds led by one member; with an eager "
                "assignor every member stops all its partitions at each rebalance.",
                GroupProtocol.CONSUMER: "KIP-848: the broker assigns, member by member through "
                "heartbeats; only partitions that move stop.",
            },
        ),
    ),
    _setting(
        "consumer.assignor",
        "Assignor",
        Kind.CHOICE,
        GROUP,
        "Who gets which partition: the client's assignor with the classic protocol, the "
        "broker's with the consumer protocol. Decides how long partitions pause in a rebalance, "
        "not whether records repeat.",
        values=_values(
            Assignor,
            {
                Assignor.RANGE: "contiguous ranges of partitions per member (classic: eager, every "
                "partition is revoked at each rebalance; consumer: server-side).",
                Assignor.ROUNDROBIN: "classic only: partitions dealt out one by one (eager).",
                Assignor.COOPERATIVE_STICKY: "classic only: incremental; members keep what they "
                "have and only the partitions that move are revoked.",
                Assignor.UNIFORM: "consumer protocol only: the broker spreads partitions evenly "
                "and keeps them where they are.",
            },
        ),
    ),
    _setting(
        "consumer.max_poll_interval_ms",
        "Max poll interval (ms)",
        Kind.INTEGER,
        GROUP,
        "How long a member may spend on one batch before the group takes its partitions away. "
        "A member that stalls longer finishes its batch as a zombie: its effects repeat what the "
        "new owner does.",
    ),
    _setting(
        "consumer.session_timeout_ms",
        "Session timeout (ms)",
        Kind.INTEGER,
        GROUP,
        "How long a silent member (dead, or frozen) keeps its partitions before the group moves "
        "them. Classic: the client's setting; consumer protocol: set on the group at the broker.",
    ),
    _setting(
        "consumer.static_membership",
        "Static membership",
        Kind.FLAG,
        GROUP,
        "Each member has a fixed instance id: a restarted member takes its partitions back "
        "without a rebalance, and one that leaves keeps them until its session times out.",
    ),
    _setting(
        "consumer.commit_on_revoke",
        "Commit on revoke",
        Kind.FLAG,
        GROUP,
        "Commit what was processed when partitions are taken away, so the new owner does not "
        "process it again: a batch whose commit the group refused while the rebalance went on "
        "(a stale generation), and auto-commit's stored offsets.",
    ),
    _setting(
        "restarts.consumer.enabled",
        "Restart a killed consumer",
        Kind.FLAG,
        RESTARTS,
        "A killed consumer starts again from the last committed offset. Off: the rest of the "
        "log is never processed (loss). On: commit timing decides whether records are processed "
        "twice.",
        name="consumer_restart",
    ),
    _setting(
        "restarts.consumer.delay_ms",
        "Consumer restart delay (ms)",
        Kind.INTEGER,
        RESTARTS,
        "Wait before the restart. No effect on the guarantee.",
        name="consumer_restart_delay_ms",
    ),
    _setting(
        "restarts.producer.enabled",
        "Restart a killed producer",
        Kind.FLAG,
        RESTARTS,
        "A killed producer starts again and re-sends what it never saw acknowledged. Off: those "
        "records are lost. On without transactions: the re-sent copies are duplicates, since "
        "idempotence does not span sessions.",
        name="producer_restart",
    ),
    _setting(
        "restarts.producer.delay_ms",
        "Producer restart delay (ms)",
        Kind.INTEGER,
        RESTARTS,
        "Wait before the restart. No effect on the guarantee.",
        name="producer_restart_delay_ms",
    ),
)

# The fields of one fault, in the order of a fault row; FAULT_FIELDS (spec) says which kind
# takes which.
FAULT_SETTINGS: tuple[Setting, ...] = (
    _setting(
        "faults.kind",
        "Kind",
        Kind.CHOICE,
        FAULTS,
        "What breaks; each kind takes the fields listed with it.",
        blank="none",
        values=_values(
            FaultKind,
            {
                FaultKind.KILL_CONSUMER: "a consumer (the chosen member) kills itself (SIGKILL) "
                "at the chosen point.",
                FaultKind.ADD_CONSUMER: "a new member joins the group: a rebalance.",
                FaultKind.REMOVE_CONSUMER: "a member leaves cleanly (it is stopped): a rebalance, "
                "after its session times out if it is a static member.",
                FaultKind.STALL_CONSUMER: "a member's handler stalls in the middle of a batch, "
                "after some effects and before the commit; longer than the max poll interval, "
                "the group moves its partitions and the member wakes up as a zombie.",
                FaultKind.PAUSE_CONSUMER: "a member's process is frozen (SIGSTOP), then carries on "
                "(SIGCONT); longer than the session timeout, its partitions move meanwhile.",
                FaultKind.KILL_PRODUCER: "the producer dies (SIGKILL) at the chosen point; "
                "what it sent without recording an acknowledgement is re-sent only if it "
                "restarts.",
                FaultKind.KILL_LEADER: "the broker leading the partition is killed; a follower "
                "takes over and the producer retries what was in flight.",
                FaultKind.PAUSE_FOLLOWERS_KILL_LEADER: "the followers are paused so the leader "
                "takes writes alone, then the leader is killed: how acks=1 loses acknowledged "
                "records.",
                FaultKind.DROP_ACKS: "the next produce requests reach the broker but their "
                "responses are dropped, so the producer retries records already written. Needs "
                "acks 1 or all.",
                FaultKind.BLACKHOLE_BROKER: "every frame to and from the broker vanishes for a "
                "while, as in a network partition.",
                FaultKind.PAUSE_BROKER: "the broker is frozen (SIGSTOP) for a while, or until a "
                "resume-broker: alive to the cluster's eyes, answering nobody.",
                FaultKind.RESUME_BROKER: "a paused broker (or every one) carries on where it "
                "stopped.",
                FaultKind.KILL_COORDINATOR: "the broker coordinating the group (or the "
                "transactions) is killed; another takes over and the clients find it.",
            },
        ),
    ),
    _setting(
        "faults.at",
        "After",
        Kind.NUMBER,
        FAULTS,
        "For a consumer fault (kill, remove, stall, pause), records the consumer group has "
        "processed; for the others, records the producer has sent. Or seconds since the start.",
    ),
    _setting(
        "faults.point",
        "Point",
        Kind.CHOICE,
        FAULTS,
        "Where in its worker's loop a kill strikes: for kill-consumer, only points its commit "
        "mode and batch size pass; for kill-producer, after a send, or at a commit when it is "
        "transactional. Blank: next-commit-point for the consumer; after-send for the producer "
        "at a record count, anywhere at a time.",
        values=_values(
            KillPoint,
            {
                KillPoint.AFTER_PROCESSING_BEFORE_COMMIT: "the batch is processed, its offsets "
                "are not committed yet. Not with before-processing commits.",
                KillPoint.AFTER_COMMIT_BEFORE_PROCESSING: "the offsets are committed, the batch "
                "is not processed yet. Only with before-processing and auto commits.",
                KillPoint.MID_BATCH: "part of the batch is processed. Needs a batch size of at "
                "least 2.",
                KillPoint.MID_TRANSACTION: "inside an open transaction, before it commits. Needs "
                "transactional commits.",
                KillPoint.NEXT_COMMIT_POINT: "the next point between processing and committing, "
                "whatever the commit mode: where that mode is most exposed.",
                KillPoint.AFTER_SEND: "producer: right after it sends the record, before "
                "any acknowledgement is recorded.",
                KillPoint.DURING_COMMIT: "producer: its commit request is on its way and its "
                "answer not in; the coordinator decides. Needs a transactional producer.",
                KillPoint.AFTER_COMMIT_BEFORE_LOG: "producer: its commit returned and it has "
                "not recorded it yet. Needs a transactional producer.",
                KillPoint.ANYWHERE: "wherever the worker happens to be: killed from outside "
                "once that many records are processed (consumer) or sent (producer).",
            },
        ),
    ),
    _setting(
        "faults.partition",
        "Partition",
        Kind.INTEGER,
        FAULTS,
        "The partition whose leader is hit; below the number of partitions.",
    ),
    _setting(
        "faults.count",
        "Responses dropped",
        Kind.INTEGER,
        FAULTS,
        "How many produce responses are dropped.",
    ),
    _setting(
        "faults.target",
        "Acks of",
        Kind.CHOICE,
        FAULTS,
        "Whose produce responses are dropped; only this experiment's clients.",
        values=_values(
            DropTarget,
            {
                DropTarget.SOURCE_PRODUCER: "the producer that sends the orders. Needs acks 1 or "
                "all.",
                DropTarget.OUTPUT_PRODUCER: "the consumer's own producer, which exists only in "
                "kafka-to-kafka or with transactional commits.",
                DropTarget.ALL: "every client of this experiment.",
            },
        ),
    ),
    _setting(
        "faults.seconds",
        "For (seconds)",
        Kind.NUMBER,
        FAULTS,
        "How long the broker is cut off or paused, or the member stalls or is paused. Blank for "
        "pause-broker: paused until a resume-broker or the end of the run.",
    ),
    _setting(
        "faults.broker",
        "Broker",
        Kind.CHOICE,
        FAULTS,
        "The leader of partition 0 when the fault fires, or a fixed broker; resume-broker takes "
        "a broker or all of them. Default: leader, or all for resume-broker.",
        blank="default",
        values=(
            Value(LEADER, "leader", ""),
            *(Value(str(broker), f"broker {broker}", "") for broker in BROKER_IDS),
            Value(ALL_BROKERS, "all", ""),
        ),
    ),
    _setting(
        "faults.member",
        "Member",
        Kind.INTEGER,
        FAULTS,
        "Which consumer group member a consumer fault acts on: 0 is the first; members that "
        "add-consumer adds come after those of consumer.members.",
    ),
    _setting(
        "faults.coordinator",
        "Coordinator",
        Kind.CHOICE,
        FAULTS,
        "Whose coordinator kill-coordinator kills, found by asking Kafka when it fires.",
        values=_values(
            Coordinator,
            {
                Coordinator.GROUP: "the broker coordinating the consumer group: its members "
                "find the new coordinator and go on; commits in flight are retried.",
                Coordinator.TRANSACTION: "the broker coordinating the transactional producers: "
                "open transactions are resolved by the new coordinator. Needs a transactional "
                "producer or transactional commits.",
            },
        ),
    ),
)

_BY_PATH = {entry.path: entry for entry in SPEC_SETTINGS + FAULT_SETTINGS}
# The settings that decide a delivery guarantee, with what the client does by itself.
CLIENT_DEFAULT_SETTINGS = tuple(
    entry for entry in SPEC_SETTINGS if entry.client_default is not None
)


def setting(path: str) -> Setting:
    """The setting at a dotted spec path ("producer.acks", "faults.kind"); KeyError if none."""
    try:
        return _BY_PATH[path]
    except KeyError:
        raise KeyError(f"no setting at {path!r}; expected one of {', '.join(_BY_PATH)}") from None
