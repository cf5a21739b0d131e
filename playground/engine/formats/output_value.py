"""The Kafka-to-Kafka output value's format: a running total, and the input copy it came from.

The transformer (workers/handlers.py) writes one record to the output topic per input record it
handles: the order, its partition's running total, the input copy it handled (partition, offset,
the copy's timestamp), the consumer session that handled it, the group member that session was
and the group generation it held (-1: none). The value is json.dumps of these fields, in this
order (a value from before sessions were recorded has none of the last three; one from before
members were recorded, no member and no generation: each reads as None).

Readers: decode() (a whole value), source() (the log strip: where a value came from, without
decoding it), DUCKDB_STRUCT (the audit's from_json). decode() refuses a value no writer writes
with a ValueError; the audit refuses one without an order id. source() answers None for a value
it cannot place: the strip reads the output in a child process whose batch, once read, is not
read again, so a refusal there would lose the batch's picture, not just the odd value.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple


class OutputValue(NamedTuple):
    """One output record's value, decoded: the fields in the order value() writes them."""

    order_id: str
    amount_cents: int
    total_cents: int
    source_partition: int
    source_offset: int
    source_timestamp_ms: int
    session: int | None = None  # the consumer session that wrote it; None: not recorded
    member: int | None = None  # the group member that session was; None: not recorded
    generation: int | None = None  # the group generation it held (-1: none); None: not recorded


# Where a value came from, as json.dumps lays it out (spaces tolerated either way).
_SOURCE = re.compile(rb'"source_partition": ?(\d+), ?"source_offset": ?(\d+)')
_SESSION = re.compile(rb'"session": ?(\d+)')
_MEMBER = re.compile(rb'"member": ?(\d+)')

# The fields the audit reads, as DuckDB's from_json takes a value (a field a value leaves out
# reads as NULL: a session, member or generation, for a value from before they were recorded).
DUCKDB_STRUCT = (
    """'{"order_id": "VARCHAR", "source_partition": "INTEGER", "source_offset": "BIGINT", """
    """"session": "INTEGER", "source_timestamp_ms": "BIGINT", "member": "INTEGER", """
    """"generation": "INTEGER"}'"""
)


def value(total: OutputValue) -> bytes:
    """The value of one output record."""
    return json.dumps(total._asdict()).encode()


def decode(value: bytes) -> OutputValue:
    """The fields of an output value; ValueError for a value no writer writes."""
    try:
        return OutputValue(**json.loads(value))
    except (TypeError, ValueError) as refused:
        raise ValueError(
            f"output topic: a value the transformer never writes: {value!r} ({refused})"
        ) from None


def source(value: bytes) -> tuple[int, int, int, int] | None:
    """(partition, offset, session, member) of the input copy a value came from and the group
    member that handled it (session and member -1: not recorded), or None for a value that does
    not say."""
    found = _SOURCE.search(value)
    if found is None:
        return None
    session, member = _SESSION.search(value), _MEMBER.search(value)
    return (
        int(found[1]),
        int(found[2]),
        int(session[1]) if session else -1,
        int(member[1]) if member else -1,
    )
