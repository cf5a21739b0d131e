"""The verdict's per-order audit table: every order's story, paged, filtered to an anomaly; and
one order's story, found by its id, for the picture of its sequence. Both read the experiment's
story book (engine/audit/story_book.py) a page at a time."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import duckdb

from playground.engine.audit import story_book
from playground.engine.audit.outcomes import (
    ANOMALY_ABORTED,
    ANOMALY_CONDITIONS,
    ANOMALY_KINDS,
    OrderStory,
)
from playground.engine.audit.story_book import StoryBook
from playground.web.models import Experiment
from playground.web.runs.folders import legacy_stories_file, stories_folder

log = logging.getLogger(__name__)

PAGE_SIZE = 50
# What an order id may look like in a link: the characters the workload's ids are made of, as
# orders.ORDER_VALUE reads them (printable ASCII, no quote or backslash), and not too long.
ORDER_ID = re.compile(r"[!#-\[\]-~]{1,120}")
# The table's filters: every story, every anomaly, or one of the audit's anomaly kinds, each
# named by its kind unless its words are here.
_ANOMALY_WORDS = {ANOMALY_ABORTED: "aborted reads"}
FILTERS = {
    story_book.ALL: "all orders",
    story_book.ANOMALIES: "every anomaly",
    **{kind: _ANOMALY_WORDS.get(kind, kind) for kind in ANOMALY_KINDS},
}


class BadQuery(ValueError):
    """A filter, page or order id the table does not have; the message names the parameter."""


class UnknownOrder(LookupError):
    """An order id that is well formed but has no story in this experiment."""


@dataclass(frozen=True)
class Page:
    stories: list[dict]  # each as stored: OrderStory.to_json() and its anomaly "kinds"
    number: int
    pages: int
    total: int
    filter: str

    @property
    def rows(self) -> list[dict]:
        """The stories as the audit table shows them."""
        return [_row(story) for story in self.stories]

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
    book = _book(experiment)
    total = book.count(filter_name) if book else 0
    pages = max(1, -(-total // PAGE_SIZE))
    if not 1 <= number <= pages:
        raise BadQuery(f"page: {number} is out of range (1 to {pages})")
    start = (number - 1) * PAGE_SIZE
    stories = book.page(filter_name, start, start + PAGE_SIZE) if book else []
    return Page([_stored(story) for story in stories], number, pages, total, filter_name)


def story(experiment: Experiment, order_id: str) -> dict:
    """The stored story of one order id."""
    if not ORDER_ID.fullmatch(order_id):
        raise BadQuery(
            f"order: {order_id[:40]!r} is not an order id; it is 1 to 120 printable ASCII "
            "characters without spaces, quotes or backslashes, such as 'order-0000042'"
        )
    book = _book(experiment)
    found = book.get(order_id) if book else None
    if found is None:
        raise UnknownOrder(f"order: {order_id!r} has no story in this experiment")
    return _stored(found)


def _book(experiment: Experiment) -> StoryBook | None:
    """The experiment's story book (converted once from the stories.jsonl of an experiment
    audited before there were books); None when it kept no stories."""
    folder = stories_folder(experiment.run_id)
    if not folder.exists():
        legacy = legacy_stories_file(experiment.run_id)
        if not legacy.exists():
            return None
        try:
            story_book.convert_legacy(legacy, folder, ANOMALY_CONDITIONS)
        except (ValueError, KeyError, TypeError, duckdb.Error) as error:
            log.warning("experiment %s: stories.jsonl unreadable: %s", experiment.run_id, error)
            return None
    return StoryBook(folder)


def _stored(story: OrderStory) -> dict:
    """A story as the pages read it: its JSON, and its anomaly kinds."""
    return story.to_json() | {"kinds": list(story.anomaly_kinds)}


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
