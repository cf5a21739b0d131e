"""The workload's source: order n has a fixed id and amount, so any producer session can re-create
exactly the records of an earlier one."""

from __future__ import annotations

import json


def order_id(index: int) -> str:
    return f"order-{index:07d}"


def order_index(order: str) -> int:
    return int(order.removeprefix("order-"))


def amount_cents(index: int) -> int:
    """A deterministic amount between 1.00 and 99.99."""
    return 100 + (index * 7919) % 9900


def order_value(index: int) -> bytes:
    """The record's value: the order as JSON (formatted directly: it is built once per record)."""
    return f'{{"order_id":"{order_id(index)}","amount_cents":{amount_cents(index)}}}'.encode()


_DECODER = json.JSONDecoder()


def parse_order(value: bytes) -> dict:
    # The decoder directly, on str: json.loads would sniff the encoding of every record first.
    return _DECODER.decode(value.decode())
