"""The soak's first schedules in CI: random settings under random faults against the real cluster,
each run checked against an independent recount and against its promise, by the very code of
`python -m tools.soak` (the conductor in a thread of its own, with a wall-clock timeout).

PLAYGROUND_SOAK_RUNS (default 4) and PLAYGROUND_SOAK_SEED (default 1, the soak's own default)
override; a failing schedule is replayed with `python -m tools.soak --seed SEED --only INDEX`.
"""

from __future__ import annotations

import os

import pytest

from playground.engine.spec.model import COMMIT_KILL_POINTS, Producer, Spec, producer_kill_points
from playground.engine.spec.semantics import Semantic, promise
from playground.lab.launcher import PROJECT_ROOT
from tools.recount import RawRecords, compare, count, invariant_violations
from tools.soak import (
    CRASHED,
    HUNG,
    INVALID,
    LEFT_BEHIND,
    MISMATCH,
    PROMISE,
    RESTORE_TIMEOUT_SECONDS,
    STOP_GRACE_SECONDS,
    Run,
    judge,
    restore_cluster,
    run_schedule,
    schedule,
    weaker,
)

SEED = int(os.environ.get("PLAYGROUND_SOAK_SEED", "1"))
RUNS = int(os.environ.get("PLAYGROUND_SOAK_RUNS", "4"))
RUN_TIMEOUT_SECONDS = 240.0
SOAK_DIR = PROJECT_ROOT / "var" / "test-soak"


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + STOP_GRACE_SECONDS + 2 * RESTORE_TIMEOUT_SECONDS + 30)
@pytest.mark.parametrize("index", range(RUNS))
def test_random_schedule_matches_its_recount_and_keeps_its_promise(healthy_lab, index):
    restore_cluster(healthy_lab)  # whatever an earlier test left behind
    run = Run(SEED, index, schedule(SEED, index))
    run_schedule(run, healthy_lab, RUN_TIMEOUT_SECONDS, soak_dir=SOAK_DIR)
    context = f"{run.line()}\nreplay: python -m tools.soak --seed {SEED} --only {index}"
    assert HUNG not in run.outcomes, context
    assert CRASHED not in run.outcomes, context
    assert run.mismatches == [], context
    assert run.promise_violations == [], context
    assert LEFT_BEHIND not in run.outcomes, context


# -- the checks themselves, on records made up by hand --------------------------------------
SIDE_EFFECT_SPEC = {
    "pipeline": "side-effect",
    "workload": {"records": 6},
    "consumer": {"isolation_level": "read_committed"},
}


def raw(events, copies, effects, runs=()) -> RawRecords:
    producer_events = [{"kind": kind, "order_id": order, "session": 0} for kind, order in events]
    return RawRecords(SIDE_EFFECT_SPEC, producer_events, list(copies), list(effects), list(runs))


def test_recount_places_each_loss_and_duplicate_where_it_happened():
    o = [f"order-{i:07d}" for i in range(6)]
    counts = count(
        raw(
            events=[("attempt", order) for order in o[:5]]
            + [("ack", o[0]), ("ack", o[1]), ("ack", o[2]), ("ack", o[4]), ("fail", o[3])],
            copies=[
                (o[0], 0, 0, True),
                (o[0], 0, 1, True),  # the producer wrote it twice
                (o[1], 0, 2, True),
                (o[2], 0, 3, False),  # an aborted copy only: not visible to read_committed
                (o[4], 0, 4, True),
            ],
            effects=[
                (o[0], 0, 0, True),
                (o[0], 0, 1, True),
                (o[1], 0, 2, True),
                (o[1], 0, 2, True),
            ],
        )
    )
    assert counts["attempted"] == 5
    assert counts["delivered"] == 2
    assert (counts["lost_at_producer"], counts["lost_at_broker"]) == (1, 1)  # o[3] and o[2]
    assert counts["lost_at_consumer"] == 1  # o[4]: in the log, never processed
    assert (counts["duplicated_by_producer"], counts["duplicated_by_consumer"]) == (1, 1)
    assert counts["log_duplicates"] == 1
    assert (counts["planned"], counts["never_sent"]) == (6, 1)


def test_compare_names_each_differing_field_and_skips_those_the_result_lacks():
    recount = {"lost": 2, "duplicated": 0, "never_sent": 1}
    assert compare(recount, {"lost": 1, "duplicated": 0}) == ["lost: recount 2, audit 1"]


RECOUNTED = tuple(count(raw([], [], [])))  # every field the recount gives


def audit_of(**counts: int) -> dict:
    """An audit dict: every count 0 but `counts`, and the semantic they show."""
    audit = dict.fromkeys(RECOUNTED, 0) | counts
    audit["planned"] = audit["attempted"] + audit["never_sent"]
    lost, duplicated = audit["lost"], audit["duplicated"]
    semantics = {(0, 0): "exactly-once", (0, 1): "at-least-once", (1, 0): "at-most-once"}
    audit["observed_semantic"] = semantics.get((bool(lost), bool(duplicated)), "none")
    return audit


def test_an_audit_whose_parts_do_not_add_up_breaks_an_invariant():
    audit = audit_of(attempted=3, acked=3, delivered=3, lost_at_consumer=1)
    assert "lost != lost_at_producer + lost_at_broker + lost_at_consumer" in (
        invariant_violations(audit)
    )


AT_LEAST_ONCE = {"producer": {"acks": "all", "enable_idempotence": True}}
LOST_ONE = {"attempted": 2, "acked": 2, "delivered": 1, "lost": 1, "lost_at_consumer": 1}


AT_MOST_ONCE = {
    "producer": {"acks": "0", "retries": 0},
    "consumer": {"commit": "before-processing"},
    "restarts": {"producer": {"enabled": False}, "consumer": {"enabled": False}},
}
DUPLICATED_ONE = {"attempted": 2, "acked": 2, "delivered": 2, "duplicated": 1}
DUPLICATED_ONE |= {"duplicated_by_consumer": 1, "duplicated_by_crash": 1}


def judged(result: dict, recount: dict | None = None, spec: dict = AT_LEAST_ONCE) -> Run:
    run = Run(seed=0, index=0, spec=Spec.from_json(spec))
    judge(run, {"result": result, "recount": recount or result["audit"]})
    return run


def test_a_valid_at_least_once_run_that_lost_an_order_breaks_its_promise():
    run = judged({"audit": audit_of(**LOST_ONE)})
    assert run.outcomes == [PROMISE]


def test_a_semantic_is_weaker_than_a_promise_it_does_not_reach():
    exactly, least, most, none = (
        Semantic.EXACTLY_ONCE,
        Semantic.AT_LEAST_ONCE,
        Semantic.AT_MOST_ONCE,
        Semantic.NONE,
    )
    assert not any(weaker(exactly, promised) for promised in Semantic)
    assert all(weaker(none, promised) for promised in (exactly, least, most))
    assert not any(weaker(observed, none) for observed in Semantic)
    # At-least-once and at-most-once rule out different things: neither keeps the other.
    assert weaker(least, most) and weaker(most, least)
    assert weaker(least, exactly) and weaker(most, exactly)
    assert not weaker(least, least) and not weaker(most, most)


def test_a_valid_at_most_once_run_that_duplicated_an_order_breaks_its_promise():
    assert promise(Spec.from_json(AT_MOST_ONCE)).semantic == Semantic.AT_MOST_ONCE
    run = judged({"audit": audit_of(**DUPLICATED_ONE)}, spec=AT_MOST_ONCE)
    assert run.outcomes == [PROMISE]
    assert run.promise_violations == [
        "promised at-most-once, observed at-least-once: lost 0, duplicated 1"
    ]


def test_a_run_that_shows_what_its_promise_allows_keeps_it():
    assert judged({"audit": audit_of(**DUPLICATED_ONE)}).outcomes == []
    assert judged({"audit": audit_of(**LOST_ONE)}, spec=AT_MOST_ONCE).outcomes == []


def test_a_planned_order_never_sent_is_a_loss_under_at_least_once():
    run = judged({"audit": audit_of(attempted=2, acked=2, delivered=2, never_sent=1)})
    assert run.outcomes == [PROMISE]
    assert "never sent 1 planned orders" in run.promise_violations[0]
    never_sent = audit_of(attempted=2, acked=2, delivered=2, never_sent=1)
    assert judged({"audit": never_sent}, spec=AT_MOST_ONCE).outcomes == []


def test_an_invalid_run_is_listed_with_its_problems_and_not_held_to_its_promise():
    problem = {"message": "the drain gave up after 30 s", "log": ""}
    run = judged({"audit": audit_of(**LOST_ONE), "valid": False, "problems": [problem]})
    assert run.outcomes == [INVALID]
    assert run.problems == [problem]


def test_a_recount_that_disagrees_with_the_audit_is_a_mismatch():
    run = judged({"audit": audit_of(attempted=2, acked=2, delivered=2)}, audit_of(**LOST_ONE))
    assert MISMATCH in run.outcomes


def test_a_schedule_is_replayed_from_its_seed_and_index_alone():
    assert schedule(SEED, 3) == schedule(SEED, 3)
    assert schedule(SEED, 3) != schedule(SEED, 4)


def test_the_generator_draws_every_producer_kill_point_and_both_positions_with_small_transactions():
    specs = [schedule(SEED, index) for index in range(200)]
    kills = [
        (spec, fault) for spec in specs for fault in spec.faults if fault.kind == "kill-producer"
    ]
    assert all(fault.point in producer_kill_points(spec.producer) for spec, fault in kills)
    drawn = {(fault.point, spec.producer.position) for spec, fault in kills}
    assert {
        (point, position) for point in COMMIT_KILL_POINTS for position in ("log", "transaction")
    } <= drawn
    assert {point for point, _ in drawn} == set(producer_kill_points(Producer(transactional=True)))
    transactional = [spec.producer for spec in specs if spec.producer.transactional]
    small = [producer for producer in transactional if producer.transaction_records <= 20]
    assert len(small) > len(transactional) / 2
