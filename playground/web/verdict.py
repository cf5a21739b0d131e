"""The verdict in plain words: whether the run was a valid test of its settings, what it showed,
and where each loss and duplicate came from, tied to the settings that allowed it (the promise's
risks), from the stored result alone, whatever its age."""

from __future__ import annotations

from dataclasses import dataclass, field

from playground.engine.audit.outcomes import CAUSE_COUNTS
from playground.engine.run import timeline
from playground.engine.run.problems import Problem
from playground.engine.spec.fields import Setting, setting
from playground.web import chart as timeline_chart
from playground.web.models import Experiment


@dataclass(frozen=True)
class Finding:
    kind: str  # the audit field, e.g. "lost_at_consumer"
    count: int
    headline: str
    words: str
    settings: list[dict]  # the promise's risks behind it: {"setting", "explanation"}


@dataclass(frozen=True)
class Origin:
    """Where one kind of anomaly comes from, in words, and the settings that allow it."""

    headline: str
    words: str
    settings: tuple[Setting, ...]


def _origin(headline: str, words: str, *paths: str) -> Origin:
    return Origin(headline, words, tuple(setting(path) for path in paths))


# Per anomaly (the audit's count of it): where it comes from.
ORIGINS = {
    "lost_at_producer": _origin(
        "lost at the producer",
        "These records never reached the log and no broker acknowledged them: a send that "
        "failed, went out with acks=0 into a broker that was not there, was given up on once a "
        "fault outlasted the producer's retries or its message timeout, or a producer that died "
        "before sending and did not send again.",
        "producer.acks",
        "producer.retries",
        "producer.message_timeout_ms",
        "restarts.producer.enabled",
    ),
    "lost_at_broker": _origin(
        "lost at the broker",
        "A broker acknowledged these records, and later the log no longer had them: with acks=1 "
        "the leader answers alone, and a leader that dies before its followers copy a record "
        "takes the acknowledged write with it.",
        "producer.acks",
    ),
    "lost_at_consumer": _origin(
        "lost at the consumer",
        "These records are in the log, and nobody processed them: the consumer's offset moved "
        "past them before their processing was done (a commit before processing, or auto-commit), "
        "and then the consumer crashed.",
        "consumer.commit",
        "restarts.consumer.enabled",
    ),
    "duplicated_by_producer": _origin(
        "duplicated by the producer",
        "The same order is in the log more than once and each copy was processed: a retry after "
        "a lost acknowledgement without idempotence, or a restarted producer sending again what "
        "it never saw acknowledged (idempotence lasts one producer session), or what committed "
        "after its last logged position (a transactional producer that keeps its position in "
        "its log, killed as its commit went through).",
        "producer.enable_idempotence",
        "producer.retries",
        "restarts.producer.enabled",
        "producer.transactional",
        "producer.position",
    ),
    "duplicated_by_consumer": _origin(
        "duplicated by the consumer",
        "One copy in the log was processed more than once: the consumer crashed after processing "
        "and before committing, and its successor processed the same records again.",
        "consumer.commit",
        "consumer.idempotent",
        "consumer.isolation_level",
    ),
    # Where the audit names them (results since consumer groups), the consumer's duplicates by
    # cause, in place of duplicated_by_consumer.
    "duplicated_by_crash": _origin(
        "duplicated by a consumer restart",
        "A consumer's session ended after processing these records and before committing them "
        "(it was killed, failed, or was fenced as its group rejoined after a stall), and its "
        "next session processed them again from the last commit.",
        "consumer.commit",
        "consumer.idempotent",
        "restarts.consumer.enabled",
    ),
    "duplicated_by_rebalance": _origin(
        "duplicated in a rebalance",
        "A member had processed these records and not committed them when the group moved "
        "their partition (a member added, removed, stalled or frozen): the new owner started "
        "from the last commit and processed them again.",
        "consumer.commit",
        "consumer.members",
        "consumer.commit_on_revoke",
        "consumer.idempotent",
    ),
    "duplicated_by_zombie": _origin(
        "duplicated by a zombie",
        "A member went on processing after the group had given its partition to another "
        "member (it was stalled past max.poll.interval.ms, or frozen past its session): its "
        "work and the new owner's both took effect.",
        "consumer.max_poll_interval_ms",
        "consumer.members",
        "consumer.idempotent",
        "consumer.commit",
    ),
    "duplicated_by_abort": _origin(
        "duplicated after an aborted transaction",
        "A transaction aborted after the charges of its records were made (the charge is "
        "outside Kafka), and the consumer processed those records again.",
        "consumer.commit",
        "consumer.idempotent",
    ),
    "aborted_reads": _origin(
        "aborted records processed",
        "The consumer processed records of transactions that were aborted (read_uncommitted).",
        "consumer.isolation_level",
    ),
}


def explain(result: dict | None) -> list[Finding]:
    """One finding per kind of anomaly the audit found, in the order the records travel."""
    audit = _mapping(_mapping(result).get("audit"))
    promised = _mapping(_mapping(result).get("promise"))
    risks = [
        risk
        for risk in _list(promised.get("loss_risks")) + _list(promised.get("duplicate_risks"))
        if isinstance(risk, dict) and isinstance(risk.get("setting"), str)
    ]
    findings = []
    by_cause = any(cause in audit for cause in CAUSE_COUNTS)
    for kind, origin in ORIGINS.items():
        if kind == "duplicated_by_consumer" and by_cause:
            continue  # said cause by cause
        count = _count(audit.get(kind))
        if count:
            paths = {entry.path for entry in origin.settings}
            settings = [r for r in risks if r["setting"] in paths]
            findings.append(Finding(kind, count, origin.headline, origin.words, settings))
    return findings


@dataclass(frozen=True)
class Outcome:
    """What a stored result says about its run, with the fields results stored before `valid`,
    `problems`, `planned` and `never_sent` existed filled in from what they do have."""

    valid: bool
    problems: list[Problem] = field(default_factory=list)
    observed_semantic: str | None = None  # None when the run is invalid
    planned: int = 0  # the workload's orders
    attempted: int = 0  # orders the producer attempted at least once
    never_sent: int = 0  # planned orders the producer never attempted: not counted as lost
    never_sent_reason: str | None = None
    stopped: str | None = None  # None, "hand" or "time limit": why the run stopped early
    errors: list[str] = field(default_factory=list)

    @property
    def never_sent_sentence(self) -> str:
        """Why `lost` leaves out the orders that were never sent, or "" when all were sent."""
        if not self.never_sent:
            return ""
        orders = "1 order was" if self.never_sent == 1 else f"{self.never_sent} orders were"
        reason = f": {self.never_sent_reason}" if self.never_sent_reason else ""
        return (
            f"{orders} never sent{reason}. They are not counted as lost: lost counts orders "
            "the producer attempted."
        )

    @property
    def stopped_label(self) -> str:
        """How the run was stopped early, in words, or ""."""
        return timeline.STOP_REASONS.get(self.stopped or "", "")

    @property
    def first_problem(self) -> str:
        """The first problem's message, to go inside a sentence."""
        if not self.problems:
            return "the result gives no reason"
        return self.problems[0].message.strip().rstrip(".")


def outcome(result: dict | None, spec: dict | None = None) -> Outcome:
    """The outcome of a stored result; `spec` (the experiment's stored spec) gives the planned
    orders when the result is too old to say."""
    result = _mapping(result)
    audit = _mapping(result.get("audit"))
    valid = result.get("valid") is not False  # a result from before `valid` counts as valid
    attempted = _count(audit.get("attempted"))
    planned = _count(
        audit.get("planned"),
        _mapping(_mapping(result.get("spec")).get("workload")).get("records"),
        _mapping(_mapping(spec).get("workload")).get("records"),
        attempted,
    )
    never_sent = _count(audit.get("never_sent"), max(planned - attempted, 0))
    reason = result.get("never_sent_reason")
    observed = result.get("observed_semantic")
    return Outcome(
        valid=valid,
        problems=[Problem.from_json(p) for p in _list(result.get("problems"))],
        observed_semantic=str(observed) if valid and observed is not None else None,
        planned=planned,
        attempted=attempted,
        never_sent=never_sent,
        never_sent_reason=str(reason) if reason else None,
        stopped=str(result["stopped"]) if result.get("stopped") else None,
        errors=[str(error) for error in _list(result.get("errors"))],
    )


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _count(*values: object) -> int:
    """The first of `values` that is a count, else 0 (a stored result or spec may hold anything)."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0


def chart(experiment: Experiment) -> str:
    """The finished experiment's timeline, from the samples the live page drew."""
    samples = _list(_mapping(experiment.snapshot).get("samples"))
    events = [
        event
        for event in _list(_mapping(experiment.result).get("timeline"))
        if isinstance(event, dict)
        and isinstance(event.get("at"), int | float)
        and {"kind", "detail"} <= event.keys()
    ]
    return timeline_chart.render(samples, events)
