"""The verdict in plain words: where each loss and duplicate came from, tied to the settings that
allowed it (the promise's risks), from the audit's counts alone."""

from __future__ import annotations

from dataclasses import dataclass

from playground.web import chart as timeline_chart
from playground.web.models import Experiment


@dataclass(frozen=True)
class Finding:
    kind: str  # the audit field, e.g. "lost_at_consumer"
    count: int
    headline: str
    words: str
    settings: list[dict]  # the promise's risks behind it: {"setting", "explanation"}


# Per anomaly: the headline, what happened, and which settings (by dotted-path prefix) allow it.
ORIGINS = {
    "lost_at_producer": (
        "lost at the producer",
        "These records never reached the log and no broker acknowledged them: a send that "
        "failed, went out with acks=0 into a broker that was not there, or a producer that died "
        "before sending and did not send again.",
        ("producer.acks", "producer.retries", "restarts.producer"),
    ),
    "lost_at_broker": (
        "lost at the broker",
        "A broker acknowledged these records, and later the log no longer had them: with acks=1 "
        "the leader answers alone, and a leader that dies before its followers copy a record "
        "takes the acknowledged write with it.",
        ("producer.acks",),
    ),
    "lost_at_consumer": (
        "lost at the consumer",
        "These records are in the log, and nobody processed them: the consumer's offset moved "
        "past them before their processing was done (a commit before processing, or auto-commit), "
        "and then the consumer crashed.",
        ("consumer.commit", "restarts.consumer"),
    ),
    "duplicated_by_producer": (
        "duplicated by the producer",
        "The same order is in the log more than once and each copy was processed: a retry after "
        "a lost acknowledgement without idempotence, or a restarted producer sending again what "
        "it never saw acknowledged (idempotence lasts one producer session).",
        (
            "producer.enable_idempotence",
            "producer.retries",
            "restarts.producer",
            "producer.transactional",
        ),
    ),
    "duplicated_by_consumer": (
        "duplicated by the consumer",
        "One copy in the log was processed more than once: the consumer crashed after processing "
        "and before committing, and its successor processed the same records again.",
        ("consumer.commit", "consumer.idempotent", "consumer.isolation_level"),
    ),
    "aborted_reads": (
        "aborted records processed",
        "The consumer processed records of transactions that were aborted (read_uncommitted).",
        ("consumer.isolation_level",),
    ),
}


def explain(result: dict | None) -> list[Finding]:
    """One finding per kind of anomaly the audit found, in the order the records travel."""
    if not result:
        return []
    audit = result["audit"]
    risks = result["promise"]["loss_risks"] + result["promise"]["duplicate_risks"]
    findings = []
    for kind, (headline, words, prefixes) in ORIGINS.items():
        count = audit.get(kind, 0)
        if count:
            settings = [r for r in risks if r["setting"].startswith(prefixes)]
            findings.append(Finding(kind, count, headline, words, settings))
    return findings


def chart(experiment: Experiment) -> str:
    """The finished experiment's timeline, from the samples the live page drew."""
    samples = (experiment.snapshot or {}).get("samples", [])
    events = (experiment.result or {}).get("timeline", [])
    return timeline_chart.render(samples, events)
