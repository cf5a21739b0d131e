"""The per-record hot paths write and read exactly what the general, JSON-decoding paths do.

The workers format their lines as bytes directly and skip the JSON decoder for the values and lines
they wrote themselves; the live tallies count lines without decoding them. Each fast path is
checked here against the slow one it stands for, on the records a run writes and on odd ones that
must take the slow path. Pure logic: no Kafka here.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from confluent_kafka import Message

from playground.engine import orders
from playground.engine.formats import arm_file, producer_log
from playground.engine.formats.journal import Follower, Journal
from playground.engine.formats.producer_log import ATTEMPT_LINE
from playground.engine.sink import Sink
from playground.engine.workers.consumer import next_offsets
from playground.engine.workers.handlers import ChargeHandler
from playground.engine.workers.runtime import Crash, Orders, Runtime
from tests.engine.raw_records import read_ledger

INDEXES = [0, 1, 42, 1234, 9_999_999, 10_000_000, 123_456_789]


def test_orders_built_as_bytes_are_the_orders():
    for index in INDEXES:
        assert orders.order_key(index) == orders.order_id(index).encode()
        expected = {"order_id": orders.order_id(index), "amount_cents": orders.amount_cents(index)}
        assert json.loads(orders.order_value(index)) == expected
        assert orders.order_value(index) == json.dumps(expected, separators=(",", ":")).encode()
    keys, values = orders.order_records(98, 317)
    assert keys == [orders.order_key(i) for i in range(98, 317)]
    assert values == [orders.order_value(i) for i in range(98, 317)]
    assert orders.order_records(5, 5) == ([], [])


@pytest.mark.parametrize(
    "value",
    [orders.order_value(i) for i in INDEXES]
    + [
        b'{"order_id":"a]~!#[-_.:","amount_cents":0}',
        b'{"order_id":"x","amount_cents":123456789012345678901234567890}',
    ],
)
def test_order_value_pattern_reads_what_json_reads(value):
    match = orders.ORDER_VALUE.fullmatch(value)
    assert match is not None
    assert {"order_id": match[1].decode(), "amount_cents": int(match[2])} == orders.parse_order(
        value
    )


@pytest.mark.parametrize(
    "value",
    [
        b'{"order_id":"a\\"b","amount_cents":1}',  # an escape
        b'{"order_id":"a\\u0041","amount_cents":1}',
        '{"order_id":"ordé","amount_cents":1}'.encode(),  # not ASCII
        b'{"order_id":"a b","amount_cents":1}',  # a space
        b'{"order_id":"","amount_cents":1}',
        b'{"order_id":"a","amount_cents":-1}',  # a sign
        b'{"order_id":"a","amount_cents":01}',  # a leading zero: not JSON
        b'{"order_id":"a","amount_cents":1.5}',
        b'{"order_id":"a","amount_cents":1} ',
        b'{"amount_cents":1,"order_id":"a"}',
        b'{ "order_id":"a","amount_cents":1}',
        b'{"order_id":"a","amount_cents":1,"x":2}',
        b'{"order_id":"a","amount_cents":1}\n',
    ],
)
def test_anything_else_takes_the_decoder(value):
    assert orders.ORDER_VALUE.fullmatch(value) is None


def message(value: bytes, offset: int, partition: int = 0, topic: str = "t") -> Message:
    return Message(
        topic=topic, partition=partition, offset=offset, value=value, timestamp=(1, 1000 + offset)
    )


@pytest.mark.parametrize("idempotent", [False, True])
def test_charge_handler_writes_the_lines_charge_writes(tmp_path, monkeypatch, idempotent):
    """The handler's fast path (a value as the producer writes it) and its slow path (any other
    value, decoded) write the very lines Sink.charge writes for the decoded orders."""
    monkeypatch.setattr("time.time_ns", lambda: 1_795_000_000_123_456_789)
    values = [orders.order_value(i) for i in (0, 1, 0, 7, 1)]
    values += [
        '{"order_id":"ordé","amount_cents":5}'.encode(),
        b'{"amount_cents":6,"order_id":"order-0000007"}',
        b'{"order_id":"x", "amount_cents":8}',
    ]
    handler = ChargeHandler(Sink(tmp_path / "fast.jsonl", session=3, idempotent=idempotent))
    reference = Sink(tmp_path / "slow.jsonl", session=3, idempotent=idempotent)
    for offset, value in enumerate(values):
        handler.process(message(value, offset, partition=offset % 2))
        order = orders.parse_order(value)
        amount = order["amount_cents"]
        reference.charge(order["order_id"], amount, offset % 2, offset, 1000 + offset)
    handler.close()
    reference.close()
    written = (tmp_path / "fast.jsonl").read_bytes()
    assert written == (tmp_path / "slow.jsonl").read_bytes()
    lines = written.decode().splitlines()
    assert len(lines) == len(values)
    charged = [json.loads(line)["charged"] for line in lines]
    duplicates = {2, 4, 6} if idempotent else set()
    assert charged == [i not in duplicates for i in range(len(values))]


def test_an_idempotent_sink_remembers_the_charges_of_earlier_sessions(tmp_path):
    first = Sink(tmp_path / "ledger.jsonl", session=0, idempotent=True)
    first.charge_ascii(b"order-0000001", 100, 0, 0, 1)
    first.close()
    second = Sink(tmp_path / "ledger.jsonl", session=1, idempotent=True)
    second.charge_ascii(b"order-0000001", 100, 0, 0, 1)
    second.charge_ascii(b"order-0000002", 100, 0, 1, 1)
    second.close()
    effects, runs, _ = read_ledger(tmp_path / "ledger.jsonl")
    assert [e.order_id for e in effects] == ["order-0000001", "order-0000002"]
    assert [r.deduplicated for r in runs] == [False, True, False]


def test_journal_writes_whole_lines_even_when_a_write_is_short(tmp_path, monkeypatch):
    journal = Journal(tmp_path / "journal")
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:3]))
    journal.write(b"0123456789\n")
    journal.write(b"ab\ncd\nef\n")
    monkeypatch.undo()
    journal.close()
    follower = Follower(tmp_path / "journal")
    assert follower.new_data() == b"0123456789\nab\ncd\nef\n"
    assert follower.new_data() == b""
    assert Follower(tmp_path / "missing").new_data() == b""


def test_next_offsets_are_one_past_the_last_record_of_each_partition():
    batch = [message(b"", offset, partition) for partition, offset in
             [(0, 5), (1, 7), (0, 6), (2, 0), (1, 8)]]  # fmt: skip
    offsets = {(tp.topic, tp.partition): tp.offset for tp in next_offsets(batch)}
    assert offsets == {("t", 0): 7, ("t", 1): 9, ("t", 2): 1}


def test_may_crash_follows_the_pending_crashes(tmp_path, monkeypatch):
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # the test runner keeps its own
    orders_ = Orders("consumer", str(tmp_path), "x", "", 0)
    runtime = Runtime(orders_)
    assert not runtime.may_crash
    runtime._on_arm()  # SIGUSR1 with no arm file: nothing to do, once looked at
    assert runtime.may_crash
    assert runtime.due("mid-batch") is None
    assert not runtime.may_crash
    arm_file.write(
        arm_file.path(str(tmp_path), "consumer"),
        [{"point": "mid-batch", "after_records": None, "fault": 2}],
    )
    runtime._on_arm()
    assert runtime.may_crash
    assert runtime.due("mid-batch") == Crash("mid-batch", None, 2)
    assert runtime.may_crash
    scheduled = Orders("producer", str(tmp_path), "x", "", 0, [Crash("after-send", 5)])
    assert Runtime(scheduled).may_crash


def test_read_producer_log_reads_fast_lines(tmp_path):
    journal = Journal(tmp_path / "log")
    journal.write(b"".join(ATTEMPT_LINE % (orders.order_key(i), 0, 7) for i in range(3)))
    journal.close()
    assert [e.order_id for e in producer_log.read(tmp_path / "log")] == [
        orders.order_id(i) for i in range(3)
    ]
