"""The audit: what was delivered, lost and duplicated, derived only from the three raw records.

Every number comes from the producer log, the Kafka log and the sink (see records.py), never from
a worker's own count. Each order id gets a story (what its producer, the log and the sink say about
it, and the one outcome that follows). The counts that need no judgement are taken straight
from the records, the others are summed from the stories as written, and the invariants tie the
two together so that a classification bug cannot hide in a total.

The records are tables of an embedded analytical database (record_tables.py) and the audit is its
queries: a million orders are counted in seconds, and ten million in the same memory, because
nothing holds an object per record; the stories go to a file (story_book.py), read a page at a
time. What only the consumer group explains (a consumer duplicate's cause, a rebalance's pauses)
is group_story.py's, from the group log beside the sink's runs; it names, never counts.
docs/result.md explains every field.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from playground.engine.audit import group_story, record_tables, story_book
from playground.engine.audit.outcomes import (
    ANOMALY_CONDITIONS,
    ANOMALY_KINDS,
    CAUSE_COUNTS,
    COMMITTED_VIEW,
    CONSUMER_ISOLATIONS,
    COUNT_FIELDS,
    DELIVERED,
    DUPLICATE_CAUSES,
    DUPLICATED,
    EFFECTS_VIEWS,
    LOST_AT_BROKER,
    LOST_AT_CONSUMER,
    LOST_AT_PRODUCER,
    LOST_OUTCOMES,
    PRODUCER_ACKED,
    PRODUCER_FAILED,
    PRODUCER_SENT,
    PRODUCER_UNKNOWN,
    UNCOMMITTED_VIEW,
    UNEXPLAINED,
    OrderStory,
    duplicated_by,
)
from playground.engine.audit.records import (
    ACK,
    ATTEMPT,
    FAIL,
    SENT,
    Effect,
    HandlerRun,
    LogCopy,
    ProducerEvent,
)
from playground.engine.audit.story_book import StoryBook
from playground.engine.formats.group_log import GroupEvent
from playground.engine.spec.model import IsolationLevel
from playground.engine.spec.semantics import Semantic

# Rows per pass of a grouping by order id, so that a pass's groups stay within the database's
# memory (record_tables.MEMORY_LIMIT, 128 MB): a pass of a simple count (each row may be a group
# of its own: 2,000,000 ran out of memory at ten million records), and, counted in the largest raw
# record, one of the summary's groupings and joins, which hold every record's groups at once
# (a million-order run: eight passes fit; four did until the effects carried their member,
# generation and time, then ran out of memory one audit in four).
ROWS_PER_PASS = 1_000_000
SUMMARY_ROWS_PER_PASS = 250_000


@dataclass(frozen=True)
class AuditResult:
    """The totals of one audit, the semantic they show, and the story of every order id."""

    attempted: int
    acked: int
    sent_unacked: int
    failed: int
    unknown: int
    in_log: int
    log_duplicates: int
    delivered: int
    lost: int
    lost_at_producer: int
    lost_at_broker: int
    lost_at_consumer: int
    duplicated: int
    duplicated_by_producer: int
    duplicated_by_consumer: int
    aborted_reads: int
    redelivered: int
    deduplicated: int
    unexplained: int
    observed_semantic: Semantic
    consumer_isolation: str
    effects_view: str
    orders: StoryBook = field(repr=False, hash=False)  # every order's story, on disk
    planned: int = 0  # the workload's orders
    never_sent: int = 0  # planned orders never attempted: not in `lost`, which counts attempts
    # duplicated_by_consumer by cause (group_story.py): they add up to it
    duplicated_by_crash: int = 0
    duplicated_by_rebalance: int = 0
    duplicated_by_zombie: int = 0
    duplicated_by_abort: int = 0
    # the duplicated copies of the first orders, each effect with who made it, when and why
    consumer_duplicates: tuple[dict[str, Any], ...] = ()
    rebalances: tuple[dict[str, Any], ...] = ()  # the group log's rebalances and their pauses

    def to_json(self, include_orders: bool = False) -> dict[str, Any]:
        """The counts, the semantic and the views they were taken in, as a JSON-ready dict;
        with include_orders, also every order's story keyed by order id."""
        data: dict[str, Any] = {"planned": self.planned, "never_sent": self.never_sent}
        data |= {name: getattr(self, name) for name in COUNT_FIELDS}
        data["observed_semantic"] = str(self.observed_semantic)
        data["consumer_isolation"] = str(self.consumer_isolation)
        data["effects_view"] = str(self.effects_view)
        data["consumer_duplicates"] = list(self.consumer_duplicates)
        data["rebalances"] = list(self.rebalances)
        if include_orders:
            data["orders"] = {order_id: story.to_json() for order_id, story in self.orders.items()}
        return data

    def anomalies(self, kind: str | None = None) -> list[OrderStory]:
        """The stories showing an anomaly of this kind (any kind when None), sorted by order id."""
        if kind is not None and kind not in ANOMALY_KINDS:
            raise ValueError(
                f"anomaly kind is {kind!r}; allowed: {', '.join(ANOMALY_KINDS)} (or None for all)"
            )
        return self.orders.anomalies(kind)


def audit(
    producer_log: Iterable[ProducerEvent],
    kafka_log: Iterable[LogCopy],
    effects: Iterable[Effect],
    handler_runs: Iterable[HandlerRun],
    *,
    consumer_isolation: str = IsolationLevel.READ_COMMITTED.value,
    effects_view: str = COMMITTED_VIEW,
    planned: int | None = None,
    stories_path: Path | None = None,
    group_events: Sequence[GroupEvent] = (),
) -> AuditResult:
    """Audit one run from its three raw records given as record objects (a small run, a test),
    and the group log's events: audit_tables() on a database holding just them."""
    _check_choice("consumer_isolation", consumer_isolation, CONSUMER_ISOLATIONS)
    _check_choice("effects_view", effects_view, EFFECTS_VIEWS)
    db = record_tables.connect()
    try:
        record_tables.load_records(db, producer_log, kafka_log, effects, handler_runs)
        return audit_tables(
            db,
            consumer_isolation=consumer_isolation,
            effects_view=effects_view,
            planned=planned,
            stories_path=stories_path,
            group_events=group_events,
        )
    finally:
        db.close()


def audit_tables(
    db: duckdb.DuckDBPyConnection,
    *,
    consumer_isolation: str = IsolationLevel.READ_COMMITTED.value,
    effects_view: str = COMMITTED_VIEW,
    planned: int | None = None,
    stories_path: Path | None = None,
    group_events: Sequence[GroupEvent] = (),
) -> AuditResult:
    """Audit one run from the tables of record_tables.py (its three raw records), and the events
    of its group log, which name each consumer duplicate's cause and the rebalances.

    consumer_isolation says which input copies the consumer could see; effects_view which effects
    count ("committed": what a read_committed reader of the output sees, "uncommitted": all). For a
    Kafka-to-Kafka pipeline, call it once per view. planned is the workload's number of orders
    (None: as many as were attempted); those never attempted are counted apart. Every order's
    story is written to the story book folder stories_path (story_book.py; None: a temporary
    folder kept as long as the result). Raises ValueError for a bad view or record (a log that
    lists one copy twice, an unknown producer event), and AssertionError if the result
    contradicts itself (an audit bug).
    """
    _check_choice("consumer_isolation", consumer_isolation, CONSUMER_ISOLATIONS)
    _check_choice("effects_view", effects_view, EFFECTS_VIEWS)
    record_tables.check_producer_events(db)
    record_tables.check_order_ids(db)
    _refuse_copies_listed_twice(db)
    see_all = consumer_isolation == IsolationLevel.READ_UNCOMMITTED
    count_all = effects_view == UNCOMMITTED_VIEW

    # Counts that need no judgement, straight from the records; the rest need each order's
    # outcome and are summed from the stories as written. _check ties the two together.
    tallies = _tallies(db, see_all=see_all, count_all=count_all)
    try:
        summary = _tally_orders(db, see_all=see_all, count_all=count_all)
        # The causes, before the stories that tell them: only orders with two counted effects
        # can have a copy with two.
        duplicates = group_story.duplicate_causes(
            db,
            group_story.GroupHistory(group_events),
            counted=_only_committed(count_all, "committed"),
            orders="SELECT order_id FROM tallied WHERE effects > 1",
        )
        stories = story_book.write(
            db, summary, _facts_query(count_all=count_all), ANOMALY_CONDITIONS, stories_path
        )
    finally:
        db.execute("DROP TABLE IF EXISTS matched")
        db.execute("DROP TABLE IF EXISTS tallied")
        db.execute(f"DROP TABLE IF EXISTS {group_story.CAUSES_TABLE}")
    story_totals = _recount(stories)
    lost = tallies["attempted"] - tallies["delivered_attempted"]
    duplicated = tallies["counted_effects"] - tallies["delivered"]
    result = AuditResult(
        attempted=tallies["attempted"],
        acked=tallies["acked"],
        sent_unacked=story_totals["sent_unacked"],
        failed=story_totals["failed"],
        unknown=story_totals["unknown"],
        in_log=tallies["in_log"],
        log_duplicates=tallies["visible_copies"] - tallies["in_log"],
        delivered=tallies["delivered"],
        lost=lost,
        lost_at_producer=story_totals[LOST_AT_PRODUCER],
        lost_at_broker=story_totals[LOST_AT_BROKER],
        lost_at_consumer=story_totals[LOST_AT_CONSUMER],
        duplicated=duplicated,
        duplicated_by_producer=story_totals["duplicated_by_producer"],
        duplicated_by_consumer=story_totals["duplicated_by_consumer"],
        aborted_reads=story_totals["aborted_reads"],
        redelivered=tallies["handler_runs"] - tallies["handled"],
        deduplicated=tallies["deduplicated"],
        unexplained=story_totals["unexplained"],
        observed_semantic=observed_semantic(lost, duplicated),
        consumer_isolation=consumer_isolation,
        effects_view=effects_view,
        orders=stories,
        planned=tallies["attempted"] if planned is None else planned,
        never_sent=0 if planned is None else max(planned - tallies["attempted"], 0),
        **{duplicated_by(cause): n for cause, n in duplicates.by_cause.items()},
        consumer_duplicates=tuple(duplicates.examples),
        rebalances=tuple(group_story.rebalances(db, group_events)),
    )
    _check(result, story_totals)
    return result


def observed_semantic(lost: int, duplicated: int) -> Semantic:
    """The delivery semantic a run showed, in the vocabulary of the promised one."""
    if lost == 0 and duplicated == 0:
        return Semantic.EXACTLY_ONCE
    if lost == 0:
        return Semantic.AT_LEAST_ONCE
    if duplicated == 0:
        return Semantic.AT_MOST_ONCE
    return Semantic.NONE


def check_invariants(result: AuditResult) -> None:
    """Raise AssertionError if a result contradicts itself: a bug in the audit, never in a run.

    audit() checks every result it returns; this is for a result that was stored or edited since.
    """
    _check(result, _recount(result.orders))


def _check(result: AuditResult, story_totals: dict[str, int]) -> None:
    # Raises rather than asserts, so that running under `python -O` cannot switch the check off.
    if result.lost != result.lost_at_producer + result.lost_at_broker + result.lost_at_consumer:
        raise AssertionError(
            f"lost ({result.lost}) != lost_at_producer ({result.lost_at_producer}) + "
            f"lost_at_broker ({result.lost_at_broker}) + "
            f"lost_at_consumer ({result.lost_at_consumer})"
        )
    if result.duplicated != result.duplicated_by_producer + result.duplicated_by_consumer:
        raise AssertionError(
            f"duplicated ({result.duplicated}) != duplicated_by_producer "
            f"({result.duplicated_by_producer}) + duplicated_by_consumer "
            f"({result.duplicated_by_consumer})"
        )
    by_cause = sum(getattr(result, name) for name in CAUSE_COUNTS)
    if by_cause != result.duplicated_by_consumer:
        raise AssertionError(
            f"{' + '.join(CAUSE_COUNTS)} ({by_cause}) != duplicated_by_consumer "
            f"({result.duplicated_by_consumer})"
        )
    if result.unexplained == 0 and result.delivered + result.lost != result.attempted:
        raise AssertionError(
            f"delivered ({result.delivered}) + lost ({result.lost}) != attempted "
            f"({result.attempted}) although nothing is unexplained"
        )
    outcomes = result.acked + result.sent_unacked + result.failed + result.unknown
    if result.unexplained == 0 and outcomes != result.attempted:
        raise AssertionError(
            f"acked + sent_unacked + failed + unknown ({outcomes}) != attempted "
            f"({result.attempted}) although nothing is unexplained"
        )
    semantic = observed_semantic(result.lost, result.duplicated)
    if result.observed_semantic != semantic:
        raise AssertionError(
            f"observed_semantic is {result.observed_semantic!r} but lost={result.lost} and "
            f"duplicated={result.duplicated} make it {semantic!r}"
        )
    for name in COUNT_FIELDS:
        if getattr(result, name) != story_totals[name]:
            raise AssertionError(
                f"{name} is {getattr(result, name)} but the order stories add up to "
                f"{story_totals[name]}"
            )


def _refuse_copies_listed_twice(db: duckdb.DuckDBPyConnection) -> None:
    # Reading a partition twice would double every copy and invent duplicates.
    for part in _passes(db, "SELECT order_id FROM log_copies"):
        twice = db.execute(
            f"SELECT order_id, kafka_partition, kafka_offset FROM log_copies WHERE {part} "
            "GROUP BY ALL HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        if twice:
            raise ValueError(
                f"kafka log lists {twice[0]!r} at partition {twice[1]} offset {twice[2]} twice"
            )


def _passes(db: duckdb.DuckDBPyConnection, rows: str, per_pass: int = ROWS_PER_PASS) -> list[str]:
    """Conditions on order_id that split the rows of the query `rows` into passes of about
    `per_pass` rows, each a disjoint set of order ids (by hash): a grouping of one pass stays
    within the database's memory, however many orders the run had."""
    (count,) = db.execute(f"SELECT count(*) FROM ({rows})").fetchone()
    return _hash_passes(count, per_pass)


def _hash_passes(count: int, per_pass: int) -> list[str]:
    """Conditions on order_id splitting `count` rows into passes of at most about `per_pass`
    (_passes), as many as the next power of two: the summary's pass ran out of memory in five
    passes (1,100,000 orders, or a million in passes of 400,000) where it fits in four or eight,
    measured with DuckDB 1.4."""
    passes = 1 << max(0, -(-count // per_pass) - 1).bit_length()
    return [f"hash(order_id) % {passes} = {number}" for number in range(passes)]


def _tallies(db: duckdb.DuckDBPyConnection, *, see_all: bool, count_all: bool) -> dict[str, int]:
    """The counts that need no outcome, each straight from one raw record. see_all: the
    consumer could see every copy, not only committed ones; count_all: this view counts every
    effect, not only committed ones. Each a grouping by order id, in passes (_passes)."""
    visible = _only_committed(see_all, "committed")
    counted = _only_committed(count_all, "committed")
    # delivered_attempted: of the orders with a counted effect, those the producer attempted. A
    # grouping of both, not a lookup of one in the other, so that it spills like the rest.
    effects_and_attempts = f"""
        SELECT order_id, true AS counted FROM effects WHERE {counted}
        UNION ALL
        SELECT order_id, false FROM producer_events WHERE kind = '{ATTEMPT}'
    """  # fmt: skip
    groupings = {
        ("attempted", "acked"): ("producer_events", f"""
            SELECT count(*) FILTER (WHERE attempted), count(*) FILTER (WHERE acked)
            FROM (SELECT order_id, bool_or(kind = '{ATTEMPT}') AS attempted,
                         bool_or(kind = '{ACK}') AS acked
                  FROM producer_events WHERE {{part}} GROUP BY order_id)
        """),
        ("visible_copies", "in_log"): ("log_copies", f"""
            SELECT sum(copies), count(*)
            FROM (SELECT order_id, count(*) AS copies FROM log_copies
                  WHERE {visible} AND {{part}} GROUP BY order_id)
        """),
        ("counted_effects", "delivered", "delivered_attempted"): (f"({effects_and_attempts})", f"""
            SELECT sum(effects), count(*) FILTER (WHERE effects > 0),
              count(*) FILTER (WHERE effects > 0 AND attempted)
            FROM (SELECT order_id, count(*) FILTER (WHERE counted) AS effects,
                         bool_or(NOT counted) AS attempted
                  FROM ({effects_and_attempts}) WHERE {{part}} GROUP BY order_id)
        """),
        ("handler_runs", "handled", "deduplicated"): ("handler_runs", """
            SELECT sum(runs), count(*), sum(skipped)
            FROM (SELECT order_id, count(*) AS runs,
                         count(*) FILTER (WHERE deduplicated) AS skipped
                  FROM handler_runs WHERE {part} GROUP BY order_id)
        """),
    }  # fmt: skip
    counts: dict[str, int] = {}
    for names, (rows, query) in groupings.items():
        totals = [0] * len(names)
        for part in _passes(db, f"SELECT order_id FROM {rows}"):
            row = db.execute(query.format(part=part)).fetchone()
            totals = [total + int(value or 0) for total, value in zip(totals, row, strict=True)]
        counts |= dict(zip(names, totals, strict=True))
    return counts


def _tally_orders(db: duckdb.DuckDBPyConnection, *, see_all: bool, count_all: bool) -> str:
    """The tables `tallied` (in the database's file, not a temporary one: ten million orders'
    rows do not fit its memory, and a temporary table ran out of it) and `matched` (temporary:
    the few orders told by their facts), and the query over them of the summary: one
    row per order id, its counts and outcome (story_book.SUMMARY_COLUMNS), and the one attempt,
    ack, copy and effect of an order that has no more than one of each (nearly every order), the
    facts its story is told from (the effect with who made it and when), and its consumer
    duplicates by cause (from group_story's table, which must be there when the query runs). The
    story book writes the summary as it sorts it: a table of it would be one more copy of every
    order.

    see_all and count_all as for _tallies.

    The outcome: unexplained if never attempted; else duplicated or delivered by its effects; else
    lost where it stopped: at the consumer (a visible copy), the broker (acked) or the producer.
    An effect is matched to its copy by (order id, partition, offset), never by position alone: a
    truncated partition can reuse an offset for another order id. For an order with one copy and
    one effect that is a comparison within its row; for the rest (told_by_facts), a join over
    just their facts. Each raw record is grouped by order id on its own, with scalar aggregates
    the database can spill to disk, and the groups are joined; the sink's effects as
    runs_by_member holds them (the same rows as effects, with their members), so that the counts
    the summary gives are a second counting of the table _tallies() counts them from.
    """
    # Each raw record grouped by order id on its own, then the groups joined: a grouping of every
    # fact at once would evaluate each aggregate on every fact, whatever its kind. In passes over
    # disjoint sets of order ids, so that one pass's groups and joins fit the database's memory
    # whatever the run's size.
    visible = _only_committed(see_all, "committed")
    counted = _only_committed(count_all, "committed")
    largest = max(
        db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in record_tables.RECORD_OF
    )
    for number, part in enumerate(_hash_passes(largest, SUMMARY_ROWS_PER_PASS)):
        db.execute(f"""
        {"CREATE TABLE tallied AS" if number == 0 else "INSERT INTO tallied"}
        WITH producer AS (
          SELECT order_id,
            count(*) FILTER (WHERE kind = '{ATTEMPT}') AS attempts,
            count(*) FILTER (WHERE kind = '{ACK}') AS acks,
            bool_or(kind = '{SENT}') AS sent,
            bool_or(kind = '{FAIL}') AS failed,
            min(session) FILTER (WHERE kind = '{ATTEMPT}') AS attempt_session,
            min(kafka_partition) FILTER (WHERE kind = '{ACK}') AS ack_partition,
            min(kafka_offset) FILTER (WHERE kind = '{ACK}') AS ack_offset,
            min(session) FILTER (WHERE kind = '{ACK}') AS ack_session
          FROM producer_events WHERE {part} GROUP BY order_id),
        copies AS (
          SELECT order_id, count(*) AS copies,
            count(*) FILTER (WHERE {visible}) AS visible_copies,
            min(kafka_partition) AS copy_partition, min(kafka_offset) AS copy_offset,
            bool_and(committed) AS copy_committed
          FROM log_copies WHERE {part} GROUP BY order_id),
        effect_rows AS (
          SELECT order_id, count(*) AS effect_rows, count(*) FILTER (WHERE {counted}) AS effects,
            min(source_partition) AS effect_partition, min(source_offset) AS effect_offset,
            min(session) AS effect_session, min(member) AS effect_member,
            min(generation) AS effect_generation, min(at_ms) AS effect_at_ms
          FROM runs_by_member WHERE effect AND {part} GROUP BY order_id),
        runs AS (
          SELECT order_id, count(*) AS handler_runs,
            count(*) FILTER (WHERE deduplicated) AS deduplicated
          FROM handler_runs WHERE {part} GROUP BY order_id)
        SELECT order_id,
          coalesce(attempts, 0) AS attempts, coalesce(acks, 0) AS acks,
          coalesce(sent, false) AS sent, coalesce(failed, false) AS failed,
          attempt_session, ack_partition, ack_offset, ack_session,
          coalesce(copies, 0) AS copies, coalesce(visible_copies, 0) AS visible_copies,
          copy_partition, copy_offset, copy_committed,
          coalesce(effect_rows, 0) AS effect_rows, coalesce(effects, 0) AS effects,
          effect_partition, effect_offset, effect_session,
          coalesce(handler_runs, 0) AS handler_runs, coalesce(deduplicated, 0) AS deduplicated,
          effect_member, effect_generation, effect_at_ms
        FROM producer FULL JOIN copies USING (order_id) FULL JOIN effect_rows USING (order_id)
          FULL JOIN runs USING (order_id)
        """)  # fmt: skip
    told = (
        "attempts > 1 OR acks > 1 OR copies > 1 OR effect_rows > 1 OR effect_rows > effects "
        "OR handler_runs > 1 OR deduplicated > 0"
    )
    # The orders told by their facts: their counted effects per copy, matched to the copies.
    db.execute(f"""
    CREATE TEMP TABLE matched AS
    WITH told AS (SELECT order_id FROM tallied WHERE {told}),
    sources AS (
      SELECT order_id, source_partition, source_offset, count(*) AS n FROM effects
      WHERE {_only_committed(count_all, "committed")} AND order_id IN (SELECT order_id FROM told)
      GROUP BY ALL
    )
    SELECT s.order_id, count(*) AS sources,
      coalesce(sum(s.n) FILTER (WHERE NOT c.committed), 0) AS aborted_reads
    FROM sources s LEFT JOIN (SELECT * FROM log_copies
                              WHERE order_id IN (SELECT order_id FROM told)) c
      ON c.order_id = s.order_id AND c.kafka_partition = s.source_partition
      AND c.kafka_offset = s.source_offset
    GROUP BY s.order_id
    """)  # fmt: skip
    single_aborted = (
        "CASE WHEN effects = 1 AND copies = 1 AND copy_partition = effect_partition "
        "AND copy_offset = effect_offset AND NOT copy_committed THEN 1 ELSE 0 END"
    )
    # Counts as INTEGER and outcomes as ENUM (they read back as text): narrow rows sort faster,
    # and the book sorts every one.
    producer_outcomes = _enum(PRODUCER_ACKED, PRODUCER_SENT, PRODUCER_FAILED, PRODUCER_UNKNOWN)
    outcomes = _enum(DELIVERED, DUPLICATED, *LOST_OUTCOMES, UNEXPLAINED)
    # Each order's consumer duplicates by cause, from group_story's table (there when the book
    # is written): few rows, joined to every order.
    counted_by_cause = ", ".join(
        f"count(*) FILTER (WHERE cause = '{cause}') AS {duplicated_by(cause)}"
        for cause in DUPLICATE_CAUSES
    )
    by_cause = ", ".join(f"coalesce(d.{name}, 0)::INTEGER AS {name}" for name in CAUSE_COUNTS)
    return f"""
    SELECT t.order_id, attempts::INTEGER AS attempts,
      acks::INTEGER AS acks,
      (CASE WHEN acks > 0 THEN '{PRODUCER_ACKED}' WHEN sent THEN '{PRODUCER_SENT}'
           WHEN failed THEN '{PRODUCER_FAILED}' ELSE '{PRODUCER_UNKNOWN}' END)::{producer_outcomes}
        AS producer_outcome,
      copies::INTEGER AS copies, visible_copies::INTEGER AS visible_copies,
      effects::INTEGER AS effects,
      (CASE WHEN {told} THEN coalesce(m.sources, 0) ELSE effects END)::INTEGER AS sources,
      handler_runs::INTEGER AS handler_runs, deduplicated::INTEGER AS deduplicated,
      (CASE WHEN {told} THEN coalesce(m.aborted_reads, 0) ELSE {single_aborted} END)::INTEGER
        AS aborted_reads,
      (CASE WHEN attempts = 0 THEN '{UNEXPLAINED}'
           WHEN effects > 1 THEN '{DUPLICATED}'
           WHEN effects = 1 THEN '{DELIVERED}'
           WHEN visible_copies > 0 THEN '{LOST_AT_CONSUMER}'
           WHEN acks > 0 THEN '{LOST_AT_BROKER}'
           ELSE '{LOST_AT_PRODUCER}' END)::{outcomes} AS outcome,
      {told} AS told_by_facts,
      attempt_session, ack_partition, ack_offset, ack_session,
      copy_partition, copy_offset, copy_committed,
      effect_partition, effect_offset, effect_session,
      effect_member, effect_generation, effect_at_ms,
      {by_cause}
    FROM tallied t LEFT JOIN matched m ON m.order_id = t.order_id
      LEFT JOIN (SELECT order_id, {counted_by_cause} FROM {group_story.CAUSES_TABLE}
                 GROUP BY order_id) d ON d.order_id = t.order_id
    """  # fmt: skip


def _enum(*values: str) -> str:
    """The SQL type of a column that holds one of `values`."""
    return "ENUM(" + ", ".join(f"'{value}'" for value in values) + ")"


def _only_committed(everything: bool, committed_column: str) -> str:
    """The SQL condition on a row: true for all (everything), else its committed column."""
    return "true" if everything else committed_column


def _facts_query(*, count_all: bool) -> str:
    """Every raw fact as one row (story_book.FACT_COLUMNS): attempts and delivery reports,
    copies (flag: committed), and the sink's runs by their members (runs_by_member: who made
    each, when): effects (flag: this view counts it; count_all: every effect, else the committed
    ones; a consumer duplicate with its cause, from group_story's table) and the handler runs
    whose charge was skipped (flag: true). A run that charged is its effect already."""
    return f"""
    SELECT order_id,
      CASE kind WHEN '{ATTEMPT}' THEN {story_book.FACT_ATTEMPT}
        WHEN '{ACK}' THEN {story_book.FACT_ACK} WHEN '{SENT}' THEN {story_book.FACT_SENT}
        WHEN '{FAIL}' THEN {story_book.FACT_FAIL} END::TINYINT AS fact,
      session, kafka_partition, kafka_offset, NULL::BOOLEAN AS flag, NULL::INTEGER AS member,
      NULL::INTEGER AS generation, NULL::BIGINT AS at_ms, NULL::VARCHAR AS cause
    FROM producer_events
    UNION ALL
    SELECT order_id, {story_book.FACT_COPY}, NULL, kafka_partition, kafka_offset, committed,
      NULL, NULL, NULL, NULL
    FROM log_copies
    UNION ALL
    SELECT r.order_id,
      CASE WHEN effect THEN {story_book.FACT_EFFECT} ELSE {story_book.FACT_RUN} END,
      session, source_partition, source_offset,
      CASE WHEN effect THEN {_only_committed(count_all, "committed")} ELSE true END,
      member, generation, at_ms, c.cause
    FROM runs_by_member r LEFT JOIN {group_story.CAUSES_TABLE} c ON c.run = r.rowid
    """


def _recount(stories: StoryBook) -> dict[str, int]:
    """Every count of COUNT_FIELDS, summed from the stories alone, as the book holds them."""
    lost_at = ", ".join(
        f"count(*) FILTER (WHERE outcome = '{outcome}')" for outcome in LOST_OUTCOMES
    )
    row = stories.totals(f"""
        count(*) FILTER (WHERE attempts > 0),
        count(*) FILTER (WHERE producer_outcome = '{PRODUCER_ACKED}'),
        count(*) FILTER (WHERE producer_outcome = '{PRODUCER_SENT}'),
        count(*) FILTER (WHERE producer_outcome = '{PRODUCER_FAILED}'),
        count(*) FILTER (WHERE attempts > 0 AND producer_outcome = '{PRODUCER_UNKNOWN}'),
        count(*) FILTER (WHERE visible_copies > 0),
        sum(visible_copies - 1) FILTER (WHERE visible_copies > 0),
        count(*) FILTER (WHERE effects > 0),
        count(*) FILTER (WHERE attempts > 0 AND effects = 0),
        {lost_at},
        sum(effects - 1) FILTER (WHERE effects > 0),
        sum(sources - 1) FILTER (WHERE effects > 0),
        sum(effects - sources) FILTER (WHERE effects > 0),
        sum(aborted_reads),
        sum(handler_runs - 1) FILTER (WHERE handler_runs > 0),
        sum(deduplicated),
        count(*) FILTER (WHERE attempts = 0),
        {", ".join(f"sum({name})" for name in CAUSE_COUNTS)}
    """)  # fmt: skip
    names = (
        "attempted", "acked", "sent_unacked", "failed", "unknown", "in_log", "log_duplicates",
        "delivered", "lost", *LOST_OUTCOMES, "duplicated", "duplicated_by_producer",
        "duplicated_by_consumer", "aborted_reads", "redelivered", "deduplicated", "unexplained",
        *CAUSE_COUNTS,
    )  # fmt: skip
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} is {value!r}; allowed: {', '.join(allowed)}")
