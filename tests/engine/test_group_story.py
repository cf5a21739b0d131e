"""A consumer group's story in the audit: the cause of each consumer duplicate (crash, rebalance,
zombie, abort) and what each rebalance cost, from hand-built records and group logs, and the
recount (tools/recount.py) finding the same causes on its own. Pure logic: no Kafka."""

from __future__ import annotations

import dataclasses
import random

import duckdb
import pytest

from playground.engine.audit import evidence, group_story, kafka_log, record_tables
from playground.engine.audit.reckoning import AuditResult, audit, check_invariants
from playground.engine.audit.records import Effect, HandlerRun, LogCopy, ProducerEvent
from playground.engine.audit.story_book import StoryBook
from playground.engine.formats import ledger, output_value
from playground.engine.formats.group_log import ASSIGNED, LEFT, LOST, REVOKED, GroupEvent
from playground.engine.formats.ledger import LedgerLine
from playground.engine.formats.output_value import OutputValue
from tests.conftest import random_cases
from tools.recount import RawRecords, count

CAUSES = ("crash", "rebalance", "zombie", "abort")


def given(member: int, session: int, partitions, at: int, generation: int = 1) -> GroupEvent:
    return GroupEvent(member, session, generation, ASSIGNED, tuple(partitions), at)


def taken(member: int, session: int, partitions, at: int, generation: int = 1) -> GroupEvent:
    return GroupEvent(member, session, generation, REVOKED, tuple(partitions), at)


def charge(order_id: str, partition: int, offset: int, member: int, session: int, at: int,
           generation: int = 1) -> Effect:  # fmt: skip
    return Effect(order_id, partition, offset, True, session, member, generation, at)


def audited(effects: list[Effect], events: list[GroupEvent], runs=()) -> AuditResult:
    """The audit of a run whose every order was produced once, is in the log once, and has the
    given effects (and skipped runs), with this group log."""
    copies = sorted({(e.order_id, e.source_partition, e.source_offset) for e in effects})
    copies += sorted({(r.order_id, r.source_partition, r.source_offset) for r in runs} - {
        *copies})  # fmt: skip
    producer_log = [ProducerEvent("attempt", order, 0) for order, _, _ in copies]
    producer_log += [ProducerEvent("ack", o, 0, partition=p, offset=n) for o, p, n in copies]
    kafka_log = [LogCopy(order, p, n, True) for order, p, n in copies]
    return audit(producer_log, kafka_log, effects, list(runs), group_events=events)


def by_cause(result: AuditResult) -> dict[str, int]:
    return {cause: getattr(result, f"duplicated_by_{cause}") for cause in CAUSES}


def recounted(effects: list[Effect], events: list[GroupEvent]) -> dict[str, int]:
    """The recount's causes of the same records, read as it reads them (plain tuples, dicts)."""
    spec = {"workload": {"records": 0}, "consumer": {"isolation_level": "read_committed"}}
    made = [
        (e.order_id, e.source_partition, e.source_offset, e.committed, e.member, e.session,
         e.generation, e.at_ms)
        for e in effects
    ]  # fmt: skip
    logged = [event._asdict() | {"partitions": list(event.partitions)} for event in events]
    raw = RawRecords(spec, [], [], made, [], group_events=logged)
    counts = count(raw)
    return {cause: counts[f"duplicated_by_{cause}"] for cause in CAUSES}


def only(cause: str, n: int = 1) -> dict[str, int]:
    return dict.fromkeys(CAUSES, 0) | {cause: n}


# The causes, one scenario each.

CRASH = (
    [
        charge("a", 0, 0, member=0, session=0, at=100),
        charge("a", 0, 0, member=0, session=1, at=300),
    ],
    [given(0, 0, [0], at=0), given(0, 1, [0], at=250)],
)
REBALANCE = (
    [
        charge("a", 0, 0, member=0, session=0, at=100),
        charge("a", 0, 0, member=1, session=1, at=300),
    ],
    [given(0, 0, [0], at=0), taken(0, 0, [0], at=190), given(1, 1, [0], at=200, generation=2)],
)
ZOMBIE = (  # member 1 was given partition 0 at 100; member 0, stalled, charged it at 150
    [
        charge("a", 0, 0, member=1, session=1, at=120),
        charge("a", 0, 0, member=0, session=0, at=150),
    ],
    [given(0, 0, [0], at=0), given(1, 1, [0], at=100, generation=2)],
)
ZOMBIE_FIRST = (  # the zombie's effect came first; the new owner's is the duplicate
    [
        charge("a", 0, 0, member=0, session=0, at=150),
        charge("a", 0, 0, member=1, session=1, at=200),
    ],
    [given(0, 0, [0], at=0), given(1, 1, [0], at=100, generation=2)],
)
ABORT = (  # the same session again, nothing taken from it in between
    [
        charge("a", 0, 0, member=0, session=0, at=100),
        charge("a", 0, 0, member=0, session=0, at=200),
    ],
    [given(0, 0, [0], at=0)],
)
LOST_AND_REGAINED = (  # the same session lost partition 0 and got it back before charging again
    [
        charge("a", 0, 0, member=0, session=0, at=100),
        charge("a", 0, 0, member=0, session=0, at=200),
    ],
    [given(0, 0, [0], at=0), taken(0, 0, [0], at=150), given(0, 0, [0], at=160, generation=2)],
)
SCENARIOS = {
    "crash": (CRASH, "crash"),
    "rebalance": (REBALANCE, "rebalance"),
    "zombie": (ZOMBIE, "zombie"),
    "zombie first": (ZOMBIE_FIRST, "zombie"),
    "abort": (ABORT, "abort"),
    "lost and regained": (LOST_AND_REGAINED, "rebalance"),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_consumer_duplicate_is_given_its_cause(name):
    (effects, events), cause = SCENARIOS[name]
    result = audited(effects, events)
    assert result.duplicated_by_consumer == 1
    assert by_cause(result) == only(cause)
    assert recounted(effects, events) == only(cause)


def test_a_later_session_of_the_same_member_is_a_crash_even_without_a_group_log():
    effects, _ = CRASH
    assert by_cause(audited(effects, [])) == only("crash")


def test_a_lost_partition_the_same_session_never_got_back_in_between_is_an_abort():
    effects, _ = LOST_AND_REGAINED
    later = [given(0, 0, [0], at=0), taken(0, 0, [0], at=250), given(0, 0, [0], at=260)]
    assert by_cause(audited(effects, later)) == only("abort")


def test_an_assignment_at_the_millisecond_of_the_earlier_effect_came_before_it():
    effects, _ = ABORT
    assert by_cause(audited(effects, [given(0, 0, [0], at=100)])) == only("abort")
    assert by_cause(audited(effects, [taken(0, 0, [0], at=100)])) == only("rebalance")


def test_once_a_copy_had_a_zombie_effect_every_later_duplicate_of_it_is_the_zombies():
    effects, events = ZOMBIE_FIRST
    third = charge("a", 0, 0, member=1, session=2, at=900)  # the new owner, restarted
    result = audited([*effects, third], events)
    assert by_cause(result) == only("zombie", 2)
    assert recounted([*effects, third], events) == only("zombie", 2)


def test_the_causes_add_up_to_the_consumer_duplicates_and_a_result_that_breaks_it_is_caught():
    effects, events = REBALANCE
    result = audited(effects, events)
    json = result.to_json()
    assert [json[f"duplicated_by_{cause}"] for cause in CAUSES] == [0, 1, 0, 0]
    broken = dataclasses.replace(result, duplicated_by_crash=1)
    with pytest.raises(AssertionError, match="!= duplicated_by_consumer"):
        check_invariants(broken)


def test_the_story_names_the_member_and_generation_of_each_processing_and_the_cause():
    effects, events = REBALANCE
    skipped = HandlerRun("b", 0, 1, True, session=1, member=1, generation=2, at_ms=310)
    clean = charge("b", 0, 1, member=0, session=0, at=110)
    result = audited([*effects, clean], events, runs=[skipped])
    story = result.orders["a"]
    assert story.processings == ((0, 0, 0, "counted"), (0, 0, 1, "counted"))
    assert story.processed_by == ((0, 1, 100, None), (1, 1, 300, "rebalance"))
    assert result.orders["b"].processed_by == ((0, 1, 110, None), (1, 2, 310, None))
    assert result.to_json(include_orders=True)["orders"]["a"]["processed_by"] == [
        [0, 1, 100, None],
        [1, 1, 300, "rebalance"],
    ]


def test_an_order_processed_once_names_its_member_in_its_story():
    result = audited([charge("a", 2, 7, member=3, session=5, at=42, generation=9)], [])
    assert result.orders["a"].processed_by == ((3, 9, 42, None),)


def test_the_result_shows_the_duplicated_copies_of_the_first_orders():
    effects, events = ZOMBIE
    result = audited(effects, events)
    assert result.to_json()["consumer_duplicates"] == [
        {
            "order_id": "a",
            "partition": 0,
            "offset": 0,
            "effects": [
                {"member": 1, "session": 1, "generation": 1, "at_ms": 120, "cause": None},
                {"member": 0, "session": 0, "generation": 1, "at_ms": 150, "cause": "zombie"},
            ],
        }
    ]
    many = [charge(f"o{n:02d}", 0, n, 0, s, at=n * 10 + s) for n in range(30) for s in (0, 1)]
    shown = audited(many, []).consumer_duplicates
    assert [example["order_id"] for example in shown] == [f"o{n:02d}" for n in range(20)]


def test_records_from_before_members_read_as_member_0_without_a_generation():
    result = audited([Effect("a", 0, 0, True, 0), Effect("a", 0, 0, True, 1)], [])
    assert by_cause(result) == only("crash")
    assert result.orders["a"].processed_by == ((0, -1, None, None), (0, -1, None, "crash"))


# Rebalances and their pauses.

PARTITIONS = (0, 1, 2)


def steady_runs(partitions, start: int, stop: int, every: int = 10) -> list[Effect]:
    """A charge on each partition every `every` ms from start to stop, each of its own order."""
    return [
        charge(f"p{p}-{at}", p, at, member=0, session=0, at=at)
        for p in partitions
        for at in range(start, stop + 1, every)
    ]


def test_a_one_member_group_that_was_only_ever_assigned_has_no_rebalance():
    result = audited(steady_runs(PARTITIONS, 10, 500), [given(0, 0, PARTITIONS, at=0)])
    assert result.rebalances == ()
    assert result.to_json()["rebalances"] == []


def test_an_eager_rebalance_pauses_every_partition_for_as_long_as_it_took():
    events = [
        given(0, 0, PARTITIONS, at=0),
        taken(0, 0, PARTITIONS, at=3000),
        given(0, 0, [0, 1], at=3500, generation=2),
        given(1, 1, [2], at=3500, generation=2),
    ]
    runs = steady_runs(PARTITIONS, 10, 2990) + steady_runs(PARTITIONS, 3510, 4500)
    (rebalance,) = audited(runs, events).rebalances
    assert rebalance["at_ms"] == 3000 and rebalance["settled_ms"] == 500
    assert rebalance["generations"] == [2]
    assert rebalance["moved"] == [2]
    assert [(p["member_before"], p["member_after"]) for p in rebalance["partitions"]] == [
        (0, 0), (0, 0), (0, 1),
    ]  # fmt: skip
    assert [p["pause_ms"] for p in rebalance["partitions"]] == [520, 520, 520]
    assert rebalance["longest_pause_unmoved_ms"] == 520


def test_an_incremental_rebalance_leaves_the_partitions_that_stay_at_their_normal_pace():
    events = [
        given(0, 0, PARTITIONS, at=0),
        taken(0, 0, [2], at=3000),
        given(0, 0, [], at=3001, generation=2),
        given(1, 1, [2], at=3500, generation=2),
    ]
    runs = steady_runs([0, 1], 10, 4500) + steady_runs([2], 10, 2990) + steady_runs([2], 3510, 4500)
    (rebalance,) = audited(runs, events).rebalances
    assert rebalance["moved"] == [2]
    assert [p["pause_ms"] for p in rebalance["partitions"]] == [10, 10, 520]
    assert rebalance["longest_pause_unmoved_ms"] == 10
    assert rebalance["longest_pause_ms"] == 520


def test_pauses_count_every_run_skipped_or_uncommitted():
    events = [given(0, 0, [0], at=0), taken(0, 0, [0], at=3000), given(1, 1, [0], at=3100)]
    runs = steady_runs([0], 10, 2990) + steady_runs([0], 3200, 3300)
    skipped = HandlerRun("x", 0, 999, True, session=1, member=1, generation=1, at_ms=3150)
    aborted = Effect("y", 0, 998, False, 1, 1, 1, 3120)
    (rebalance,) = audited([*runs, aborted], events, runs=[skipped]).rebalances
    assert rebalance["partitions"][0]["pause_ms"] == 3120 - 2990


def test_member_epochs_bumped_within_a_second_of_each_other_are_one_rebalance():
    events = [
        given(0, 0, PARTITIONS, at=0, generation=1),
        taken(0, 0, [2], at=5000, generation=1),
        given(0, 0, [], at=5010, generation=3),  # the consumer protocol: each member's epoch
        given(1, 1, [2], at=5600, generation=4),
        given(2, 2, [], at=9000, generation=5),  # a member joining later: another rebalance
        taken(1, 1, [2], at=9100, generation=4),
        given(2, 2, [2], at=9200, generation=6),
    ]
    first, second = group_story.group_rebalances(events)
    assert (first.start_ms, first.end_ms, first.generations) == (5000, 5600, (3, 4))
    assert first.moved == [2]
    assert (second.start_ms, second.end_ms, second.generations) == (9000, 9200, (5, 6))
    assert second.before[2] == 1 and second.after[2] == 2


def test_a_rebalance_waits_for_the_partitions_it_took_back_however_long_that_takes():
    events = [
        given(0, 0, [0, 1], at=0),
        given(1, 1, [], at=0),
        taken(0, 0, [1], at=5000),
        given(0, 0, [], at=5010, generation=2),
        given(1, 1, [], at=5010, generation=2),
        given(1, 1, [1], at=8000, generation=3),  # cooperative: the second round, 3 s later
    ]
    (rebalance,) = group_story.group_rebalances(events)
    assert (rebalance.start_ms, rebalance.end_ms) == (5000, 8000)
    assert rebalance.moved == [1]


def test_a_static_member_back_with_its_generation_and_a_clean_leave_make_no_rebalance():
    events = [
        given(0, 0, [0, 1], at=0, generation=4),
        given(0, 1, [0, 1], at=3000, generation=4),  # restarted, same instance id: no rebalance
        taken(0, 1, [0, 1], at=9000, generation=4),
        GroupEvent(0, 1, 4, LEFT, (), 9001),
    ]
    assert group_story.group_rebalances(events) == []


def test_a_paused_member_that_finds_its_partitions_lost_starts_the_rebalance_there():
    events = [
        given(0, 0, [0], at=0),
        given(1, 1, [1], at=0),
        GroupEvent(1, 1, 1, LOST, (1,), 7000),
        given(1, 1, [1], at=7300, generation=2),
    ]
    (rebalance,) = group_story.group_rebalances(events)
    assert (rebalance.start_ms, rebalance.end_ms, rebalance.moved) == (7000, 7300, [])


# The audit against the recount, over random groups.


def random_group_run(rng: random.Random) -> tuple[list[Effect], list[GroupEvent]]:
    """Effects of copies over 3 partitions by sessions of 3 members, some at the same
    millisecond, and a group log of assignments, revocations and losses at random times."""
    member_of = {session: rng.randrange(3) for session in range(6)}
    events = []
    for _ in range(rng.randint(0, 14)):
        session = rng.randrange(6)
        kind = rng.choice([ASSIGNED, ASSIGNED, REVOKED, LOST])
        partitions = tuple(sorted(rng.sample(PARTITIONS, rng.randint(0, 3))))
        events.append(GroupEvent(member_of[session], session, rng.randrange(5), kind, partitions,
                                 rng.randrange(0, 200, 5)))  # fmt: skip
    effects = []
    for number in range(rng.randint(1, 12)):
        partition = rng.choice(PARTITIONS)
        for _ in range(rng.choice([1, 2, 2, 3, 4])):
            session = rng.randrange(6)
            at = rng.choice([None, *range(0, 200, 5)]) if rng.random() < 0.1 else rng.randrange(
                0, 200, 5)  # fmt: skip
            effects.append(Effect(f"o{number}", partition, number, True, session,
                                  member_of[session], rng.randrange(5), at))  # fmt: skip
    rng.shuffle(effects)
    return effects, events


@pytest.mark.parametrize("seed", range(random_cases(100)))
def test_the_recount_finds_the_same_causes_as_the_audit(seed):
    effects, events = random_group_run(random.Random(seed))
    result = audited(effects, events)
    assert sum(by_cause(result).values()) == result.duplicated_by_consumer
    assert by_cause(result) == recounted(effects, events)


def test_random_group_runs_exercise_every_cause():
    seen = dict.fromkeys(CAUSES, 0)
    for seed in range(100):  # the recount alone: quick enough for every seed
        for cause, n in recounted(*random_group_run(random.Random(seed))).items():
            seen[cause] += n
    assert [cause for cause, n in seen.items() if n == 0] == []


def test_a_book_written_before_members_were_recorded_reads_without_them(tmp_path):
    effects, events = REBALANCE
    book = audited([*effects, charge("b", 0, 1, member=0, session=0, at=110)], events).orders
    old = tmp_path / "stories"
    old.mkdir()
    newer = {"effect_member", "effect_generation", "effect_at_ms", "member", "generation",
             "at_ms", "cause", *(f"duplicated_by_{cause}" for cause in CAUSES)}  # fmt: skip
    for path in book.folder.glob("*.parquet"):
        columns = duckdb.execute(f"SELECT name FROM parquet_schema('{path}')").fetchall()
        kept = [name for (name,) in columns[1:] if name not in newer]
        duckdb.execute(
            f"COPY (SELECT {', '.join(kept)} FROM read_parquet('{path}')) "
            f"TO '{old / path.name}' (FORMAT parquet)"
        )
    stories = list(StoryBook(old).values())
    assert [story.processed_by for story in stories] == [(), ()]
    assert [story._replace(processed_by=()) for story in book.values()] == stories


# Who made each run, as the loaders read it from the ledger and the output topic.


def test_the_ledger_names_the_member_generation_and_time_of_every_run(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(
        ledger.line(LedgerLine("a", 100, 1, 7, 3, 2, 9, True, 10, 1000))
        + ledger.line(LedgerLine("a", 100, 1, 7, 4, 1, 11, False, 10, 2000))
        # a line written before members were recorded
        + b'{"order_id":"b","amount_cents":5,"partition":0,"offset":1,"session":0,'
        b'"charged":true,"produced_at_ms":1,"processed_at_ms":3000}\n'
    )
    db = record_tables.connect()
    try:
        record_tables.load_ledger(db, path, tmp_path / "work")
        rows = db.execute("SELECT * FROM runs_by_member ORDER BY at_ms").fetchall()
    finally:
        db.close()
    assert rows == [
        ("a", 1, 7, 2, 3, 9, 1000, True, True),
        ("a", 1, 7, 1, 4, 11, 2000, False, True),
        ("b", 0, 1, 0, 0, -1, 3000, True, True),
    ]


def test_the_output_topic_names_who_wrote_each_total_at_its_own_timestamp(monkeypatch):
    values = [  # (value, committed, the output record's timestamp)
        (OutputValue("a", 5, 5, 1, 7, 10, session=3, member=2, generation=9), True, 1000),
        (OutputValue("a", 5, 10, 1, 7, 10, session=4, member=1, generation=11), False, 2000),
        (OutputValue("b", 5, 5, 0, 1, 10, session=0), True, 3000),  # before members
        (OutputValue("c", 5, 5, 0, 2, 10), True, 4000),  # before sessions
    ]

    def topic_read(db, table, bootstrap, topic, payload):
        db.execute(f"CREATE TABLE {table} ({kafka_log.COLUMNS})")
        for offset, (total, committed, written_at) in enumerate(values):
            db.execute(
                f"INSERT INTO {table} VALUES (?, 0, ?, ?, ?)",
                [output_value.value(total).decode(), offset, written_at, committed],
            )

    monkeypatch.setattr(kafka_log, "load_topic", topic_read)
    db = record_tables.connect()
    try:
        evidence._load_output(db, "unused:9092", "output")
        rows = db.execute("SELECT * FROM runs_by_member ORDER BY at_ms").fetchall()
    finally:
        db.close()
    assert rows == [
        ("a", 1, 7, 2, 3, 9, 1000, True, True),
        ("a", 1, 7, 1, 4, 11, 2000, True, False),
        ("b", 0, 1, 0, 0, -1, 3000, True, True),
        ("c", 0, 2, 0, None, -1, 4000, True, True),
    ]
