"""The verdict's per-order audit table: every order's story, paged, filtered to an anomaly; and
one order's story, found by its id, for the picture of its sequence."""

from __future__ import annotations

import bisect
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from playground.web.folders import stories_file
from playground.web.models import Experiment

PAGE_SIZE = 50
# What an order id may look like in a link: the characters the workload's ids are made of, as
# orders.ORDER_VALUE reads them (printable ASCII, no quote or backslash), and not too long.
ORDER_ID = re.compile(r"[!#-\[\]-~]{1,120}")
FILTERS = {
    "": "all orders",
    "anomalies": "every anomaly",
    "lost": "lost",
    "duplicated": "duplicated",
    "aborted": "aborted reads",
}


class BadQuery(ValueError):
    """A filter, page or order id the table does not have; the message names the parameter."""


class UnknownOrder(LookupError):
    """An order id that is well formed but has no story in this experiment."""


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    number: int
    pages: int
    total: int
    filter: str

    @property
    def filters(self) -> dict[str, str]:
        return FILTERS

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def page(experiment: Experiment, filter_name: str, page_text: str) -> Page:
    if filter_name not in FILTERS:
        raise BadQuery(f"filter: {filter_name!r} is not a filter; allowed: " + ", ".join(
            repr(name) for name in FILTERS))  # fmt: skip
    try:
        number = int(page_text)
    except ValueError:
        raise BadQuery(f"page: {page_text!r} is not a page number") from None
    lines, index = _load(stories_file(experiment.run_id))
    chosen = index[filter_name]
    pages = max(1, -(-len(chosen) // PAGE_SIZE))
    if not 1 <= number <= pages:
        raise BadQuery(f"page: {number} is out of range (1 to {pages})")
    start = (number - 1) * PAGE_SIZE
    rows = [_row(json.loads(lines[i])) for i in chosen[start : start + PAGE_SIZE]]
    return Page(rows, number, pages, len(chosen), filter_name)


def story(experiment: Experiment, order_id: str) -> dict:
    """The stored story of one order id (the stories are sorted by order id: a binary search)."""
    if not ORDER_ID.fullmatch(order_id):
        raise BadQuery(
            f"order: {order_id[:40]!r} is not an order id; it is 1 to 120 printable ASCII "
            "characters without spaces, quotes or backslashes, such as 'order-0000042'"
        )
    lines, _ = _load(stories_file(experiment.run_id))
    at = bisect.bisect_left(lines, order_id, key=_order_id_of)
    if at < len(lines) and _order_id_of(lines[at]) == order_id:
        return json.loads(lines[at])
    raise UnknownOrder(f"order: {order_id!r} has no story in this experiment")


def _order_id_of(line: str) -> str:
    return json.loads(line)["order_id"]


@functools.lru_cache(maxsize=2)
def _load(path: Path) -> tuple[list[str], dict[str, list[int]]]:
    """The story lines of one experiment and, per filter, the lines it shows."""
    lines = path.read_text().splitlines() if path.exists() else []
    index: dict[str, list[int]] = {name: [] for name in FILTERS}
    for number, line in enumerate(lines):
        index[""].append(number)
        kinds = json.loads(line[line.rindex('"kinds":') + 8 : -1])
        if kinds:
            index["anomalies"].append(number)
        for kind in kinds:
            if kind in index:
                index[kind].append(number)
    return lines, index


def _row(story: dict) -> dict:
    """A story as the table tells it: sent, acked where, in the log how often, processed how
    often, and the outcome."""
    return story | {
        # An ack is [partition, offset, session]; stories kept before sessions were a pair.
        "acked": ", ".join(f"p{ack[0]}@{ack[1]}" for ack in story["acked_at"]) or "-",
        "copies": ", ".join(
            f"p{p}@{o}{'' if committed else ' (aborted)'}"
            for p, o, committed in story["log_copies"]
        )
        or "-",
        "in_log": len(story["log_copies"]),
    }
