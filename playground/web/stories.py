"""The verdict's per-order audit table: every order's story, paged, filtered to an anomaly."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from playground.web.folders import stories_file
from playground.web.models import Experiment

PAGE_SIZE = 50
FILTERS = {
    "": "all orders",
    "anomalies": "every anomaly",
    "lost": "lost",
    "duplicated": "duplicated",
    "aborted": "aborted reads",
}


class BadQuery(ValueError):
    """A filter or page the table does not have; the message names the parameter."""


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
        "acked": ", ".join(f"p{p}@{o}" for p, o in story["acked_at"]) or "-",
        "copies": ", ".join(
            f"p{p}@{o}{'' if committed else ' (aborted)'}"
            for p, o, committed in story["log_copies"]
        )
        or "-",
        "in_log": len(story["log_copies"]),
    }
