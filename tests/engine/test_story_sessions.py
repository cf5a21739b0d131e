"""The sessions in an order's story: which producer session heard each ack, and which consumer
session processed each copy and whether that counted. Pure logic over hand-built records, and the
ledger as the sink writes it."""

from __future__ import annotations

from playground.engine.audit.reckoning import audit
from playground.engine.audit.records import Effect, HandlerRun, LogCopy, ProducerEvent
from playground.engine.sink import Sink
from tests.engine.raw_records import read_ledger


def test_each_ack_names_the_producer_session_that_heard_it():
    producer_log = [
        ProducerEvent("attempt", "a", 0),
        ProducerEvent("attempt", "a", 1),
        ProducerEvent("ack", "a", 1, partition=0, offset=7),
    ]
    result = audit(producer_log, [LogCopy("a", 0, 7, True)], [Effect("a", 0, 7, True, 0)], [])
    assert result.orders["a"].acked_at == ((0, 7, 1),)


def test_a_redelivered_copy_is_processed_by_two_consumer_sessions_both_counted():
    producer_log = [
        ProducerEvent("attempt", "a", 0),
        ProducerEvent("ack", "a", 0, partition=0, offset=41),
    ]
    effects = [Effect("a", 0, 41, True, 1), Effect("a", 0, 41, True, 0)]
    runs = [HandlerRun("a", 0, 41, False, 0), HandlerRun("a", 0, 41, False, 1)]
    story = audit(producer_log, [LogCopy("a", 0, 41, True)], effects, runs).orders["a"]
    assert story.processings == ((0, 41, 0, "counted"), (0, 41, 1, "counted"))
    assert story.effect_sources == ((0, 41, 2),)


def test_a_skipped_charge_and_an_aborted_output_are_processings_that_did_not_count():
    producer_log = [ProducerEvent("attempt", "a", 0), ProducerEvent("attempt", "b", 0)]
    kafka_log = [LogCopy("a", 0, 0, True), LogCopy("b", 0, 1, True)]
    effects = [Effect("a", 0, 0, True, 0), Effect("b", 0, 1, False, 0), Effect("b", 0, 1, True, 1)]
    runs = [HandlerRun("a", 0, 0, False, 0), HandlerRun("a", 0, 0, True, 1)]
    result = audit(producer_log, kafka_log, effects, runs)
    assert result.orders["a"].processings == ((0, 0, 0, "counted"), (0, 0, 1, "deduplicated"))
    assert result.orders["b"].processings == ((0, 1, 0, "aborted"), (0, 1, 1, "counted"))
    assert result.orders["b"].effects == 1 and result.duplicated == 0


def test_processings_come_out_in_the_story_json():
    result = audit([ProducerEvent("attempt", "a", 0)], [], [Effect("a", 0, 0, True, 3)], [])
    assert result.to_json(include_orders=True)["orders"]["a"]["processings"] == [
        [0, 0, 3, "counted"]
    ]


def test_the_ledger_says_which_consumer_session_ran_each_charge(tmp_path):
    for session in (0, 1):
        sink = Sink(tmp_path / "ledger.jsonl", session=session, idempotent=True)
        sink.charge("a", 100, 0, 41, produced_at_ms=1)
        sink.close()
    effects, runs, _ = read_ledger(tmp_path / "ledger.jsonl")
    assert effects == [Effect("a", 0, 41, True, 0)]
    assert runs == [HandlerRun("a", 0, 41, False, 0), HandlerRun("a", 0, 41, True, 1)]
