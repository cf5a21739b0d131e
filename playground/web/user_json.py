"""JSON text to and from users: the one reader of JSON a person typed, pasted, linked or posted,
and the one writer of JSON shown to them.

`parse` turns every way such text can fail into one error, `NotJson`, whose message says what is
wrong in words a user can act on; the caller names the field. Python's own failures are of four
kinds (JSONDecodeError; a plain ValueError for an integer longer than Python will convert;
RecursionError for deep nesting; UnicodeDecodeError for bytes that are not UTF-8), and a view that
catches only the first gives a 500 for the rest. `parse` also refuses what the JSON standard does
not allow although Python reads it (NaN, Infinity, numbers beyond a float's range), and values
nested deeper than any spec, so nothing after it meets them.

Lone surrogates: raw ones in the text are not UTF-8 text and are refused here; escaped ones
(`"\\ud800"`) are valid JSON, so they reach the spec, whose error names the field that holds one.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

# A spec nests four levels (spec -> faults -> fault -> at); this leaves room and refuses absurd
# documents before anything recursive (validation, storage, rendering) walks them.
MAX_DEPTH = 32


class NotJson(ValueError):
    """Text that is not a JSON document this app can read; the message says why."""


def parse(text: str | bytes) -> Any:
    """The JSON value of `text` (bytes must be UTF-8); NotJson saying what is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotJson(
                f"not UTF-8 text: byte 0x{text[error.start]:02x} at position {error.start}"
            ) from None
    _refuse_lone_surrogates(text)
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise NotJson(f"not a JSON document: {error}") from None
    except RecursionError:
        raise NotJson(_too_deep()) from None
    except NotJson:
        raise
    except ValueError:  # int() refusing a number longer than sys.get_int_max_str_digits()
        raise NotJson(
            f"not a JSON document: a number has more than {sys.get_int_max_str_digits()} digits"
        ) from None
    if _depth(value) > MAX_DEPTH:
        raise NotJson(_too_deep())
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """`value` as JSON text for people: non-ASCII written as itself, so a name reads as typed. A
    string that UTF-8 cannot carry (a lone surrogate in a spec stored before the spec refused
    them) makes the whole text fall back to \\u escapes, so a page or link holding it still
    renders, and still parses back to the same value."""
    separators = (",", ":") if indent is None else (",", ": ")
    text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=indent, separators=separators)
    return text


def _refuse_lone_surrogates(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise NotJson(
            f"not UTF-8 text: a lone surrogate U+{ord(text[error.start]):04X} "
            f"at position {error.start}"
        ) from None


def _refuse_constant(name: str) -> None:
    raise NotJson(f"not a JSON document: {name} is not a JSON number")


def _finite_float(digits: str) -> float:
    number = float(digits)
    if not math.isfinite(number):
        shown = digits if len(digits) <= 20 else f"{digits[:20]}…"
        raise NotJson(f"not a JSON document: the number {shown} is too large")
    return number


def _too_deep() -> str:
    return f"not a JSON document: nested too deeply (over {MAX_DEPTH} levels; a spec has 4)"


def _depth(value: Any) -> int:
    """How deeply `value` nests arrays and objects (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
