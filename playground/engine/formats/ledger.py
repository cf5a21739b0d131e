"""The ledger's format: one JSON line per run of the side-effect consumer's handler.

The sink (sink.py) appends the lines through a journal. Every line is laid out by LINE, every
field present, in this order: the order id (JSON-escaped: the workload's ids are written as they
are), its amount, the input copy handled (partition, offset), the consumer session that ran the
handler, whether it charged the order (false: the idempotent consumer recognised the id and
skipped the charge), when the record was produced and when the handler ran (epoch ms).

Readers: decode() (a whole line, any valid JSON with exactly these fields), read() (a whole
ledger), charges() (the live tally), runs() (the log strip), DUCKDB_ROWS (the audit's table
function). A line no writer writes is refused with a ValueError.
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
# session, CHARGED[charged], produced_at_ms, processed_at_ms).
LINE = (
    b'{"order_id":"%s","amount_cents":%d,"partition":%d,"offset":%d,"session":%d,'
    b'"charged":%s,"produced_at_ms":%d,"processed_at_ms":%d}\n'
)
CHARGED = {True: b"true", False: b"false"}
START = LINE[: LINE.index(b"%s")]  # how every line begins, up to its order id


class LedgerLine(NamedTuple):
    """One line of the ledger, decoded: the fields in the order LINE writes them."""

    order_id: str
    amount_cents: int
    partition: int
    offset: int
    session: int
    charged: bool
    produced_at_ms: int
    processed_at_ms: int


_INT = rb"-?(?:0|[1-9][0-9]*)"
# A whole line as LINE writes it, for an order id JSON needs no escape for (orders.ORDER_VALUE's
# ids): the group is "t" for a charge, empty when the run was deduplicated (one group of one
# byte at most: findall gives shared empty and one-byte objects).
_LINE = re.compile(
    rb'^\{"order_id":"[!#-\[\]-~]+","amount_cents":' + _INT + rb',"partition":' + _INT
    + rb',"offset":' + _INT + rb',"session":' + _INT + rb',"charged":(?:(t)rue|false),'
    + rb'"produced_at_ms":' + _INT + rb',"processed_at_ms":' + _INT + rb"\}$",
    re.MULTILINE,
)  # fmt: skip
# The numbers the strip reads (partition, offset, session, charged), in one group.
_RUN = re.compile(rb'"partition":(\d+,"offset":\d+,"session":\d+,"charged":(?:true|false))')

# The fields the audit reads, and their types, as DuckDB's read_json takes a line of the ledger at
# $path (a field a line leaves out reads as NULL, which the audit refuses: record_tables).
DUCKDB_FIELDS = {
    "order_id": "VARCHAR", "partition": "INTEGER", "offset": "BIGINT", "session": "INTEGER",
    "charged": "BOOLEAN", "produced_at_ms": "BIGINT", "processed_at_ms": "BIGINT",
}  # fmt: skip
_COLUMNS = ", ".join(f"'{field}': '{kind}'" for field, kind in DUCKDB_FIELDS.items())
DUCKDB_ROWS = f"read_json($path, format='newline_delimited', columns={{{_COLUMNS}}})"


def line(run: LedgerLine) -> bytes:
    """The line of `run` (LINE's general form: any order id)."""
    return LINE % (
        json.dumps(run.order_id)[1:-1].encode(), run.amount_cents, run.partition, run.offset,
        run.session, CHARGED[run.charged], run.produced_at_ms, run.processed_at_ms,
    )  # fmt: skip


def decode(line: str | bytes) -> LedgerLine:
    """The handler run a line records; ValueError for a line no writer writes."""
    try:
        return LedgerLine(**json.loads(line))
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

    lines = data.count(b"\n")
    found = _LINE.findall(data) if lines else []
    if len(found) != lines or not lines:
        charged = [run.order_id for run in map(decode, data.splitlines()) if run.charged]
        return lines, np.zeros(0, np.int64), charged
    raw = np.frombuffer(data, np.uint8)
    starts, _ = columns.line_bounds(raw)
    charged = np.fromiter(map(len, found), np.uint8, count=lines).astype(bool)
    numbers = columns.workload_numbers(raw, starts[charged] + len(START))
    workload = numbers >= 0
    others = [decode(data[start : data.index(b"\n", start)]).order_id  # another form: rare
              for start in starts[charged][~workload].tolist()]  # fmt: skip
    return lines, numbers[workload], others


def runs(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(partitions, offsets, sessions, charged as 1 or 0) of complete lines of the ledger, in
    order: read with one regular expression when every line is laid out as written, else from
    every line decoded."""
    import numpy as np

    from playground.engine.formats import columns

    found = _RUN.findall(data)
    lines = data.count(b"\n")
    if len(found) == lines and data.count(START) == lines:
        text = b" ".join(found).replace(b"true", b"1").replace(b"false", b"0")
        partitions, offsets, sessions, charged = columns.numbers([text], 4).T
        return partitions, offsets, sessions, charged
    read = [(run.partition, run.offset, run.session, 1 if run.charged else 0)
            for run in map(decode, data.splitlines())]  # fmt: skip
    partitions, offsets, sessions, charged = np.array(read, np.int64).reshape(-1, 4).T
    return partitions, offsets, sessions, charged
