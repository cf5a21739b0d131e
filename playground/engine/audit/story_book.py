"""Every order's story, kept on disk (Parquet files sorted by order id) and read a page at a time.

The audit writes the book once (write()); the verdict's table, an order's page, the API and the
CLI read it (StoryBook) without ever holding all of it: a run of ten million orders has ten
million stories. The book is a folder:

- summary.parquet: one row per order id (SUMMARY_COLUMNS): its counts and outcome, and, for an
  order with at most one attempt, ack, copy and effect (nearly all of them), those single facts
  (the effect with the member that made it, its generation and time);
- facts.parquet: every raw fact (FACT_COLUMNS) of the other orders, whose stories need lists (an
  effect or a skipped run with its member, generation and time, a consumer duplicate with its
  cause);
- one file per filter (ANOMALIES and each anomaly kind): the order ids it shows.

Each file is sorted by order id, so a row's place in its file is its place in the book or the
filter, and a page is a range of rows that the files' row-group statistics find without a scan.
A book written before a column existed is read with that column empty (NULL).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
import weakref
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from playground.engine.audit.outcomes import (
    CAUSE_COUNTS,
    PROCESSING_ABORTED,
    PROCESSING_COUNTED,
    PROCESSING_DEDUPLICATED,
    OrderStory,
)

ALL = ""
ANOMALIES = "anomalies"
SUMMARY_FILE = "summary.parquet"
FACTS_FILE = "facts.parquet"
ROW_GROUP_SIZE = 8192  # a page reads one or two groups of this many rows
READ_CHUNK = 10_000
# What a fact is, as a small integer (the facts file holds one for every fact of a told order).
FACT_ATTEMPT = 0
FACT_ACK = 1
FACT_SENT = 2  # acks=0: the client reported it delivered
FACT_FAIL = 3
FACT_COPY = 4  # flag: committed
FACT_EFFECT = 5  # flag: this view counts it; cause: a consumer duplicate's
FACT_RUN = 6  # flag: the charge was skipped (deduplicated)
# member, generation, at_ms: who made an effect or a run and when; NULL for the other facts.
FACT_SCHEMA = {
    "order_id": "VARCHAR", "fact": "TINYINT", "session": "INTEGER", "kafka_partition": "INTEGER",
    "kafka_offset": "BIGINT", "flag": "BOOLEAN", "member": "INTEGER", "generation": "INTEGER",
    "at_ms": "BIGINT", "cause": "VARCHAR",
}  # fmt: skip
SUMMARY_SCHEMA = {
    "order_id": "VARCHAR", "attempts": "INTEGER", "acks": "INTEGER", "producer_outcome": "VARCHAR",
    "copies": "INTEGER", "visible_copies": "INTEGER", "effects": "INTEGER", "sources": "INTEGER",
    "handler_runs": "INTEGER", "deduplicated": "INTEGER", "aborted_reads": "INTEGER",
    "outcome": "VARCHAR", "told_by_facts": "BOOLEAN", "attempt_session": "INTEGER",
    "ack_partition": "INTEGER", "ack_offset": "BIGINT", "ack_session": "INTEGER",
    "copy_partition": "INTEGER", "copy_offset": "BIGINT", "copy_committed": "BOOLEAN",
    "effect_partition": "INTEGER", "effect_offset": "BIGINT", "effect_session": "INTEGER",
    "effect_member": "INTEGER", "effect_generation": "INTEGER", "effect_at_ms": "BIGINT",
    **dict.fromkeys(CAUSE_COUNTS, "INTEGER"),  # the order's consumer duplicates by cause
}  # fmt: skip
FACT_COLUMNS = tuple(FACT_SCHEMA)
SUMMARY_COLUMNS = tuple(SUMMARY_SCHEMA)


def write(
    db: duckdb.DuckDBPyConnection,
    summary_query: str,
    facts_query: str,
    anomaly_conditions: dict[str, str],
    folder: Path | None,
) -> StoryBook:
    """Write the book into `folder` (replacing one there): the rows of `summary_query`
    (SUMMARY_COLUMNS) sorted by order id, the facts of its told_by_facts orders from
    `facts_query` (FACT_COLUMNS), and a file per filter of anomaly_conditions (kind: SQL over the
    summary). None: a temporary folder that lives as long as the returned book. The files are
    written aside and the folder renamed into place: a reader finds a whole book or none."""
    temporary = folder is None
    if folder is None:
        folder = aside = Path(tempfile.mkdtemp(prefix="stories-"))
    else:
        aside = folder.with_name(f"{folder.name}.writing")
        shutil.rmtree(aside, ignore_errors=True)  # what an interrupted audit left
    _write_files(db, aside, summary_query, facts_query, anomaly_conditions)
    if aside != folder:
        if folder.exists():
            shutil.rmtree(folder)
        aside.rename(folder)
    return StoryBook(folder, temporary=temporary)


def convert_legacy(lines: Path, folder: Path, anomaly_conditions: dict[str, str]) -> None:
    """Write the book of an experiment audited before there were books, from its stories.jsonl
    (one story's JSON per line, OrderStory.to_json()): every order is told by its facts. Written
    aside and renamed into place, so that two readers converting at once cannot mix."""
    summary: dict[str, list] = {name: [] for name in SUMMARY_COLUMNS}
    facts: dict[str, list] = {name: [] for name in FACT_COLUMNS}

    def fact(*values: Any) -> None:  # the facts before members: the rest of a row is NULL
        for name, value in zip(FACT_COLUMNS, values + (None,) * (len(FACT_COLUMNS) - len(values)),
                               strict=True):  # fmt: skip
            facts[name].append(value)

    with lines.open() as stories:
        for line in stories:
            story = json.loads(line)
            order_id = story["order_id"]
            values = dict.fromkeys(SUMMARY_COLUMNS) | {
                name: story[name] for name in SUMMARY_COLUMNS if name in story
            }
            acked_at, log_copies = story.get("acked_at", []), story.get("log_copies", [])
            effect_sources = story.get("effect_sources", [])
            values |= {
                "acks": len(acked_at),
                "copies": len(log_copies),
                "sources": len(effect_sources),
                "told_by_facts": True,
            }
            for name, value in values.items():
                summary[name].append(value)
            for session in story.get("sessions", []):
                fact(order_id, FACT_ATTEMPT, session, None, None, None)
            for ack in acked_at:  # [partition, offset], later with the session
                fact(order_id, FACT_ACK, ack[2] if len(ack) > 2 else None, ack[0], ack[1], None)
            for partition, offset, committed in log_copies:
                fact(order_id, FACT_COPY, None, partition, offset, committed)
            if "processings" in story:  # who made each, when kept with it (processed_by)
                processings = story["processings"]
                by = story.get("processed_by") or [[None] * 4] * len(processings)
                for (partition, offset, session, ending), who in zip(processings, by, strict=True):
                    if ending == "deduplicated":
                        fact(order_id, FACT_RUN, session, partition, offset, True, *who)
                    else:
                        counted = ending == "counted"
                        fact(order_id, FACT_EFFECT, session, partition, offset, counted, *who)
            else:  # stories kept before processings: the counted effects, sessions unknown
                for partition, offset, count in effect_sources:
                    for _ in range(count):
                        fact(order_id, FACT_EFFECT, None, partition, offset, True)
    aside = folder.with_name(f"{folder.name}.converting-{uuid.uuid4().hex[:8]}")
    with duckdb.connect(config={"threads": 1}) as db:
        for table, schema, columns in (
            ("summary", SUMMARY_SCHEMA, summary),
            ("facts", FACT_SCHEMA, facts),
        ):
            db.execute(f"CREATE TABLE {table} ({', '.join(f'{k} {t}' for k, t in schema.items())})")
            if columns["order_id"]:
                frame = {name: np.asarray(values, dtype=object) for name, values in columns.items()}
                db.register("incoming", frame)
                db.execute(f"INSERT INTO {table} SELECT * FROM incoming")
                db.unregister("incoming")
        _write_files(db, aside, "SELECT * FROM summary", "SELECT * FROM facts", anomaly_conditions)
    try:
        aside.rename(folder)
    except OSError:  # another reader's conversion landed first
        shutil.rmtree(aside, ignore_errors=True)


def _write_files(
    db: duckdb.DuckDBPyConnection,
    folder: Path,
    summary_query: str,
    facts_query: str,
    anomaly_conditions: dict[str, str],
) -> None:
    """The book's files: the summary first, then what is read from it (the facts its
    told_by_facts orders need, the filters)."""
    folder.mkdir(parents=True, exist_ok=True)
    _copy(db, summary_query, folder / SUMMARY_FILE)
    summary = f"read_parquet('{_quoted(folder / SUMMARY_FILE)}')"
    _copy(
        db,
        f"SELECT * FROM ({facts_query}) "
        f"WHERE order_id IN (SELECT order_id FROM {summary} WHERE told_by_facts)",
        folder / FACTS_FILE,
    )
    filters = {ANOMALIES: " OR ".join(f"({c})" for c in anomaly_conditions.values())}
    filters |= anomaly_conditions
    for name, condition in filters.items():
        _copy(db, f"SELECT order_id FROM {summary} WHERE {condition}", _filter_file(folder, name))


def _copy(db: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    db.execute(
        f"COPY (SELECT * FROM ({query}) ORDER BY order_id) TO '{_quoted(path)}' "
        f"(FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
    )


def _filter_file(folder: Path, name: str) -> Path:
    return folder / f"{name}.parquet"


class StoryBook(Mapping[str, OrderStory]):
    """The stories of one audit, by order id, read from their folder as they are asked for."""

    def __init__(self, folder: Path, *, temporary: bool = False) -> None:
        self.folder = folder
        self._columns: dict[str, str] = {}  # file name -> what to select of it (_select)
        if temporary:
            weakref.finalize(self, shutil.rmtree, folder, True)

    def __getitem__(self, order_id: str) -> OrderStory:
        stories = self._stories("order_id = $id", id=order_id)
        if not stories:
            raise KeyError(order_id)
        return stories[0]

    def __len__(self) -> int:
        return self.count(ALL)

    def __iter__(self) -> Iterator[str]:
        """Every order id, by order id, read alone (not whole stories)."""
        with self._connection() as db:
            result = db.execute(f"SELECT order_id FROM {self._summary} ORDER BY file_row_number")
            while rows := result.fetchmany(READ_CHUNK):
                yield from (order_id for (order_id,) in rows)

    def values(self) -> Iterator[OrderStory]:  # type: ignore[override]
        """Every story, by order id, a chunk at a time."""
        start, total = 0, len(self)
        while start < total:
            yield from self.page(ALL, start, start + READ_CHUNK)
            start += READ_CHUNK

    def items(self) -> Iterator[tuple[str, OrderStory]]:  # type: ignore[override]
        for story in self.values():
            yield story.order_id, story

    def count(self, filter_name: str = ALL) -> int:
        """How many stories `filter_name` shows (ALL, ANOMALIES or an anomaly kind): the row
        count the file's metadata gives."""
        path = self._file(filter_name)
        return self._query(f"SELECT count(*) FROM read_parquet('{_quoted(path)}')")[0][0]

    def page(self, filter_name: str, start: int, stop: int) -> list[OrderStory]:
        """The stories `filter_name` shows, from place start to place stop - 1 (from 0), by
        order id."""
        if filter_name == ALL:
            return self._stories(
                "file_row_number >= $start AND file_row_number < $stop", start=start, stop=stop
            )
        path = self._file(filter_name)
        ids = [
            order_id
            for (order_id,) in self._query(
                f"SELECT order_id FROM read_parquet('{_quoted(path)}', file_row_number = true) "
                "WHERE file_row_number >= $start AND file_row_number < $stop ORDER BY order_id",
                start=start,
                stop=stop,
            )
        ]
        if not ids:
            return []
        return self._stories(
            "order_id >= $first AND order_id <= $last AND order_id IN (SELECT unnest($ids))",
            first=ids[0],
            last=ids[-1],
            ids=ids,
        )

    def anomalies(self, kind: str | None = None) -> list[OrderStory]:
        """Every story showing an anomaly of this kind (any kind when None), by order id."""
        filter_name = ANOMALIES if kind is None else kind
        return self.page(filter_name, 0, self.count(filter_name))

    def totals(self, select: str) -> tuple:
        """One row of aggregates (`select`, SQL over SUMMARY_COLUMNS) over every order."""
        return self._query(f"SELECT {select} FROM {self._summary}")[0]

    @property
    def _summary(self) -> str:
        return f"read_parquet('{_quoted(self.folder / SUMMARY_FILE)}', file_row_number = true)"

    def _file(self, filter_name: str) -> Path:
        return self.folder / SUMMARY_FILE if filter_name == ALL else _filter_file(
            self.folder, filter_name)  # fmt: skip

    def _stories(self, where: str, **parameters: Any) -> list[OrderStory]:
        """The stories of the summary rows `where` picks, by order id; their facts are read
        from the range of order ids they span."""
        with self._connection() as db:
            columns = self._select(db, SUMMARY_FILE, SUMMARY_SCHEMA)
            rows = db.execute(
                f"SELECT {columns} FROM {self._summary} WHERE {where} ORDER BY order_id",
                parameters,
            ).fetchall()
            told = [row[0] for row in rows if row[12]]
            facts: dict[str, list[tuple]] = {}
            if told:
                for fact in db.execute(
                    f"SELECT {self._select(db, FACTS_FILE, FACT_SCHEMA)} FROM "
                    f"read_parquet('{_quoted(self.folder / FACTS_FILE)}') "
                    "WHERE order_id >= $first AND order_id <= $last",
                    {"first": told[0], "last": told[-1]},
                ).fetchall():
                    facts.setdefault(fact[0], []).append(fact)
        return [_story(row, facts.get(row[0], [])) for row in rows]

    def _select(self, db: duckdb.DuckDBPyConnection, name: str, schema: dict[str, str]) -> str:
        """The columns of `schema` to select from the book's file `name`, in order: each one the
        file has, and NULL for one it was written before."""
        if name not in self._columns:
            path = _quoted(self.folder / name)
            present = {
                column for (column,) in db.execute(f"SELECT name FROM parquet_schema('{path}')")
                .fetchall()
            }  # fmt: skip
            self._columns[name] = ", ".join(
                column if column in present else f"NULL::{kind} AS {column}"
                for column, kind in schema.items()
            )
        return self._columns[name]

    def _connection(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(config={"threads": 1, "memory_limit": "128MB"})

    def _query(self, sql: str, **parameters: Any) -> list[tuple]:
        with self._connection() as db:
            return db.execute(sql, parameters or None).fetchall()


def _story(row: tuple, facts: list[tuple]) -> OrderStory:
    """An order's story from its summary row, and its facts when it has more than one of
    anything."""
    (order_id, attempts, acks, producer_outcome, copies, visible_copies, effects, _sources,
     handler_runs, deduplicated, aborted_reads, outcome, told_by_facts, attempt_session,
     ack_partition, ack_offset, ack_session, copy_partition, copy_offset, copy_committed,
     effect_partition, effect_offset, effect_session, effect_member, effect_generation,
     effect_at_ms, *_by_cause) = row  # fmt: skip
    if told_by_facts:
        by_kind: dict[int, list[tuple]] = {}
        for _, fact, session, partition, offset, flag, *who in facts:
            by_kind.setdefault(fact, []).append((session, partition, offset, flag, tuple(who)))
        sessions = tuple(sorted({s for s, *_ in by_kind.get(FACT_ATTEMPT, [])}))
        acked_at = tuple(sorted((p, o, s) for s, p, o, *_ in by_kind.get(FACT_ACK, [])))
        log_copies = tuple(sorted((p, o, bool(c)) for _, p, o, c, _ in by_kind.get(FACT_COPY, [])))
        done = by_kind.get(FACT_EFFECT, [])
        per_copy = Counter((p, o) for _, p, o, counts, _ in done if counts)
        effect_sources = tuple(sorted((p, o, n) for (p, o), n in per_copy.items()))
        steps = [
            (s, p, o, PROCESSING_COUNTED if counts else PROCESSING_ABORTED, 0 if counts else 1, who)
            for s, p, o, counts, who in done
        ]
        steps += [
            (s, p, o, PROCESSING_DEDUPLICATED, 2, who)
            for s, p, o, skipped, who in by_kind.get(FACT_RUN, [])
            if skipped
        ]
        # In the order they happened: by consumer session (one at a time), then by copy, then by
        # time; one whose session (or time) was not recorded comes first.
        steps.sort(key=lambda step: (
            -1 if step[0] is None else step[0], step[1], step[2], step[4],
            -1 if step[5][2] is None else step[5][2],
        ))  # fmt: skip
        processings = tuple((p, o, s, ending) for s, p, o, ending, _, _ in steps)
        processed_by = tuple(who for *_, who in steps)
        if any(member is None for member, *_ in processed_by):  # kept before members
            processed_by = ()
    else:
        sessions = (attempt_session,) if attempts else ()
        acked_at = ((ack_partition, ack_offset, ack_session),) if acks else ()
        log_copies = ((copy_partition, copy_offset, bool(copy_committed)),) if copies else ()
        counted = ((effect_partition, effect_offset, effect_session, PROCESSING_COUNTED),)
        effect_sources = ((effect_partition, effect_offset, 1),) if effects else ()
        processings = counted if effects else ()
        processed_by = ()
        if effects and effect_member is not None:
            processed_by = ((effect_member, effect_generation, effect_at_ms, None),)
    return OrderStory(
        order_id, attempts, sessions, acked_at, producer_outcome, log_copies, visible_copies,
        effects, effect_sources, handler_runs, deduplicated, aborted_reads, outcome, processings,
        processed_by,
    )  # fmt: skip


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
