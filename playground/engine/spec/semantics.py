"""The delivery semantic a spec's settings promise, with every setting that weakens it.

The promise is about the effect: one charge per order (side-effect pipeline) or one contribution
per order to the running total (kafka-to-kafka). It is derived from settings alone, before any
run; the audit later reports the semantic a run actually showed, in the same vocabulary.

A record can be LOST when:
- producer.acks is "0": the producer never hears from the broker, so a failed write goes unnoticed;
- producer.acks is "1": the leader acknowledges before any follower has a copy, so a leader that
  dies right then takes the acknowledged write with it;
- producer.retries is 0: one transient error (a leader change, a timeout) fails the record;
- the producer's retries are bounded, by producer.retries and by producer.message_timeout_ms, and
  the spec's faults can cost one record more than either (fault_cost.py): the producer gives up
  on it and does not send it again (a restarted session would resume from it, but a session that
  goes on does not). A transactional producer is not at risk: a record it gave up on aborts its
  transaction, and it sends the whole transaction again;
- consumer.commit is "before-processing" or "auto": an offset can be committed for a record that
  was not processed yet, and a crash in between skips it;
- restarts.producer.enabled is false: a killed producer never re-sends the records whose
  acknowledgements it did not see;
- restarts.consumer.enabled is false: a killed consumer never processes the rest of the log;
- the spec's remove-consumer faults can remove every member of the group: nobody processes the
  rest of the log.
These last two are about recovery rather than client settings, but the audit counts what they
cost, so a promise that left them out would be broken by its own experiment.

A record's effect can be DUPLICATED when:
- producer.retries >= 1 without producer.enable_idempotence: a retry after a lost acknowledgement
  writes the record a second time;
- restarts.producer.enabled without producer.transactional: a restarted producer re-sends records
  whose acknowledgements it never saw, and idempotence only deduplicates within one session;
- restarts.producer.enabled with producer.transactional and producer.position "log": a producer
  that dies while its commit is in flight, or after it returned and before it logged its acks,
  resumes from its log and sends the committed records again (its position is outside the
  transaction; "transaction" puts it inside);
- consumer.commit is "after-processing" or "auto" and the consumer restarts: a crash between
  processing and commit makes the restarted consumer process those records again;
- consumer.commit is "after-processing" or "auto" and the group's partitions can move (several
  members, or a fault that adds, removes, stalls or pauses one): a member that processed records
  and had not committed them when its partitions moved leaves them to the new owner, which
  processes them again; a stalled or frozen member that wakes up after its partitions moved
  finishes its batch as a zombie, repeating what the new owner does;
- consumer.commit is "transactional" in the side-effect pipeline and the consumer restarts or the
  group's partitions can move: the transaction covers the offsets, never the external charge (a
  zombie's transaction is fenced, its charges are not);
- consumer.isolation_level is "read_uncommitted" with a transactional producer: the consumer
  processes records of aborted transactions, which the producer then sends again.
An idempotent consumer (side-effect only) cancels every duplicate risk: it records each order id
atomically with the charge and skips ids it has already charged. In kafka-to-kafka with
transactional commits and read_committed, the consumer side adds no duplicate risk.

The semantic follows: no risk at all is exactly-once, only duplicate risks at-least-once, only
loss risks at-most-once, both "none".

Each rule names a window in which its guarantee can fail; docs/spec.md lists every window, and
why no fault the playground offers opens one that the rules leave unnamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from playground.engine.spec import fields
from playground.engine.spec.fault_cost import (
    outlasts_message_timeout,
    outlasts_retries,
    schedule_cost,
)
from playground.engine.spec.model import (
    MAX_INT32,
    Acks,
    Commit,
    FaultKind,
    IsolationLevel,
    Pipeline,
    SourcePosition,
    Spec,
)


class Semantic(StrEnum):
    EXACTLY_ONCE = "exactly-once"
    AT_LEAST_ONCE = "at-least-once"
    AT_MOST_ONCE = "at-most-once"
    NONE = "none"


class Risk(NamedTuple):
    """One way a setting lets a record be lost or duplicated, said in one sentence."""

    setting: str  # the spec field's dotted path, as in FieldError and spec_fields
    explanation: str

    @property
    def label(self) -> str:
        """The setting's name on the page ("Acks" for producer.acks), from fields."""
        return fields.setting(self.setting).label


@dataclass(frozen=True)
class Promise:
    """What a spec's settings guarantee, and which settings stand in the way of more."""

    semantic: Semantic
    loss_risks: tuple[Risk, ...]
    duplicate_risks: tuple[Risk, ...]

    @property
    def summary(self) -> str:
        """One sentence for the page: the semantic and the settings behind its weak points."""
        losers = _settings(self.loss_risks)
        duplicators = _settings(self.duplicate_risks)
        if self.semantic == Semantic.EXACTLY_ONCE:
            return "Exactly-once: no setting here can lose a record or repeat its effect."
        if self.semantic == Semantic.AT_LEAST_ONCE:
            return f"At-least-once: no record is lost, but {duplicators} can repeat an effect."
        if self.semantic == Semantic.AT_MOST_ONCE:
            return f"At-most-once: no effect is repeated, but {losers} can lose a record."
        return (
            f"Neither guarantee: {losers} can lose a record and {duplicators} can repeat an effect."
        )


def promise(spec: Spec) -> Promise:
    """The semantic `spec` promises, with the loss and duplicate risks that decide it."""
    loss = tuple(_loss_risks(spec))
    duplicates = tuple(_duplicate_risks(spec))
    if loss and duplicates:
        semantic = Semantic.NONE
    elif loss:
        semantic = Semantic.AT_MOST_ONCE
    elif duplicates:
        semantic = Semantic.AT_LEAST_ONCE
    else:
        semantic = Semantic.EXACTLY_ONCE
    return Promise(semantic=semantic, loss_risks=loss, duplicate_risks=duplicates)


def _loss_risks(spec: Spec) -> list[Risk]:
    producer, consumer, restarts = spec.producer, spec.consumer, spec.restarts
    risks = []
    if producer.acks == Acks.NONE:
        risks.append(
            Risk(
                "producer.acks",
                "With acks=0 the producer never waits for the broker, "
                "so a record can vanish without any error.",
            )
        )
    elif producer.acks == Acks.LEADER:
        risks.append(
            Risk(
                "producer.acks",
                "With acks=1 only the leader holds a record when it is acknowledged, "
                "so it is gone if the leader dies before a follower copies it.",
            )
        )
    if producer.retries == 0:
        risks.append(
            Risk(
                "producer.retries",
                "With no retries a single transient error, such as a leader change, "
                "fails the record for good.",
            )
        )
    risks += _give_up_risks(spec)
    if consumer.commit == Commit.BEFORE_PROCESSING:
        risks.append(
            Risk(
                "consumer.commit",
                "The offset is committed before the record is processed, "
                "so a crash in between skips the record.",
            )
        )
    elif consumer.commit == Commit.AUTO:
        risks.append(
            Risk(
                "consumer.commit",
                "Auto-commit can commit the offset of a record handed to the application "
                "but not yet processed, so a crash in between skips the record.",
            )
        )
    if not restarts.producer.enabled:
        risks.append(
            Risk(
                "restarts.producer.enabled",
                "A killed producer is not restarted, so records it sent without seeing "
                "an acknowledgement are never sent again.",
            )
        )
    if not restarts.consumer.enabled:
        risks.append(
            Risk(
                "restarts.consumer.enabled",
                "A killed consumer is not restarted, so the records after its crash "
                "are never processed.",
            )
        )
    if _every_member_removed(spec):
        risks.append(
            Risk(
                "consumer.members",
                "The faults here remove every member of the group, so the rest of the log is "
                "never processed.",
            )
        )
    return risks


def _every_member_removed(spec: Spec) -> bool:
    """Whether the spec's remove-consumer faults name every member the group can have."""
    kinds = [fault.kind for fault in spec.faults]
    members = spec.consumer.members + kinds.count(FaultKind.ADD_CONSUMER)
    removed = {f.member for f in spec.faults if f.kind == FaultKind.REMOVE_CONSUMER}
    return len(removed) >= members


def _give_up_risks(spec: Spec) -> list[Risk]:
    """Bounded retries: a record the spec's faults can keep unacknowledged past the message
    timeout, or fail more often than retries allows, is given up on and never sent again."""
    producer = spec.producer
    if producer.acks == Acks.NONE or producer.transactional:
        return []  # acks=0 never retries; a transaction is sent again whole
    cost = schedule_cost(spec)
    if cost.none:
        return []
    risks = []
    if outlasts_message_timeout(cost, spec):
        risks.append(
            Risk(
                "producer.message_timeout_ms",
                f"The faults here can keep a record unacknowledged for {cost.describe()}, "
                f"past the message timeout ({producer.message_timeout_ms / 1000:g} s): the "
                "producer gives up on it, and only a restarted producer would send it again.",
            )
        )
    if 0 < producer.retries < MAX_INT32 and outlasts_retries(cost, spec):
        risks.append(
            Risk(
                "producer.retries",
                f"The faults here can fail one record's attempts more often than the "
                f"{producer.retries} retries allow ({cost.describe()}): the producer gives up "
                "on it, and only a restarted producer would send it again.",
            )
        )
    return risks


def _duplicate_risks(spec: Spec) -> list[Risk]:
    producer, consumer, restarts = spec.producer, spec.consumer, spec.restarts
    if consumer.idempotent:
        # Whatever reaches the consumer twice, the order id makes the second charge a no-op.
        return []
    risks = []
    if producer.retries >= 1 and not producer.enable_idempotence:
        risks.append(
            Risk(
                "producer.enable_idempotence",
                "Without idempotence, a retry sent after a lost acknowledgement "
                "writes the record to the log a second time.",
            )
        )
    if restarts.producer.enabled and not producer.transactional:
        risks.append(
            Risk(
                "restarts.producer.enabled",
                "A restarted producer re-sends the records whose acknowledgements it never saw, "
                "and idempotence does not reach across producer sessions.",
            )
        )
    if (
        restarts.producer.enabled
        and producer.transactional
        and producer.position == SourcePosition.LOG
    ):
        risks.append(
            Risk(
                "producer.position",
                "The producer keeps its position in its own log, outside the transaction: "
                "killed while its commit is in flight, or after it and before it logs it, it "
                "resumes from the log and sends records that committed once more.",
            )
        )
    moving = partitions_can_move(spec)
    if restarts.consumer.enabled and consumer.commit in (Commit.AFTER_PROCESSING, Commit.AUTO):
        risks.append(
            Risk(
                "consumer.commit",
                "A crash after processing but before the offset commit makes the restarted "
                "consumer process the same records again.",
            )
        )
    if moving and consumer.commit in (Commit.AFTER_PROCESSING, Commit.AUTO):
        risks.append(
            Risk(
                "consumer.members",
                "When the group's partitions move (a member added, removed, stalled or paused), "
                "what a member processed and had not committed is processed again by the new "
                "owner, and a member that wakes up after its partitions moved finishes its batch "
                "as a zombie.",
            )
        )
    if (
        (restarts.consumer.enabled or moving)
        and consumer.commit == Commit.TRANSACTIONAL
        and spec.pipeline == Pipeline.SIDE_EFFECT
    ):
        risks.append(
            Risk(
                "consumer.commit",
                "A transaction commits the offsets but not the external charge, so a crash "
                "after charging and before the commit charges those orders again.",
            )
        )
    if producer.transactional and consumer.isolation_level == IsolationLevel.READ_UNCOMMITTED:
        risks.append(
            Risk(
                "consumer.isolation_level",
                "With read_uncommitted the consumer also processes records of aborted "
                "transactions, which the producer then sends again.",
            )
        )
    return risks


# The faults that move the group's partitions from one member to another.
GROUP_FAULTS = frozenset(
    {
        FaultKind.ADD_CONSUMER,
        FaultKind.REMOVE_CONSUMER,
        FaultKind.STALL_CONSUMER,
        FaultKind.PAUSE_CONSUMER,
    }
)


def partitions_can_move(spec: Spec) -> bool:
    """Whether the group's partitions can move from one member to another in a run of `spec`:
    it has several members, or a fault that adds, removes, stalls or pauses one. (A stall or a
    pause shorter than the poll interval or the session timeout moves nothing; the promise names
    the risk anyway: the run shows whether it struck.)"""
    return spec.consumer.members > 1 or any(fault.kind in GROUP_FAULTS for fault in spec.faults)


def _settings(risks: tuple[Risk, ...]) -> str:
    """The distinct settings behind `risks`, as "a", "a and b" or "a, b and c"."""
    names = list(dict.fromkeys(risk.setting for risk in risks))
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
