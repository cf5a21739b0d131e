"""The audit's words: what became of an order id, the anomaly kinds and the filters that find
them, how a processing ended, what caused a consumer duplicate, the result's counts, and one
order's story. Imported by the audit, the story book and the pages; reads nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from playground.engine.spec.model import IsolationLevel

# Which input copies the consumer could see: the consumer's isolation.level.
CONSUMER_ISOLATIONS = tuple(level.value for level in IsolationLevel)

# Which effects count: what a read_committed or a read_uncommitted reader of the output sees.
COMMITTED_VIEW = "committed"
UNCOMMITTED_VIEW = "uncommitted"
EFFECTS_VIEWS = (COMMITTED_VIEW, UNCOMMITTED_VIEW)

# What the producer log says became of an order id, strongest evidence first.
PRODUCER_ACKED = "acked"
PRODUCER_SENT = "sent"
PRODUCER_FAILED = "failed"
PRODUCER_UNKNOWN = "unknown"

# The one outcome of an order id.
DELIVERED = "delivered"
DUPLICATED = "duplicated"
LOST_AT_PRODUCER = "lost_at_producer"
LOST_AT_BROKER = "lost_at_broker"
LOST_AT_CONSUMER = "lost_at_consumer"
UNEXPLAINED = "unexplained"
LOST_OUTCOMES = (LOST_AT_PRODUCER, LOST_AT_BROKER, LOST_AT_CONSUMER)

# What anomalies() filters on.
ANOMALY_LOST = "lost"
ANOMALY_DUPLICATED = "duplicated"
ANOMALY_ABORTED = "aborted"
ANOMALY_UNEXPLAINED = "unexplained"
ANOMALY_KINDS = (ANOMALY_LOST, ANOMALY_DUPLICATED, ANOMALY_ABORTED, ANOMALY_UNEXPLAINED)

# How one processing of an input copy ended (OrderStory.processings).
PROCESSING_COUNTED = "counted"  # it left an effect this view counts
PROCESSING_DEDUPLICATED = "deduplicated"  # the idempotent consumer skipped the charge
PROCESSING_ABORTED = "aborted"  # its effect is uncommitted: this view does not count it
PROCESSING_ENDS = (PROCESSING_COUNTED, PROCESSING_DEDUPLICATED, PROCESSING_ABORTED)

# What caused a consumer duplicate: why a copy was processed again (group_story.py decides, from
# the group log; docs/result.md gives the exact rules, tried in this order).
CAUSE_ZOMBIE = "zombie"  # an effect by a member after another member was given the partition
CAUSE_REBALANCE = "rebalance"  # the partition moved, or its member lost it and got it back
CAUSE_CRASH = "crash"  # a later session of the same member read again from the committed offset
CAUSE_ABORT = "abort"  # the same session again: its transaction aborted and it rewound
DUPLICATE_CAUSES = (CAUSE_CRASH, CAUSE_REBALANCE, CAUSE_ZOMBIE, CAUSE_ABORT)


def duplicated_by(cause: str) -> str:
    """The count of the consumer duplicates a cause (DUPLICATE_CAUSES) made."""
    return f"duplicated_by_{cause}"


# The consumer duplicates' counts by cause: they add up to duplicated_by_consumer.
CAUSE_COUNTS = tuple(duplicated_by(cause) for cause in DUPLICATE_CAUSES)

# The result's counts, in the order to_json() gives them.
COUNT_FIELDS = (
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
    *CAUSE_COUNTS,
    "aborted_reads",
    "redelivered",
    "deduplicated",
    "unexplained",
)


class OrderStory(NamedTuple):
    """Everything the three records say about one order id, and the outcome that follows (as
    the story book reads it back).

    acked_at holds (partition, offset, producer session) triples, log_copies (partition, offset,
    committed) triples and effect_sources (source partition, source offset, counted effects)
    triples, each sorted. processings holds (source partition, source offset, consumer session,
    how it ended: PROCESSING_ENDS) for every effect and every skipped handler run, by consumer
    session; the session is None when the record did not carry one. processed_by holds, for each
    processing in the same order, (group member, generation, at_ms, cause): the member and the
    group generation (or member epoch) it held, when it happened (epoch ms), and for a consumer
    duplicate what caused it (DUPLICATE_CAUSES; None for any other processing); a story kept
    before members were recorded has none. They are what an order's story draws: which session
    sent it, which heard the ack, which consumer session of which member processed which copy,
    whether that processing counted, and why it happened again.

    A NamedTuple: immutable, cheap to build for every story of a page.
    """

    order_id: str
    attempts: int
    sessions: tuple[int, ...]
    acked_at: tuple[tuple[int, int, int], ...]
    producer_outcome: str
    log_copies: tuple[tuple[int, int, bool], ...]
    visible_copies: int
    effects: int
    effect_sources: tuple[tuple[int, int, int], ...]
    handler_runs: int
    deduplicated: int
    aborted_reads: int
    outcome: str
    processings: tuple[tuple[int, int, int | None, str], ...]
    processed_by: tuple[tuple[int | None, int | None, int | None, str | None], ...] = ()

    @property
    def anomaly_kinds(self) -> tuple[str, ...]:
        """The anomaly kinds (ANOMALY_KINDS) this order id shows; empty for a clean delivery."""
        kinds = []
        if self.outcome in LOST_OUTCOMES:
            kinds.append(ANOMALY_LOST)
        if self.effects > 1:
            kinds.append(ANOMALY_DUPLICATED)
        if self.aborted_reads:
            kinds.append(ANOMALY_ABORTED)
        if self.outcome == UNEXPLAINED:
            kinds.append(ANOMALY_UNEXPLAINED)
        return tuple(kinds)

    def to_json(self) -> dict[str, Any]:
        """This story as a JSON-ready dict."""
        return {
            "order_id": self.order_id,
            "attempts": self.attempts,
            "sessions": list(self.sessions),
            "acked_at": [list(ack) for ack in self.acked_at],
            "producer_outcome": self.producer_outcome,
            "log_copies": [list(copy) for copy in self.log_copies],
            "visible_copies": self.visible_copies,
            "effects": self.effects,
            "effect_sources": [list(source) for source in self.effect_sources],
            "handler_runs": self.handler_runs,
            "deduplicated": self.deduplicated,
            "aborted_reads": self.aborted_reads,
            "outcome": self.outcome,
            "processings": [list(processing) for processing in self.processings],
            "processed_by": [list(who) for who in self.processed_by],
        }


# Which stories each anomaly filter shows, as SQL over the summary (OrderStory.anomaly_kinds).
ANOMALY_CONDITIONS = {
    ANOMALY_LOST: "outcome IN (" + ", ".join(f"'{o}'" for o in LOST_OUTCOMES) + ")",
    ANOMALY_DUPLICATED: "effects > 1",
    ANOMALY_ABORTED: "aborted_reads > 0",
    ANOMALY_UNEXPLAINED: f"outcome = '{UNEXPLAINED}'",
}
