"""The audit's arithmetic over hand-built raw records, and a randomized recount that checks it.

Pure logic: no Kafka here. Each scenario builds the three records a real run of that kind leaves
behind and checks the counts the audit derives from them.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil

import duckdb
import pytest

from playground.engine.audit import reckoning as audit_module
from playground.engine.audit.reckoning import AuditResult, audit, check_invariants
from playground.engine.audit.records import (
    Effect,
    HandlerRun,
    LogCopy,
    ProducerEvent,
)
from playground.engine.audit.story_book import StoryBook
from tests.conftest import random_cases

# Every count the result must have, written out here so that a count missing from the result fails.
COUNTS = (
    "attempted",
    "acked",
    "sent_unacked",
    "failed",
    "unknown",
    "in_log",
    "log_duplicates",
    "delivered",
    "lost",
    "lost_at_producer",
    "lost_at_broker",
    "lost_at_consumer",
    "duplicated",
    "duplicated_by_producer",
    "duplicated_by_consumer",
    "aborted_reads",
    "redelivered",
    "deduplicated",
    "unexplained",
)


def attempt(order_id: str, session: int = 0) -> ProducerEvent:
    return ProducerEvent("attempt", order_id, session)


def ack(order_id: str, partition: int, offset: int, session: int = 0) -> ProducerEvent:
    return ProducerEvent("ack", order_id, session, partition=partition, offset=offset)


def sent(order_id: str, session: int = 0) -> ProducerEvent:
    return ProducerEvent("sent", order_id, session)


def fail(order_id: str, session: int = 0) -> ProducerEvent:
    return ProducerEvent("fail", order_id, session, error="Local: Message timed out")


def produced(order_id: str, partition: int, offset: int) -> list[ProducerEvent]:
    """An attempt and its ack, as a healthy producer logs them."""
    return [attempt(order_id), ack(order_id, partition, offset)]


def clean_run(order_ids: list[str]) -> tuple[list, list, list, list]:
    """Every order produced, in the log once, charged once, handled once."""
    producer_log, kafka_log, effects, runs = [], [], [], []
    for offset, order_id in enumerate(order_ids):
        producer_log += produced(order_id, 0, offset)
        kafka_log.append(LogCopy(order_id, 0, offset, True))
        effects.append(Effect(order_id, 0, offset))
        runs.append(HandlerRun(order_id, 0, offset, False))
    return producer_log, kafka_log, effects, runs


# Scenarios, one per lesson the playground teaches.


def test_clean_run_delivers_every_attempted_order_exactly_once():
    result = audit(*clean_run(["a", "b", "c"]))
    assert result.attempted == 3
    assert result.acked == 3
    assert result.in_log == 3
    assert result.delivered == 3
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.redelivered == 0
    assert result.unexplained == 0
    assert result.observed_semantic == "exactly-once"
    assert {story.outcome for story in result.orders.values()} == {"delivered"}


def test_commit_before_processing_crash_loses_records_at_the_consumer():
    producer_log, kafka_log, _, _ = clean_run(["a", "b", "c"])
    # The consumer committed offsets 0-2, charged "a", then was killed.
    effects = [Effect("a", 0, 0)]
    runs = [HandlerRun("a", 0, 0, False)]
    result = audit(producer_log, kafka_log, effects, runs)
    assert result.lost == 2
    assert result.lost_at_consumer == 2
    assert result.lost_at_producer == result.lost_at_broker == 0
    assert result.orders["b"].outcome == "lost_at_consumer"
    assert result.observed_semantic == "at-most-once"


def test_commit_after_processing_crash_duplicates_at_the_consumer():
    producer_log, kafka_log, effects, runs = clean_run(["a", "b"])
    # Charged "a", killed before committing its offset, so the restarted consumer ran it again.
    effects.append(Effect("a", 0, 0))
    runs.append(HandlerRun("a", 0, 0, False))
    result = audit(producer_log, kafka_log, effects, runs)
    assert result.lost == 0
    assert result.duplicated == 1
    assert result.duplicated_by_consumer == 1
    assert result.duplicated_by_producer == 0
    assert result.redelivered == 1
    assert result.orders["a"].effect_sources == ((0, 0, 2),)
    assert result.observed_semantic == "at-least-once"


def test_idempotent_consumer_shows_the_redelivery_without_a_duplicate():
    producer_log, kafka_log, effects, runs = clean_run(["a", "b"])
    runs.append(HandlerRun("a", 0, 0, True))  # redelivered, recognised, not charged again
    result = audit(producer_log, kafka_log, effects, runs)
    assert result.redelivered == 1
    assert result.deduplicated == 1
    assert result.duplicated == 0
    assert result.orders["a"].handler_runs == 2
    assert result.observed_semantic == "exactly-once"


def test_retry_without_idempotence_duplicates_at_the_producer():
    # The first write of "a" landed but its ack was lost; the retry wrote a second copy.
    producer_log = [attempt("a"), ack("a", 0, 1)]
    kafka_log = [LogCopy("a", 0, 0, True), LogCopy("a", 0, 1, True)]
    effects = [Effect("a", 0, 0), Effect("a", 0, 1)]
    result = audit(producer_log, kafka_log, effects, [])
    assert result.log_duplicates == 1
    assert result.duplicated == 1
    assert result.duplicated_by_producer == 1
    assert result.duplicated_by_consumer == 0
    assert result.orders["a"].effect_sources == ((0, 0, 1), (0, 1, 1))


def test_restarted_producer_resending_an_order_duplicates_at_the_producer():
    producer_log = [attempt("a", 0), attempt("a", 1), ack("a", 1, 7, session=1)]
    kafka_log = [LogCopy("a", 0, 3, True), LogCopy("a", 1, 7, True)]
    effects = [Effect("a", 0, 3), Effect("a", 1, 7)]
    result = audit(producer_log, kafka_log, effects, [])
    assert result.duplicated_by_producer == 1
    assert result.orders["a"].sessions == (0, 1)
    assert result.orders["a"].attempts == 2


def test_acked_write_lost_with_its_leader_is_lost_at_the_broker():
    # acks=1: the leader acked "a" at offset 5, then died before any follower copied it. The new
    # leader's log ended at 4, so "b", sent next, was written at offset 5.
    producer_log = produced("a", 0, 5) + produced("b", 0, 5)
    kafka_log = [LogCopy("b", 0, 5, True)]
    effects = [Effect("b", 0, 5)]
    result = audit(producer_log, kafka_log, effects, [])
    assert result.lost == 1
    assert result.lost_at_broker == 1
    assert result.orders["a"].outcome == "lost_at_broker"
    assert result.orders["a"].acked_at == ((0, 5, 0),)  # partition, offset, session


def test_acks_0_write_into_a_blackhole_is_lost_at_the_producer_and_counted_as_sent():
    producer_log = [attempt("a"), sent("a")]
    result = audit(producer_log, [], [], [])
    assert result.sent_unacked == 1
    assert result.acked == 0
    assert result.lost_at_producer == 1
    assert result.orders["a"].producer_outcome == "sent"


def test_sent_record_that_reached_the_log_is_not_lost():
    producer_log = [attempt("a"), sent("a")]
    result = audit(producer_log, [LogCopy("a", 0, 0, True)], [Effect("a", 0, 0)], [])
    assert result.sent_unacked == 1
    assert result.delivered == 1
    assert result.lost == 0


def test_failed_delivery_is_counted_and_lost_at_the_producer():
    result = audit([attempt("a"), fail("a")], [], [], [])
    assert result.failed == 1
    assert result.lost_at_producer == 1
    assert result.orders["a"].producer_outcome == "failed"


def test_ack_after_a_failed_attempt_makes_the_order_acked_not_failed():
    producer_log = [attempt("a", 0), fail("a", 0), attempt("a", 1), ack("a", 0, 0, session=1)]
    result = audit(producer_log, [LogCopy("a", 0, 0, True)], [Effect("a", 0, 0)], [])
    assert result.acked == 1
    assert result.failed == 0


def test_restarted_producer_leaves_unknown_records():
    # Session 0 was killed after attempting "b" and "c"; session 1 re-sent "b" only.
    producer_log = [
        *produced("a", 0, 0),
        attempt("b", 0),
        attempt("c", 0),
        attempt("b", 1),
        ack("b", 0, 1, session=1),
    ]
    kafka_log = [LogCopy("a", 0, 0, True), LogCopy("b", 0, 1, True)]
    effects = [Effect("a", 0, 0), Effect("b", 0, 1)]
    result = audit(producer_log, kafka_log, effects, [])
    assert result.unknown == 1
    assert result.orders["c"].producer_outcome == "unknown"
    assert result.orders["c"].outcome == "lost_at_producer"
    assert result.orders["b"].producer_outcome == "acked"


def test_unknown_record_that_reached_the_log_is_delivered():
    # The producer died after the broker wrote "a" but before the ack arrived.
    result = audit([attempt("a")], [LogCopy("a", 0, 0, True)], [Effect("a", 0, 0)], [])
    assert result.unknown == 1
    assert result.delivered == 1
    assert result.lost == 0


def test_aborted_copy_is_invisible_to_a_read_committed_consumer():
    # The first transaction holding "a" aborted; the retry committed it at offset 2.
    producer_log = [attempt("a"), ack("a", 0, 2)]
    kafka_log = [LogCopy("a", 0, 0, False), LogCopy("a", 0, 2, True)]
    effects = [Effect("a", 0, 2)]
    result = audit(producer_log, kafka_log, effects, [], consumer_isolation="read_committed")
    assert result.in_log == 1
    assert result.log_duplicates == 0
    assert result.aborted_reads == 0
    assert result.observed_semantic == "exactly-once"


def test_read_uncommitted_consumer_counts_the_aborted_read_and_its_duplicate():
    producer_log = [attempt("a"), ack("a", 0, 2)]
    kafka_log = [LogCopy("a", 0, 0, False), LogCopy("a", 0, 2, True)]
    effects = [Effect("a", 0, 0), Effect("a", 0, 2)]
    result = audit(producer_log, kafka_log, effects, [], consumer_isolation="read_uncommitted")
    assert result.aborted_reads == 1
    assert result.log_duplicates == 1
    assert result.duplicated_by_producer == 1
    assert [story.order_id for story in result.anomalies("aborted")] == ["a"]


def test_order_only_in_an_aborted_transaction_is_lost_at_the_producer():
    # A transactional producer logs an ack only on commit, so this order has none.
    result = audit([attempt("a")], [LogCopy("a", 0, 0, False)], [], [])
    assert result.in_log == 0
    assert result.lost_at_producer == 1


def test_aborted_output_counts_only_in_the_uncommitted_view():
    # Kafka-to-Kafka: the transformer wrote "a"'s total, crashed before committing, and its
    # successor wrote it again. The first output record belongs to an aborted transaction.
    producer_log, kafka_log, _, _ = clean_run(["a"])
    effects = [Effect("a", 0, 0, committed=False), Effect("a", 0, 0, committed=True)]
    committed = audit(producer_log, kafka_log, effects, [], effects_view="committed")
    uncommitted = audit(producer_log, kafka_log, effects, [], effects_view="uncommitted")
    assert committed.duplicated == 0
    assert committed.observed_semantic == "exactly-once"
    assert uncommitted.duplicated_by_consumer == 1
    assert uncommitted.observed_semantic == "at-least-once"


def test_order_with_only_uncounted_effects_is_lost_at_the_consumer():
    producer_log, kafka_log, _, _ = clean_run(["a"])
    result = audit(producer_log, kafka_log, [Effect("a", 0, 0, committed=False)], [])
    assert result.lost_at_consumer == 1


def test_effect_for_an_order_never_attempted_is_unexplained():
    producer_log, kafka_log, effects, runs = clean_run(["a"])
    kafka_log.append(LogCopy("ghost", 0, 1, True))
    effects.append(Effect("ghost", 0, 1))
    result = audit(producer_log, kafka_log, effects, runs)
    assert result.unexplained == 1
    assert result.delivered == 2  # every effect is counted, the ghost's too
    assert result.orders["ghost"].outcome == "unexplained"
    assert [story.order_id for story in result.anomalies("unexplained")] == ["ghost"]


def test_order_seen_only_in_an_uncounted_effect_is_still_unexplained():
    result = audit([], [], [Effect("ghost", 0, 0, committed=False)], [])
    assert result.unexplained == 1
    assert result.delivered == 0


def test_ack_without_an_attempt_is_unexplained():
    result = audit([ack("ghost", 0, 0)], [], [], [])
    assert result.unexplained == 1
    assert result.attempted == 0


def test_records_may_arrive_in_any_order():
    producer_log, kafka_log, effects, runs = clean_run([f"o-{i}" for i in range(20)])
    effects.append(Effect("o-3", 0, 3))
    ordered = audit(producer_log, kafka_log, effects, runs)
    for records in (producer_log, kafka_log, effects, runs):
        random.Random(7).shuffle(records)
    shuffled = audit(producer_log, kafka_log, effects, runs)
    assert shuffled.to_json() == ordered.to_json()


def test_semantic_is_none_when_orders_are_both_lost_and_duplicated():
    producer_log, kafka_log, _, _ = clean_run(["a", "b"])
    effects = [Effect("a", 0, 0), Effect("a", 0, 0)]
    assert audit(producer_log, kafka_log, effects, []).observed_semantic == "none"


def test_empty_run_is_trivially_exactly_once():
    result = audit([], [], [], [])
    assert result.attempted == 0
    assert result.observed_semantic == "exactly-once"


# The result's shape.


def test_to_json_leaves_orders_out_unless_asked():
    result = audit(*clean_run(["a"]))
    assert "orders" not in result.to_json()
    assert result.to_json()["consumer_isolation"] == "read_committed"
    with_orders = json.loads(json.dumps(result.to_json(include_orders=True)))
    assert with_orders["orders"]["a"]["log_copies"] == [[0, 0, True]]
    assert with_orders["orders"]["a"]["outcome"] == "delivered"


def test_to_json_gives_every_count():
    assert set(COUNTS) <= set(audit(*clean_run(["a"])).to_json())


def test_anomalies_are_sorted_by_order_id_and_filtered_by_kind():
    producer_log, kafka_log, _, _ = clean_run(["c", "a", "b"])
    effects = [Effect("c", 0, 0), Effect("c", 0, 0)]  # "a" and "b" lost, "c" duplicated
    result = audit(producer_log, kafka_log, effects, [])
    assert [story.order_id for story in result.anomalies("lost")] == ["a", "b"]
    assert [story.order_id for story in result.anomalies("duplicated")] == ["c"]
    assert [story.order_id for story in result.anomalies()] == ["a", "b", "c"]


def test_unknown_anomaly_kind_names_the_allowed_ones():
    with pytest.raises(ValueError, match="allowed: lost, duplicated, aborted, unexplained"):
        audit(*clean_run(["a"])).anomalies("late")


def test_bad_consumer_isolation_is_named_in_the_error():
    with pytest.raises(ValueError, match="consumer_isolation"):
        audit([], [], [], [], consumer_isolation="committed")


@pytest.mark.parametrize("record", ["producer log", "kafka log", "sink"])
def test_a_record_without_an_order_id_is_refused_naming_its_record(record):
    """No writer makes one, and every count is by order id: a clear error, not a count."""
    producer_log, kafka_log, effects, _ = clean_run(["a", "b"])
    if record == "producer log":
        producer_log.append(dataclasses.replace(producer_log[0], order_id=None))
    elif record == "kafka log":
        kafka_log.append(dataclasses.replace(kafka_log[0], order_id=None, offset=99))
    else:
        effects.append(dataclasses.replace(effects[0], order_id=None))
    with pytest.raises(ValueError, match=f"{record}: 1 record\\(s\\) without an order id"):
        audit(producer_log, kafka_log, effects, [])


def test_bad_effects_view_is_named_in_the_error():
    with pytest.raises(ValueError, match="effects_view"):
        audit([], [], [], [], effects_view="read_committed")


def test_kafka_log_listing_a_copy_twice_is_refused():
    copy = LogCopy("a", 0, 0, True)
    with pytest.raises(ValueError, match="twice"):
        audit([attempt("a")], [copy, copy], [], [])


# The invariants: check_invariants() must catch a result that contradicts itself.


def audited_with_anomalies() -> AuditResult:
    producer_log, kafka_log, _, _ = clean_run(["a", "b", "c"])
    effects = [Effect("a", 0, 0), Effect("a", 0, 0)]
    return audit(producer_log, kafka_log, effects, [])


def test_invariant_lost_equals_the_sum_of_where_it_was_lost():
    result = audited_with_anomalies()
    broken = dataclasses.replace(result, lost_at_consumer=result.lost_at_consumer + 1)
    with pytest.raises(AssertionError, match=r"lost \(2\) != lost_at_producer"):
        check_invariants(broken)


def test_invariant_duplicated_equals_the_sum_of_who_duplicated():
    result = audited_with_anomalies()
    broken = dataclasses.replace(result, duplicated_by_producer=1)
    with pytest.raises(AssertionError, match=r"duplicated \(1\) != duplicated_by_producer"):
        check_invariants(broken)


def test_invariant_delivered_plus_lost_equals_attempted():
    result = audited_with_anomalies()
    broken = dataclasses.replace(result, delivered=result.delivered + 1)
    with pytest.raises(AssertionError, match=r"delivered \(2\) \+ lost \(2\) != attempted \(3\)"):
        check_invariants(broken)


def test_invariant_producer_outcomes_add_up_to_attempted():
    result = audited_with_anomalies()
    broken = dataclasses.replace(result, unknown=1)
    with pytest.raises(AssertionError, match="acked \\+ sent_unacked \\+ failed \\+ unknown"):
        check_invariants(broken)


def test_invariant_semantic_follows_from_lost_and_duplicated():
    broken = dataclasses.replace(audited_with_anomalies(), observed_semantic="exactly-once")
    with pytest.raises(AssertionError, match="observed_semantic"):
        check_invariants(broken)


def test_invariant_totals_equal_the_sums_over_the_order_stories(tmp_path):
    result = audited_with_anomalies()
    tampered = shutil.copytree(result.orders.folder, tmp_path / "stories")
    summary = tampered / "summary.parquet"
    duckdb.execute(  # b's stored story now says broker; the totals still say consumer
        "COPY (SELECT * REPLACE (CASE WHEN order_id = 'b' THEN 'lost_at_broker' ELSE outcome END "
        f"AS outcome) FROM read_parquet('{result.orders.folder / 'summary.parquet'}')) "
        f"TO '{summary}' (FORMAT parquet)"
    )
    broken = dataclasses.replace(result, orders=StoryBook(tampered))
    with pytest.raises(AssertionError, match="lost_at_broker is 0 but the order stories add up"):
        check_invariants(broken)


def test_audit_refuses_to_return_a_result_that_contradicts_itself(monkeypatch):
    recount = audit_module._recount

    def miscounting(stories):
        totals = recount(stories)
        totals["lost_at_broker"] += 1
        return totals

    monkeypatch.setattr(audit_module, "_recount", miscounting)
    with pytest.raises(AssertionError, match="lost"):
        audit(*clean_run(["a"]))


# The producer log's record objects.


def test_producer_event_kind_must_be_known():
    with pytest.raises(ValueError, match="attempt, ack, sent, fail"):
        ProducerEvent("acked", "a", 0)


def test_ack_must_say_where_it_was_written():
    with pytest.raises(ValueError, match="partition or offset"):
        ProducerEvent("ack", "a", 0, partition=1)


# A randomized recount: the audit against a naive count written straight from the definitions.

ISOLATIONS = ("read_committed", "read_uncommitted")
VIEWS = ("committed", "uncommitted")
RANDOM_RUNS = random_cases(200)


def random_run(rng: random.Random) -> tuple[list, list, list, list]:
    """Raw records of a run where anything may have gone wrong, in a shuffled order."""
    producer_log, kafka_log, effects, runs = [], [], [], []
    next_offset = [0, 0, 0]
    for number in range(rng.randint(0, 25)):
        order_id = f"o-{number}"
        attempted = rng.random() < 0.9
        if attempted:
            for session in sorted(rng.sample(range(3), rng.choice([1, 1, 1, 2, 3]))):
                producer_log.append(attempt(order_id, session))
        copies = []
        for _ in range(rng.choice([0, 1, 1, 1, 1, 2, 3])):
            partition = rng.randrange(3)
            copies.append(LogCopy(order_id, partition, next_offset[partition], rng.random() < 0.8))
            next_offset[partition] += 1
        kafka_log += copies
        report = rng.choice(["ack", "ack", "ack", "sent", "fail", "fail-then-ack", None])
        if attempted or rng.random() < 0.3:  # now and then an ack nobody attempted
            if report in ("fail", "fail-then-ack"):
                producer_log.append(fail(order_id))
            if report == "sent":
                producer_log.append(sent(order_id))
            if report in ("ack", "fail-then-ack"):
                where = rng.choice(copies) if copies and rng.random() < 0.8 else None
                partition, offset = (where.partition, where.offset) if where else (9, number)
                producer_log.append(ack(order_id, partition, offset))
        for copy in copies:
            for _ in range(rng.choice([0, 0, 1, 1, 1, 2])):
                effects.append(Effect(order_id, copy.partition, copy.offset, rng.random() < 0.85))
                runs.append(HandlerRun(order_id, copy.partition, copy.offset, False))
            for _ in range(rng.choice([0, 0, 0, 1])):
                runs.append(HandlerRun(order_id, copy.partition, copy.offset, True))
        if rng.random() < 0.05:  # an effect whose source copy is not in the log
            effects.append(Effect(order_id, 8, number, rng.random() < 0.5))
    for records in (producer_log, kafka_log, effects, runs):
        rng.shuffle(records)
    return producer_log, kafka_log, effects, runs


def naive_recount(producer_log, kafka_log, effects, runs, isolation, view):
    """Every count and outcome, by the definitions, one order id at a time."""
    order_ids = {record.order_id for record in [*producer_log, *kafka_log, *effects, *runs]}
    counts = dict.fromkeys(COUNTS, 0)
    outcomes = {}
    for order_id in order_ids:
        kinds = [event.kind for event in producer_log if event.order_id == order_id]
        visible = [
            copy
            for copy in kafka_log
            if copy.order_id == order_id and (copy.committed or isolation == "read_uncommitted")
        ]
        counted = [
            effect
            for effect in effects
            if effect.order_id == order_id and (effect.committed or view == "uncommitted")
        ]
        handled = [run for run in runs if run.order_id == order_id]
        aborted_copies = {
            (copy.partition, copy.offset)
            for copy in kafka_log
            if copy.order_id == order_id and not copy.committed
        }
        sources = [(effect.source_partition, effect.source_offset) for effect in counted]

        attempted = "attempt" in kinds
        counts["attempted"] += attempted
        counts["acked"] += "ack" in kinds
        counts["sent_unacked"] += "sent" in kinds and "ack" not in kinds
        counts["failed"] += "fail" in kinds and "ack" not in kinds and "sent" not in kinds
        counts["unknown"] += attempted and kinds.count("attempt") == len(kinds)
        counts["in_log"] += len(visible) >= 1
        counts["log_duplicates"] += max(len(visible) - 1, 0)
        counts["delivered"] += len(counted) >= 1
        counts["duplicated"] += max(len(counted) - 1, 0)
        for source in set(sources):
            counts["duplicated_by_consumer"] += sources.count(source) - 1
        counts["duplicated_by_producer"] += max(len(set(sources)) - 1, 0)
        counts["aborted_reads"] += sum(1 for source in sources if source in aborted_copies)
        counts["redelivered"] += max(len(handled) - 1, 0)
        counts["deduplicated"] += sum(1 for run in handled if run.deduplicated)
        if not attempted:
            outcome = "unexplained"
        elif len(counted) > 1:
            outcome = "duplicated"
        elif len(counted) == 1:
            outcome = "delivered"
        elif visible:
            outcome = "lost_at_consumer"
        elif "ack" in kinds:
            outcome = "lost_at_broker"
        else:
            outcome = "lost_at_producer"
        outcomes[order_id] = outcome
        if outcome.startswith("lost_"):
            counts["lost"] += 1
            counts[outcome] += 1
        counts["unexplained"] += outcome == "unexplained"
    return counts, outcomes


@pytest.mark.parametrize("seed", range(RANDOM_RUNS))
def test_totals_equal_a_naive_recount_of_random_runs(seed):
    rng = random.Random(seed)
    records = random_run(rng)
    for isolation in ISOLATIONS:
        for view in VIEWS:
            result = audit(*records, consumer_isolation=isolation, effects_view=view)
            counts, outcomes = naive_recount(*records, isolation, view)
            assert {name: getattr(result, name) for name in COUNTS} == counts
            assert {oid: story.outcome for oid, story in result.orders.items()} == outcomes


def test_random_runs_exercise_every_count():
    # By the naive recount, which the test above holds the audit's counts equal to.
    seen = dict.fromkeys(COUNTS, 0)
    for seed in range(RANDOM_RUNS):
        records = random_run(random.Random(seed))
        for isolation in ISOLATIONS:
            for view in VIEWS:
                counts, _ = naive_recount(*records, isolation, view)
                for name in COUNTS:
                    seen[name] += counts[name]
    assert [name for name, total in seen.items() if total == 0] == []
