"""The producer log: one JSON line per attempt and per delivery report, appended by the producer.

Attempts are logged before the records are handed to the client, acknowledgements as they arrive;
the journal makes each append survive a SIGKILL of the producer. The audit reads it back whole.
Attempt and ack lines, written once per record, are formatted directly, as bytes; they read back
as ProducerEvent like every other line (order ids are plain ASCII, see orders.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from playground.engine.journal import read_lines
from playground.engine.records import ACK, ATTEMPT, ProducerEvent

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
