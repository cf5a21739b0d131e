"""What only the consumer group explains: why a copy was processed again (a consumer duplicate's
cause), and what each rebalance cost (how long every partition went without a handler run).

The sink's lines say who made each effect and when (record_tables' runs_by_member: member,
session, generation, at_ms); the group log (formats/group_log.py) is the members' record of what
the group told them: which partitions it gave each one and took back, and when. Side by side they
attribute; they never count. The counts come from the three raw records alone (reckoning.py), and
a run's consumer duplicates get one cause each whatever the group log says, so the causes add up
to duplicated_by_consumer (with no group log at all every cause is a crash or an abort).

The rules are docs/result.md's ("Consumer groups: causes and rebalances"); tools/recount.py
applies them again on its own. Pure: the audit's tables and the group log's events, no Kafka.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any, NamedTuple

import duckdb

from playground.engine.audit import record_tables
from playground.engine.audit.outcomes import (
    CAUSE_ABORT,
    CAUSE_CRASH,
    CAUSE_REBALANCE,
    CAUSE_ZOMBIE,
    DUPLICATE_CAUSES,
)
from playground.engine.formats.group_log import ASSIGNED, LEFT, LOST, REVOKED, GroupEvent

# The temporary table duplicate_causes() leaves for the story book: (run: the rowid of the effect
# in runs_by_member, order_id, cause) for every consumer duplicate. The audit drops it.
CAUSES_TABLE = "duplicate_causes"
EXAMPLE_ORDERS = 20  # the orders whose duplicated copies the result shows
# New generations' assignments this close together are one rebalance: under the consumer
# protocol each member's epoch bumps on its own, a few milliseconds apart.
WITHIN_MS = 1000


class Processing(NamedTuple):
    """One counted effect of an input copy: which run of runs_by_member, the copy, who made it
    (member, consumer session, the generation it held) and when (epoch ms; None: not recorded)."""

    run: int
    order_id: str
    partition: int
    offset: int
    member: int
    session: int | None
    generation: int
    at_ms: int | None


def in_time_order(processing: Processing) -> tuple:
    """The order a copy's effects happened in: by time (an unrecorded one first), and between
    effects of the same millisecond by member, session and generation, so that the recount, which
    has no row ids, orders them alike (effects equal in all four have the same cause)."""
    at, session = processing.at_ms, processing.session
    return (
        -1 if at is None else at, processing.member, -1 if session is None else session,
        processing.generation,
    )  # fmt: skip


class GroupHistory:
    """The group log, searchable by partition and time: whom each assignment gave a partition
    to, and when each member's session was given or lost one."""

    def __init__(self, events: Iterable[GroupEvent]) -> None:
        # per partition: the times it was given (ascending) and to whom, (member, session)
        self._given_at: dict[int, list[int]] = defaultdict(list)
        self._given_to: dict[int, list[tuple[int, int]]] = defaultdict(list)
        # per (member, session, partition): its assignments and its revocations or losses
        self._changes: dict[tuple[int, int, int], list[tuple[int, str]]] = defaultdict(list)
        for event in sorted(events, key=attrgetter("at_ms")):  # stable: a ms keeps file order
            for partition in event.partitions:
                if event.event == ASSIGNED:
                    self._given_at[partition].append(event.at_ms)
                    self._given_to[partition].append((event.member, event.session))
                if event.event in (ASSIGNED, REVOKED, LOST):
                    key = (event.member, event.session, partition)
                    self._changes[key].append((event.at_ms, event.event))

    def owner_at(self, partition: int, at_ms: int) -> tuple[int, int] | None:
        """(member, session) the latest assignment of `partition` at or before `at_ms` went to;
        None when there was none."""
        place = bisect.bisect_right(self._given_at.get(partition, []), at_ms)
        return self._given_to[partition][place - 1] if place else None

    def is_zombie(self, processing: Processing) -> bool:
        """Whether an effect was made after another member's session had been given its
        partition: a ZOMBIE EFFECT."""
        if processing.at_ms is None:
            return False
        owner = self.owner_at(processing.partition, processing.at_ms)
        return owner is not None and owner != (processing.member, processing.session)

    def lost_between(self, earlier: Processing, later: Processing) -> bool:
        """Whether the session of both effects had their partition taken back or given again
        between them: a revocation or loss at or between their times, or an assignment after the
        earlier one and at or before the later one (an assignment at the very millisecond of the
        earlier effect came before it: the member is given a partition before it reads it)."""
        if earlier.at_ms is None or later.at_ms is None or later.session is None:
            return False
        key = (later.member, later.session, later.partition)
        return any(
            earlier.at_ms < at <= later.at_ms if event == ASSIGNED
            else earlier.at_ms <= at <= later.at_ms
            for at, event in self._changes.get(key, ())
        )  # fmt: skip


def causes(effects: Sequence[Processing], history: GroupHistory) -> list[str | None]:
    """The cause of each effect of one copy (in time order: in_time_order): None for the first,
    which is no duplicate; for every later one the first rule that holds of zombie (it or an
    earlier effect of the copy is a zombie effect), rebalance (another member than the previous
    effect's, or the same session that lost the partition and got it back in between), crash (a
    later session of the same member), abort (the same session again)."""
    found: list[str | None] = []
    zombie = False
    for index, effect in enumerate(effects):
        zombie = zombie or history.is_zombie(effect)
        if index == 0:
            found.append(None)
            continue
        previous = effects[index - 1]
        same_session = effect.session == previous.session
        if zombie:
            found.append(CAUSE_ZOMBIE)
        elif effect.member != previous.member or (
            same_session and history.lost_between(previous, effect)
        ):
            found.append(CAUSE_REBALANCE)
        elif not same_session:
            found.append(CAUSE_CRASH)
        else:
            found.append(CAUSE_ABORT)
    return found


class ConsumerDuplicates(NamedTuple):
    """The consumer duplicates' causes: how many each cause made, and the duplicated copies of
    the first EXAMPLE_ORDERS orders (by order id), each effect with who made it, when and why."""

    by_cause: dict[str, int]
    examples: list[dict[str, Any]]


def duplicate_causes(
    db: duckdb.DuckDBPyConnection, history: GroupHistory, *, counted: str, orders: str
) -> ConsumerDuplicates:
    """The cause of every consumer duplicate, into the temporary table CAUSES_TABLE.

    `counted` is the SQL condition on a row of runs_by_member that this view counts its effect,
    `orders` a query of the order ids that have more than one counted effect: only their copies
    are looked at (a grouping of a few rows), so a run without duplicates costs one empty look.
    """
    rows = db.execute(f"""
        WITH counted AS (
          SELECT rowid AS run, * FROM runs_by_member
          WHERE effect AND ({counted}) AND order_id IN ({orders})),
        twice AS (
          SELECT order_id, source_partition, source_offset FROM counted
          GROUP BY ALL HAVING count(*) > 1)
        SELECT run, order_id, source_partition, source_offset, member, session, generation, at_ms
        FROM counted SEMI JOIN twice USING (order_id, source_partition, source_offset)
    """).fetchall()  # fmt: skip
    copies: dict[tuple[str, int, int], list[Processing]] = defaultdict(list)
    for row in rows:
        processing = Processing(*row)
        copies[processing.order_id, processing.partition, processing.offset].append(processing)
    by_cause = dict.fromkeys(DUPLICATE_CAUSES, 0)
    runs, order_ids, named = [], [], []
    examples: list[dict[str, Any]] = []
    shown = sorted({order_id for order_id, _, _ in copies})[:EXAMPLE_ORDERS]
    for copy in sorted(copies):
        effects = sorted(copies[copy], key=in_time_order)
        found = causes(effects, history)
        for effect, cause in zip(effects, found, strict=True):
            if cause is not None:
                by_cause[cause] += 1
                runs.append(effect.run)
                order_ids.append(effect.order_id)
                named.append(cause)
        if copy[0] in shown:
            examples.append(_example(effects, found))
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {CAUSES_TABLE} (run BIGINT, order_id VARCHAR, cause VARCHAR)"
    )
    record_tables.add_columns(
        db, CAUSES_TABLE, {"run": runs, "order_id": order_ids, "cause": named}
    )
    return ConsumerDuplicates(by_cause, examples)


def _example(effects: list[Processing], found: list[str | None]) -> dict[str, Any]:
    first = effects[0]
    return {
        "order_id": first.order_id,
        "partition": first.partition,
        "offset": first.offset,
        "effects": [
            {
                "member": effect.member,
                "session": effect.session,
                "generation": effect.generation,
                "at_ms": effect.at_ms,
                "cause": cause,
            }
            for effect, cause in zip(effects, found, strict=True)
        ],
    }


class Rebalance(NamedTuple):
    """One rebalance as the group log tells it: when it began and ended (epoch ms), the new
    generations its assignments carried, and which member owned each partition the group had
    given as it began and as it ended (None: no member)."""

    start_ms: int
    end_ms: int
    generations: tuple[int, ...]
    before: dict[int, int | None]
    after: dict[int, int | None]

    @property
    def moved(self) -> list[int]:
        """The partitions whose owning member changed."""
        return [p for p in sorted(self.after) if self.before.get(p) != self.after[p]]


class _Forming:
    """A rebalance while its events come in."""

    def __init__(self, start_ms: int, before: dict, orphans: set[int]) -> None:
        self.start_ms = self.end_ms = start_ms
        self.before = before
        self.after = before
        self.orphans = orphans  # partitions taken back during it and not given again yet
        self.generations: set[int] = set()

    def done(self) -> Rebalance:
        partitions = sorted(set(self.before) | set(self.after))
        return Rebalance(
            self.start_ms, self.end_ms, tuple(sorted(self.generations)),
            {p: _member(self.before.get(p)) for p in partitions},
            {p: _member(self.after.get(p)) for p in partitions},
        )  # fmt: skip


def _member(owner: tuple[int, int] | None) -> int | None:
    return None if owner is None else owner[0]


def group_rebalances(events: Iterable[GroupEvent]) -> list[Rebalance]:
    """The rebalances in the group log, in time order.

    A rebalance begins with an assignment of a generation its member had not held before (the
    classic protocol's group generation, the consumer protocol's member epoch), and takes in every
    later assignment within WITHIN_MS of its last one, or while a partition the group took back
    during it is still without a member. It starts at the earliest revocation or loss since the
    previous rebalance ended (at or before its first assignment), else at that assignment, and
    ends at its last assignment. The group's first assignment (no partition had a member before)
    is no rebalance.
    """
    owners: dict[int, tuple[int, int]] = {}  # partition -> (member, session)
    held: dict[int, set[int]] = defaultdict(set)  # member -> generations it was assigned in
    found: list[Rebalance] = []
    forming: _Forming | None = None
    # The earliest revocation or loss since the last rebalance: (at_ms, owners then, taken back).
    pending: tuple[int, dict, set[int]] | None = None
    for event in sorted(events, key=attrgetter("at_ms")):
        if forming and event.at_ms - forming.end_ms > WITHIN_MS and not forming.orphans:
            found.append(forming.done())
            forming = None
        if event.event == ASSIGNED:
            new = event.generation not in held[event.member]
            held[event.member].add(event.generation)
            if forming is None and new:
                start_ms, before, taken = pending or (event.at_ms, dict(owners), set())
                forming, pending = _Forming(start_ms, before, taken), None
            for partition in event.partitions:
                owners[partition] = (event.member, event.session)
            taken_back = forming.orphans if forming else pending[2] if pending else set()
            taken_back.difference_update(event.partitions)
            if forming:
                forming.end_ms, forming.after = event.at_ms, dict(owners)
                if new:
                    forming.generations.add(event.generation)
        elif event.event in (REVOKED, LOST, LEFT):
            if forming is None and pending is None and event.event != LEFT:
                pending = (event.at_ms, dict(owners), set())
            mine = [p for p in event.partitions if owners.get(p) == (event.member, event.session)]
            for partition in mine:
                del owners[partition]
            if forming:
                forming.orphans.update(mine)
            elif pending:
                pending[2].update(mine)
    if forming:
        found.append(forming.done())
    return [r for r in found if any(member is not None for member in r.before.values())]


def rebalances(db: duckdb.DuckDBPyConnection, events: Sequence[GroupEvent]) -> list[dict]:
    """Each rebalance of the group log (group_rebalances) as the result gives it, with every
    partition's pause: the longest time it went without a handler run, over every run in
    runs_by_member (skipped and uncommitted ones too), among the gaps between consecutive runs
    of the partition that overlap the rebalance (from its start to its end); None when no gap
    does (no run before it, or none after)."""
    found = group_rebalances(events)
    if not found:
        return []
    pauses = _pauses(db, [(rebalance.start_ms, rebalance.end_ms) for rebalance in found])
    described = []
    for number, rebalance in enumerate(found):
        moved = rebalance.moved
        partitions = [
            {
                "partition": partition,
                "member_before": rebalance.before[partition],
                "member_after": rebalance.after[partition],
                "pause_ms": pauses.get((number, partition)),
            }
            for partition in sorted(rebalance.after)
        ]
        unmoved = [p["pause_ms"] for p in partitions if p["partition"] not in moved]
        described.append({
            "at_ms": rebalance.start_ms,
            "ended_at_ms": rebalance.end_ms,
            "settled_ms": rebalance.end_ms - rebalance.start_ms,
            "generations": list(rebalance.generations),
            "moved": moved,
            "partitions": partitions,
            "longest_pause_ms": _longest(p["pause_ms"] for p in partitions),
            "longest_pause_unmoved_ms": _longest(unmoved),
        })  # fmt: skip
    return described


def _longest(pauses: Iterable[int | None]) -> int | None:
    known = [pause for pause in pauses if pause is not None]
    return max(known) if known else None


def _pauses(
    db: duckdb.DuckDBPyConnection, windows: list[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """(window number, partition) -> the longest gap between consecutive runs of the partition
    (every run, by its time) that overlaps the window [start, end]: it began at or before the
    end, and ended at or after the start."""
    values = ", ".join(f"({n}, {int(start)}, {int(end)})" for n, (start, end) in enumerate(windows))
    rows = db.execute(f"""
        WITH windows (number, start_ms, end_ms) AS (VALUES {values}),
        gaps AS (
          SELECT source_partition, at_ms,
            lag(at_ms) OVER (PARTITION BY source_partition ORDER BY at_ms) AS before_ms
          FROM runs_by_member WHERE at_ms IS NOT NULL)
        SELECT number, source_partition, max(at_ms - before_ms)
        FROM gaps JOIN windows ON before_ms <= end_ms AND at_ms >= start_ms
        GROUP BY ALL
    """).fetchall()  # fmt: skip
    return {(number, partition): int(pause) for number, partition, pause in rows}
