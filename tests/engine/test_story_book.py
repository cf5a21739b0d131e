"""The story book: every order's story as the audit wrote it to disk, read back a page at a time,
told exactly as the raw records tell it."""

from __future__ import annotations

import json
import random

import pytest

from playground.engine.audit import story_book
from playground.engine.audit.outcomes import ANOMALY_CONDITIONS
from playground.engine.audit.reckoning import audit
from playground.engine.audit.records import Effect, HandlerRun, LogCopy, ProducerEvent
from playground.engine.audit.story_book import ALL, ANOMALIES, StoryBook
from tests.conftest import random_cases
from tests.engine.test_audit import random_run

TIES = {"counted": 0, "aborted": 1, "deduplicated": 2}


def naive_lists(order_id, producer_log, kafka_log, effects, runs, view):
    """An order's story lists, by their definitions, straight from the records."""
    events = [e for e in producer_log if e.order_id == order_id]
    sessions = tuple(sorted({e.session for e in events if e.kind == "attempt"}))
    acked_at = tuple(sorted((e.partition, e.offset, e.session) for e in events if e.kind == "ack"))
    log_copies = tuple(
        sorted((c.partition, c.offset, c.committed) for c in kafka_log if c.order_id == order_id)
    )
    done = [e for e in effects if e.order_id == order_id]
    counted = [
        (e.source_partition, e.source_offset) for e in done if e.committed or view == "uncommitted"
    ]
    effect_sources = tuple(sorted((p, o, counted.count((p, o))) for p, o in set(counted)))
    steps = [
        (
            e.source_partition,
            e.source_offset,
            e.session,
            "counted" if e.committed or view == "uncommitted" else "aborted",
        )
        for e in done
    ]
    steps += [
        (r.source_partition, r.source_offset, r.session, "deduplicated")
        for r in runs
        if r.order_id == order_id and r.deduplicated
    ]
    steps.sort(key=lambda s: (-1 if s[2] is None else s[2], s[0], s[1], TIES[s[3]]))
    return sessions, acked_at, log_copies, effect_sources, tuple(steps)


@pytest.mark.parametrize("seed", range(random_cases(60)))
def test_every_story_in_the_book_tells_what_the_records_say(seed):
    records = random_run(random.Random(seed))
    for isolation, view in (("read_committed", "committed"), ("read_uncommitted", "uncommitted")):
        result = audit(*records, consumer_isolation=isolation, effects_view=view)
        for story in result.orders.values():
            told = (
                story.sessions,
                story.acked_at,
                story.log_copies,
                story.effect_sources,
                story.processings,
            )
            assert told == naive_lists(story.order_id, *records, view), story.order_id
            assert story.attempts == sum(
                1 for e in records[0] if e.order_id == story.order_id and e.kind == "attempt"
            )
            assert story.effects == sum(n for _, _, n in story.effect_sources)
            counts = (story.attempts, story.visible_copies, story.effects, story.handler_runs,
                      story.deduplicated, story.aborted_reads)  # fmt: skip
            assert all(type(count) is int for count in counts), counts


def clean_records(count: int, *, lost: set[int] = frozenset(), twice: set[int] = frozenset()):
    """A run of `count` orders over 3 partitions: each attempted, acked, in the log and charged
    once; those in `lost` never charged, those in `twice` charged twice (a redelivery)."""
    producer_log, kafka_log, effects, runs = [], [], [], []
    for number in range(count):
        order_id, partition, offset = f"order-{number:07d}", number % 3, number // 3
        producer_log.append(ProducerEvent("attempt", order_id, 0, at_ms=1))
        producer_log.append(ProducerEvent("ack", order_id, 0, partition=partition, offset=offset))
        kafka_log.append(LogCopy(order_id, partition, offset, True))
        for session in range(0 if number in lost else 2 if number in twice else 1):
            effects.append(Effect(order_id, partition, offset, True, session))
            runs.append(HandlerRun(order_id, partition, offset, False, session))
    return producer_log, kafka_log, effects, runs


def test_pages_cover_the_book_in_order_across_its_row_groups():
    count = 3 * story_book.ROW_GROUP_SIZE + 17
    book = audit(*clean_records(count)).orders
    assert len(book) == book.count(ALL) == count
    pages = [book.page(ALL, start, start + 5000) for start in range(0, count, 5000)]
    ids = [story.order_id for page in pages for story in page]
    assert ids == [f"order-{n:07d}" for n in range(count)] == list(book)
    middle = book.page(ALL, 2 * story_book.ROW_GROUP_SIZE - 2, 2 * story_book.ROW_GROUP_SIZE + 2)
    assert [s.order_id for s in middle] == [
        f"order-{n:07d}"
        for n in range(2 * story_book.ROW_GROUP_SIZE - 2, 2 * story_book.ROW_GROUP_SIZE + 2)
    ]
    assert book.page(ALL, count, count + 50) == []


def test_each_filter_pages_through_its_own_stories():
    lost, twice = {5, 6, 9000, 19_999}, {7, 12_000}
    book = audit(*clean_records(20_000, lost=lost, twice=twice)).orders
    assert book.count("lost") == 4 and book.count("duplicated") == 2
    assert book.count(ANOMALIES) == 6 and book.count("aborted") == 0
    assert [s.order_id for s in book.page("lost", 1, 3)] == ["order-0000006", "order-0009000"]
    assert [s.outcome for s in book.anomalies("duplicated")] == ["duplicated", "duplicated"]
    assert [s.order_id for s in book.anomalies()] == [
        f"order-{n:07d}" for n in sorted(lost | twice)
    ]
    assert book.page("lost", 4, 54) == []


def test_one_story_is_found_by_its_order_id_and_a_missing_one_is_not():
    book = audit(*clean_records(100, twice={42})).orders
    story = book["order-0000042"]
    assert story.effects == 2 and story.processings == (
        (0, 14, 0, "counted"),
        (0, 14, 1, "counted"),
    )
    assert book["order-0000043"].processings == ((1, 14, 0, "counted"),)
    with pytest.raises(KeyError):
        book["order-9999999"]
    assert book.get("nobody") is None


def test_a_legacy_stories_file_converts_to_the_same_book(tmp_path):
    records = random_run(random.Random(7))
    book = audit(*records).orders
    legacy = tmp_path / "stories.jsonl"
    legacy.write_text(
        "".join(
            json.dumps(story.to_json() | {"kinds": list(story.anomaly_kinds)}) + "\n"
            for story in book.values()
        )
    )
    story_book.convert_legacy(legacy, tmp_path / "stories", ANOMALY_CONDITIONS)
    converted = StoryBook(tmp_path / "stories")
    assert list(converted.values()) == list(book.values())
    for name in (ALL, ANOMALIES, *ANOMALY_CONDITIONS):
        assert converted.count(name) == book.count(name)


def test_an_empty_legacy_file_converts_to_an_empty_book(tmp_path):
    (tmp_path / "stories.jsonl").write_text("")
    story_book.convert_legacy(tmp_path / "stories.jsonl", tmp_path / "stories", ANOMALY_CONDITIONS)
    assert len(StoryBook(tmp_path / "stories")) == 0
