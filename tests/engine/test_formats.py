"""Every reader of a raw record reads what its one writer writes (formats/): the whole-line
decode, the live tally's fast count, the log strip's fast reader and the columns the audit loads
agree, line for line, on records of every shape; and a line no writer writes is refused by each
reader that reads the field it breaks. Pure logic: no Kafka here."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pytest

from playground.engine.audit import record_tables
from playground.engine.audit.records import (
    ACK,
    ATTEMPT,
    FAIL,
    PRODUCER_EVENT_KINDS,
    SENT,
    ProducerEvent,
)
from playground.engine.formats import arm_file, group_log, ledger, output_value, producer_log
from playground.engine.formats.group_log import GroupEvent, GroupLog
from playground.engine.formats.journal import Journal
from playground.engine.formats.ledger import LedgerLine
from playground.engine.formats.output_value import OutputValue
from playground.engine.orders import order_id
from playground.engine.sink import Sink

# Order ids of every shape: the workload's (the fast forms read them by position), and others
# that a reader must take whole (too short, too long, not plain ASCII, needing an escape).
WORKLOAD_IDS = [order_id(0), order_id(7), order_id(1_234_567), order_id(9_999_999)]
ODD_IDS = ["o-4", "order-12", "order-00000012", "x", "ordé", 'a"b', "a\\b", "order-000001é"]
BIG = 10**12  # an offset, a time: past 32 bits


def producer_events(ids: list[str], kinds: tuple[str, ...]) -> list[ProducerEvent]:
    """Events of `kinds` for each id, with sessions, partitions and offsets of every size."""
    events = []
    for n, order in enumerate(ids):
        session, partition, offset = n % 3, n % 5, (BIG + n if n % 2 else n)
        for kind in kinds:
            if kind == ATTEMPT:
                events.append(ProducerEvent(ATTEMPT, order, session, at_ms=BIG + n))
            elif kind == ACK:
                events.append(ProducerEvent(ACK, order, session, partition=partition,
                                            offset=offset))  # fmt: skip
            elif kind == SENT:
                events.append(ProducerEvent(SENT, order, session))
            else:
                events.append(ProducerEvent(FAIL, order, session, error='Broker: "é" \\ down'))
    return events


def write(path: Path, lines: list[bytes]) -> bytes:
    journal = Journal(path)
    journal.write(b"".join(lines))
    journal.close()
    return path.read_bytes()


def audit_table(path: Path, load, table: str, columns: str, workdir: Path) -> list[tuple]:
    """The rows the audit loads from the journal at `path` into `table`, after its checks."""
    db = record_tables.connect()
    try:
        load(db, path, workdir)
        record_tables.check_producer_events(db)
        record_tables.check_order_ids(db)
        return db.execute(f"SELECT {columns} FROM {table}").fetchall()
    finally:
        db.close()


def audit_producer_events(path: Path, workdir: Path) -> list[tuple]:
    columns = "kind, order_id, session, kafka_partition, kafka_offset"
    return audit_table(path, record_tables.load_producer_log, "producer_events", columns, workdir)


def live_count(data: bytes) -> Counter:
    """(kind, order id) of every line, as the live tally's fast count reads them."""
    kinds, numbers, others = producer_log.live_events(data)
    read = Counter(
        (PRODUCER_EVENT_KINDS[k], order_id(n)) for k, n in zip(kinds, numbers, strict=True)
    )
    return read + Counter((event.kind, event.order_id) for event in others)


# -- the producer log ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "events",
    [
        producer_events(WORKLOAD_IDS, (ATTEMPT, ACK, SENT)),  # every line in the fast forms
        producer_events(WORKLOAD_IDS + ODD_IDS, (ATTEMPT, ACK)),  # ids the fast forms skip
        producer_events(WORKLOAD_IDS + ODD_IDS, PRODUCER_EVENT_KINDS),  # lines they do not read
    ],
    ids=["fast", "odd-ids", "every-kind"],
)
def test_every_reader_of_the_producer_log_reads_what_the_writer_wrote(tmp_path, events):
    lines = [producer_log.line(event) for event in events]
    data = write(tmp_path / "producer-log.jsonl", lines)
    assert [producer_log.decode(line) for line in lines] == events
    assert list(producer_log.read(tmp_path / "producer-log.jsonl")) == events
    assert live_count(data) == Counter((event.kind, event.order_id) for event in events)
    acks = [(e.session, e.partition, e.offset) for e in events if e.kind == ACK]
    assert list(zip(*map(list, producer_log.acks(data)), strict=True)) == acks
    audited = audit_producer_events(tmp_path / "producer-log.jsonl", tmp_path / "work")
    assert sorted(audited, key=repr) == sorted(
        [(e.kind, e.order_id, e.session, e.partition, e.offset) for e in events], key=repr
    )


def test_the_producers_fast_templates_write_the_writers_lines():
    keys = [key.encode() for key in WORKLOAD_IDS]
    assert producer_log.attempt_lines(keys, 2, BIG) == b"".join(
        producer_log.line(ProducerEvent(ATTEMPT, key.decode(), 2, at_ms=BIG)) for key in keys
    )
    ack = ProducerEvent(ACK, WORKLOAD_IDS[1], 1, partition=3, offset=BIG)
    assert producer_log.ACK_LINE % (WORKLOAD_IDS[1].encode(), 1, 3, BIG) == producer_log.line(ack)


def test_a_line_is_laid_out_as_the_layout_says():
    event = ProducerEvent(SENT, "a", 0)
    assert producer_log.line(event) == b'{"kind":"sent","order_id":"a","session":0}\n'


# Lines no writer writes, each with the readers that refuse it: every reader that reads the
# field it breaks (the live count reads only a line's kind and id).
DECODE, READ, LIVE, STRIP, AUDIT = "decode", "read", "live", "strip", "audit"
BAD_PRODUCER_LINES = [
    (b'{"kind":"attempt","session":0,"at_ms":1}', {DECODE, READ, LIVE, STRIP, AUDIT}),
    (b'{"kind":"acked","order_id":"order-0000001","session":0}', {DECODE, READ, LIVE, STRIP,
                                                                   AUDIT}),
    (b'{"kind":"ack","order_id":"order-0000001","session":0,"partition":0}',
     {DECODE, READ, STRIP, AUDIT}),
    (b'{"kind":"ack","order_id":"order-0000001","partition":0,"offset":1}',
     {DECODE, READ, STRIP, AUDIT}),
    (b'["attempt","order-0000001",0]', {DECODE, READ, LIVE, STRIP, AUDIT}),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "refusing"), BAD_PRODUCER_LINES)
def test_a_producer_log_line_no_writer_writes_is_refused(tmp_path, bad, refusing):
    good = producer_log.line(ProducerEvent(ATTEMPT, order_id(1), 0, at_ms=1))
    path = tmp_path / "producer-log.jsonl"
    data = write(path, [good, bad + b"\n", good])
    readers = {
        DECODE: lambda: producer_log.decode(bad),
        READ: lambda: list(producer_log.read(path)),
        LIVE: lambda: producer_log.live_events(data),
        STRIP: lambda: producer_log.acks(data),
        AUDIT: lambda: audit_producer_events(path, tmp_path / "work"),
    }
    refused = set()
    for name, reader in readers.items():
        try:
            reader()
        except (ValueError, duckdb.Error):  # the audit: a line that is no JSON object, DuckDB's
            refused.add(name)
    assert refused == refusing


# -- the ledger ---------------------------------------------------------------------------------
def ledger_lines(ids: list[str]) -> list[LedgerLine]:
    """Runs of every shape: members and generations too (-1: none held), and both outcomes."""
    return [
        LedgerLine(order, n * 101, n % 5, BIG + n if n % 2 else n, n % 3, n % 4, n % 6 - 1,
                   n % 3 != 1, BIG - n, BIG + n)
        for n, order in enumerate(ids)
    ]  # fmt: skip


def audit_ledger_rows(path: Path, workdir: Path) -> list[tuple]:
    """Every line as the audit's table function reads it (record_tables.load_ledger's source),
    in LedgerLine's fields but the amount."""
    db = record_tables.connect()
    try:
        record_tables.load_ledger(db, path, workdir)  # its checks: a line it refuses raises
        fields = ", ".join(f'"{field}"' for field in ledger.DUCKDB_FIELDS)
        return db.execute(
            f"SELECT {fields} FROM {ledger.DUCKDB_ROWS}", {"path": str(path)}
        ).fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("ids", [WORKLOAD_IDS, WORKLOAD_IDS + ODD_IDS], ids=["fast", "odd-ids"])
def test_every_reader_of_the_ledger_reads_what_the_writer_wrote(tmp_path, ids):
    runs = ledger_lines(ids)
    lines = [ledger.line(run) for run in runs]
    path = tmp_path / "ledger.jsonl"
    data = write(path, lines)
    assert [ledger.decode(line) for line in lines] == runs
    assert list(ledger.read(path)) == runs
    count, numbers, others = ledger.charges(data)
    assert count == len(runs)
    charged = Counter(order_id(n) for n in numbers.tolist()) + Counter(others)
    assert charged == Counter(run.order_id for run in runs if run.charged)
    assert ledger.charged_ids(data) == [ledger.escape(r.order_id) for r in runs if r.charged]
    columns = [list(column) for column in ledger.runs(data)]
    assert list(zip(*columns, strict=True)) == [
        (r.partition, r.offset, r.session, r.member, r.generation, int(r.charged)) for r in runs
    ]
    assert sorted(audit_ledger_rows(path, tmp_path / "work")) == sorted(
        (r.order_id, r.partition, r.offset, r.session, r.member, r.generation, r.charged,
         r.produced_at_ms, r.processed_at_ms)
        for r in runs
    )  # fmt: skip
    effects = audit_table(path, record_tables.load_ledger, "effects",
                          "order_id, source_partition, source_offset, committed, session",
                          tmp_path / "work")  # fmt: skip
    assert sorted(effects) == sorted(
        (r.order_id, r.partition, r.offset, True, r.session) for r in runs if r.charged
    )
    handled = audit_table(path, record_tables.load_ledger, "handler_runs",
                          "order_id, source_partition, source_offset, deduplicated, session",
                          tmp_path / "work")  # fmt: skip
    assert sorted(handled) == sorted(
        (r.order_id, r.partition, r.offset, not r.charged, r.session) for r in runs
    )
    timings = audit_table(path, record_tables.load_ledger, "timings", "*", tmp_path / "work")
    assert sorted(timings) == sorted((r.produced_at_ms, r.processed_at_ms) for r in runs)


def test_the_sinks_two_paths_write_the_writers_line(tmp_path, monkeypatch):
    monkeypatch.setattr("time.time_ns", lambda: 1_795_000_000_123_456_789)
    sink = Sink(tmp_path / "ledger.jsonl", session=4, member=2, idempotent=True)
    sink.charge_ascii(b"order-0000003", 250, 1, BIG, 17)  # before any generation: -1
    sink.generation = 9
    sink.charge("ordé", 250, 1, BIG + 1, 17)
    sink.charge("order-0000003", 250, 2, 5, 17)  # deduplicated
    sink.charge_ascii(b"order-0000004", 250, 2, 6, 17)
    sink.charge_ascii(b"order-0000004", 250, 2, 7, 17)  # deduplicated, in the same batch
    sink.charge(TRICKY_ID, 250, 3, 8, 17)
    sink.charge(TRICKY_ID, 250, 3, 9, 17)  # deduplicated
    sink.close()
    at = 1_795_000_000_123
    assert (tmp_path / "ledger.jsonl").read_bytes() == b"".join(
        ledger.line(run)
        for run in [
            LedgerLine("order-0000003", 250, 1, BIG, 4, 2, -1, True, 17, at),
            LedgerLine("ordé", 250, 1, BIG + 1, 4, 2, 9, True, 17, at),
            LedgerLine("order-0000003", 250, 2, 5, 4, 2, 9, False, 17, at),
            LedgerLine("order-0000004", 250, 2, 6, 4, 2, 9, True, 17, at),
            LedgerLine("order-0000004", 250, 2, 7, 4, 2, 9, False, 17, at),
            LedgerLine(TRICKY_ID, 250, 3, 8, 4, 2, 9, True, 17, at),
            LedgerLine(TRICKY_ID, 250, 3, 9, 4, 2, 9, False, 17, at),
        ]
    )


# An order id that reads like the charged field, once escaped (a\",\"charged\":true\\...).
TRICKY_ID = 'a","charged":true\\"charged":true'


def test_a_lines_template_and_its_deduplicated_form_are_the_writers_lines():
    for run in ledger_lines([*WORKLOAD_IDS, *ODD_IDS, TRICKY_ID]):
        layout = ledger.template(session=run.session, member=run.member,
                                 generation=run.generation, charged=True)  # fmt: skip
        charge = layout % (ledger.escape(run.order_id), run.amount_cents, run.partition,
                           run.offset, run.produced_at_ms, run.processed_at_ms)  # fmt: skip
        assert charge == ledger.line(run._replace(charged=True))
        assert ledger.as_deduplicated(charge) == ledger.line(run._replace(charged=False))
    assert ledger.template() == ledger.LINE
    with pytest.raises(ValueError, match="no field"):
        ledger.template(amount=1)


def test_an_unidempotent_sinks_two_paths_write_the_writers_line(tmp_path, monkeypatch):
    monkeypatch.setattr("time.time_ns", lambda: 1_795_000_000_123_456_789)
    sink = Sink(tmp_path / "ledger.jsonl", session=1, member=3, idempotent=False)
    sink.generation = 5
    sink.charge_ascii(b"order-0000003", 250, 1, BIG, 17)
    assert sink.charge("order-0000003", 250, 2, 5, 17)  # charged again: not idempotent
    sink.close()
    at = 1_795_000_000_123
    assert (tmp_path / "ledger.jsonl").read_bytes() == b"".join(
        ledger.line(LedgerLine("order-0000003", 250, partition, offset, 1, 3, 5, True, 17, at))
        for partition, offset in [(1, BIG), (2, 5)]
    )


# A line as the sink wrote it before members and generations were recorded.
OLD_LINE = (
    b'{"order_id":"%s","amount_cents":%d,"partition":%d,"offset":%d,"session":%d,'
    b'"charged":%s,"produced_at_ms":%d,"processed_at_ms":%d}\n'
)


@pytest.mark.parametrize("ids", [WORKLOAD_IDS, WORKLOAD_IDS + ODD_IDS], ids=["fast", "odd-ids"])
def test_a_ledger_from_before_members_reads_as_member_0_without_a_generation(tmp_path, ids):
    """Every reader takes an old line (no member, no generation) as member 0, generation -1,
    alone or among new lines (the fast forms then decode: old lines are few and small)."""
    old = [run._replace(member=0, generation=-1) for run in ledger_lines(ids)]
    new = ledger_lines(ids)[:2]
    lines = [
        OLD_LINE % (ledger.escape(r.order_id), r.amount_cents, r.partition, r.offset, r.session,
                    ledger.CHARGED[r.charged], r.produced_at_ms, r.processed_at_ms)
        for r in old
    ] + [ledger.line(run) for run in new]  # fmt: skip
    runs = old + new
    path = tmp_path / "ledger.jsonl"
    data = write(path, lines)
    assert [ledger.decode(line) for line in lines] == runs
    assert list(ledger.read(path)) == runs
    count, numbers, others = ledger.charges(data)
    assert count == len(runs)
    charged = Counter(order_id(n) for n in numbers.tolist()) + Counter(others)
    assert charged == Counter(run.order_id for run in runs if run.charged)
    assert ledger.charged_ids(data) == [ledger.escape(r.order_id) for r in runs if r.charged]
    assert list(zip(*map(list, ledger.runs(data)), strict=True)) == [
        (r.partition, r.offset, r.session, r.member, r.generation, int(r.charged)) for r in runs
    ]
    assert sorted(audit_ledger_rows(path, tmp_path / "work")) == sorted(
        (r.order_id, r.partition, r.offset, r.session, r.member, r.generation, r.charged,
         r.produced_at_ms, r.processed_at_ms)
        for r in runs
    )  # fmt: skip
    effects = audit_table(path, record_tables.load_ledger, "effects", "order_id, session",
                          tmp_path / "work")  # fmt: skip
    assert sorted(effects) == sorted((r.order_id, r.session) for r in runs if r.charged)
    sink = Sink(path, session=9, member=1, idempotent=True)  # an idempotent sink reads them too
    assert sink.charge(ids[0], 1, 0, 0, 0) is False  # charged in an old line
    assert sink.charge(ids[1], 1, 0, 1, 0) is True  # deduplicated there, never charged
    sink.close()


BAD_LEDGER_LINES = [
    b'{"amount_cents":1,"partition":0,"offset":1,"session":0,"member":0,"generation":1,'
    b'"charged":true,"produced_at_ms":1,"processed_at_ms":2}',
    b'{"order_id":"order-0000001","amount_cents":1,"partition":0,"offset":1,"session":0,'
    b'"member":0,"generation":1,"produced_at_ms":1,"processed_at_ms":2}',
    b'{"order_id":"order-0000001","amount_cents":1,"partition":0,"offset":1,"member":0,'
    b'"generation":1,"charged":true,"produced_at_ms":1,"processed_at_ms":2}',
    b'{"order_id":"order-0000001","amount_cents":1,"partition":0,"offset":1,"session":0,'
    b'"member":0,"charged":true,"produced_at_ms":1,"processed_at_ms":2}',
    b'{"order_id":"order-0000001","amount_cents":1,"partition":0,"offset":1,"session":0,'
    b'"generation":1,"charged":true,"produced_at_ms":1,"processed_at_ms":2}',
]


@pytest.mark.parametrize(
    "bad",
    BAD_LEDGER_LINES,
    ids=["no-order-id", "no-charged", "no-session", "no-generation", "no-member"],
)
def test_a_ledger_line_no_writer_writes_is_refused_by_every_reader(tmp_path, bad):
    good = ledger.line(ledger_lines(WORKLOAD_IDS)[0])
    path = tmp_path / "ledger.jsonl"
    data = write(path, [good, bad + b"\n", good])
    for reader in (
        lambda: ledger.decode(bad),
        lambda: list(ledger.read(path)),
        lambda: ledger.charges(data),
        lambda: ledger.charged_ids(data),
        lambda: ledger.runs(data),
        lambda: audit_table(path, record_tables.load_ledger, "effects", "*", tmp_path / "work"),
    ):
        with pytest.raises(ValueError):
            reader()


# -- the output value ---------------------------------------------------------------------------
def test_every_reader_of_the_output_value_reads_what_the_writer_wrote():
    totals = [
        OutputValue(order, 100 + n, 1000 * n, n % 5, BIG + n, BIG - n, n % 3, n % 4, n % 6 - 1)
        for n, order in enumerate(WORKLOAD_IDS + ODD_IDS)
    ]
    db = record_tables.connect()
    try:
        for total in totals:
            value = output_value.value(total)
            assert output_value.decode(value) == total
            assert output_value.source(value) == (
                total.source_partition,
                total.source_offset,
                total.session,
                total.member,
            )
            audited = db.execute(
                f"SELECT unnest(from_json(?, {output_value.DUCKDB_STRUCT}))", [value.decode()]
            ).fetchone()
            assert audited == (total.order_id, total.source_partition, total.source_offset,
                               total.session, total.source_timestamp_ms, total.member,
                               total.generation)  # fmt: skip
    finally:
        db.close()


def test_an_output_value_from_before_sessions_were_recorded_reads_without_one():
    value = output_value.value(OutputValue("order-0000001", 1, 2, 3, 4, 5))
    assert output_value.decode(value).session is None
    written = value.replace(b', "session": null', b"").replace(b', "member": null', b"")
    assert output_value.source(written) == (3, 4, -1, -1)


@pytest.mark.parametrize("recorded", ["session", "nothing"])
def test_an_output_value_from_before_members_were_recorded_reads_without_one(recorded):
    """A value written before members (with a session), or before sessions: what it lacks
    reads as None, in decode() and in the audit."""
    value = b'{"order_id": "o-1", "amount_cents": 1, "total_cents": 2, "source_partition": 3, '
    value += b'"source_offset": 4, "source_timestamp_ms": 5'
    value += b', "session": 6}' if recorded == "session" else b"}"
    session = 6 if recorded == "session" else None
    assert output_value.decode(value) == OutputValue("o-1", 1, 2, 3, 4, 5, session, None, None)
    assert output_value.source(value) == (3, 4, -1 if session is None else session, -1)
    db = record_tables.connect()
    try:
        audited = db.execute(
            f"SELECT unnest(from_json(?, {output_value.DUCKDB_STRUCT}))", [value.decode()]
        ).fetchone()
    finally:
        db.close()
    assert audited == ("o-1", 3, 4, session, 5, None, None)


def test_an_output_value_no_writer_writes_is_refused_or_skipped():
    """decode() and the audit refuse it; the strip's reader, in a child whose batch is read once,
    skips a value that does not say where it came from (see output_value's docstring)."""
    no_source = b'{"order_id": "order-0000001", "amount_cents": 1, "total_cents": 1}'
    with pytest.raises(ValueError, match="output topic"):
        output_value.decode(no_source)
    assert output_value.source(no_source) is None


# -- the arm file -------------------------------------------------------------------------------
def test_the_arm_file_reads_what_the_supervisor_wrote(tmp_path):
    path = arm_file.path(str(tmp_path), "consumer")
    assert arm_file.read(path) == []
    crashes = [
        {"point": "mid-batch", "after_records": None, "fault": 2},
        {"point": "after-processing-before-commit", "after_records": 40, "fault": -1},
    ]
    arm_file.write(path, crashes)
    assert arm_file.read(path) == crashes
    assert path.name == "consumer.arm" and not path.with_suffix(".tmp").exists()


@pytest.mark.parametrize("text", ["[{", '{"point": "mid-batch"}', '[{"point": "mid-batch"}]'])
def test_an_arm_file_no_writer_writes_is_refused(tmp_path, text):
    path = arm_file.path(str(tmp_path), "producer")
    path.write_text(text)
    with pytest.raises(ValueError, match=r"producer\.arm"):
        arm_file.read(path)


# -- the group log ------------------------------------------------------------------------------
def test_every_reader_of_the_group_log_reads_what_the_members_wrote(tmp_path):
    path = tmp_path / "group-log.jsonl"
    first = GroupLog(path, member=0, session=0)
    second = GroupLog(path, member=1, session=3)
    first.write(group_log.ASSIGNED, [0, 1, 2, 3], generation=1, at_ms=BIG)
    first.write(group_log.REVOKED, [2, 3], generation=1, at_ms=BIG + 1)
    second.write(group_log.ASSIGNED, (p for p in (2, 3)), generation=2, at_ms=BIG + 2)
    first.write(group_log.COMMIT_REFUSED, [3], generation=1, at_ms=BIG + 3)
    second.write(group_log.LOST, [2, 3], generation=2, at_ms=BIG + 4)
    first.write(group_log.LEFT, [], generation=-1)  # at_ms: now
    first.close()
    second.close()
    events = list(group_log.read(path))
    assert events[:5] == [
        GroupEvent(0, 0, 1, "assigned", (0, 1, 2, 3), BIG),
        GroupEvent(0, 0, 1, "revoked", (2, 3), BIG + 1),
        GroupEvent(1, 3, 2, "assigned", (2, 3), BIG + 2),
        GroupEvent(0, 0, 1, "commit-refused", (3,), BIG + 3),
        GroupEvent(1, 3, 2, "lost", (2, 3), BIG + 4),
    ]
    assert events[5]._replace(at_ms=0) == GroupEvent(0, 0, -1, "left", (), 0)
    assert events[5].at_ms > 1_700_000_000_000  # wall-clock epoch ms
    assert [group_log.line(event) for event in events] == path.read_bytes().splitlines(True)
    assert group_log.line(events[2]) == (
        b'{"member":1,"session":3,"generation":2,"event":"assigned","partitions":[2,3],'
        b'"at_ms":1000000000002}\n'
    )
    spaced = b'{"member": 1, "session": 3, "generation": 2, "event": "assigned", '
    spaced += b'"partitions": [2, 3], "at_ms": 1000000000002}'
    assert group_log.decode(spaced) == events[2]  # any valid JSON of these fields


BAD_GROUP_LOG_LINES = [
    b'{"member":0,"session":0,"generation":1,"event":"joined","partitions":[0],"at_ms":1}',
    b'{"member":0,"session":0,"generation":1,"event":"assigned","at_ms":1}',
    b'{"member":0,"session":0,"generation":1,"event":"assigned","partitions":[0],"at_ms":1,'
    b'"extra":2}',
    b'{"member":0,"session":0,"generation":1,"event":"assigned","partitions":["0"],"at_ms":1}',
    b'{"member":0,"session":0,"generation":1,"event":"assigned","partitions":3,"at_ms":1}',
    b'{"member":"0","session":0,"generation":1,"event":"assigned","partitions":[0],"at_ms":1}',
    b'{"member":0,"session":0,"generation":true,"event":"left","partitions":[],"at_ms":1}',
    b'["assigned",[0]]',
    b'{"member":0,',
]


@pytest.mark.parametrize("bad", BAD_GROUP_LOG_LINES)
def test_a_group_log_line_no_member_writes_is_refused(tmp_path, bad):
    path = tmp_path / "group-log.jsonl"
    good = group_log.line(GroupEvent(0, 0, 1, group_log.ASSIGNED, (0,), 1))
    write(path, [good, bad + b"\n", good])
    with pytest.raises(ValueError, match="group log"):
        group_log.decode(bad)
    with pytest.raises(ValueError, match="group log"):
        list(group_log.read(path))


def test_a_member_writes_only_the_group_logs_events(tmp_path):
    log = GroupLog(tmp_path / "group-log.jsonl", member=0, session=0)
    with pytest.raises(ValueError, match="joined"):
        log.write("joined", [0], generation=1)
    log.close()
    assert list(group_log.read(tmp_path / "group-log.jsonl")) == []
