"""The experiment spec: one versioned JSON document, its single validation, and the client
properties it implies.

`Spec.from_json` is the only way a document becomes a `Spec`. It checks every field, collects every
problem and raises one `SpecError` whose `FieldError`s name the dotted path of each bad field
("producer.acks", "faults[1].at.records") and the values that field accepts. `Spec.to_json` writes
the full, normalized document back, with every default filled in, so a stored spec never depends on
defaults that might change later.

`read_live_fault` reads one fault document the page sends while an experiment runs (a live
action, "at": "now") against that experiment's spec, with the same code as a spec's own faults.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any, TypeVar

from playground.engine import naming
from playground.lab.topology import BROKER_IDS

SPEC_VERSION = 1
MAX_NAME_LENGTH = 120
MAX_RECORDS = 10_000_000  # a run of ten million records completes and is audited in bounded memory
MAX_RATE = 1_000_000
MAX_PARTITIONS = 12
MAX_FAULTS = 20
MAX_FAULT_SECONDS = 600
MAX_INT32 = 2_147_483_647
# librdkafka refuses an idempotent producer with more requests in flight than this.
IDEMPOTENT_MAX_IN_FLIGHT = 5
DEFAULT_TRANSACTIONAL_ID = "txn-producer"
# The consumer's own producer (see consumer_producer_config) gets a fixed id of its own, so it
# never fences the source producer.
CONSUMER_TRANSACTIONAL_ID = "txn-consumer"
MAX_MEMBERS = naming.MAX_MEMBERS  # a group's members, counting those add-consumer adds
MAX_SPEC_MEMBERS = 4  # consumer.members
MIN_SESSION_TIMEOUT_MS = 1000  # the lab's brokers accept session timeouts from here (lab/config)
MAX_SESSION_TIMEOUT_MS = 60_000
MIN_HEARTBEAT_INTERVAL_MS = 100
MAX_HEARTBEAT_INTERVAL_MS = 1000
MAX_TRANSACTIONAL_ID_LENGTH = 200
LEADER = "leader"  # a broker fault's "broker": the leader of partition 0 when the fault fires
ALL_BROKERS = "all"  # resume-broker's "broker": every paused broker
NOW = "now"  # the "at" of a live action, read by read_live_fault


class Acks(StrEnum):
    NONE = "0"
    LEADER = "1"
    ALL = "all"


# librdkafka's numeric spellings of acks; -1 is the old name of "all".
ACKS_FROM_INT = {0: Acks.NONE, 1: Acks.LEADER, -1: Acks.ALL}


class Pipeline(StrEnum):
    SIDE_EFFECT = "side-effect"  # the consumer charges each order: a durable write outside Kafka
    KAFKA_TO_KAFKA = "kafka-to-kafka"  # the consumer adds to a running total on an output topic


class Commit(StrEnum):
    BEFORE_PROCESSING = "before-processing"
    AFTER_PROCESSING = "after-processing"
    AUTO = "auto"
    TRANSACTIONAL = "transactional"  # offsets committed inside a producer transaction


class GroupProtocol(StrEnum):
    """How the group's members agree on who owns which partition."""

    CLASSIC = "classic"  # join and sync rounds led by one member (the client-side assignor)
    CONSUMER = "consumer"  # KIP-848: the broker assigns, member by member, with heartbeats


class Assignor(StrEnum):
    """Who gets which partition: the client's assignor (classic) or the broker's (consumer)."""

    RANGE = "range"  # classic (eager) and consumer (server-side)
    ROUNDROBIN = "roundrobin"  # classic, eager
    COOPERATIVE_STICKY = "cooperative-sticky"  # classic, incremental: only moved partitions stop
    UNIFORM = "uniform"  # consumer (server-side)


# The assignors each protocol offers ("range", the default, is offered by both).
ASSIGNORS: dict[GroupProtocol, tuple[Assignor, ...]] = {
    GroupProtocol.CLASSIC: (Assignor.RANGE, Assignor.ROUNDROBIN, Assignor.COOPERATIVE_STICKY),
    GroupProtocol.CONSUMER: (Assignor.UNIFORM, Assignor.RANGE),
}


class IsolationLevel(StrEnum):
    READ_COMMITTED = "read_committed"
    READ_UNCOMMITTED = "read_uncommitted"


class FaultKind(StrEnum):
    KILL_CONSUMER = "kill-consumer"
    ADD_CONSUMER = "add-consumer"
    REMOVE_CONSUMER = "remove-consumer"
    STALL_CONSUMER = "stall-consumer"
    PAUSE_CONSUMER = "pause-consumer"
    KILL_PRODUCER = "kill-producer"
    KILL_LEADER = "kill-leader"
    PAUSE_FOLLOWERS_KILL_LEADER = "pause-followers-kill-leader"
    DROP_ACKS = "drop-acks"
    BLACKHOLE_BROKER = "blackhole-broker"
    PAUSE_BROKER = "pause-broker"
    RESUME_BROKER = "resume-broker"
    KILL_COORDINATOR = "kill-coordinator"


class KillPoint(StrEnum):
    """Where a kill strikes: a point of the consumer's loop (the first five), a point of the
    producer's (the next three), or anywhere (from outside: both)."""

    AFTER_PROCESSING_BEFORE_COMMIT = "after-processing-before-commit"
    AFTER_COMMIT_BEFORE_PROCESSING = "after-commit-before-processing"
    MID_BATCH = "mid-batch"
    MID_TRANSACTION = "mid-transaction"
    # The consumer's next point between processing and committing, whatever its commit mode
    # (see commit_point).
    NEXT_COMMIT_POINT = "next-commit-point"
    # The producer's points. Right after sending a record, with every record sent so far on the
    # broker and none of their acknowledgements recorded yet:
    AFTER_SEND = "after-send"
    # A transactional producer's next commit: the commit request is on its way to the
    # coordinator and its answer is not in yet (the coordinator decides the outcome).
    DURING_COMMIT = "during-commit"
    # A transactional producer's next commit has returned, and the producer has not yet
    # recorded its records' acknowledgements (its position, when kept in its log).
    AFTER_COMMIT_BEFORE_LOG = "after-commit-before-log"
    # Wherever the worker is: the conductor SIGKILLs it from outside.
    ANYWHERE = "anywhere"


# The points a transactional producer passes at each commit (producer_kill_points).
COMMIT_KILL_POINTS = (KillPoint.DURING_COMMIT, KillPoint.AFTER_COMMIT_BEFORE_LOG)


class SourcePosition(StrEnum):
    """Where the source producer keeps how far through its source (the workload) it got, which
    a restarted session resumes from."""

    LOG = "log"  # after its last acknowledgement in the producer log (outside any transaction)
    TRANSACTION = "transaction"  # in a topic, in the same transaction as the records it covers


class Coordinator(StrEnum):
    """Which coordinator kill-coordinator kills: the broker that coordinates the experiment's
    consumer group, or the one that coordinates its transactional producers."""

    GROUP = "group"
    TRANSACTION = "transaction"


class DropTarget(StrEnum):
    """Whose Produce responses drop-acks drops; never another experiment's clients."""

    # The clients' own names, as their client ids say them. OUTPUT_PRODUCER: the consumer's own
    # producer (consumer_producer_config).
    SOURCE_PRODUCER = naming.SOURCE_PRODUCER
    OUTPUT_PRODUCER = naming.OUTPUT_PRODUCER
    ALL = "all"  # every client of this experiment


# The fields each fault kind takes besides "kind" and "at".
FAULT_FIELDS: dict[FaultKind, tuple[str, ...]] = {
    FaultKind.KILL_CONSUMER: ("point", "member"),
    FaultKind.ADD_CONSUMER: (),
    FaultKind.REMOVE_CONSUMER: ("member",),
    FaultKind.STALL_CONSUMER: ("member", "seconds"),
    FaultKind.PAUSE_CONSUMER: ("member", "seconds"),
    FaultKind.KILL_PRODUCER: ("point",),
    FaultKind.KILL_LEADER: ("partition",),
    FaultKind.PAUSE_FOLLOWERS_KILL_LEADER: ("partition",),
    FaultKind.DROP_ACKS: ("count", "target"),
    FaultKind.BLACKHOLE_BROKER: ("seconds", "broker"),
    FaultKind.PAUSE_BROKER: ("broker", "seconds"),
    FaultKind.RESUME_BROKER: ("broker",),
    FaultKind.KILL_COORDINATOR: ("coordinator",),
}

# The one default of each kind-specific fault field (Fault itself leaves them None). A field
# whose default differs for one kind has a (kind, field) entry besides; fault_defaults(kind)
# gives the defaults that hold for a kind.
FAULT_DEFAULTS: dict[str | tuple[FaultKind, str], Any] = {
    "point": KillPoint.NEXT_COMMIT_POINT,
    "partition": 0,
    "count": 3,
    "target": DropTarget.SOURCE_PRODUCER,
    "seconds": 5.0,
    "broker": LEADER,
    "member": 0,
    "coordinator": Coordinator.GROUP,
    (FaultKind.STALL_CONSUMER, "seconds"): 10.0,
    (FaultKind.RESUME_BROKER, "broker"): ALL_BROKERS,
    # A producer kill at a record count strikes right after that record is sent; one at a time
    # ("at": {"seconds": t} or a live "now") kills from outside unless a point is named
    # (_read_producer_kill_point).
    (FaultKind.KILL_PRODUCER, "point"): KillPoint.AFTER_SEND,
}

# The faults that act on the cluster (brokers), not on this experiment's own clients.
CLUSTER_FAULTS: frozenset[FaultKind] = frozenset(
    {
        FaultKind.KILL_LEADER,
        FaultKind.PAUSE_FOLLOWERS_KILL_LEADER,
        FaultKind.BLACKHOLE_BROKER,
        FaultKind.PAUSE_BROKER,
        FaultKind.RESUME_BROKER,
        FaultKind.KILL_COORDINATOR,
    }
)

# The faults that act on one member of the consumer group (its "member" field).
MEMBER_FAULTS: frozenset[FaultKind] = frozenset(
    {
        FaultKind.KILL_CONSUMER,
        FaultKind.REMOVE_CONSUMER,
        FaultKind.STALL_CONSUMER,
        FaultKind.PAUSE_CONSUMER,
    }
)


def fault_defaults(kind: FaultKind) -> dict[str, Any]:
    """The default of each field of `kind` (FAULT_FIELDS[kind]), from FAULT_DEFAULTS."""
    return {
        name: FAULT_DEFAULTS.get((kind, name), FAULT_DEFAULTS[name]) for name in FAULT_FIELDS[kind]
    }


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: its dotted path and a message naming what it accepts."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(ValueError):
    """A document that is not a valid spec; `errors` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Workload:
    """How many orders the producer sends, how fast, and over how many partitions."""

    records: int = 1000
    rate: int = 0  # records per second; 0 sends as fast as the producer can
    partitions: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "rate": self.rate, "partitions": self.partitions}


@dataclass(frozen=True)
class Producer:
    """The source producer's settings, named after (and defaulting like) librdkafka's."""

    acks: Acks = Acks.ALL
    enable_idempotence: bool = False
    retries: int = MAX_INT32
    max_in_flight: int = 5
    linger_ms: int = 5
    request_timeout_ms: int = 30_000
    message_timeout_ms: int = 300_000
    transactional: bool = False
    transactional_id: str | None = None
    # Records per transaction. Like transactional_id, kept (and ignored) when the producer is not
    # transactional, so switching transactions off and on again keeps the chosen size.
    transaction_records: int = 50
    position: SourcePosition = SourcePosition.LOG

    def __post_init__(self) -> None:
        # A transactional producer always has an id, so every spec shows the one it will use.
        if self.transactional and self.transactional_id is None:
            object.__setattr__(self, "transactional_id", DEFAULT_TRANSACTIONAL_ID)

    def to_json(self) -> dict[str, Any]:
        return {
            "acks": self.acks.value,
            "enable_idempotence": self.enable_idempotence,
            "retries": self.retries,
            "max_in_flight": self.max_in_flight,
            "linger_ms": self.linger_ms,
            "request_timeout_ms": self.request_timeout_ms,
            "message_timeout_ms": self.message_timeout_ms,
            "transactional": self.transactional,
            "transactional_id": self.transactional_id,
            "transaction_records": self.transaction_records,
            "position": self.position.value,
        }


@dataclass(frozen=True)
class Consumer:
    """When the consumer commits, how many records it handles per commit, and what it reads."""

    commit: Commit = Commit.AFTER_PROCESSING
    auto_commit_interval_ms: int = 5000
    batch_size: int = 1
    isolation_level: IsolationLevel = IsolationLevel.READ_COMMITTED
    idempotent: bool = False  # dedup keyed on order id, atomic with the side effect
    # The consumer group: how many members, how they share the partitions, and when a member
    # counts as gone.
    members: int = 1
    group_protocol: GroupProtocol = GroupProtocol.CLASSIC
    assignor: Assignor = Assignor.RANGE
    max_poll_interval_ms: int = 300_000  # librdkafka's default
    session_timeout_ms: int = 6000
    static_membership: bool = True  # group.instance.id: a restarted member gets its partitions back
    commit_on_revoke: bool = False  # commit what was processed when partitions are taken away

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit.value,
            "auto_commit_interval_ms": self.auto_commit_interval_ms,
            "batch_size": self.batch_size,
            "isolation_level": self.isolation_level.value,
            "idempotent": self.idempotent,
            "members": self.members,
            "group_protocol": self.group_protocol.value,
            "assignor": self.assignor.value,
            "max_poll_interval_ms": self.max_poll_interval_ms,
            "session_timeout_ms": self.session_timeout_ms,
            "static_membership": self.static_membership,
            "commit_on_revoke": self.commit_on_revoke,
        }


@dataclass(frozen=True)
class At:
    """When a fault fires: after a number of records, or seconds after the start (exactly one);
    or, for a live action only (read_live_fault), now."""

    records: int | None = None
    seconds: float | None = None
    now: bool = False

    def to_json(self) -> dict[str, Any] | str:
        if self.now:
            return NOW
        return {"records": self.records} if self.records is not None else {"seconds": self.seconds}


@dataclass(frozen=True)
class Fault:
    """One scheduled fault. Only the fields of its kind are set; the others stay None."""

    kind: FaultKind
    at: At
    point: KillPoint | None = None  # kill-consumer, kill-producer
    member: int | None = None  # the consumer group member a member fault acts on (MEMBER_FAULTS)
    coordinator: Coordinator | None = None  # kill-coordinator
    partition: int | None = None  # kill-leader, pause-followers-kill-leader
    count: int | None = None  # drop-acks
    target: DropTarget | None = None  # drop-acks
    # blackhole-broker, pause-broker, stall-consumer, pause-consumer: how long; None
    # (pause-broker only) until a resume-broker or the end of the run.
    seconds: float | None = None
    # blackhole-broker, pause-broker: "leader" or a broker id; resume-broker: an id or "all".
    broker: str | int | None = None

    @property
    def touches_cluster(self) -> bool:
        """Whether the fault acts on the brokers (CLUSTER_FAULTS) rather than on a client."""
        return self.kind in CLUSTER_FAULTS

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind.value, "at": self.at.to_json()}
        for name in FAULT_FIELDS[self.kind]:
            value = getattr(self, name)
            document[name] = value.value if isinstance(value, StrEnum) else value
        return document


@dataclass(frozen=True)
class Restart:
    """Whether a crashed worker is started again, and after how long."""

    enabled: bool = True
    delay_ms: int = 1000

    def to_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "delay_ms": self.delay_ms}


@dataclass(frozen=True)
class Restarts:
    consumer: Restart = field(default_factory=Restart)
    producer: Restart = field(default_factory=Restart)

    def to_json(self) -> dict[str, Any]:
        return {"consumer": self.consumer.to_json(), "producer": self.producer.to_json()}


@dataclass(frozen=True)
class Spec:
    """One experiment: what is sent, how it is produced and consumed, and what breaks when."""

    version: int = SPEC_VERSION
    name: str = ""
    workload: Workload = field(default_factory=Workload)
    pipeline: Pipeline = Pipeline.SIDE_EFFECT
    producer: Producer = field(default_factory=Producer)
    consumer: Consumer = field(default_factory=Consumer)
    faults: tuple[Fault, ...] = ()
    restarts: Restarts = field(default_factory=Restarts)

    @classmethod
    def from_json(cls, data: Any) -> Spec:
        """Validate a JSON document and return its Spec; raise SpecError listing every problem."""
        reader = _Reader()
        spec = _read_spec(reader, data)
        if reader.errors:
            raise SpecError(reader.errors)
        return spec

    def to_json(self) -> dict[str, Any]:
        """The full, normalized document: every field present, defaults filled in."""
        return {
            "version": self.version,
            "name": self.name,
            "workload": self.workload.to_json(),
            "pipeline": self.pipeline.value,
            "producer": self.producer.to_json(),
            "consumer": self.consumer.to_json(),
            "faults": [fault.to_json() for fault in self.faults],
            "restarts": self.restarts.to_json(),
        }


def default_spec() -> Spec:
    """The spec of an empty document: 1000 orders, safe producer defaults, no faults."""
    return Spec()


def kill_points(consumer: Consumer) -> tuple[KillPoint, ...]:
    """The points a kill-consumer can name: those the consumer's loop passes with its commit
    mode and batch size, then next-commit-point and anywhere, which fit every mode."""
    commit = consumer.commit
    if commit == Commit.BEFORE_PROCESSING:
        points = [KillPoint.AFTER_COMMIT_BEFORE_PROCESSING]
    elif commit == Commit.AFTER_PROCESSING:
        points = [KillPoint.AFTER_PROCESSING_BEFORE_COMMIT]
    elif commit == Commit.AUTO:
        # librdkafka commits in the background, so both orders happen.
        points = [
            KillPoint.AFTER_PROCESSING_BEFORE_COMMIT,
            KillPoint.AFTER_COMMIT_BEFORE_PROCESSING,
        ]
    else:
        points = [KillPoint.AFTER_PROCESSING_BEFORE_COMMIT, KillPoint.MID_TRANSACTION]
    if consumer.batch_size >= 2:
        points.append(KillPoint.MID_BATCH)
    return (*points, KillPoint.NEXT_COMMIT_POINT, KillPoint.ANYWHERE)


def producer_kill_points(producer: Producer) -> tuple[KillPoint, ...]:
    """The points a kill-producer can name: after a send, the two points of a commit when the
    producer is transactional, and anywhere."""
    commits = COMMIT_KILL_POINTS if producer.transactional else ()
    return (KillPoint.AFTER_SEND, *commits, KillPoint.ANYWHERE)


def commit_point(consumer: Consumer) -> KillPoint:
    """The point next-commit-point stands for with the consumer's commit mode: where it has
    processed a batch and not committed it (committed and not processed, for before-processing)."""
    if consumer.commit == Commit.BEFORE_PROCESSING:
        return KillPoint.AFTER_COMMIT_BEFORE_PROCESSING
    if consumer.commit == Commit.TRANSACTIONAL:
        return KillPoint.MID_TRANSACTION
    return KillPoint.AFTER_PROCESSING_BEFORE_COMMIT


def read_live_fault(document: Any, spec: Spec) -> Fault:
    """Read one live action: a fault document, checked against `spec`'s settings by the same
    code as the spec's own faults, whose "at" is "now" (its default). Raise SpecError listing
    every problem, with paths that start with "fault" ("fault.kind", "fault.count")."""
    reader = _Reader()
    fault = _read_fault(reader, document, "fault", spec, live=True)
    if reader.errors:
        raise SpecError(reader.errors)
    assert fault is not None  # _read_fault returns None only with an error
    return fault


# A transaction that starts right after another commits is answered CONCURRENT_TRANSACTIONS until
# the broker has written the previous markers; librdkafka retries after retry.backoff.ms, whose
# default (100 ms, doubling) made every transaction take about 300 ms. The Java client retries such
# requests after 20 ms; 10 ms gives the same pace here.
TRANSACTION_RETRY_BACKOFF_MS = 10


def producer_config(spec: Spec) -> dict[str, str | int | bool]:
    """The source producer's librdkafka properties from the spec's settings (clients.py adds
    what a run fills in: the servers, the client id, the experiment's transactional id)."""
    producer = spec.producer
    config: dict[str, str | int | bool] = {
        "acks": producer.acks.value,
        "enable.idempotence": producer.enable_idempotence,
        "retries": producer.retries,
        "max.in.flight.requests.per.connection": producer.max_in_flight,
        "linger.ms": producer.linger_ms,
        "request.timeout.ms": producer.request_timeout_ms,
        # librdkafka's request.timeout.ms is only the broker's ack timeout; how long the client
        # waits for a response before it retries is socket.timeout.ms. The spec's "request
        # timeout" means the latter (as in the Java client), so both get the same value.
        "socket.timeout.ms": producer.request_timeout_ms,
        "message.timeout.ms": producer.message_timeout_ms,
    }
    if producer.transactional:
        assert producer.transactional_id is not None  # filled in by Producer.__post_init__
        config["transactional.id"] = producer.transactional_id
        # librdkafka refuses message.timeout.ms above transaction.timeout.ms (default 60 s).
        config["transaction.timeout.ms"] = producer.message_timeout_ms
        config["retry.backoff.ms"] = TRANSACTION_RETRY_BACKOFF_MS
    return config


def consumer_config(spec: Spec) -> dict[str, str | int | bool]:
    """The consumer's librdkafka properties from the spec's settings (clients.py adds what a run
    fills in: the servers, the client id and the experiment's group)."""
    consumer = spec.consumer
    auto = consumer.commit == Commit.AUTO
    return {
        "enable.auto.commit": auto,
        "auto.commit.interval.ms": consumer.auto_commit_interval_ms,
        # With "auto", librdkafka stores an offset as soon as it hands the message over, before
        # the application has processed it; every other mode stores offsets explicitly.
        "enable.auto.offset.store": auto,
        "isolation.level": consumer.isolation_level.value,
        "auto.offset.reset": "earliest",
        "max.poll.interval.ms": consumer.max_poll_interval_ms,
        **group_protocol_config(consumer),
    }


def heartbeat_interval_ms(session_timeout_ms: int) -> int:
    """A classic member's heartbeat interval: a third of its session timeout (two lost heartbeats
    do not end a session), at most MAX_HEARTBEAT_INTERVAL_MS. A classic rebalance reaches the
    other members with their next heartbeat: librdkafka's default of 3 s made one take 3 to 6 s
    on the lab, 1 s makes it take 1 to 2 s."""
    return max(MIN_HEARTBEAT_INTERVAL_MS, min(MAX_HEARTBEAT_INTERVAL_MS, session_timeout_ms // 3))


def group_protocol_config(consumer: Consumer) -> dict[str, str | int | bool]:
    """The group protocol's properties. With the classic protocol the client chooses the
    assignor and its session timeout (heartbeat_interval_ms);
    with the consumer protocol (KIP-848) the broker does both: the assignor is named to it, and
    the session timeout is the group's own config, set before the run (experiment_topics)."""
    if consumer.group_protocol == GroupProtocol.CONSUMER:
        return {"group.protocol": "consumer", "group.remote.assignor": consumer.assignor.value}
    return {
        "group.protocol": "classic",
        "partition.assignment.strategy": consumer.assignor.value,
        "session.timeout.ms": consumer.session_timeout_ms,
        "heartbeat.interval.ms": heartbeat_interval_ms(consumer.session_timeout_ms),
    }


def consumer_producer_config(spec: Spec) -> dict[str, str | int | bool] | None:
    """The properties of the consumer's own producer, or None when the consumer needs none.

    The consumer produces when it writes the running total (kafka-to-kafka) or commits its
    offsets inside a transaction. That producer is always idempotent with acks=all, and
    transactional exactly when consumer.commit is "transactional": the spec has no knobs for it,
    so the promise depends only on settings the page shows.
    """
    transactional = spec.consumer.commit == Commit.TRANSACTIONAL
    if spec.pipeline != Pipeline.KAFKA_TO_KAFKA and not transactional:
        return None
    config: dict[str, str | int | bool] = {"acks": Acks.ALL.value, "enable.idempotence": True}
    if transactional:
        config["transactional.id"] = CONSUMER_TRANSACTIONAL_ID
        config["retry.backoff.ms"] = TRANSACTION_RETRY_BACKOFF_MS
    return config


# --- reading a document ---------------------------------------------------------------------

E = TypeVar("E", bound=StrEnum)

SPEC_FIELDS = tuple(Spec().to_json())
WORKLOAD_FIELDS = tuple(Workload().to_json())
PRODUCER_FIELDS = tuple(Producer().to_json())
CONSUMER_FIELDS = tuple(Consumer().to_json())
RESTARTS_FIELDS = tuple(Restarts().to_json())
RESTART_FIELDS = tuple(Restart().to_json())
AT_FIELDS = ("records", "seconds")


def _show(value: Any) -> str:
    """A value as the user wrote it in JSON, cut short if long."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as Python bools, which are ints: never accept them as numbers.
    return isinstance(value, int) and not isinstance(value, bool)


class _Reader:
    """Collects every error of one document instead of stopping at the first.

    A field that fails is replaced by its default so reading can go on; cross-field rules ask
    `failed()` first, so a bad field never causes a second, misleading error elsewhere.
    """

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.added_members = 0  # the members the spec's add-consumer faults add (_read_faults)

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def failed(self, *paths: str) -> bool:
        return any(error.path in paths for error in self.errors)


class _Object:
    """One JSON object of the document: typed getters that fall back to `defaults` on error."""

    def __init__(
        self,
        reader: _Reader,
        value: Any,
        path: str,
        fields: tuple[str, ...],
        defaults: Mapping[str, Any],
    ) -> None:
        self.reader = reader
        self.path = path
        self.defaults = defaults
        self.data: dict[str, Any] = {}
        if not isinstance(value, dict):
            reader.fail(path, f"expected an object, got {_show(value)}")
            return
        self.data = value
        for key in value:
            if key not in fields:
                self.fail(_printable(str(key)), f"unknown field; expected one of {_quoted(fields)}")

    def path_of(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, message: str) -> None:
        self.reader.fail(self.path_of(key), message)

    def get(self, key: str) -> Any:
        """The raw value, for fields with a shape of their own."""
        return self.data.get(key, self.defaults.get(key))

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.get(key)
        if not _is_int(value) or not low <= value <= high:
            self.fail(key, f"expected an integer from {low} to {high}, got {_show(value)}")
            return self.defaults[key]
        return value

    def number(self, key: str, low: float, high: float, *, nullable: bool = False) -> float | None:
        value = self.get(key)
        if value is None and nullable:
            return None
        # `not low <= value <= high` is also true for NaN, so NaN is refused here too.
        if not (_is_int(value) or isinstance(value, float)) or not low <= value <= high:
            expected = f"{'null or ' if nullable else ''}a number from {low} to {high}"
            self.fail(key, f"expected {expected}, got {_show(value)}")
            return self.defaults[key]
        return float(value)

    def boolean(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_show(value)}")
            return self.defaults[key]
        return value

    def choice(self, key: str, enum: type[E]) -> E:
        value = self.get(key)
        allowed = [member.value for member in enum]
        if not isinstance(value, str) or value not in allowed:
            self.fail(key, f"expected one of {_quoted(allowed)}, got {_show(value)}")
            return self.defaults[key]
        return enum(value)

    def text(self, key: str, max_length: int) -> str:
        value = self.get(key)
        if not isinstance(value, str) or len(value) > max_length:
            self.fail(
                key, f"expected a string of at most {max_length} characters, got {_show(value)}"
            )
            return self.defaults[key]
        problem = _unstorable(value)
        if problem:
            self.fail(key, problem)
            return self.defaults[key]
        return value


def _is_unstorable(character: str) -> bool:
    # A lone surrogate (Cs) cannot be encoded as UTF-8; a control character (Cc) would corrupt
    # the logs, journals and pages a name or id ends up in.
    return unicodedata.category(character) in ("Cc", "Cs")


def _unstorable(text: str) -> str | None:
    """Why `text` cannot be stored (its first control character or lone surrogate), or None."""
    for position, character in enumerate(text):
        if _is_unstorable(character):
            return (
                "must not contain control characters or lone surrogates; "
                f"found U+{ord(character):04X} at position {position}"
            )
    return None


def _printable(text: str) -> str:
    """`text` with each control character and lone surrogate written as a \\uXXXX escape."""
    return "".join(f"\\u{ord(c):04x}" if _is_unstorable(c) else c for c in text)


def _read_spec(r: _Reader, data: Any) -> Spec:
    spec = _Object(r, data, "", SPEC_FIELDS, asdict(Spec()))
    if spec.get("version") != SPEC_VERSION or not _is_int(spec.get("version")):
        spec.fail("version", f"expected {SPEC_VERSION}, got {_show(spec.get('version'))}")
    pipeline = spec.choice("pipeline", Pipeline)
    workload = _read_workload(r, spec.data.get("workload", {}))
    producer = _read_producer(r, spec.data.get("producer", {}))
    consumer = _read_consumer(r, spec.data.get("consumer", {}), pipeline)
    # The settings every fault is checked against; faults and restarts come after.
    settings = Spec(
        version=SPEC_VERSION,
        name=spec.text("name", MAX_NAME_LENGTH),
        workload=workload,
        pipeline=pipeline,
        producer=producer,
        consumer=consumer,
    )
    faults = _read_faults(r, spec.data.get("faults", []), settings)
    return replace(
        settings, faults=faults, restarts=_read_restarts(r, spec.data.get("restarts", {}))
    )


def _read_workload(r: _Reader, value: Any) -> Workload:
    workload = _Object(r, value, "workload", WORKLOAD_FIELDS, asdict(Workload()))
    return Workload(
        records=workload.integer("records", 1, MAX_RECORDS),
        rate=workload.integer("rate", 0, MAX_RATE),
        partitions=workload.integer("partitions", 1, MAX_PARTITIONS),
    )


def _read_producer(r: _Reader, value: Any) -> Producer:
    fields = _Object(r, value, "producer", PRODUCER_FIELDS, asdict(Producer()))
    producer = Producer(
        acks=_read_acks(fields),
        enable_idempotence=fields.boolean("enable_idempotence"),
        retries=fields.integer("retries", 0, MAX_INT32),
        max_in_flight=fields.integer("max_in_flight", 1, 1_000_000),
        linger_ms=fields.integer("linger_ms", 0, 60_000),
        request_timeout_ms=fields.integer("request_timeout_ms", 100, 300_000),
        message_timeout_ms=fields.integer("message_timeout_ms", 1000, 900_000),
        transactional=fields.boolean("transactional"),
        transactional_id=_read_transactional_id(fields),
        transaction_records=fields.integer("transaction_records", 1, 10_000),
        position=fields.choice("position", SourcePosition),
    )
    _check_producer(r, producer)
    return producer


def _read_acks(producer: _Object) -> Acks:
    value = producer.get("acks")
    if _is_int(value) and value in ACKS_FROM_INT:
        return ACKS_FROM_INT[value]
    if isinstance(value, str) and value in [acks.value for acks in Acks]:
        return Acks(value)
    producer.fail("acks", f"expected one of {_quoted(Acks)}, got {_show(value)}")
    return producer.defaults["acks"]


def _read_transactional_id(producer: _Object) -> str | None:
    value = producer.get("transactional_id")
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TRANSACTIONAL_ID_LENGTH:
        producer.fail(
            "transactional_id",
            f"expected null or a non-empty string of at most {MAX_TRANSACTIONAL_ID_LENGTH} "
            f"characters, got {_show(value)}",
        )
        return None
    problem = _unstorable(value)
    if problem:
        producer.fail("transactional_id", problem)
        return None
    return value


def _check_producer(r: _Reader, producer: Producer) -> None:
    """librdkafka's own rules between producer settings, reported before a client refuses them."""
    idempotence = "producer.enable_idempotence"
    if producer.enable_idempotence and not r.failed(idempotence):
        if producer.acks != Acks.ALL and not r.failed("producer.acks"):
            r.fail(idempotence, f'requires producer.acks "all", got "{producer.acks}"')
        if producer.max_in_flight > IDEMPOTENT_MAX_IN_FLIGHT:
            r.fail(
                idempotence,
                f"requires producer.max_in_flight from 1 to {IDEMPOTENT_MAX_IN_FLIGHT}, "
                f"got {producer.max_in_flight}",
            )
        if producer.retries < 1:
            r.fail(idempotence, f"requires producer.retries of at least 1, got {producer.retries}")
    if (
        producer.transactional
        and not producer.enable_idempotence
        and not r.failed("producer.transactional", idempotence)
    ):
        # librdkafka would quietly turn idempotence on; we ask for it so the page shows it.
        r.fail("producer.transactional", "requires producer.enable_idempotence true, got false")
    if (
        producer.position == SourcePosition.TRANSACTION
        and not producer.transactional
        and not r.failed("producer.position", "producer.transactional")
    ):
        # Only a transaction can make the position and the records it covers commit together.
        r.fail(
            "producer.position",
            f'"{SourcePosition.TRANSACTION}" requires producer.transactional true, got false; '
            f'expected "{SourcePosition.LOG}"',
        )
    timeouts = ("producer.message_timeout_ms", "producer.request_timeout_ms", "producer.linger_ms")
    if r.failed(*timeouts):
        return
    if producer.message_timeout_ms < producer.request_timeout_ms:
        r.fail(
            "producer.message_timeout_ms",
            f"must be at least producer.request_timeout_ms ({producer.request_timeout_ms}), "
            f"got {producer.message_timeout_ms}",
        )
    if producer.message_timeout_ms <= producer.linger_ms:
        r.fail(
            "producer.message_timeout_ms",
            f"must be greater than producer.linger_ms ({producer.linger_ms}), "
            f"got {producer.message_timeout_ms}",
        )


def _read_consumer(r: _Reader, value: Any, pipeline: Pipeline) -> Consumer:
    fields = _Object(r, value, "consumer", CONSUMER_FIELDS, asdict(Consumer()))
    consumer = Consumer(
        commit=fields.choice("commit", Commit),
        auto_commit_interval_ms=fields.integer("auto_commit_interval_ms", 100, 60_000),
        batch_size=fields.integer("batch_size", 1, 10_000),
        isolation_level=fields.choice("isolation_level", IsolationLevel),
        idempotent=fields.boolean("idempotent"),
        members=fields.integer("members", 1, MAX_SPEC_MEMBERS),
        group_protocol=fields.choice("group_protocol", GroupProtocol),
        assignor=fields.choice("assignor", Assignor),
        max_poll_interval_ms=fields.integer("max_poll_interval_ms", 1000, 300_000),
        session_timeout_ms=fields.integer(
            "session_timeout_ms", MIN_SESSION_TIMEOUT_MS, MAX_SESSION_TIMEOUT_MS
        ),
        static_membership=fields.boolean("static_membership"),
        commit_on_revoke=fields.boolean("commit_on_revoke"),
    )
    # In kafka-to-kafka the output is a Kafka topic: transactions are the dedup mechanism there.
    if consumer.idempotent and pipeline == Pipeline.KAFKA_TO_KAFKA:
        r.fail("consumer.idempotent", 'requires pipeline "side-effect", got "kafka-to-kafka"')
    _check_group(r, consumer)
    return consumer


def _check_group(r: _Reader, consumer: Consumer) -> None:
    """The rules between the group's settings, reported before a client refuses them."""
    protocol_failed = r.failed("consumer.group_protocol")
    offered = ASSIGNORS[consumer.group_protocol]
    if (
        not protocol_failed
        and not r.failed("consumer.assignor")
        and consumer.assignor not in offered
    ):
        r.fail(
            "consumer.assignor",
            f"expected one of {_quoted(offered)} with consumer.group_protocol "
            f'"{consumer.group_protocol}", got "{consumer.assignor}"',
        )
    timeouts = ("consumer.max_poll_interval_ms", "consumer.session_timeout_ms")
    if (
        consumer.group_protocol == GroupProtocol.CLASSIC
        and not protocol_failed
        and not r.failed(*timeouts)
        and consumer.max_poll_interval_ms < consumer.session_timeout_ms
    ):
        # librdkafka refuses a poll interval shorter than the session timeout.
        r.fail(
            "consumer.max_poll_interval_ms",
            f"must be at least consumer.session_timeout_ms ({consumer.session_timeout_ms}) "
            f'with consumer.group_protocol "{GroupProtocol.CLASSIC}", '
            f"got {consumer.max_poll_interval_ms}",
        )
    if (
        consumer.commit_on_revoke
        and consumer.commit in (Commit.BEFORE_PROCESSING, Commit.TRANSACTIONAL)
        and not r.failed("consumer.commit", "consumer.commit_on_revoke")
    ):
        # Before-processing commits before it handles anything, and a transaction commits its
        # offsets with its output or not at all: there is nothing processed left to commit.
        r.fail(
            "consumer.commit_on_revoke",
            f'requires consumer.commit "{Commit.AFTER_PROCESSING}" or "{Commit.AUTO}", '
            f'got "{consumer.commit}": nothing processed is left uncommitted to commit',
        )


def _read_restarts(r: _Reader, value: Any) -> Restarts:
    restarts = _Object(r, value, "restarts", RESTARTS_FIELDS, {})
    return Restarts(
        consumer=_read_restart(r, restarts.data.get("consumer", {}), "restarts.consumer"),
        producer=_read_restart(r, restarts.data.get("producer", {}), "restarts.producer"),
    )


def _read_restart(r: _Reader, value: Any, path: str) -> Restart:
    restart = _Object(r, value, path, RESTART_FIELDS, asdict(Restart()))
    return Restart(
        enabled=restart.boolean("enabled"), delay_ms=restart.integer("delay_ms", 0, 60_000)
    )


# --- reading faults ---------------------------------------------------------------------------


def _read_faults(r: _Reader, value: Any, settings: Spec) -> tuple[Fault, ...]:
    if not isinstance(value, list):
        r.fail("faults", f"expected a list of at most {MAX_FAULTS} faults, got {_show(value)}")
        return ()
    if len(value) > MAX_FAULTS:
        r.fail("faults", f"expected at most {MAX_FAULTS} faults, got {len(value)}")
    r.added_members = sum(
        1 for item in value if isinstance(item, dict) and item.get("kind") == FaultKind.ADD_CONSUMER
    )
    room = MAX_MEMBERS - settings.consumer.members
    if r.added_members > room and not r.failed("consumer.members"):
        # The first add-consumer past the room names the problem.
        adds = [i for i, item in enumerate(value) if isinstance(item, dict)
                and item.get("kind") == FaultKind.ADD_CONSUMER]  # fmt: skip
        r.fail(
            f"faults[{adds[room]}].kind",
            f"a group has at most {MAX_MEMBERS} members: with consumer.members "
            f"{settings.consumer.members}, at most {room} add-consumer faults, got "
            f"{r.added_members}",
        )
    faults = []
    for index, item in enumerate(value):
        fault = _read_fault(r, item, f"faults[{index}]", settings, live=False)
        if fault is not None:
            faults.append(fault)
    return tuple(faults)


def _read_fault(r: _Reader, value: Any, path: str, settings: Spec, *, live: bool) -> Fault | None:
    """One fault at `path`, checked against the spec's `settings` (all but its faults). A live
    fault (read_live_fault) fires now; a spec's fault at a number of records or seconds."""
    if not isinstance(value, dict):
        r.fail(path, f'expected an object with a "kind" and an "at", got {_show(value)}')
        return None
    workload = settings.workload
    kinds = [kind.value for kind in FaultKind]
    if value.get("kind") not in kinds:
        got = f"got {_show(value['kind'])}" if "kind" in value else "but it is missing"
        r.fail(f"{path}.kind", f"expected one of {_quoted(kinds)}, {got}")
        # Without a kind there is no telling which other fields belong; check only "at".
        _read_at(r, value, f"{path}.at", workload, live=live)
        return None
    kind = FaultKind(value["kind"])
    fields = _Object(r, value, path, ("kind", "at", *FAULT_FIELDS[kind]), fault_defaults(kind))
    at = _read_at(r, value, f"{path}.at", workload, live=live)
    if kind == FaultKind.KILL_CONSUMER:
        point = _read_kill_point(fields, settings.consumer)
        return Fault(kind, at, point=point, member=_read_member(fields, settings, live=live))
    if kind == FaultKind.ADD_CONSUMER:
        return Fault(kind, at)
    if kind == FaultKind.REMOVE_CONSUMER:
        return Fault(kind, at, member=_read_member(fields, settings, live=live))
    if kind in (FaultKind.STALL_CONSUMER, FaultKind.PAUSE_CONSUMER):
        member = _read_member(fields, settings, live=live)
        return Fault(
            kind, at, member=member, seconds=fields.number("seconds", 0.1, MAX_FAULT_SECONDS)
        )
    if kind == FaultKind.KILL_COORDINATOR:
        return Fault(kind, at, coordinator=_read_coordinator(fields, settings))
    if kind == FaultKind.KILL_PRODUCER:
        return Fault(kind, at, point=_read_producer_kill_point(fields, at, settings.producer))
    if kind in (FaultKind.KILL_LEADER, FaultKind.PAUSE_FOLLOWERS_KILL_LEADER):
        partition = fields.integer("partition", 0, MAX_PARTITIONS - 1)
        if partition >= workload.partitions and not r.failed("workload.partitions"):
            fields.fail(
                "partition",
                f"expected an integer from 0 to {workload.partitions - 1} "
                f"(workload.partitions - 1), got {partition}",
            )
        return Fault(kind, at, partition=partition)
    if kind == FaultKind.DROP_ACKS:
        count = fields.integer("count", 1, 1000)
        return Fault(kind, at, count=count, target=_read_drop_target(fields, settings))
    if kind == FaultKind.BLACKHOLE_BROKER:
        seconds = fields.number("seconds", 0.1, MAX_FAULT_SECONDS)
        return Fault(kind, at, seconds=seconds, broker=_read_broker(fields, LEADER))
    if kind == FaultKind.PAUSE_BROKER:
        broker = _read_broker(fields, LEADER)
        seconds = fields.number("seconds", 0.1, MAX_FAULT_SECONDS, nullable=True)
        return Fault(kind, at, broker=broker, seconds=seconds)
    if kind == FaultKind.RESUME_BROKER:
        return Fault(kind, at, broker=_read_broker(fields, ALL_BROKERS))
    return Fault(kind, at)


def _read_at(r: _Reader, fault: dict[str, Any], path: str, workload: Workload, *, live: bool) -> At:
    if live:
        # A live action fires when it is asked for; "now" is all its "at" can say.
        if fault.get("at", NOW) != NOW:
            r.fail(
                path, f'expected "{NOW}" (a live action fires at once), got {_show(fault["at"])}'
            )
        return At(now=True)
    if "at" not in fault:
        r.fail(path, 'required; expected {"records": n} or {"seconds": t}')
        return At(records=1)
    if fault["at"] == NOW:
        r.fail(path, f'"{NOW}" is for live actions; use {{"seconds": 0}}')
        return At(seconds=0.0)
    # The placeholders stand in only for a missing or bad value, which always comes with an error.
    at = _Object(r, fault["at"], path, AT_FIELDS, {"records": 1, "seconds": 0.0})
    given = [key for key in AT_FIELDS if key in at.data]
    if isinstance(fault["at"], dict) and len(given) != 1:
        got = "both" if given else "neither"
        r.fail(path, f'expected exactly one of "records" or "seconds", got {got}')
    if "seconds" in given and "records" not in given:
        return At(seconds=at.number("seconds", 0, MAX_FAULT_SECONDS))
    records = at.integer("records", 1, MAX_RECORDS)
    if records > workload.records and not r.failed(at.path_of("records"), "workload.records"):
        at.fail("records", f"must be at most workload.records ({workload.records}), got {records}")
    return At(records=records)


def _read_kill_point(fault: _Object, consumer: Consumer) -> KillPoint:
    """A consumer can only die at a point its commit mode and batch size actually pass
    (kill_points); the error lists those points."""
    if fault.reader.failed("consumer.commit", "consumer.batch_size"):
        # Without the consumer's settings, only the point's name can be checked.
        return fault.choice("point", KillPoint)
    settings = f'consumer.commit "{consumer.commit}" and consumer.batch_size {consumer.batch_size}'
    return _read_point(fault, kill_points(consumer), settings, KillPoint.NEXT_COMMIT_POINT)


def _read_producer_kill_point(fault: _Object, at: At, producer: Producer) -> KillPoint:
    """A producer dies at a point it passes (producer_kill_points): a commit's points only
    when it is transactional. Left out, the point is "after-send" for a kill at a record count
    and "anywhere" for one at a time."""
    if "point" not in fault.data and at.records is None:
        return KillPoint.ANYWHERE
    if fault.reader.failed("producer.transactional"):
        return fault.choice("point", KillPoint)
    settings = f"producer.transactional {json.dumps(producer.transactional)}"
    return _read_point(fault, producer_kill_points(producer), settings, KillPoint.AFTER_SEND)


def _read_point(
    fault: _Object, allowed: tuple[KillPoint, ...], settings: str, fallback: KillPoint
) -> KillPoint:
    """The fault's point, if its worker passes it with `settings` (in words); otherwise an error
    that lists the points it does pass."""
    value = fault.get("point")
    if isinstance(value, str) and value in allowed:
        return KillPoint(value)
    fault.fail("point", f"expected one of {_quoted(allowed)} with {settings}, got {_show(value)}")
    return fallback


def _read_drop_target(fault: _Object, settings: Spec) -> DropTarget:
    """Whose acks drop-acks drops; the client must exist and must be waiting for acks."""
    r, target_path = fault.reader, fault.path_of("target")
    target = fault.choice("target", DropTarget)
    if r.failed(target_path):
        return target
    consumer_produces = consumer_producer_config(settings) is not None
    if (
        target == DropTarget.OUTPUT_PRODUCER
        and not consumer_produces
        and not r.failed("pipeline", "consumer.commit")
    ):
        fault.fail(
            "target",
            f'expected "{DropTarget.SOURCE_PRODUCER}" or "{DropTarget.ALL}": the consumer has a '
            f'producer of its own only with pipeline "{Pipeline.KAFKA_TO_KAFKA}" or '
            f'consumer.commit "{Commit.TRANSACTIONAL}", got "{target}"',
        )
    # With acks=0 the broker sends no Produce responses, so there is nothing to drop. "all" still
    # has the consumer's own producer (always acks=all) to act on, if there is one.
    drops_source_acks_only = target == DropTarget.SOURCE_PRODUCER or (
        target == DropTarget.ALL and not consumer_produces
    )
    if (
        drops_source_acks_only
        and settings.producer.acks == Acks.NONE
        and not r.failed("producer.acks", "pipeline", "consumer.commit")
    ):
        when = " when the consumer has no producer of its own" if target == DropTarget.ALL else ""
        fault.fail(
            "kind", f'requires producer.acks "1" or "all" with target "{target}"{when}, got "0"'
        )
    return target


def _read_member(fault: _Object, settings: Spec, *, live: bool) -> int:
    """The member a member fault acts on: one the group can have. A spec's fault may name the
    members of consumer.members and those its add-consumer faults add; a live one any member
    the group may have grown to (the run says if none such is running)."""
    if live:
        return fault.integer("member", 0, MAX_MEMBERS - 1)
    members = min(settings.consumer.members + fault.reader.added_members, MAX_MEMBERS)
    if fault.reader.failed("consumer.members"):
        return fault.integer("member", 0, MAX_MEMBERS - 1)
    return fault.integer("member", 0, members - 1)


def _read_coordinator(fault: _Object, settings: Spec) -> Coordinator:
    """Which coordinator kill-coordinator kills; a transaction coordinator only when a client
    of the experiment is transactional."""
    coordinator = fault.choice("coordinator", Coordinator)
    transactional = (
        settings.producer.transactional or settings.consumer.commit == Commit.TRANSACTIONAL
    )
    if (
        coordinator == Coordinator.TRANSACTION
        and not transactional
        and not fault.reader.failed(
            fault.path_of("coordinator"), "producer.transactional", "consumer.commit"
        )
    ):
        fault.fail(
            "coordinator",
            f'"{Coordinator.TRANSACTION}" requires producer.transactional true or consumer.commit '
            f'"{Commit.TRANSACTIONAL}"; expected "{Coordinator.GROUP}"',
        )
    return coordinator


def _read_broker(fault: _Object, word: str) -> str | int:
    """A broker id, or `word`: "leader" (blackhole-, pause-broker) or "all" (resume-broker)."""
    value = fault.get("broker")
    if value == word or (_is_int(value) and value in BROKER_IDS):
        return value
    fault.fail(
        "broker",
        f'expected "{word}" or an integer from {min(BROKER_IDS)} to {max(BROKER_IDS)}, '
        f"got {_show(value)}",
    )
    return fault.defaults["broker"]
