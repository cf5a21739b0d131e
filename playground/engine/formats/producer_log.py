"""The producer log's format: one JSON line per attempt and per delivery report.

The producer appends it through a journal (journal.py), attempts before the records are handed to
the client, acknowledgements as they arrive. Every line is laid out by the byte templates below,
fields in this order: kind, order_id, session, then an attempt's at_ms (wall-clock ms when it was
logged), an ack's partition and offset, a failure's error. Order ids are JSON-escaped, so the
workload's ids (plain ASCII, see orders.py) are written as they are.

Readers: decode() (a whole line, any valid JSON with these fields), read() (a whole log),
live_events() (the live tally: each line's kind and order number), acks() (the log strip: the
acknowledged positions), DUCKDB_ROWS (the audit's table function). A line no writer writes (an
unknown kind, no order id, an ack that does not say where it was written, a field it never has)
is refused with a ValueError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from playground.engine.audit.records import (
    ACK,
    ATTEMPT,
    FAIL,
    PRODUCER_EVENT_KINDS,
    SENT,
    ProducerEvent,
)
from playground.engine.formats.journal import read_lines

if TYPE_CHECKING:
    import numpy as np

# The lines, newline included. % (order id as escaped bytes, session, ...).
ATTEMPT_LINE = b'{"kind":"attempt","order_id":"%s","session":%d,"at_ms":%d}\n'
ACK_LINE = b'{"kind":"ack","order_id":"%s","session":%d,"partition":%d,"offset":%d}\n'
SENT_LINE = b'{"kind":"sent","order_id":"%s","session":%d}\n'
FAIL_LINE = b'{"kind":"fail","order_id":"%s","session":%d,"error":%s}\n'  # error: a JSON string
_TEMPLATES = {ATTEMPT: ATTEMPT_LINE, ACK: ACK_LINE, SENT: SENT_LINE, FAIL: FAIL_LINE}
# How a line of each kind begins, up to its order id.
STARTS = {kind: line[: line.index(b"%s")] for kind, line in _TEMPLATES.items()}

# The live tally reads attempt, ack and "sent" lines by position, telling them apart by the
# line's 11th byte (the kind's second letter); any other line sends a read to decode().
_FAST_KINDS = {ord(kind[1]): kind for kind in (ATTEMPT, ACK, SENT)}
# An ack line as ACK_LINE writes it: its numbers (session, partition, offset) in one group, so
# that findall makes one bytes object per line, never a tuple.
_ACK = re.compile(rb'"kind":"ack","order_id":"[^"]*","session":(\d+,"partition":\d+,'
                  rb'"offset":\d+)\}')  # fmt: skip

# The fields the audit reads, as DuckDB's read_json takes a line of the log at $path (a field a
# line leaves out reads as NULL, which the audit refuses: record_tables.check_producer_events).
DUCKDB_ROWS = (
    "read_json($path, format='newline_delimited', columns={'kind': 'VARCHAR', "
    "'order_id': 'VARCHAR', 'session': 'INTEGER', 'partition': 'INTEGER', 'offset': 'BIGINT'})"
)


def escaped(order_id: str) -> bytes:
    """An order id as it stands between the quotes of a line (JSON-escaped: the workload's ids
    are written as they are)."""
    return json.dumps(order_id)[1:-1].encode()


def attempt_lines(keys: list[bytes], session: int, at_ms: int) -> bytes:
    """The attempt lines of the records keyed `keys` (order ids of plain ASCII, as bytes)."""
    return b"".join([ATTEMPT_LINE % (key, session, at_ms) for key in keys])


def line(event: ProducerEvent) -> bytes:
    """The line of `event` (the templates' general form: any order id, any kind)."""
    order_id = escaped(event.order_id)
    if event.kind == ATTEMPT:
        return ATTEMPT_LINE % (order_id, event.session, event.at_ms)
    if event.kind == ACK:
        return ACK_LINE % (order_id, event.session, event.partition, event.offset)
    if event.kind == SENT:
        return SENT_LINE % (order_id, event.session)
    return FAIL_LINE % (order_id, event.session, json.dumps(event.error or "").encode())


def decode(line: str | bytes) -> ProducerEvent:
    """The event a line describes; ValueError for a line no writer writes."""
    try:
        fields = json.loads(line)
        return ProducerEvent(**fields)
    except (TypeError, ValueError) as refused:
        raise ValueError(f"producer log: a line the producer never writes: {line!r} "
                         f"({refused})") from None  # fmt: skip


def read(path: Path) -> Iterator[ProducerEvent]:
    """Every complete event in the log (a line cut short by a crash is ignored)."""
    for complete in read_lines(path):
        yield decode(complete)


def _begin_as_written(data: bytes) -> bool:
    """Whether every line of `data` begins as one of the templates (a C-speed count: a start
    never occurs inside a line, where quotes are escaped)."""
    return sum(data.count(start) for start in STARTS.values()) == data.count(b"\n")


def live_events(data: bytes) -> tuple[np.ndarray, np.ndarray, list[ProducerEvent]]:
    """For complete lines of the log: the kind (an index in PRODUCER_EVENT_KINDS) and order
    number (orders.order_id's) of every line with an id in the workload's form, and every other
    line decoded. When each line begins as an attempt, an ack or a "sent" line and is long enough
    for a workload id, only its kind and id are read, by position; what follows them is the
    audit's and the strip's to check. Otherwise every line is decoded."""
    import numpy as np

    from playground.engine.formats import columns

    if not data:
        return np.zeros(0, np.int8), np.zeros(0, np.int64), []
    raw = np.frombuffer(data, np.uint8)
    starts, ends = columns.line_bounds(raw)
    second = raw[np.minimum(starts + 10, len(raw) - 1)]
    kinds = np.full(len(starts), -1, np.int8)
    id_at = np.zeros(len(starts), np.int64)
    for letter, kind in _FAST_KINDS.items():
        mine = np.flatnonzero(second == letter)
        if not len(mine):
            continue
        start = np.frombuffer(STARTS[kind], np.uint8)
        if (ends[mine] - starts[mine] < len(start) + columns.WORKLOAD_ID_LENGTH + 1).any():
            kinds[:] = -1
            break
        if not (raw[starts[mine, None] + np.arange(len(start), dtype=np.int32)] == start).all():
            kinds[:] = -1
            break
        kinds[mine] = PRODUCER_EVENT_KINDS.index(kind)
        id_at[mine] = starts[mine] + len(start)
    if (kinds < 0).any():  # a line the fast form does not read: decode them all
        return np.zeros(0, np.int8), np.zeros(0, np.int64), list(map(decode, data.splitlines()))
    numbers = columns.workload_numbers(raw, id_at)
    workload = numbers >= 0
    others = [decode(data[start : data.index(b"\n", start)])  # ids in another form: rare
              for start in starts[~workload].tolist()]  # fmt: skip
    return kinds[workload], numbers[workload], others


def acks(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sessions, partitions, offsets) of the ack lines among complete lines of the log, in
    order: read with one regular expression when every line is laid out as written, else from
    every line decoded."""
    import numpy as np

    from playground.engine.formats import columns

    found = _ACK.findall(data)
    if len(found) == data.count(STARTS[ACK]) and _begin_as_written(data):
        sessions, partitions, offsets = columns.numbers(found, 3).T
        return sessions, partitions, offsets
    read = [(e.session, e.partition, e.offset) for e in map(decode, data.splitlines())
            if e.kind == ACK]  # fmt: skip
    sessions, partitions, offsets = np.array(read, np.int64).reshape(-1, 3).T
    return sessions, partitions, offsets
