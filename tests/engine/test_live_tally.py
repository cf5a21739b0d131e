"""The live tallies count what a recount of the raw records with sets of order ids counts, while
holding a byte or two per order, not the ids: pure logic on journals the real writers write, and
one real run whose last snapshot must agree with the audit."""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path

from playground.engine.audit.records import FAIL, SENT, ProducerEvent
from playground.engine.formats import producer_log
from playground.engine.formats.journal import Journal
from playground.engine.formats.ledger import LINE
from playground.engine.formats.producer_log import ACK_LINE, ATTEMPT_LINE
from playground.engine.naming import ExperimentNames
from playground.engine.observe.tally import JournalSlices, LiveTally, TallyInBackground
from playground.engine.orders import order_id
from playground.engine.sink import Sink
from playground.engine.spec.model import Spec, default_spec
from tests.engine.experiments import build_spec, conductor_for
from tests.engine.raw_records import ack_line, attempt_line

# Ids no workload writes, beside the workload's: each must count as an id of its own.
ODD_IDS = [
    "order-12",  # order 12, not in the workload's form: another id than order-0000012
    "order-00000012",
    "order-0000012x",
    "Order-0000012",
    "order-10000000",  # past 7 digits
    "x",
    "order-000001\u00e9",  # not plain ASCII: only the decoder reads it
]


def append(journal: Journal, lines: list[bytes]) -> None:
    """Append `lines` (each with its newline) in one write, as the writers do."""
    journal.write(b"".join(lines))


def tally_for(root: Path, spec: Spec | None = None) -> tuple[LiveTally, ExperimentNames]:
    names = ExperimentNames("tally", root)
    return LiveTally(names, spec or default_spec()), names


def recount(producer_events: list[tuple[str, str]], charges: list[tuple[str, bool]]) -> dict:
    """The counts straight from their definitions, with sets of ids (as the audit counts)."""
    by_kind: dict[str, set[str]] = {"attempt": set(), "ack": set(), "sent": set(), "fail": set()}
    for kind, order in producer_events:
        by_kind[kind].add(order)
    delivered = {order for order, charged in charges if charged}
    effects = sum(1 for _, charged in charges if charged)
    return {
        "attempted": len(by_kind["attempt"]),
        "acked": len(by_kind["ack"]),
        "sent_unacked": len(by_kind["sent"] - by_kind["ack"]),
        "failed": len(by_kind["fail"] - by_kind["ack"] - by_kind["sent"]),
        "effects": effects,
        "delivered": len(delivered),
        "handler_runs": len(charges),
        "duplicated_so_far": effects - len(delivered),
        "pending": max(len(by_kind["attempt"]) - len(delivered), 0),
    }


def producer_line(kind: str, order: str, rng: random.Random) -> bytes:
    """A line as the producer writes it (formats/producer_log.py)."""
    if kind == "attempt":
        return attempt_line(order, rng.randrange(3), 1_733_000_000_000 + rng.randrange(10**6))
    if kind == "ack":
        return ack_line(order, rng.randrange(3), rng.randrange(4), rng.randrange(10**6))
    event = ProducerEvent(kind, order, rng.randrange(3), error="boom" if kind == FAIL else None)
    return producer_log.line(event)


def test_counts_equal_a_recount_with_sets_whatever_the_ids_and_the_reads(tmp_path):
    rng = random.Random(12)
    tally, names = tally_for(tmp_path)
    producer_log, sink = Journal(names.producer_log), Sink(names.sink, session=0, idempotent=False)
    ids = [order_id(rng.randrange(3000)) for _ in range(400)] + ODD_IDS
    producer_events: list[tuple[str, str]] = []
    charges: list[tuple[str, bool]] = []
    for read in range(60):
        # Some reads hold only the lines the fast form takes, some also an odd one.
        kinds = ["attempt", "ack"] + (["sent", FAIL] if read % 3 == 0 else [])
        lines = []
        for _ in range(rng.randrange(0, 80)):
            kind, order = rng.choice(kinds), rng.choice(ids if read % 2 else ids[:400])
            lines.append(producer_line(kind, order, rng))
            producer_events.append((kind, order))
        append(producer_log, lines)
        for _ in range(rng.randrange(0, 60)):
            order = rng.choice(ids if read % 4 == 1 else ids[:400])
            sink.idempotent = rng.random() < 0.3  # deduplicated runs beside charges
            charged = sink.charge(order, 100, rng.randrange(4), rng.randrange(10**6), 0)
            charges.append((order, charged))
        sink.perform()
        assert tally.read() == recount(producer_events, charges)
    assert any(kind == SENT for kind, _ in producer_events)
    assert tally.attempted() == recount(producer_events, charges)["attempted"]


def test_an_order_in_the_workloads_form_and_the_same_number_otherwise_are_two_orders(tmp_path):
    tally, names = tally_for(tmp_path)
    append(
        Journal(names.producer_log),
        [attempt_line("order-0000012", 0, 1), attempt_line("order-12", 0, 2)],
    )
    assert tally.read()["attempted"] == 2
    # The same two again, one decoded (a "fail" line sends the whole read down the slow path):
    append(
        Journal(names.producer_log),
        [
            attempt_line("order-0000012", 0, 3),
            producer_log.line(ProducerEvent(FAIL, "order-12", 0)),
        ],
    )
    counts = tally.read()
    assert counts["attempted"] == 2 and counts["failed"] == 1


def test_lines_the_writers_would_not_begin_so_are_decoded_not_skipped(tmp_path):
    """The fast path reads a line's kind and id where producer_log's writers put them; a line
    laid out otherwise (other key order, spaces: valid JSON all the same) sends the read down
    the slow path, which decodes every line."""
    tally, names = tally_for(tmp_path)
    append(Journal(names.producer_log), [
        b'{"order_id":"order-0000001","kind":"attempt","session":0}\n',
        ack_line("order-0000002", 0, 0, 1),
        b'{"kind": "attempt", "order_id": "order-0000003", "session": 0}\n',
    ])  # fmt: skip
    counts = tally.read()
    assert (counts["attempted"], counts["acked"]) == (2, 1)
    append(Journal(names.producer_log), [b'{"kind":"ack","order_id":"o-4","session":0,'
                                         b'"partition":0,"offset":2}\n'])  # fmt: skip
    assert tally.read()["acked"] == 2  # an id too short for the workload's form, read as it is


def test_a_million_orders_cost_the_tallies_a_byte_or_two_each(tmp_path):
    document = default_spec().to_json()
    document["workload"]["records"] = 1_000_000
    tally, names = tally_for(tmp_path, Spec.from_json(document))
    producer_log, ledger = Journal(names.producer_log), Journal(names.sink)
    tracemalloc.start()
    try:
        for start in range(0, 1_000_000, 50_000):
            keys = [b"order-%07d" % index for index in range(start, start + 50_000)]
            producer_log.write(b"".join(ATTEMPT_LINE % (key, 0, 1) for key in keys))
            producer_log.write(b"".join(ACK_LINE % (key, 0, 3, 7) for key in keys))
            ledger.write(b"".join(LINE % (key, 100, 3, 7, 0, 0, 0, b"true", 1, 2) for key in keys))
            del keys
            counts = tally.read()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counts["attempted"] == counts["acked"] == counts["delivered"] == 1_000_000
    assert tally.nbytes <= 2_100_000  # a byte per order for the producer log, one for the ledger
    assert held <= 3_000_000, held  # and nothing else that grows with the orders


def test_the_last_snapshot_counts_what_the_audit_counts(lab):
    spec = build_spec(
        workload={"records": 3000, "partitions": 3},
        producer={"acks": "all", "enable_idempotence": True},
        consumer={"commit": "after-processing", "batch_size": 100},
        faults=[
            {"kind": "kill-consumer", "at": {"records": 1200},
             "point": "after-processing-before-commit"}
        ],
    )  # fmt: skip
    conductor = conductor_for(lab, spec)
    snapshots: list[dict] = []
    conductor.on_snapshot = snapshots.append
    result = conductor.run()
    assert result["valid"], result["problems"]
    audit, last = result["audit"], snapshots[-1]
    assert audit["duplicated"] > 0  # the kill redelivered a batch
    for name in ("attempted", "acked", "sent_unacked", "failed", "delivered"):
        assert last[name] == audit[name], name
    assert last["duplicated_so_far"] == audit["duplicated"]


def test_a_tally_in_the_background_shows_the_newest_counts_and_ends_complete(tmp_path):
    """The snapshots read the counts without waiting for the journals to be parsed: a thread
    reads them over and over; once closed, one last read leaves every line counted."""
    tally, names = tally_for(tmp_path)
    producer_log = Journal(names.producer_log)
    append(producer_log, [attempt_line(order_id(n), 0, 1) for n in range(5)])
    background = TallyInBackground(tally, interval=0.01)
    assert background.latest() == {} and background.attempted() == 0  # before start()
    background.start()
    assert background.attempted() == 5  # start() reads once before it returns
    append(producer_log, [attempt_line(order_id(n), 0, 1) for n in range(5, 9)])
    deadline = time.monotonic() + 10
    while background.attempted() != 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert background.attempted() == 9  # read by the thread, nobody asking
    append(producer_log, [ack_line(order_id(n), 0, 0, n) for n in range(9)])
    background.close()
    assert background.latest()["acked"] == 9 and not background._thread


def test_a_journal_far_ahead_is_taken_a_slice_of_whole_lines_at_a_time(tmp_path):
    path = tmp_path / "journal.jsonl"
    lines = [f'{{"line":{n},"pad":"{"x" * (n % 37)}"}}' for n in range(2000)]
    append(Journal(path), [(line + "\n").encode() for line in lines])
    with path.open("ab") as journal:
        journal.write(b'{"still being written')
    slices = list(JournalSlices(path, limit=1000).slices())
    assert all(len(piece) <= 1000 and piece.endswith(b"\n") for piece in slices)
    assert b"".join(slices).decode().splitlines() == lines
