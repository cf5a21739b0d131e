"""The three raw records of a run as tables of an embedded analytical database (DuckDB), so that
the audit counts them as columns, in bounded memory, however many records there are.

Four tables hold what the records say, one row per line or copy, nothing derived:
producer_events (the producer log), log_copies (the input topic as read back), effects and
handler_runs (the ledger, or the output topic), plus timings for latency and throughput, and
runs_by_member: the sink's lines once more, with who made each and when, for what only the
consumer group explains (group_story.py: a duplicate's cause, a rebalance's pause; no count reads
it). The journals are read by DuckDB straight from their files; the Kafka log arrives as columns
from kafka_log.py; small runs and tests hand in record objects (records.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np

from playground.engine.audit.records import (
    PRODUCER_EVENT_KINDS,
    Effect,
    HandlerRun,
    LogCopy,
    ProducerEvent,
)
from playground.engine.formats import ledger, producer_log

# The database may use this much memory (PLAYGROUND_AUDIT_MEMORY_MB), and spills to its folder
# beyond it: a run of ten million records is audited in the same memory as one of a thousand.
# Its readers of the journals keep some 100 MB more than they count (measured: a read_json of
# the producer log leaves 60 MB resident), so the process holds about twice this at its peak.
MEMORY_LIMIT = f"{int(os.environ.get('PLAYGROUND_AUDIT_MEMORY_MB', '128'))}MB"
THREADS = 2

TABLES = {
    "producer_events": (
        "kind VARCHAR, order_id VARCHAR, session INTEGER, kafka_partition INTEGER, "
        "kafka_offset BIGINT"
    ),
    "log_copies": (
        "order_id VARCHAR, kafka_partition INTEGER, kafka_offset BIGINT, committed BOOLEAN"
    ),
    "effects": (
        "order_id VARCHAR, source_partition INTEGER, source_offset BIGINT, committed BOOLEAN, "
        "session INTEGER"
    ),
    "handler_runs": (
        "order_id VARCHAR, source_partition INTEGER, source_offset BIGINT, deduplicated BOOLEAN, "
        "session INTEGER"
    ),
    # (when the record was produced, when its effect happened), epoch ms, per counted effect
    "timings": "produced_at_ms BIGINT, effect_at_ms BIGINT",
    # Every handler run that left a line in the sink: each ledger line (effect: it charged) or
    # each output record (effect: always; committed: a read_committed reader sees it), with the
    # group member and session that made it, the generation it held and when (epoch ms: the
    # ledger's processed_at_ms, the output record's own timestamp). A record from before members
    # were recorded reads as member 0, generation -1.
    "runs_by_member": (
        "order_id VARCHAR, source_partition INTEGER, source_offset BIGINT, member INTEGER, "
        "session INTEGER, generation INTEGER, at_ms BIGINT, effect BOOLEAN, committed BOOLEAN"
    ),
}
# What a record from before members were recorded reads as (formats/ledger.BEFORE_MEMBERS).
MEMBER_UNRECORDED = 0
GENERATION_UNRECORDED = -1


def connect(workdir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A new database with the empty tables, kept in a file in `workdir` so that the records
    need not fit in memory (None: in memory, for a small run)."""
    config = {"threads": THREADS, "memory_limit": MEMORY_LIMIT, "preserve_insertion_order": False}
    database = ":memory:"
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(workdir / "spill")
        database = str(workdir / "records.duckdb")
        # Uncompressed: choosing and applying a compression for every column doubled the time
        # to load the journals (2,000,000 lines: 0.5 s instead of 0.25), for a file that is only
        # read back once or twice per pass and is removed after the audit.
        config["force_compression"] = "uncompressed"
    db = duckdb.connect(database, config=config)
    for name, columns in TABLES.items():
        db.execute(f"CREATE TABLE {name} ({columns})")
    return db


# Each table's columns from the record objects' attributes (records.py), for load_records.
_ATTRIBUTES = {
    "producer_events": {
        "kind": "kind", "order_id": "order_id", "session": "session",
        "kafka_partition": "partition", "kafka_offset": "offset",
    },
    "log_copies": {
        "order_id": "order_id", "kafka_partition": "partition", "kafka_offset": "offset",
        "committed": "committed",
    },
    "effects": {
        "order_id": "order_id", "source_partition": "source_partition",
        "source_offset": "source_offset", "committed": "committed", "session": "session",
    },
    "handler_runs": {
        "order_id": "order_id", "source_partition": "source_partition",
        "source_offset": "source_offset", "deduplicated": "deduplicated", "session": "session",
    },
}  # fmt: skip


def load_records(
    db: duckdb.DuckDBPyConnection,
    producer_log: Iterable[ProducerEvent],
    kafka_log: Iterable[LogCopy],
    effects: Iterable[Effect],
    handler_runs: Iterable[HandlerRun],
) -> None:
    """Fill the tables from record objects (a small run, a test); runs_by_member as the sink's
    lines would: each effect, and each handler run the idempotent consumer skipped (a run that
    charged is an effect already)."""
    effects, handler_runs = list(effects), list(handler_runs)
    for (table, attributes), records in zip(
        _ATTRIBUTES.items(), (producer_log, kafka_log, effects, handler_runs), strict=True
    ):
        rows = list(records)
        add_columns(db, table, {
            column: [getattr(row, attribute) for row in rows]
            for column, attribute in attributes.items()
        })  # fmt: skip
    lines = [(run, True, run.committed) for run in effects]
    lines += [(run, False, True) for run in handler_runs if run.deduplicated]
    add_columns(db, "runs_by_member", {
        "order_id": [run.order_id for run, _, _ in lines],
        "source_partition": [run.source_partition for run, _, _ in lines],
        "source_offset": [run.source_offset for run, _, _ in lines],
        "member": [_or(run.member, MEMBER_UNRECORDED) for run, _, _ in lines],
        "session": [run.session for run, _, _ in lines],
        "generation": [_or(run.generation, GENERATION_UNRECORDED) for run, _, _ in lines],
        "at_ms": [run.at_ms for run, _, _ in lines],
        "effect": [effect for _, effect, _ in lines],
        "committed": [committed for _, _, committed in lines],
    })  # fmt: skip


def _or(value: int | None, unrecorded: int) -> int:
    return unrecorded if value is None else value


def add_columns(
    db: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list | np.ndarray]
) -> None:
    """Append rows given as columns (lists or numpy arrays of equal length, in the table's
    order); a list may hold None for NULL."""
    frame = {
        name: values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
        for name, values in columns.items()
    }
    if not len(next(iter(frame.values()))):
        return
    db.register("incoming", frame)
    try:
        db.execute(f"INSERT INTO {table} SELECT * FROM incoming")
    finally:
        db.unregister("incoming")


def load_producer_log(db: duckdb.DuckDBPyConnection, path: Path, workdir: Path) -> None:
    """Every complete line of the producer log, read by the database from the file."""
    source = _complete_lines(path, workdir)
    if source is None:
        return
    db.execute(
        'INSERT INTO producer_events SELECT kind, order_id, session, "partition", "offset" '
        f"FROM {producer_log.DUCKDB_ROWS}",
        {"path": str(source)},
    )


def load_ledger(db: duckdb.DuckDBPyConnection, path: Path, workdir: Path) -> None:
    """Every complete line of the ledger: each a handler run, a charge (an effect) when it
    charged, and its (produced_at_ms, processed_at_ms) for the timings; and each a run by its
    member (runs_by_member)."""
    source = _complete_lines(path, workdir)
    if source is None:
        return
    db.execute(
        f"CREATE TEMP TABLE ledger AS SELECT * FROM {ledger.DUCKDB_ROWS}", {"path": str(source)}
    )
    try:
        _check_ledger(db)
        db.execute(
            'INSERT INTO effects SELECT order_id, "partition", "offset", true, session '
            "FROM ledger WHERE charged"
        )
        db.execute(
            'INSERT INTO handler_runs SELECT order_id, "partition", "offset", NOT charged, session '
            "FROM ledger"
        )
        db.execute("INSERT INTO timings SELECT produced_at_ms, processed_at_ms FROM ledger")
        db.execute(
            'INSERT INTO runs_by_member SELECT order_id, "partition", "offset", member, session, '
            "generation, processed_at_ms, charged, true FROM ledger"
        )
    finally:
        db.execute("DROP TABLE ledger")


def _check_ledger(db: duckdb.DuckDBPyConnection) -> None:
    """Raise ValueError for a ledger line no writer makes: one that lacks a field (the sink
    writes every one; a line without an order id is check_order_ids' to name)."""
    lacking = " OR ".join(f'"{field}" IS NULL' for field in ledger.DUCKDB_FIELDS)
    (count,) = db.execute(
        f"SELECT count(*) FROM ledger WHERE order_id IS NOT NULL AND ({lacking})"
    ).fetchone()
    if count:
        raise ValueError(f"ledger: {count} line(s) lacking a field the sink writes in every line")


def check_producer_events(db: duckdb.DuckDBPyConnection) -> None:
    """Raise ValueError for a producer log line no writer makes: an unknown kind, an ack that
    does not say where it was written, a line without a session."""
    kinds = ", ".join(f"'{kind}'" for kind in PRODUCER_EVENT_KINDS)
    unknown = db.execute(
        f"SELECT kind, order_id FROM producer_events WHERE kind IS NULL OR kind NOT IN ({kinds}) "
        "LIMIT 1"
    ).fetchone()
    if unknown:
        raise ValueError(f"producer log: unknown event kind {unknown[0]!r} for {unknown[1]!r}")
    blind = db.execute(
        "SELECT order_id FROM producer_events WHERE kind = 'ack' "
        "AND (kafka_partition IS NULL OR kafka_offset IS NULL) LIMIT 1"
    ).fetchone()
    if blind:
        raise ValueError(f"producer log: the ack for {blind[0]!r} lacks partition or offset")
    nameless = db.execute(
        "SELECT kind, order_id FROM producer_events WHERE session IS NULL LIMIT 1"
    ).fetchone()
    if nameless:
        raise ValueError(f"producer log: the {nameless[0]} of {nameless[1]!r} lacks a session")


# The tables of the three raw records, and which record each holds (as an error names it).
RECORD_OF = {
    "producer_events": "producer log", "log_copies": "kafka log", "effects": "sink",
    "handler_runs": "sink",
}  # fmt: skip


def check_order_ids(db: duckdb.DuckDBPyConnection) -> None:
    """Raise ValueError for a record without an order id: no writer makes one, and every count
    of the audit is by order id."""
    for table, record in RECORD_OF.items():
        (missing,) = db.execute(f"SELECT count(*) FROM {table} WHERE order_id IS NULL").fetchone()
        if missing:
            raise ValueError(f"{record}: {missing} record(s) without an order id ({table})")


def _complete_lines(path: Path, workdir: Path) -> Path | None:
    """The file to read for the complete lines of a journal: itself, or, when a line was cut
    short at its end, a copy of what comes before it (the journal itself is evidence and stays as
    it is). None when there is nothing to read."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    with path.open("rb") as journal:
        journal.seek(size - 1)
        if journal.read(1) == b"\n":
            return path
        journal.seek(0)
        data = journal.read()
    complete = data[: data.rfind(b"\n") + 1]
    if not complete:
        return None
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / f"complete-{path.name}"
    copy.write_bytes(complete)
    return copy


def remove_workdir(workdir: Path) -> None:
    """The database's spill folder and copies, once the audit is done."""
    shutil.rmtree(workdir, ignore_errors=True)
