"""The built-in experiments: one per service of the order-processing scenario, plus the defaults.

Each preset is an ordinary spec document read through `Spec.from_json`, so a preset is exactly
what a user would get by typing the same JSON. Each advertises the semantic its settings promise
(the tests hold `semantics.promise` to it) and carries one crash that makes the lesson visible
within a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playground.engine.spec.model import Spec
from playground.engine.spec.semantics import Semantic


@dataclass(frozen=True)
class Preset:
    """A named, explained experiment a learner can run as it is or start from."""

    name: str  # the slug in URLs and on the CLI
    title: str
    service: str  # the service of the scenario it stands for
    semantic: Semantic  # what its settings promise
    explanation: str
    spec: Spec


def _preset(
    name: str,
    title: str,
    service: str,
    semantic: Semantic,
    explanation: str,
    document: dict[str, Any],
) -> Preset:
    spec = Spec.from_json({"name": title, **document})
    return Preset(name, title, service, semantic, " ".join(explanation.split()), spec)


METRICS = _preset(
    "metrics",
    "Metrics: at-most-once",
    "metrics",
    Semantic.AT_MOST_ONCE,
    """
    A stream of order counters for a dashboard, where a gap in the graph costs nothing and speed
    matters most. The producer takes the leader's word alone (acks=1) and never retries, and
    nobody restarts it; the consumer commits each batch (up to ten records) before handling it.
    Once 80 records are counted, the consumer dies right after committing its next batch, so the
    orders of that batch are never counted. Nothing is ever counted twice, which is all
    at-most-once promises.
    """,
    {
        "workload": {"records": 200, "rate": 30},
        "producer": {"acks": "1", "enable_idempotence": False, "retries": 0},
        "consumer": {"commit": "before-processing", "batch_size": 10},
        "faults": [
            {
                "kind": "kill-consumer",
                "point": "after-commit-before-processing",
                "at": {"records": 80},
            }
        ],
        "restarts": {"producer": {"enabled": False}},
    },
)

NOTIFICATION_SERVICE = _preset(
    "notification-service",
    "Notification service: at-least-once",
    "notification-service",
    Semantic.AT_LEAST_ONCE,
    """
    Every order triggers a confirmation email. Missing one is a support ticket; sending one
    twice is a shrug, so the service commits only after it has sent the emails of a batch. The
    producer is idempotent with acks=all, so no acknowledged order is lost. The consumer dies
    once about 120 emails are sent, after sending a batch's emails but before committing it; its
    replacement resumes from the last commit and sends that batch's emails again.
    """,
    {
        "workload": {"records": 300, "rate": 30},
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {"commit": "after-processing", "batch_size": 10},
        "faults": [
            {
                "kind": "kill-consumer",
                "point": "after-processing-before-commit",
                "at": {"records": 120},
            }
        ],
    },
)

PAYMENT_SERVICE = _preset(
    "payment-service",
    "Payment service: at-least-once delivery, each order charged once",
    "payment-service",
    Semantic.EXACTLY_ONCE,
    """
    Charging a card is a side effect Kafka cannot roll back, so transactions cannot help here.
    The service keeps at-least-once delivery and makes the charge idempotent instead: it writes
    the order id together with the charge and skips any id it has seen. The same crash as in the
    notification service hands one batch to the consumer a second time; it reads those records
    again but charges nobody twice, so the charges themselves come out exactly once.
    """,
    {
        "workload": {"records": 300, "rate": 30},
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {"commit": "after-processing", "batch_size": 10, "idempotent": True},
        "faults": [
            {
                "kind": "kill-consumer",
                "point": "after-processing-before-commit",
                "at": {"records": 120},
            }
        ],
    },
)

PAYMENTS_AGGREGATION = _preset(
    "payments-aggregation",
    "Payments aggregation: exactly-once",
    "payments-aggregation",
    Semantic.EXACTLY_ONCE,
    """
    A job reads the payments topic and writes a running total back to Kafka, so input, output
    and offsets all live in Kafka and one transaction can cover them together. The source
    producer writes in transactions and keeps its own position in the payments it reads in the
    same transaction as the payments it sends, so a producer that dies as a commit goes out never
    sends committed payments again: its next session resumes from the last committed position.
    The aggregator adds its output and its offsets to a single transaction per batch, and readers
    only see committed data. The aggregator dies halfway through a transaction; its replacement,
    starting under the same transactional id, aborts what the dead one left open and redoes that
    batch, so the total counts every payment once.
    """,
    {
        "pipeline": "kafka-to-kafka",
        "workload": {"records": 300, "rate": 30},
        "producer": {
            "acks": "all",
            "enable_idempotence": True,
            "transactional": True,
            "transactional_id": "payments-producer",
            "position": "transaction",
        },
        "consumer": {
            "commit": "transactional",
            "isolation_level": "read_committed",
            "batch_size": 10,
        },
        "faults": [{"kind": "kill-consumer", "point": "mid-transaction", "at": {"records": 150}}],
    },
)

KAFKA_DEFAULTS = _preset(
    "kafka-defaults",
    "librdkafka defaults: no guarantee",
    "any service that keeps the defaults",
    Semantic.NONE,
    """
    What an order service gets by changing nothing. The producer waits for all replicas but is
    not idempotent, so a retry after a lost acknowledgement can store an order twice. The
    consumer auto-commits every five seconds, and librdkafka marks a record's offset for that
    commit the moment it hands the record to the application, not once the application is done
    with it. If an auto-commit fires while a record is still being processed and the consumer
    then crashes, that record is never processed; if it crashes before the first auto-commit, as
    it does here at record 90 (three seconds in, at 30 orders a second), its replacement
    processes everything since the start again.
    """,
    {
        "workload": {"records": 300, "rate": 30},
        "producer": {"acks": "all", "enable_idempotence": False, "max_in_flight": 1_000_000},
        "consumer": {"commit": "auto", "auto_commit_interval_ms": 5000},
        "faults": [
            {
                "kind": "kill-consumer",
                "point": "after-processing-before-commit",
                "at": {"records": 90},
            }
        ],
    },
)

# The services above as they run in production: several instances in one consumer group, where a
# member that stalls or freezes past the group's patience hands its partitions on and wakes up as
# a zombie. Each group has three members on six partitions; the group gives up on a silent or
# slow member after 3 s, and the fault lasts 6 s.
GROUP = {"members": 3, "session_timeout_ms": 3000, "max_poll_interval_ms": 3000}
# 60 orders a second, so that a member's batch holds a few records when its stall strikes (after
# the first): the rest of the batch is what it handles as a zombie.
GROUP_WORKLOAD = {"records": 360, "rate": 60, "partitions": 6}

NOTIFICATION_GROUP = _preset(
    "notification-service-group",
    "Notification service, three instances: a zombie sends emails twice",
    "notification-service",
    Semantic.AT_LEAST_ONCE,
    """
    The notification service as it runs in production: three instances in one consumer group,
    each committing after it has sent a batch's emails. Once 90 emails are sent, one instance's
    handler stalls for 6 s in the middle of a batch, past the 3 s the group allows between polls.
    The group moves its partitions to the other two, which start from the last commit and send
    the stalled batch's emails again; when the stalled instance wakes, it finishes its batch as a
    zombie, sending emails for partitions it no longer owns, and its commit is refused. Nothing
    is lost; the duplicates come from the rebalance and the zombie, with no crash at all.
    """,
    {
        "workload": GROUP_WORKLOAD,
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {"commit": "after-processing", "batch_size": 10, **GROUP},
        "faults": [{"kind": "stall-consumer", "member": 0, "seconds": 6, "at": {"records": 90}}],
    },
)

PAYMENT_GROUP = _preset(
    "payment-service-group",
    "Payment service, three instances: the idempotent consumer absorbs a zombie",
    "payment-service",
    Semantic.EXACTLY_ONCE,
    """
    The payment service with three instances and the same stall as the notification service's:
    one instance stops for 6 s in the middle of a batch, the group hands its partitions to the
    others, and it wakes up as a zombie that finishes its batch. Every instance checks the order
    id against the charges already made, in the same atomic write as the charge, whichever
    instance made them: the records handled twice charge nobody twice.
    """,
    {
        "workload": GROUP_WORKLOAD,
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {
            "commit": "after-processing",
            "batch_size": 10,
            "idempotent": True,
            **GROUP,
        },
        "faults": [{"kind": "stall-consumer", "member": 0, "seconds": 6, "at": {"records": 90}}],
    },
)

AGGREGATION_GROUP = _preset(
    "payments-aggregation-group",
    "Payments aggregation, three instances: the zombie is fenced",
    "payments-aggregation",
    Semantic.EXACTLY_ONCE,
    """
    The payments aggregation (its producer as in the one-instance preset: transactions, its
    position inside them) with three instances in one group, each writing its running totals
    and its offsets in one transaction per batch. One instance is frozen for 6 s (SIGSTOP), past
    its 3 s session: the group gives its partitions to the others, which restore the last
    committed totals and carry on. When it is let go it finishes the transaction it had open, but
    the offsets it sends carry a generation the group has moved past, so the broker fences it and
    the transaction aborts: readers of committed data never see its totals. Every payment counts
    once.
    """,
    {
        "pipeline": "kafka-to-kafka",
        "workload": GROUP_WORKLOAD,
        "producer": PAYMENTS_AGGREGATION.spec.to_json()["producer"],
        "consumer": {
            "commit": "transactional",
            "isolation_level": "read_committed",
            "batch_size": 10,
            **GROUP,
        },
        "faults": [{"kind": "pause-consumer", "member": 1, "seconds": 6, "at": {"records": 90}}],
    },
)

PRESETS: dict[str, Preset] = {
    item.name: item
    for item in (
        METRICS,
        NOTIFICATION_SERVICE,
        PAYMENT_SERVICE,
        PAYMENTS_AGGREGATION,
        KAFKA_DEFAULTS,
        NOTIFICATION_GROUP,
        PAYMENT_GROUP,
        AGGREGATION_GROUP,
    )
}


def preset(name: str) -> Preset:
    """The preset called `name`; KeyError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}") from None
