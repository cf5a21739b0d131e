"""The producer log: one JSON line per attempt and per delivery report, appended by the producer.

Attempts are logged before the records are handed to the client, acknowledgements as they arrive;
the journal makes each append survive a SIGKILL of the producer. The audit reads it back whole.
Attempt and ack lines, written once per record, are formatted directly; they read back as
ProducerEvent like every other line (order ids are plain ASCII, see orders.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from playground.engine.journal import read_lines
from playground.engine.records import ACK, ATTEMPT, ProducerEvent


def attempt_line(order_id: str, session: int) -> str:
    return f'{{"kind":"{ATTEMPT}","order_id":"{order_id}","session":{session}}}'


def ack_line(order_id: str, session: int, partition: int, offset: int) -> str:
    return (
        f'{{"kind":"{ACK}","order_id":"{order_id}","session":{session},'
        f'"partition":{partition},"offset":{offset}}}'
    )


def read_producer_log(path: Path) -> Iterator[ProducerEvent]:
    """Every complete event in the log (a line cut short by a crash is ignored)."""
    for line in read_lines(path):
        yield ProducerEvent.from_json(line)
