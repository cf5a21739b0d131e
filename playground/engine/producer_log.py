"""The producer log: one JSON line per attempt and per delivery report, appended by the producer.

Attempts are logged before the records are handed to the client, acknowledgements as they arrive;
the journal makes each append survive a SIGKILL of the producer. The audit reads it back whole.
Attempt and ack lines, written once per record, are formatted directly, as bytes; they read back
as ProducerEvent like every other line (order ids are plain ASCII, see orders.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from playground.engine.journal import read_lines
from playground.engine.records import ACK, ATTEMPT, SENT, ProducerEvent

# The line (newline included) of an attempt: % (order id as bytes, session, wall-clock ms).
ATTEMPT_LINE = b'{"kind":"%s","order_id":"%%s","session":%%d,"at_ms":%%d}\n' % ATTEMPT.encode()
# The line of an acknowledgement: % (order id as bytes, session, partition, offset).
ACK_LINE = (
    b'{"kind":"%s","order_id":"%%s","session":%%d,"partition":%%d,"offset":%%d}\n' % ACK.encode()
)


def attempt_line(order_id: str, session: int, at_ms: int) -> str:
    return (ATTEMPT_LINE % (order_id.encode(), session, at_ms)).decode()[:-1]


def ack_line(order_id: str, session: int, partition: int, offset: int) -> str:
    return (ACK_LINE % (order_id.encode(), session, partition, offset)).decode()[:-1]


def read_producer_log(path: Path) -> Iterator[ProducerEvent]:
    """Every complete event in the log (a line cut short by a crash is ignored)."""
    for line in read_lines(path):
        yield ProducerEvent.from_json(line)


_INT = rb"-?(?:0|[1-9][0-9]*)"
# A whole line of the log as attempt_line, ack_line or a "sent" ProducerEvent writes it, with an
# order id of plain ASCII that JSON needs no escape for (see orders.ORDER_VALUE): groups kind,
# order id, and the partition and offset (an ack must have them). Any other line, a "fail" one for
# instance, is read with ProducerEvent.from_json.
_EVENT_LINE = re.compile(
    rb'^\{"kind":"(attempt|sent|ack)","order_id":"([!#-\[\]-~]+)","session":' + _INT
    + rb'(?:,"at_ms":' + _INT + rb')?(,"partition":' + _INT + rb',"offset":' + _INT + rb")?\}$",
    re.MULTILINE,
)  # fmt: skip


_KINDS = {b"attempt": ATTEMPT, b"sent": SENT, b"ack": ACK}


def kinds_and_ids(data: bytes) -> list[tuple[str, bytes]]:
    """(kind, order id encoded) of every line of `data` (complete lines of the log): what live
    tallies need, without decoding JSON for the lines attempt_line and ack_line write."""
    found = _EVENT_LINE.findall(data)
    # Each match is one whole line (no group can hold a newline); if every line matched, and
    # every ack has its partition and offset, these are the events ProducerEvent would read.
    if len(found) == data.count(b"\n") and all(kind != b"ack" or at for kind, _, at in found):
        return [(_KINDS[kind], order_id) for kind, order_id, _ in found]
    events = []
    for line in data.splitlines():
        event = ProducerEvent.from_json(line)
        events.append((event.kind, event.order_id.encode()))
    return events
