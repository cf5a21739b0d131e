"""The three raw records an experiment leaves behind, as the audit's record objects.

The audit trusts nothing else: not a worker's own counters, not the conductor's idea of what
happened. Each record is written by a different party (the producer, Kafka itself, the sink), so a
bug or a crash in one of them cannot make the others agree with it.

Their forms on disk and in Kafka are formats/ (the producer log, the ledger, the output value);
the audit loads them as tables (record_tables.py), or, in a small run or a test, these objects.
"""

from __future__ import annotations

from dataclasses import dataclass

# ProducerEvent kinds.
ATTEMPT = "attempt"  # written (and flushed) before produce() is called
ACK = "ack"  # a broker acknowledgement; transactional: only once its transaction committed
SENT = "sent"  # acks=0: the client reported it delivered, but no broker answered
FAIL = "fail"  # the delivery report carried an error
PRODUCER_EVENT_KINDS = (ATTEMPT, ACK, SENT, FAIL)


@dataclass(frozen=True, slots=True)
class ProducerEvent:
    """One line of the producer log (formats/producer_log.py): an attempt, or the delivery
    report it got.

    session numbers the producer process (0, then 1 after a restart, ...); the same order id may
    be attempted in several sessions because a restarted producer re-sends.
    """

    kind: str
    order_id: str
    session: int
    at_ms: int | None = None  # attempts: wall-clock milliseconds when it was logged
    partition: int | None = None
    offset: int | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PRODUCER_EVENT_KINDS:
            raise ValueError(
                f"ProducerEvent.kind is {self.kind!r}; allowed: {', '.join(PRODUCER_EVENT_KINDS)}"
            )
        if self.kind == ACK and (self.partition is None or self.offset is None):
            raise ValueError(f"ProducerEvent ack for {self.order_id!r} lacks partition or offset")


@dataclass(frozen=True, slots=True)
class LogCopy:
    """One record physically in the input topic, as read from offset 0 with read_uncommitted.

    committed is False when a read_committed read does not return it: it belonged to an aborted
    transaction.
    """

    order_id: str
    partition: int
    offset: int
    committed: bool


@dataclass(frozen=True, slots=True)
class Effect:
    """One effect actually performed, naming the input copy it came from.

    Side-effect pipeline: a charge row in the durable store (always committed). Kafka-to-Kafka: a
    record of the output topic; committed is False when only a read_uncommitted reader sees it.
    Member, generation and time say who made it and when: what tells a consumer duplicate's
    cause and a rebalance's pause (group_story.py), never a count.
    """

    order_id: str
    source_partition: int
    source_offset: int
    committed: bool = True
    session: int | None = None  # the consumer session that performed it; None: not recorded
    member: int | None = None  # the group member that session was; None: not recorded (0)
    generation: int | None = None  # the generation it held (-1: none); None: not recorded (-1)
    at_ms: int | None = None  # when it happened (epoch ms); None: not recorded


@dataclass(frozen=True, slots=True)
class HandlerRun:
    """One run of the side-effect consumer's handler, as the audit holds it.

    Its ledger line (formats/ledger.py) names the input copy by its partition and offset, here
    source_partition and source_offset; deduplicated is a line whose charged is false: the
    idempotent consumer recognised the order id and skipped the charge, so a redelivery stays
    visible even when it caused no duplicate effect.
    """

    order_id: str
    source_partition: int
    source_offset: int
    deduplicated: bool
    session: int | None = None  # the consumer session that ran it; None: not recorded
    member: int | None = None  # the group member that session was; None: not recorded (0)
    generation: int | None = None  # the generation it held (-1: none); None: not recorded (-1)
    at_ms: int | None = None  # when it ran (epoch ms); None: not recorded
