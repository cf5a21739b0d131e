"""One order's anomaly in one sentence that names the setting which allowed it, with the value the
experiment's spec gave it ("consumer.commit = after-processing let the restarted consumer ...").

The story says what happened (from the audit's records); the spec says which setting let it
happen. Without a spec that still reads (a spec stored by an older version), the sentence names
the setting alone.
"""

from __future__ import annotations

from playground.engine.audit.outcomes import (
    DUPLICATED,
    LOST_AT_BROKER,
    LOST_AT_CONSUMER,
    LOST_AT_PRODUCER,
    PROCESSING_COUNTED,
    PROCESSING_DEDUPLICATED,
    PRODUCER_FAILED,
    PRODUCER_SENT,
    UNEXPLAINED,
)
from playground.engine.spec.fields import Kind, setting
from playground.engine.spec.model import Acks, Commit, Pipeline, Spec
from playground.web.stories.order_sequence import copy_name


def sentence(story: dict, spec: Spec | None) -> str:
    """Why this order ended as it did, in one sentence, naming the setting that allowed it."""
    outcome = story.get("outcome")
    order_id = story.get("order_id", "this order")
    if outcome == UNEXPLAINED:
        return (
            f"No producer session attempted {order_id}: its records do not belong to this run "
            "(or a worker has a bug)."
        )
    if story.get("aborted_reads"):
        return _aborted_read(story, spec)
    if outcome == DUPLICATED:
        repeated = [(p, o) for p, o, n in story.get("effect_sources", []) if n > 1]
        if repeated:
            return _duplicated_by_consumer(story, spec, *repeated[0])
        return _duplicated_by_producer(story, spec)
    if outcome == LOST_AT_CONSUMER:
        return _lost_at_consumer(story, spec)
    if outcome == LOST_AT_BROKER:
        return _lost_at_broker(story, spec)
    if outcome == LOST_AT_PRODUCER:
        return _lost_at_producer(story, spec)
    skipped = [s for _, _, s, how in story.get("processings", []) if how == PROCESSING_DEDUPLICATED]
    if skipped:
        return (
            f"{_setting(spec, 'consumer.idempotent')} recognised {order_id} when "
            f"{_session('consumer session', skipped[0])} processed it again, and skipped the "
            "second charge: delivered once."
        )
    return f"{order_id} was sent, acknowledged, processed once and counted once: no anomaly."


def _duplicated_by_consumer(story: dict, spec: Spec | None, partition: int, offset: int) -> str:
    sessions = [
        s
        for p, o, s, how in story.get("processings", [])
        if (p, o) == (partition, offset) and how == PROCESSING_COUNTED
    ]
    first = _session("session", sessions[0]) if sessions else "an earlier session"
    again = _session("session", sessions[-1]) if len(sessions) > 1 else "a new session"
    copy = copy_name(partition, offset)
    if spec is not None and spec.consumer.commit == Commit.TRANSACTIONAL:
        return (
            f"{_setting(spec, 'consumer.commit')} commits the offsets but not the charge, so the "
            f"restarted consumer ({again}) charged {copy} again after {first} charged it and died "
            "before its transaction committed."
        )
    idempotent = ""
    if spec is not None and spec.pipeline == Pipeline.SIDE_EFFECT:
        idempotent = f" with {_setting(spec, 'consumer.idempotent')}"
    return (
        f"{_setting(spec, 'consumer.commit')}{idempotent} let the restarted consumer ({again}) "
        f"process {copy} again: {first} had processed it and died before committing."
    )


def _duplicated_by_producer(story: dict, spec: Spec | None) -> str:
    copies = ", ".join(copy_name(p, o) for p, o, _ in story.get("effect_sources", []))
    sessions = story.get("sessions", [])
    if len(sessions) > 1 and spec is not None and spec.producer.transactional:
        return (
            f"A restarted transactional producer that keeps its position in its own log "
            f"({_setting(spec, 'producer.position')}) let session {sessions[-1]} send "
            f"{story.get('order_id')} again: session {sessions[0]} died as the transaction "
            f"holding it committed, before it logged the commit, so the log holds it at "
            f"{copies}, committed twice, and each copy was processed."
        )
    if len(sessions) > 1:
        return (
            f"A restarted producer without transactions ("
            f"{_setting(spec, 'restarts.producer.enabled')}, "
            f"{_setting(spec, 'producer.transactional')}) let session {sessions[-1]} send "
            f"{story.get('order_id')} again after session {sessions[0]} never saw its ack, so "
            f"the log holds it at {copies} and each copy was processed."
        )
    return (
        f"{_setting(spec, 'producer.enable_idempotence')} let a retry write "
        f"{story.get('order_id')} to the log again, at {copies}, and each copy was processed."
    )


def _lost_at_consumer(story: dict, spec: Spec | None) -> str:
    visible = [copy_name(p, o) for p, o, committed in story.get("log_copies", []) if committed]
    copy = visible[0] if visible else "its copy"
    if spec is None or spec.consumer.commit in (Commit.BEFORE_PROCESSING, Commit.AUTO):
        return (
            f"{_setting(spec, 'consumer.commit')} committed the group's offset past {copy} before "
            "it was processed, and the consumer died in between: no session processed it."
        )
    if not spec.restarts.consumer.enabled:
        return (
            f"{_setting(spec, 'restarts.consumer.enabled')} left the killed consumer dead, so no "
            f"session ever processed {copy}."
        )
    return f"{copy} is in the log, and no consumer session processed it."


def _lost_at_broker(story: dict, spec: Spec | None) -> str:
    acks = story.get("acked_at", [])
    copy = copy_name(acks[0][0], acks[0][1]) if acks else "its offset"
    if spec is None or spec.producer.acks == Acks.LEADER:
        return (
            f"{_setting(spec, 'producer.acks')} let the leader acknowledge {copy} alone, and the "
            "write was gone when that leader died before a follower copied it."
        )
    return (
        f"A broker acknowledged {copy} ({_setting(spec, 'producer.acks')}), and the log no "
        "longer holds it."
    )


def _lost_at_producer(story: dict, spec: Spec | None) -> str:
    order_id = story.get("order_id")
    reached = story.get("log_copies", [])
    if reached and not any(committed for _, _, committed in reached):
        return (
            f"{_setting(spec, 'producer.transactional')}: {order_id} reached the log only inside "
            "aborted transactions, and no producer session sent it again."
        )
    outcome = story.get("producer_outcome")
    if outcome == PRODUCER_SENT or (spec is not None and spec.producer.acks == Acks.NONE):
        return (
            f"{_setting(spec, 'producer.acks')} let the producer count {order_id} as sent "
            "without any broker answering, and it never reached the log."
        )
    if outcome == PRODUCER_FAILED and (spec is None or spec.producer.retries == 0):
        return (
            f"{_setting(spec, 'producer.retries')} gave up on {order_id} after one failed send: "
            "it never reached the log."
        )
    if outcome == PRODUCER_FAILED and spec is not None and spec.producer.acks != Acks.NONE:
        return (
            f"{_setting(spec, 'producer.message_timeout_ms')} and "
            f"{_setting(spec, 'producer.retries')} bound the producer's retries: it gave up on "
            f"{order_id} when a fault held it longer or failed it more often than they allow, "
            "and no session sent it again."
        )
    if spec is not None and not spec.restarts.producer.enabled:
        return (
            f"{_setting(spec, 'restarts.producer.enabled')} left the killed producer dead before "
            f"it heard back about {order_id}, and no session sent it again."
        )
    return f"{order_id} never reached the log and no broker acknowledged it."


def _setting(spec: Spec | None, path: str) -> str:
    """'consumer.commit = after-processing': the setting and the value the spec gave it (a flag
    reads 'restarts.producer.enabled off')."""
    if spec is None:
        return path
    described = setting(path)
    shown = described.shown(described.value(spec))
    return f"{path} {shown}" if described.kind == Kind.FLAG else f"{path} = {shown}"


def _session(role: str, session: int | None) -> str:
    return f"{role} {session}" if session is not None else f"{role} (not recorded)"


def _aborted_read(story: dict, spec: Spec | None) -> str:
    aborted = {(p, o) for p, o, committed in story.get("log_copies", []) if not committed}
    readers = [(p, o, s) for p, o, s, _ in story.get("processings", []) if (p, o) in aborted]
    if not readers:  # a story kept before processings were recorded
        return (
            f"{_setting(spec, 'consumer.isolation_level')} let the consumer process a copy from "
            "an aborted transaction."
        )
    p, o, session = readers[0]
    return (
        f"{_setting(spec, 'consumer.isolation_level')} let "
        f"{_session('consumer session', session)} process {copy_name(p, o)}, a copy from an "
        "aborted transaction."
    )
