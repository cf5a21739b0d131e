"""The second raw record: what Kafka itself holds, read from offset 0 after the run, into a table.

A record the read_committed read does not return belongs to an aborted transaction (or an open
one). So every topic is read read_committed first; when that read returned every offset from the
log's start to its end in every partition, there is nothing a read_uncommitted read could add (no
aborted record, no transaction marker) and every record is committed. Otherwise the topic is
read again, read_uncommitted, and each record is marked committed or not by whether the first
read returned its offset. The reads use the lab's direct listener, so no proxy fault can hide a
record from the audit.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from operator import itemgetter

import duckdb
import numpy as np
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from playground.engine.audit import record_tables

READ_TIMEOUT_SECONDS = 120.0
BATCH = 10_000  # messages taken from the client at a time: its objects cost memory
INSERT_ROWS = 100_000  # rows gathered as columns before they go into the table
# How long one take waits for a whole BATCH: it returns what has arrived by then, so the last,
# partial batch (and a small topic) costs this, not a second.
TAKE_SECONDS = 0.05
# librdkafka fetches ahead of the reader, within these bounds. The one that matters is the backoff:
# by default a partition whose fetch queue is full waits a whole second before its next fetch,
# which made reading a million records back take 3.5 s instead of 1. Small fetches and a small
# queue keep the reader's memory down without slowing it (measured: 1,000,000 records in 0.9 s).
READER_SETTINGS = {
    "fetch.queue.backoff.ms": 10,
    "fetch.wait.max.ms": 10,
    "max.partition.fetch.bytes": 1024 * 1024,
    "fetch.max.bytes": 4 * 1024 * 1024,
    "queued.min.messages": 50_000,
    "queued.max.messages.kbytes": 16 * 1024,
}
_TIMESTAMP_MS = itemgetter(1)  # of Message.timestamp(): (its type, epoch ms)
KEY = "key"
VALUE = "value"
# The table load_topic fills: each record's key or value (decoded), where it is, its timestamp
# (epoch ms) and whether a read_committed reader sees it.
COLUMNS = (
    "payload VARCHAR, kafka_partition INTEGER, kafka_offset BIGINT, written_at BIGINT, "
    "committed BOOLEAN"
)


def load_topic(
    db: duckdb.DuckDBPyConnection, table: str, bootstrap: str, topic: str, payload: str
) -> None:
    """Every record in `topic` from offset 0 to its end, into a new `table` (COLUMNS) of `db`,
    each marked committed or not; payload says which part of the record to keep (KEY or
    VALUE)."""
    ends = _read(db, table, bootstrap, topic, "read_committed", payload)
    if not _every_offset(db, table, ends):
        db.execute(f"ALTER TABLE {table} RENAME TO {table}_committed")
        _read(db, f"{table}_everything", bootstrap, topic, "read_uncommitted", payload)
        db.execute(
            f"CREATE TABLE {table} AS SELECT e.* EXCLUDE (committed), "
            f"c.kafka_offset IS NOT NULL AS committed FROM {table}_everything e "
            f"LEFT JOIN {table}_committed c USING (kafka_partition, kafka_offset)"
        )
        db.execute(f"DROP TABLE {table}_everything")
        db.execute(f"DROP TABLE {table}_committed")
    _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand the heap the reads freed (the client's fetch buffers, the batches' objects) back to
    the system, so that the audit's database, which comes next, does not add to it. glibc keeps
    freed memory otherwise; elsewhere this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _every_offset(
    db: duckdb.DuckDBPyConnection, table: str, ends: dict[int, tuple[int, int]]
) -> bool:
    """Whether `table` holds every offset from each partition's start to its end."""
    read = {
        partition: (count, first, last)
        for partition, count, first, last in db.execute(
            f"SELECT kafka_partition, count(*), min(kafka_offset), max(kafka_offset) FROM {table} "
            "GROUP BY kafka_partition"
        ).fetchall()
    }
    for partition, (low, high) in ends.items():
        if high <= low:
            if partition in read:
                return False
            continue
        if read.get(partition) != (high - low, low, high - 1):
            return False
    return len(read.keys() - ends.keys()) == 0


def _read(
    db: duckdb.DuckDBPyConnection,
    table: str,
    bootstrap: str,
    topic: str,
    isolation: str,
    payload: str,
) -> dict[int, tuple[int, int]]:
    """One read of every partition to its end into a new `table` (COLUMNS, committed: whether
    the read was read_committed); returns each partition's (start, end) offsets as they stood
    before it."""
    db.execute(f"CREATE TABLE {table} ({COLUMNS})")
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"audit-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "enable.partition.eof": True,
            "log_level": 3,
            **READER_SETTINGS,
        }
    )
    ends: dict[int, tuple[int, int]] = {}
    columns: list[dict[str, np.ndarray]] = []  # batches taken, not yet in the table
    try:
        for partition in sorted(reader.list_topics(topic, timeout=10).topics[topic].partitions):
            ends[partition] = reader.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10
            )
        remaining = {partition for partition, (_, high) in ends.items() if high > 0}
        reader.assign([TopicPartition(topic, partition, 0) for partition in sorted(remaining)])
        deadline = time.monotonic() + READ_TIMEOUT_SECONDS
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end: {sorted(remaining)} left")
            records = reader.consume(num_messages=BATCH, timeout=TAKE_SECONDS)
            if any(map(Message.error, records)):  # a partition's end, or a failure
                records = _records(records, remaining, topic)
            if records:
                columns.append(_columns(topic, records, payload, isolation == "read_committed"))
            if sum(len(batch["kafka_offset"]) for batch in columns) >= INSERT_ROWS:
                _insert(db, table, columns)
        _insert(db, table, columns)
    finally:
        reader.close()
    return ends


def _insert(
    db: duckdb.DuckDBPyConnection, table: str, columns: list[dict[str, np.ndarray]]
) -> None:
    """The batches into `table`, as one (an insert costs about a millisecond however small),
    and `columns` emptied."""
    if columns:
        record_tables.add_columns(
            db,
            table,
            {name: np.concatenate([batch[name] for batch in columns]) for name in columns[0]},
        )
        columns.clear()


def _records(messages: list, remaining: set[int], topic: str) -> list:
    """The records among `messages`; a partition whose end is among them leaves `remaining`."""
    records = []
    for message in messages:
        error = message.error()
        if error is None:
            records.append(message)
        elif error.code() == KafkaError._PARTITION_EOF:
            remaining.discard(message.partition())
        else:
            raise RuntimeError(f"reading {topic}: {error}")
    return records


def _columns(topic: str, messages: list, payload: str, committed: bool) -> dict[str, np.ndarray]:
    """The COLUMNS of `messages` (committed: all of them, or none)."""
    count = len(messages)
    try:
        payloads = np.array(
            list(
                map(bytes.decode, map(Message.key if payload == KEY else Message.value, messages))
            ),
            dtype=object,
        )
    except TypeError:  # a record without one: None is no bytes to decode
        empty = next(m for m in messages if (m.key() if payload == KEY else m.value()) is None)
        raise ValueError(
            f"{topic}: the record at partition {empty.partition()} offset {empty.offset()} has "
            f"no {payload}; every record the playground writes has one"
        ) from None
    # map() over the methods: the loop over a batch's messages runs in C.
    return {
        "payload": payloads,
        "kafka_partition": np.fromiter(map(Message.partition, messages), np.int32, count),
        "kafka_offset": np.fromiter(map(Message.offset, messages), np.int64, count),
        "written_at": np.fromiter(
            map(_TIMESTAMP_MS, map(Message.timestamp, messages)), np.int64, count
        ),
        "committed": np.full(count, committed),
    }
