"""The three raw records of a finished experiment, gathered for the audit: the producer log, the
Kafka log (read back from the cluster) and the sink (the ledger, or the output topic), as the
tables of record_tables.py; and the group log, which names causes and rebalances but counts
nothing (group_story.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np

from playground.engine.audit import kafka_log, record_tables, timing
from playground.engine.audit.outcomes import COMMITTED_VIEW, UNCOMMITTED_VIEW
from playground.engine.audit.reckoning import AuditResult, audit_tables
from playground.engine.audit.records import ACK
from playground.engine.formats import group_log, output_value
from playground.engine.formats.group_log import GroupEvent
from playground.engine.naming import ExperimentNames
from playground.engine.spec.model import Pipeline, Spec
from playground.engine.spec.semantics import promise


class Evidence:
    """The records of one experiment, held by a database that spills to `workdir`, and its group
    log's events (a few per rebalance: a list); close() it."""

    def __init__(
        self,
        spec: Spec,
        db: duckdb.DuckDBPyConnection,
        workdir: Path,
        group_events: list[GroupEvent] | None = None,
    ) -> None:
        self.spec = spec
        self.db = db
        self.workdir = workdir
        self.group_events = group_events or []

    def acked_beyond_the_log(self) -> int:
        """How many acknowledged records lie past the end of their partition as read. Right
        after a broker fault the high watermark may still trail what the leader acknowledged
        (acks=1), so such records are not yet visible rather than lost: read again later."""
        (beyond,) = self.db.execute(
            "WITH ends AS (SELECT kafka_partition, max(kafka_offset) + 1 AS log_end "
            "FROM log_copies GROUP BY kafka_partition) "
            "SELECT count(*) FROM producer_events LEFT JOIN ends USING (kafka_partition) "
            f"WHERE kind = '{ACK}' AND kafka_offset >= coalesce(log_end, 0)"
        ).fetchone()
        return beyond

    def audit(
        self, effects_view: str = COMMITTED_VIEW, stories_path: Path | None = None
    ) -> AuditResult:
        """The audit, as the consumer's isolation level sees the input, in one view of effects;
        the stories go to `stories_path` (None: a temporary file)."""
        return audit_tables(
            self.db,
            consumer_isolation=self.spec.consumer.isolation_level.value,
            effects_view=effects_view,
            planned=self.spec.workload.records,
            stories_path=stories_path,
            group_events=self.group_events,
        )

    def uncommitted_view(self) -> dict | None:
        """Kafka-to-Kafka: the counts for a read_uncommitted reader of the output."""
        if self.spec.pipeline != Pipeline.KAFKA_TO_KAFKA:
            return None
        return self.audit(UNCOMMITTED_VIEW).to_json()

    def timing(self, started_at_ms: int, disturbed_at_ms: int | None) -> dict:
        """timing.summarize() of the counted effects, from the table timings without holding
        its rows as pairs: the ends by the database, then the latencies, one array at a time
        (ten million effects: 80 MB each). A row without both times has no latency."""
        both = "produced_at_ms IS NOT NULL AND effect_at_ms IS NOT NULL"
        count, first_produced, first_effect, last_effect = self.db.execute(
            "SELECT count(*), min(produced_at_ms), min(effect_at_ms), max(effect_at_ms) "
            f"FROM timings WHERE {both}"
        ).fetchone()
        ends = (first_produced, first_effect, last_effect) if count else None
        latencies = self._latencies(both)
        before = None
        if disturbed_at_ms is not None:
            before = self._latencies(f"{both} AND effect_at_ms < {int(disturbed_at_ms)}")
        return timing.figures(ends, latencies, before, started_at_ms)

    def _latencies(self, where: str) -> np.ndarray:
        column = self.db.execute(
            f"SELECT (effect_at_ms - produced_at_ms) AS latency FROM timings WHERE {where}"
        ).fetchnumpy()["latency"]
        return np.asarray(column, dtype=np.int64)

    def close(self) -> None:
        self.db.close()
        record_tables.remove_workdir(self.workdir)


def gather_evidence(spec: Spec, names: ExperimentNames, bootstrap: str) -> Evidence:
    """Read the three raw records of the experiment `names` from disk and from the cluster, and
    its group log."""
    workdir = names.root / "audit-work"
    record_tables.remove_workdir(workdir)  # what an earlier, interrupted audit left
    db = record_tables.connect(workdir)
    try:
        # The journals are read by the database's own threads while this one reads the topics:
        # the topic read is mostly Python (the client's messages into columns), the journals'
        # none, so on two cores they take about as long as the topic read alone.
        with ThreadPoolExecutor(1, thread_name_prefix="audit-journals") as journals:
            journals_read = journals.submit(_load_journals, spec, names, db.cursor(), workdir)
            try:
                _load_topics(spec, names, db, bootstrap)
            finally:
                journals_read.result()  # waits for the journals, and raises their error
        db.execute("CHECKPOINT")  # the records to the file: the audit's memory is its own
        group_events = list(group_log.read(names.group_log))
    except BaseException:
        db.close()
        record_tables.remove_workdir(workdir)
        raise
    return Evidence(spec, db, workdir, group_events)


def _load_topics(
    spec: Spec, names: ExperimentNames, db: duckdb.DuckDBPyConnection, bootstrap: str
) -> None:
    """The Kafka log (log_copies) and, Kafka-to-Kafka, the output topic's effects."""
    kafka_log.load_topic(db, "input", bootstrap, names.input_topic, kafka_log.KEY)
    db.execute(
        "INSERT INTO log_copies SELECT payload, kafka_partition, kafka_offset, committed FROM input"
    )
    db.execute("DROP TABLE input")
    if spec.pipeline == Pipeline.KAFKA_TO_KAFKA:
        _load_output(db, bootstrap, names.output_topic)


def _load_journals(
    spec: Spec, names: ExperimentNames, cursor: duckdb.DuckDBPyConnection, workdir: Path
) -> None:
    """The producer log and, unless Kafka-to-Kafka, the ledger, on a cursor of their own."""
    try:
        record_tables.load_producer_log(cursor, names.producer_log, workdir)
        if spec.pipeline != Pipeline.KAFKA_TO_KAFKA:
            record_tables.load_ledger(cursor, names.sink, workdir)
    finally:
        cursor.close()


def _load_output(db: duckdb.DuckDBPyConnection, bootstrap: str, topic: str) -> None:
    """The output topic's running totals, each the effect of the input copy its value names
    (with the consumer session that wrote it, NULL for a value from before sessions were
    recorded), for each committed one (source_timestamp_ms, its own timestamp), and each a run
    by its member at its own timestamp (runs_by_member)."""
    kafka_log.load_topic(db, "output", bootstrap, topic, kafka_log.VALUE)
    db.execute(
        f"CREATE TABLE totals AS SELECT from_json(payload, {output_value.DUCKDB_STRUCT}) AS total, "
        "committed, written_at FROM output"
    )
    db.execute("DROP TABLE output")
    db.execute(
        "INSERT INTO effects SELECT total.order_id, total.source_partition, total.source_offset, "
        "committed, total.session FROM totals"
    )
    db.execute(
        "INSERT INTO timings SELECT total.source_timestamp_ms, written_at FROM totals "
        "WHERE committed"
    )
    db.execute(
        "INSERT INTO runs_by_member SELECT total.order_id, total.source_partition, "
        f"total.source_offset, coalesce(total.member, {record_tables.MEMBER_UNRECORDED}), "
        f"total.session, coalesce(total.generation, {record_tables.GENERATION_UNRECORDED}), "
        "written_at, true, committed FROM totals"
    )
    db.execute("DROP TABLE totals")


def promise_json(spec: Spec) -> dict:
    """The promise of `spec` as the result carries it."""
    promised = promise(spec)
    return {
        "promised_semantic": promised.semantic.value,
        "promise": {
            "summary": promised.summary,
            "loss_risks": [risk._asdict() for risk in promised.loss_risks],
            "duplicate_risks": [risk._asdict() for risk in promised.duplicate_risks],
        },
    }
