"""The workload's source: order n has a fixed id and amount, so any producer session can re-create
exactly the records of an earlier one."""

from __future__ import annotations

import json
import re


def order_id(index: int) -> str:
    return f"order-{index:07d}"


def order_key(index: int) -> bytes:
    """The record's key: the order id, encoded (the producer builds one per record)."""
    return b"order-%07d" % index


def order_index(order: str) -> int:
    return int(order.removeprefix("order-"))


_WORKLOAD_ID = re.compile(rb"order-([0-9]{7})")


def workload_number(order_id: bytes) -> int:
    """The number of an id in the workload's form (order_id's, exactly), -1 for any other id."""
    workload = _WORKLOAD_ID.fullmatch(order_id)
    return -1 if workload is None else int(workload[1])


def amount_cents(index: int) -> int:
    """A deterministic amount between 1.00 and 99.99."""
    return 100 + (index * 7919) % 9900


_VALUE = b'{"order_id":"%s","amount_cents":%d}'


def order_value(index: int) -> bytes:
    """The record's value: the order as JSON (formatted directly: it is built once per record)."""
    return _VALUE % (order_key(index), amount_cents(index))


def order_records(start: int, stop: int) -> tuple[list[bytes], list[bytes]]:
    """The keys and the values of orders start..stop-1 (order_key and order_value of each)."""
    keys = [b"order-%07d" % index for index in range(start, stop)]
    return keys, [_VALUE % (key, amount_cents(i)) for i, key in enumerate(keys, start)]


_DECODER = json.JSONDecoder()


def parse_order(value: bytes) -> dict:
    # The decoder directly, on str: json.loads would sniff the encoding of every record first.
    return _DECODER.decode(value.decode())


# A value exactly as order_value writes it, with an order id of plain ASCII that JSON needs no
# escape for. For such a value, json gives the id as these very characters and the amount as this
# very integer (no sign, no leading zero, no fraction), so the hot path can skip the decoder;
# anything else goes through parse_order.
ORDER_VALUE = re.compile(rb'\{"order_id":"([!#-\[\]-~]+)","amount_cents":(0|[1-9][0-9]*)\}')
