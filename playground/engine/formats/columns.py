"""Columns of numbers out of the raw records' lines, in C: the fast readers' shared tools.

The formats' fast readers find the numbers of many lines with one regular expression and turn
them into numpy arrays here, never with a Python loop per line.
"""

from __future__ import annotations

import numpy as np

from playground.engine import orders

# Every byte but a digit becomes a space (bytes.translate: a table lookup per byte, in C).
_DIGITS_ONLY = bytes(c if c in b"0123456789" else ord(" ") for c in range(256))
# A workload's order id (orders.order_key): a prefix, then a fixed number of digits.
_PREFIX = np.frombuffer(orders.order_key(0).rstrip(b"0"), np.uint8)
_DIGITS = len(orders.order_key(0)) - len(_PREFIX)
_PLACES = 10 ** np.arange(_DIGITS - 1, -1, -1, dtype=np.int64)
WORKLOAD_ID_LENGTH = len(orders.order_key(0))


def numbers(found: list[bytes], columns: int) -> np.ndarray:
    """The unsigned decimal numbers in each of `found`, `columns` of them in each, as rows."""
    text = b" ".join(found).translate(_DIGITS_ONLY)
    return np.fromstring(text, np.int64, sep=" ").reshape(-1, columns)


def line_bounds(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each line of `data` (complete lines, as bytes) starts, and where its newline is."""
    ends = np.flatnonzero(data == ord("\n"))
    return np.concatenate(([0], ends[:-1] + 1)), ends


def workload_numbers(data: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The order number of the id starting at each of `at` in `data` (the bytes of lines already
    checked to hold an id of at least one character, then a quote), or -1 where it is not in the
    workload's form (orders.order_id: the prefix and exactly 7 digits)."""
    window = data[at[:, None] + np.arange(WORKLOAD_ID_LENGTH + 1)]
    digits = window[:, len(_PREFIX) : WORKLOAD_ID_LENGTH].astype(np.int64) - ord("0")
    workload = (
        (window[:, : len(_PREFIX)] == _PREFIX).all(axis=1)
        & ((digits >= 0) & (digits <= 9)).all(axis=1)
        & (window[:, WORKLOAD_ID_LENGTH] == ord('"'))
    )
    return np.where(workload, digits @ _PLACES, -1)
