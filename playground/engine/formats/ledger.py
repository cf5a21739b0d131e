"""The ledger's format: one JSON line per run of the side-effect consumer's handler.

The sink (sink.py) appends the lines through a journal, one writer per consumer group member at
once. Every line is laid out by LINE, every field present, in this order: the order id
(JSON-escaped: the workload's ids are written as they are), its amount, the input copy handled
(partition, offset), the consumer session that ran the handler, the group member that session
was and the group generation it held (-1: none), whether it charged the order (false: the
idempotent consumer recognised the id and skipped the charge), when the record was produced and
when the handler ran (epoch ms). A line written before consumer groups had several members has
neither member nor generation: every reader takes it as member 0, generation -1.

Writing: line() (a run, any order id); for the sink's per-record hot path, template() (LINE with
the fields a session's lines share written in) and as_deduplicated() (a charge's line made a
deduplicated run's).

Readers: decode() (a whole line, any valid JSON with exactly these fields), read() (a whole
ledger), charges() (the live tally), charged_ids() (the idempotent sink's index of what the other
members charged), runs() (the log strip), DUCKDB_ROWS (the audit's table function). A line no
writer writes is refused with a ValueError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from playground.engine.formats.journal import read_lines

if TYPE_CHECKING:
    import numpy as np

# The line, newline included. % (order id as escaped bytes, amount_cents, partition, offset,
# session, member, generation, CHARGED[charged], produced_at_ms, processed_at_ms).
LINE = (
    b'{"order_id":"%s","amount_cents":%d,"partition":%d,"offset":%d,"session":%d,'
    b'"member":%d,"generation":%d,"charged":%s,"produced_at_ms":%d,"processed_at_ms":%d}\n'
)
CHARGED = {True: b"true", False: b"false"}
_CHARGED_TRUE, _CHARGED_FALSE = (b'"charged":' + CHARGED[value] for value in (True, False))
START = LINE[: LINE.index(b"%s")]  # how every line begins, up to its order id
# What a line written before members were recorded is read as (it has neither field).
BEFORE_MEMBERS = {"member": 0, "generation": -1}


class LedgerLine(NamedTuple):
    """One line of the ledger, decoded: the fields in the order LINE writes them."""

    order_id: str
    amount_cents: int
    partition: int
    offset: int
    session: int
    member: int
    generation: int
    charged: bool
    produced_at_ms: int
    processed_at_ms: int


_INT = rb"-?(?:0|[1-9][0-9]*)"


def _whole_line(order_id: bytes) -> re.Pattern[bytes]:
    """A whole line as LINE writes it, for an order id JSON needs no escape for (orders.
    ORDER_VALUE's ids) matched by `order_id`: the last group is "t" for a charge, empty when the
    run was deduplicated (one byte at most: findall gives shared empty and one-byte objects)."""
    return re.compile(
        rb'^\{"order_id":"' + order_id + rb'","amount_cents":' + _INT + rb',"partition":' + _INT
        + rb',"offset":' + _INT + rb',"session":' + _INT + rb',"member":' + _INT
        + rb',"generation":' + _INT + rb',"charged":(?:(t)rue|false),"produced_at_ms":' + _INT
        + rb',"processed_at_ms":' + _INT + rb"\}$",
        re.MULTILINE,
    )  # fmt: skip


_PLAIN_ID = rb"[!#-\[\]-~]+"
_LINE = _whole_line(_PLAIN_ID)  # findall: the charged group of each line
_CHARGE = _whole_line(b"(" + _PLAIN_ID + b")")  # findall: (order id, charged group) of each line
# The numbers the strip reads (partition, offset, session, member, generation, charged), in one
# group (findall: one bytes object per line, never a tuple); the generation alone may be negative.
_RUN = re.compile(
    rb'"partition":([0-9]+,"offset":[0-9]+,"session":[0-9]+,"member":[0-9]+,'
    rb'"generation":-?[0-9]+,"charged":(?:true|false))'
)
# The group's numbers, in one bytes.translate (a table lookup per byte, in C): every byte is
# deleted but the digits and minus signs, the commas between the fields (which become spaces),
# and the one letter of each charged value that no key of the group has: the "u" of true (1) and
# the "l" of false (0). (columns.numbers reads only unsigned numbers, and keeps the keys' bytes as
# spaces: here the text to parse is a third as long.) test_formats reads both values back.
_RUN_NUMBERS = bytes.maketrans(b",ul", b" 10")
_RUN_DELETE = bytes(c for c in range(256) if c not in b"-0123456789,ul")

# The fields the audit reads, and their types, as DuckDB's read_json takes a line of the ledger at
# $path (a field a line leaves out reads as NULL, which the audit refuses: record_tables; but a
# line without both member and generation is one from before they were recorded, and reads as
# BEFORE_MEMBERS says, as decode() reads it).
DUCKDB_FIELDS = {
    "order_id": "VARCHAR", "partition": "INTEGER", "offset": "BIGINT", "session": "INTEGER",
    "member": "INTEGER", "generation": "INTEGER", "charged": "BOOLEAN",
    "produced_at_ms": "BIGINT", "processed_at_ms": "BIGINT",
}  # fmt: skip
_COLUMNS = ", ".join(f"'{field}': '{kind}'" for field, kind in DUCKDB_FIELDS.items())
_BEFORE = " AND ".join(f'"{field}" IS NULL' for field in BEFORE_MEMBERS)
_AS_BEFORE = ", ".join(
    f'CASE WHEN {_BEFORE} THEN {value} ELSE "{field}" END AS "{field}"'
    for field, value in BEFORE_MEMBERS.items()
)
DUCKDB_ROWS = (
    f"(SELECT * REPLACE ({_AS_BEFORE}) "
    f"FROM read_json($path, format='newline_delimited', columns={{{_COLUMNS}}}))"
)


def template(**fixed: int | bool) -> bytes:
    """LINE with some fields written in (each an int; charged: a bool), for a writer whose lines
    share them (the sink: its session, member, generation): the others stay placeholders, in
    LINE's order."""
    layout = LINE
    for field, value in fixed.items():
        key = b'"%s":' % field.encode()
        placeholder, written = (
            (key + b"%s", key + CHARGED[value])
            if field == "charged"
            else (key + b"%d", key + b"%d" % value)
        )
        if layout.count(placeholder) != 1:
            raise ValueError(f"ledger: no field {field!r} to write into a line's template")
        layout = layout.replace(placeholder, written)
    return layout


def as_deduplicated(charge: bytes) -> bytes:
    """The line of a charge (LINE, charged true) made the line of the same run deduplicated (the
    idempotent sink's, once it finds the id charged already). Its charged field is the first
    thing in the line that reads so: the escaped order id before it holds no bare quote."""
    return charge.replace(_CHARGED_TRUE, _CHARGED_FALSE, 1)


def escape(order_id: str) -> bytes:
    """An order id as LINE takes it: JSON-escaped, without its quotes (a workload's id, plain
    ASCII, is its own bytes)."""
    return json.dumps(order_id)[1:-1].encode()


def line(run: LedgerLine) -> bytes:
    """The line of `run` (LINE's general form: any order id)."""
    return LINE % (
        escape(run.order_id), run.amount_cents, run.partition, run.offset, run.session,
        run.member, run.generation, CHARGED[run.charged], run.produced_at_ms, run.processed_at_ms,
    )  # fmt: skip


def decode(line: str | bytes) -> LedgerLine:
    """The handler run a line records; ValueError for a line no writer writes."""
    try:
        fields = json.loads(line)
        if isinstance(fields, dict) and not fields.keys() & BEFORE_MEMBERS.keys():
            fields.update(BEFORE_MEMBERS)  # a line from before members were recorded
        return LedgerLine(**fields)
    except (TypeError, ValueError) as refused:
        raise ValueError(f"ledger: a line the sink never writes: {line!r} ({refused})") from None


def read(path: Path) -> Iterator[LedgerLine]:
    """Every complete line of the ledger (a line cut short by a crash is ignored)."""
    for complete in read_lines(path):
        yield decode(complete)


def charges(data: bytes) -> tuple[int, np.ndarray, list[str]]:
    """For complete lines of the ledger: how many there are (handler runs), the order number
    (orders.order_id's) of each charge of an id in the workload's form, and the id of each other
    charge. Read without decoding when every line is laid out as written, else decoded."""
    import numpy as np

    from playground.engine.formats import columns

    raw = np.frombuffer(data, np.uint8)
    starts, ends = columns.line_bounds(raw)
    lines = len(ends)  # (the scan for the lines' starts counts them too)
    found = _LINE.findall(data) if lines else []
    if len(found) != lines or not lines:
        charged = [run.order_id for run in map(decode, data.splitlines()) if run.charged]
        return lines, np.zeros(0, np.int64), charged
    charged = np.fromiter(map(len, found), np.uint8, count=lines).astype(bool)
    numbers = columns.workload_numbers(raw, starts[charged] + len(START))
    workload = numbers >= 0
    others = [decode(data[start : data.index(b"\n", start)]).order_id  # another form: rare
              for start in starts[charged][~workload].tolist()]  # fmt: skip
    return lines, numbers[workload], others


def charged_ids(data: bytes) -> list[bytes]:
    """The order id of each charge in complete lines of the ledger, as escape() writes it (the
    idempotent sink's index: what the sink and the other members charged). Read with one regular
    expression when every line is laid out as written (a plain id is its own escape), else from
    every line decoded, then escaped; no numpy (a worker reads it)."""
    lines = data.count(b"\n")
    found = _CHARGE.findall(data) if lines else []
    if len(found) == lines:
        return [order_id for order_id, charged in found if charged]
    return [escape(run.order_id) for run in map(decode, data.splitlines()) if run.charged]


class Runs(NamedTuple):
    """Handler runs as columns (numpy arrays, one entry per line, in the ledger's order)."""

    partitions: np.ndarray
    offsets: np.ndarray
    sessions: np.ndarray
    members: np.ndarray
    generations: np.ndarray
    charged: np.ndarray  # 1 or 0


def runs(data: bytes) -> Runs:
    """The handler runs of complete lines of the ledger: read with one regular expression when
    every line is laid out as written, else from every line decoded."""
    import numpy as np

    found = _RUN.findall(data)
    lines = data.count(b"\n")
    if len(found) == lines and data.count(START) == lines:
        text = b",".join(found).translate(_RUN_NUMBERS, _RUN_DELETE)
        table = np.fromstring(text, np.int64, sep=" ")
        return Runs(*table.reshape(-1, len(Runs._fields)).T)
    read = [(run.partition, run.offset, run.session, run.member, run.generation,
             1 if run.charged else 0) for run in map(decode, data.splitlines())]  # fmt: skip
    return Runs(*np.array(read, np.int64).reshape(-1, len(Runs._fields)).T)
