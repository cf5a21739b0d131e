"""Who made each effect and when, as the audit reads it from the sink (runs_by_member): what a
consumer group's story is told from. Pure logic: no Kafka."""

from __future__ import annotations

from playground.engine.audit import evidence, kafka_log, record_tables
from playground.engine.formats import ledger, output_value
from playground.engine.formats.ledger import LedgerLine
from playground.engine.formats.output_value import OutputValue

# Who made each run, as the loaders read it from the ledger and the output topic.


def test_the_ledger_names_the_member_generation_and_time_of_every_run(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(
        ledger.line(LedgerLine("a", 100, 1, 7, 3, 2, 9, True, 10, 1000))
        + ledger.line(LedgerLine("a", 100, 1, 7, 4, 1, 11, False, 10, 2000))
        # a line written before members were recorded
        + b'{"order_id":"b","amount_cents":5,"partition":0,"offset":1,"session":0,'
        b'"charged":true,"produced_at_ms":1,"processed_at_ms":3000}\n'
    )
    db = record_tables.connect()
    try:
        record_tables.load_ledger(db, path, tmp_path / "work")
        rows = db.execute("SELECT * FROM runs_by_member ORDER BY at_ms").fetchall()
    finally:
        db.close()
    assert rows == [
        ("a", 1, 7, 2, 3, 9, 1000, True, True),
        ("a", 1, 7, 1, 4, 11, 2000, False, True),
        ("b", 0, 1, 0, 0, -1, 3000, True, True),
    ]


def test_the_output_topic_names_who_wrote_each_total_at_its_own_timestamp(monkeypatch):
    values = [  # (value, committed, the output record's timestamp)
        (OutputValue("a", 5, 5, 1, 7, 10, session=3, member=2, generation=9), True, 1000),
        (OutputValue("a", 5, 10, 1, 7, 10, session=4, member=1, generation=11), False, 2000),
        (OutputValue("b", 5, 5, 0, 1, 10, session=0), True, 3000),  # before members
        (OutputValue("c", 5, 5, 0, 2, 10), True, 4000),  # before sessions
    ]

    def topic_read(db, table, bootstrap, topic, payload):
        db.execute(f"CREATE TABLE {table} ({kafka_log.COLUMNS})")
        for offset, (total, committed, written_at) in enumerate(values):
            db.execute(
                f"INSERT INTO {table} VALUES (?, 0, ?, ?, ?)",
                [output_value.value(total).decode(), offset, written_at, committed],
            )

    monkeypatch.setattr(kafka_log, "load_topic", topic_read)
    db = record_tables.connect()
    try:
        evidence._load_output(db, "unused:9092", "output")
        rows = db.execute("SELECT * FROM runs_by_member ORDER BY at_ms").fetchall()
    finally:
        db.close()
    assert rows == [
        ("a", 1, 7, 2, 3, 9, 1000, True, True),
        ("a", 1, 7, 1, 4, 11, 2000, True, False),
        ("b", 0, 1, 0, 0, -1, 3000, True, True),
        ("c", 0, 2, 0, None, -1, 4000, True, True),
    ]
