"""A recount of an experiment's totals straight from its raw records, written apart from the audit.

It shares no code with playground/engine/audit/reckoning.py or the engine's readers (evidence.py,
kafka_log.py, sink.py): the producer log and the ledger are read here with json and plain loops,
and the topics with a consumer of its own, from offset 0 to the end of every partition. Only the
names of things (ExperimentNames) and of the workload's order ids (orders.order_id) come from the
engine. docs/result.md defines every number; when this recount and a result's audit disagree, one
of the two has a bug. That holds for the causes of the consumer duplicates too: they are found
here again from the group log, by the rules of docs/result.md ("Consumer groups: causes and
rebalances"), with none of the audit's code (engine/audit/group_story.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, TopicPartition

from playground.engine.naming import ExperimentNames
from playground.engine.orders import order_id

READ_TIMEOUT_SECONDS = 120.0
COMMITTED_VIEW = "committed"
UNCOMMITTED_VIEW = "uncommitted"
READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"
KAFKA_TO_KAFKA = "kafka-to-kafka"
# The causes of a consumer duplicate, as the result names their counts (duplicated_by_CAUSE).
CRASH, REBALANCE, ZOMBIE, ABORT = "crash", "rebalance", "zombie", "abort"
CAUSES = (CRASH, REBALANCE, ZOMBIE, ABORT)


class RecountError(RuntimeError):
    """The raw records could not be read (a topic is missing, a partition never ended)."""


@dataclass(frozen=True)
class RawRecords:
    """The three raw records of one experiment, as plain tuples, and the group log.

    An effect is (order id, source partition, offset, committed, member, session, generation,
    at_ms): who made it and when (the ledger's processed_at_ms, the output record's timestamp).
    One given as its first four alone reads as member 0, session None, generation -1, at None.
    """

    spec: dict
    producer_events: list[dict]  # the producer log's lines, decoded
    log_copies: list[tuple[str, int, int, bool]]  # (order id, partition, offset, committed)
    effects: list[tuple]  # (order id, source partition, offset, committed[, member, session,
    #                        generation, at_ms])
    handler_runs: list[tuple[str, int, int, bool]]  # (order id, partition, offset, deduplicated)
    group_events: list[dict] = field(default_factory=list)  # the group log's lines, decoded


def recount(folder: Path, bootstrap: str, experiment_id: str | None = None) -> dict[str, int]:
    """The committed view's counts of the experiment in `folder` (its id defaults to the folder's
    name), read from its files and from the cluster at `bootstrap` (the direct listener)."""
    return count(read_raw_records(folder, bootstrap, experiment_id))


def read_raw_records(folder: Path, bootstrap: str, experiment_id: str | None = None) -> RawRecords:
    """Read the producer log, both views of the input topic, and the sink."""
    folder = Path(folder)
    names = ExperimentNames(experiment_id or folder.name, folder)
    spec = json.loads(names.spec_file.read_text())
    committed = {
        (p, o) for p, o, *_ in read_topic(bootstrap, names.input_topic, READ_COMMITTED)
    }  # fmt: skip
    log_copies = []
    for partition, offset, key, value, _ in read_topic(
        bootstrap, names.input_topic, READ_UNCOMMITTED
    ):
        order = key.decode() if key is not None else json.loads(value)["order_id"]
        log_copies.append((order, partition, offset, (partition, offset) in committed))
    effects, handler_runs = [], []
    if spec["pipeline"] == KAFKA_TO_KAFKA:
        output = names.output_topic
        committed = {(p, o) for p, o, *_ in read_topic(bootstrap, output, READ_COMMITTED)}
        for partition, offset, _, value, timestamp in read_topic(
            bootstrap, output, READ_UNCOMMITTED
        ):
            total = json.loads(value)
            effects.append(
                (
                    total["order_id"],
                    total["source_partition"],
                    total["source_offset"],
                    (partition, offset) in committed,
                    *_who(total.get("member"), total.get("session"), total.get("generation")),
                    timestamp,
                )
            )
    else:
        for line in read_journal(names.sink):
            source = (line["order_id"], line["partition"], line["offset"])
            handler_runs.append((*source, not line["charged"]))
            if line["charged"]:  # a charge is outside Kafka: always committed
                who = _who(line.get("member"), line["session"], line.get("generation"))
                effects.append((*source, True, *who, line["processed_at_ms"]))
    return RawRecords(
        spec,
        read_journal(names.producer_log),
        log_copies,
        effects,
        handler_runs,
        read_journal(names.group_log),
    )


def _who(member: int | None, session: int | None, generation: int | None) -> tuple:
    """(member, session, generation) of a record; one from before members were recorded was
    member 0 and held no generation (-1)."""
    return (0 if member is None else member, session, -1 if generation is None else generation)


def count(raw: RawRecords, effects_view: str = COMMITTED_VIEW) -> dict[str, int]:
    """Every count of docs/result.md, plus planned and never_sent, in one view of the effects."""
    if effects_view not in (COMMITTED_VIEW, UNCOMMITTED_VIEW):
        raise ValueError(f"effects_view is {effects_view!r}; allowed: committed, uncommitted")
    see_all = raw.spec["consumer"]["isolation_level"] == READ_UNCOMMITTED
    attempted, acked, sent, failed = set(), set(), set(), set()
    by_kind = {"attempt": attempted, "ack": acked, "sent": sent, "fail": failed}
    for event in raw.producer_events:
        if event["kind"] not in by_kind:
            raise RecountError(f"producer log: unknown kind {event['kind']!r}")
        by_kind[event["kind"]].add(event["order_id"])
    mentioned = attempted | acked | sent | failed

    visible = Counter()  # order id -> copies the consumer could see
    aborted = set()  # (order id, partition, offset) of every copy of an aborted transaction
    for order, partition, offset, committed in raw.log_copies:
        mentioned.add(order)
        if committed or see_all:
            visible[order] += 1
        if not committed:
            aborted.add((order, partition, offset))

    per_order = Counter()  # order id -> counted effects
    per_copy = Counter()  # (order id, source partition, source offset) -> counted effects
    made = defaultdict(list)  # the same copy -> (at_ms, member, session, generation) per effect
    for order, partition, offset, committed, *who in raw.effects:
        mentioned.add(order)  # an effect this view does not count still names its order
        if committed or effects_view == UNCOMMITTED_VIEW:
            per_order[order] += 1
            per_copy[(order, partition, offset)] += 1
            member, session, generation, at = who or (0, None, -1, None)
            made[(order, partition, offset)].append((at, member, session, generation))

    runs = Counter()
    deduplicated = 0
    for order, _, _, skipped in raw.handler_runs:
        mentioned.add(order)
        runs[order] += 1
        deduplicated += skipped

    lost = attempted - set(per_order)
    lost_at_consumer = {order for order in lost if visible[order]}
    lost_at_broker = {order for order in lost - lost_at_consumer if order in acked}
    copies_with_effects = Counter(order for order, _, _ in per_copy)
    planned = raw.spec["workload"]["records"]
    return {
        "attempted": len(attempted),
        "acked": len(acked),
        "sent_unacked": len(sent - acked),
        "failed": len(failed - acked - sent),
        "unknown": len(attempted - acked - sent - failed),
        "in_log": len(visible),
        "log_duplicates": sum(copies - 1 for copies in visible.values()),
        "delivered": len(per_order),
        "lost": len(lost),
        "lost_at_producer": len(lost - lost_at_consumer - lost_at_broker),
        "lost_at_broker": len(lost_at_broker),
        "lost_at_consumer": len(lost_at_consumer),
        "duplicated": sum(effects - 1 for effects in per_order.values()),
        "duplicated_by_producer": sum(n - 1 for n in copies_with_effects.values()),
        "duplicated_by_consumer": sum(n - 1 for n in per_copy.values()),
        "aborted_reads": sum(n for copy, n in per_copy.items() if copy in aborted),
        "redelivered": sum(n - 1 for n in runs.values()),
        "deduplicated": deduplicated,
        "unexplained": len(mentioned - attempted),
        **duplicates_by_cause(made, raw.group_events),
        "planned": planned,
        "never_sent": sum(1 for index in range(planned) if order_id(index) not in attempted),
    }


def duplicates_by_cause(made: dict[tuple, list[tuple]], group_events: list[dict]) -> dict:
    """duplicated_by_CAUSE for each cause: every copy's effects beyond its first, each given the
    first cause of docs/result.md whose rule holds. `made` gives each copy's effects as (at_ms,
    member, session, generation); group_events the group log's lines."""
    events = sorted(group_events, key=lambda event: event["at_ms"])  # a tie keeps file order
    counts = dict.fromkeys(CAUSES, 0)
    for (_, partition, _), effects in made.items():
        if len(effects) < 2:
            continue
        # By time, then member, session and generation (unknown ones as -1): the audit's order.
        effects = sorted(effects, key=lambda e: tuple(-1 if v is None else v for v in e))
        about = [event for event in events if partition in event["partitions"]]
        zombie_so_far = False
        for earlier, later in zip([None, *effects], effects, strict=False):
            zombie_so_far = zombie_so_far or _made_by_a_zombie(later, about)
            if earlier is None:
                continue  # the first effect: no duplicate
            if zombie_so_far:
                counts[ZOMBIE] += 1
            elif later[1] != earlier[1] or (
                later[2] == earlier[2] and _given_or_taken_between(earlier, later, about)
            ):
                counts[REBALANCE] += 1
            elif later[2] != earlier[2]:
                counts[CRASH] += 1
            else:
                counts[ABORT] += 1
    return {f"duplicated_by_{cause}": n for cause, n in counts.items()}


def _made_by_a_zombie(effect: tuple, about: list[dict]) -> bool:
    """Whether the latest assignment of the partition at or before the effect (`about`: the
    group log's lines about it, by time) went to another member or session than made it."""
    at, member, session, _ = effect
    if at is None:
        return False
    owner = None
    for event in about:
        if event["at_ms"] > at:
            break
        if event["event"] == "assigned":
            owner = (event["member"], event["session"])
    return owner is not None and owner != (member, session)


def _given_or_taken_between(earlier: tuple, later: tuple, about: list[dict]) -> bool:
    """Whether the session of two effects had the partition revoked or lost at or between their
    times, or assigned after the earlier and at or before the later."""
    if earlier[0] is None or later[0] is None or later[2] is None:
        return False
    for event in about:
        if (event["member"], event["session"]) != (later[1], later[2]):
            continue
        if event["event"] in ("revoked", "lost") and earlier[0] <= event["at_ms"] <= later[0]:
            return True
        if event["event"] == "assigned" and earlier[0] < event["at_ms"] <= later[0]:
            return True
    return False


def compare(recount: dict[str, int], result_audit: dict) -> list[str]:
    """The fields where `result_audit` (a result's "audit" dict) differs from the recount, in
    words. A field the result does not carry is skipped, not a mismatch."""
    return [
        f"{name}: recount {value}, audit {result_audit[name]}"
        for name, value in recount.items()
        if name in result_audit and result_audit[name] != value
    ]


def invariant_violations(result_audit: dict) -> list[str]:
    """The invariants of docs/result.md that a result's audit dict breaks, in words."""
    a = result_audit
    broken = []
    if a["lost"] != a["lost_at_producer"] + a["lost_at_broker"] + a["lost_at_consumer"]:
        broken.append("lost != lost_at_producer + lost_at_broker + lost_at_consumer")
    if a["duplicated"] != a["duplicated_by_producer"] + a["duplicated_by_consumer"]:
        broken.append("duplicated != duplicated_by_producer + duplicated_by_consumer")
    by_cause = [f"duplicated_by_{cause}" for cause in CAUSES]
    causes_given = all(name in a for name in by_cause)  # results stored before causes lack them
    if causes_given and sum(a[name] for name in by_cause) != a["duplicated_by_consumer"]:
        broken.append(f"{' + '.join(by_cause)} != duplicated_by_consumer")
    if a["unexplained"]:
        broken.append(f"unexplained is {a['unexplained']}: records from outside this run")
    else:
        if a["delivered"] + a["lost"] != a["attempted"]:
            broken.append("delivered + lost != attempted")
        if a["acked"] + a["sent_unacked"] + a["failed"] + a["unknown"] != a["attempted"]:
            broken.append("acked + sent_unacked + failed + unknown != attempted")
        if "planned" in a and a["attempted"] + a["never_sent"] != a["planned"]:
            broken.append("attempted + never_sent != planned")
    if a["lost"] and a["duplicated"]:
        semantic = "none"
    elif a["lost"]:
        semantic = "at-most-once"
    elif a["duplicated"]:
        semantic = "at-least-once"
    else:
        semantic = "exactly-once"
    # An invalid run names no semantic (null); any named one must follow from the counts.
    if a.get("observed_semantic") not in (None, semantic):
        broken.append(f"observed_semantic is {a['observed_semantic']}, the counts say {semantic}")
    return broken


def read_journal(path: Path) -> list[dict]:
    """Every complete line of a JSON-lines file (a line cut short by a SIGKILL is left out)."""
    if not path.exists():
        return []
    with path.open() as journal:
        return [json.loads(line) for line in journal if line.endswith("\n")]


def read_topic(
    bootstrap: str, topic: str, isolation: str, timeout: float = READ_TIMEOUT_SECONDS
) -> list[tuple[int, int, bytes | None, bytes | None, int]]:
    """(partition, offset, key, value, timestamp in epoch ms) of every record `isolation` shows
    in `topic`, each partition assigned explicitly and read from offset 0 to its end (the high
    watermark; the last stable offset for read_committed)."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"recount-{uuid.uuid4().hex}",  # never committed: no group is left
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "isolation.level": isolation,
            "log_level": 3,
        }
    )
    try:
        found = reader.list_topics(topic, timeout=10).topics.get(topic)
        if found is None or found.error is not None:
            raise RecountError(f"topic {topic} is not in the cluster: {found and found.error}")
        highs = {}
        for partition in sorted(found.partitions):
            _, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > 0:
                highs[partition] = high
        reader.assign([TopicPartition(topic, partition, 0) for partition in highs])
        records: dict[tuple[int, int], tuple[bytes | None, bytes | None, int]] = {}
        remaining = set(highs)
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise RecountError(f"{topic} ({isolation}): partitions {sorted(remaining)} unread")
            message = reader.poll(1.0)
            if message is None:
                continue
            error, partition = message.error(), message.partition()
            if error is None:
                if (partition, message.offset()) in records:
                    raise RecountError(f"{topic}-{partition}@{message.offset()} read twice")
                records[(partition, message.offset())] = (
                    message.key(),
                    message.value(),
                    message.timestamp()[1],
                )
            elif error.code() != KafkaError._PARTITION_EOF:
                raise RecountError(f"reading {topic} ({isolation}): {error}")
            elif isolation == READ_COMMITTED or message.offset() >= highs[partition]:
                remaining.discard(partition)
        return [(p, o, *record) for (p, o), record in sorted(records.items())]
    finally:
        reader.close()
