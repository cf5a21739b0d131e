"""The lessons: the course module's path in ten short steps, and the learner's progress.

Pure content and logic, no HTTP. Steps 1-9 each ask one question, take a prediction in the
shared vocabulary of `predictions`, and run one experiment derived from a preset whose crash
makes the point (steps 6 and 7 the same crash twice, one setting apart; steps 8 and 9 a service
run as a group of instances, where a rebalance or a zombie makes it). The last step replays
the guide's decision questions for the four services of the scenario and checks which preset the
learner picked for each.

Progress lives in the learner's session as one plain JSON document (see `Progress`), so a
lesson needs no model of its own: the session already belongs to exactly one learner.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from playground.engine.spec import fields, presets
from playground.engine.spec.model import FaultKind, KillPoint, Spec
from playground.engine.spec.presets import Preset
from playground.web.lessons import predictions
from playground.web.lessons.guide import Answer, Outcome, Question, walk

SESSION_KEY = "lessons"  # the session's progress document
# The fields of the last step's form: one per service of the scenario.
CHOICE_FIELD_PREFIX = "service-"


class LessonError(ValueError):
    """Input a lesson cannot take; the message names the field and the allowed values."""


@dataclass(frozen=True)
class Step:
    """One step of the path: what to read, what to predict, what runs."""

    number: int
    title: str
    text: tuple[str, ...]  # paragraphs, in our own words
    question: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: predictions.CHOICES)
    spec: Spec | None = None  # the experiment the prediction is checked against
    settings: tuple[str, ...] = ()  # the spec paths the text turns on, shown with their values
    why: str = ""  # the reason for the outcome, shown beside the checked prediction
    # It offers the rebalance protocols' comparison (comparisons.rebalances) after its run.
    rebalance_comparison: bool = False

    @property
    def runs_experiment(self) -> bool:
        return self.spec is not None


def _lesson_spec(preset: Preset, title: str, **changes: Any) -> Spec:
    """`preset`'s spec under a lesson's name, with whole sections replaced by `changes`.

    A lesson is a preset with one lever moved, so the spec reader validates it like any other
    document: a change that no longer makes a valid spec fails at import, not in front of a class.
    """
    document = copy.deepcopy(preset.spec.to_json())
    document["name"] = title
    for section, value in changes.items():
        document[section] = value
    return Spec.from_json(document)


# Pace for every lesson run: a few hundred orders at a speed the live page can be watched.
LESSON_WORKLOAD = {"records": 300, "rate": 30}

# Steps 6 and 7: the payments aggregation's transactional producer with small transactions, killed
# right after the commit that covers order 100 returns and before it records it, restarted at
# once. The two runs differ in producer.position alone.
COMMIT_WINDOW_WORKLOAD = {"records": 200, "rate": 40}
COMMIT_WINDOW_TRANSACTION_RECORDS = 10
COMMIT_WINDOW_KILL = {
    "kind": FaultKind.KILL_PRODUCER.value,
    "at": {"records": 100},
    "point": KillPoint.AFTER_COMMIT_BEFORE_LOG.value,
}


def _commit_window_spec(title: str, position: str) -> Spec:
    producer = presets.PAYMENTS_AGGREGATION.spec.to_json()["producer"]
    return _lesson_spec(
        presets.PAYMENTS_AGGREGATION,
        title,
        workload=COMMIT_WINDOW_WORKLOAD,
        producer=producer
        | {"transaction_records": COMMIT_WINDOW_TRANSACTION_RECORDS, "position": position},
        faults=[COMMIT_WINDOW_KILL],
    )


COMMIT_WINDOW_LABELS = {
    predictions.NOTHING: "every payment counted once",
    predictions.DUPLICATES: "some payments counted twice, none missing",
    predictions.LOSS: "some payments missing, none twice",
    predictions.BOTH: "some missing and some twice",
}
COMMIT_WINDOW_SETTINGS = (
    "producer.transactional",
    "producer.transaction_records",
    "producer.position",
    "restarts.producer.enabled",
)

STEPS: tuple[Step, ...] = (
    Step(
        1,
        "The three semantics",
        (
            "When nothing fails, every order is handled once and the question never comes up. "
            "Delivery semantics are about what a failure does: count, for each order, how many "
            "times its effect really happened.",
            "At-most-once means zero or one time: a failure may drop an order but never repeats "
            "one. At-least-once means one or more: nothing goes missing, but a failure can repeat "
            "an effect. Exactly-once means one, always: no gap and no repeat.",
            "Kafka with sensible settings gives at-least-once, and for most services that is the "
            "right place to start. This first run is the opposite corner: a dashboard's counter "
            "service that cares about speed, not about every order. Its consumer commits a batch "
            "before counting it, and dies once right after such a commit.",
        ),
        question="The counter dies between committing a batch and counting it, then a new one "
        "takes over. What does the audit find?",
        labels={
            predictions.NOTHING: "every order counted once",
            predictions.DUPLICATES: "some orders counted twice, none missing",
            predictions.LOSS: "some orders never counted, none twice",
            predictions.BOTH: "some missing and some counted twice",
        },
        spec=_lesson_spec(
            presets.METRICS,
            "Lesson 1: the three semantics",
            workload=LESSON_WORKLOAD,
        ),
        settings=("producer.acks", "producer.retries", "consumer.commit"),
        why="The commit moved the group past a batch nobody had counted yet. The replacement "
        "starts from the committed offset, so that batch is skipped for good: a gap, never a "
        "repeat. That is at-most-once.",
    ),
    Step(
        2,
        "Commit timing, the sharpest lever",
        (
            "No single switch picks a semantic; it comes out of three choices: how the producer "
            "is acknowledged, whether the producer is idempotent, and when the consumer commits "
            "its offset. Of the three, commit timing decides the most.",
            "Commit first and process second, as the counter in step 1 did, and a crash in "
            "between leaves records that the group already counts as done: they are lost. "
            "Process first and commit second, and a crash in between leaves records that were "
            "handled but not committed: the next consumer reads them again.",
            "No order of the two gives exactly-once by itself; that takes transactions or an "
            "idempotent consumer, the subject of steps 4 and 5. Here the notification service "
            "sends its emails, then commits, and dies once between the two.",
        ),
        question="The consumer dies after sending a batch of emails and before committing it. "
        "Will any customer miss an email? Will any get two?",
        labels={
            predictions.NOTHING: "every customer gets one email",
            predictions.DUPLICATES: "some get two emails, nobody misses one",
            predictions.LOSS: "some miss their email, nobody gets two",
            predictions.BOTH: "some miss one and some get two",
        },
        spec=_lesson_spec(
            presets.NOTIFICATION_SERVICE,
            "Lesson 2: commit after processing",
            workload=LESSON_WORKLOAD,
        ),
        settings=("consumer.commit", "consumer.batch_size", "restarts.consumer.enabled"),
        why="The emails went out but the commit never happened, so the group's committed "
        "offset still stood before that batch. The replacement consumer went back to it and "
        "sent the batch's emails again: duplicates, and nothing missing. That is at-least-once.",
    ),
    Step(
        3,
        "The producer side: acks and idempotence",
        (
            "A record can go wrong before any consumer sees it. acks says when the broker tells "
            "the producer a write is safe: 0 means never asked, 1 means the leader alone holds "
            "it, all means every in-sync replica does. Only acks=all survives the loss of a "
            "leader.",
            "Waiting for acknowledgements brings its own trap. When an acknowledgement is lost on "
            "the way back, the producer cannot tell a lost write from a lost answer, so it sends "
            "the batch again. Without idempotence the broker stores it a second time. With "
            "idempotence the broker knows the batch by producer id and sequence number and "
            "keeps one copy.",
            "This run waits for all replicas and retries, but leaves idempotence off. Three "
            "acknowledgements are dropped on the wire; the consumer never crashes.",
        ),
        question="Three acknowledgements never reach the producer, which retries. What does the "
        "audit find?",
        spec=_lesson_spec(
            presets.NOTIFICATION_SERVICE,
            "Lesson 3: lost acks, no idempotence",
            workload=LESSON_WORKLOAD,
            producer={
                "acks": "all",
                "enable_idempotence": False,
                "max_in_flight": 1,
                "request_timeout_ms": 1500,
            },
            faults=[{"kind": "drop-acks", "at": {"records": 100}, "count": 3}],
        ),
        settings=("producer.acks", "producer.enable_idempotence", "producer.max_in_flight"),
        why="Every write was stored, so with acks=all and retries nothing is lost. But each "
        "retry after a dropped acknowledgement wrote the batch into the log again, and the "
        "consumer faithfully handled both copies. Idempotence would have let the broker drop "
        "the second copy.",
    ),
    Step(
        4,
        "Exactly-once for Kafka-to-Kafka: transactions",
        (
            "When a job only reads from Kafka and writes back to Kafka, everything it touches "
            "lives in one system: the input offsets, the output records, and the commit. Kafka "
            "transactions tie them together, so a batch's output and its offsets become visible "
            "at once or not at all.",
            "A replacement that starts under the same transactional id fences the dead instance "
            "and aborts whatever it left open; consumers reading with read_committed never see "
            "aborted records. The cost is more configuration and some throughput.",
            "This run is the payments aggregation: it sums payments into a running total on an "
            "output topic, and dies halfway through a transaction.",
        ),
        question="The aggregator dies in the middle of a transaction and its replacement takes "
        "over. What does a read_committed reader of the totals find?",
        labels={
            predictions.NOTHING: "every payment counted once",
            predictions.DUPLICATES: "some payments counted twice, none missing",
            predictions.LOSS: "some payments missing, none twice",
            predictions.BOTH: "some missing and some twice",
        },
        spec=_lesson_spec(
            presets.PAYMENTS_AGGREGATION,
            "Lesson 4: a transaction cut in half",
            workload=LESSON_WORKLOAD,
        ),
        settings=(
            "pipeline",
            "producer.transactional",
            "consumer.commit",
            "consumer.isolation_level",
        ),
        why="The half-done transaction was aborted, offsets included, so the replacement read "
        "that batch again and wrote it in a fresh transaction. A read_committed reader never "
        "saw the aborted output: every payment counted once.",
    ),
    Step(
        5,
        "An external side effect: the idempotent consumer",
        (
            "Transactions end at Kafka's edge. Charging a card, sending an email or calling an "
            "API happens outside, and no abort can take it back. For such a handler, the most "
            "Kafka can give is at-least-once.",
            "So the payment service accepts redelivery and makes the charge itself safe to "
            "repeat: it stores each order id in the same write as the charge and skips any order "
            "id it has already charged. A record may be read twice; the card is charged once.",
            "This run is the payment service with exactly that consumer, and the crash of "
            "step 2: after charging a batch, before committing it.",
        ),
        question="The consumer dies after charging a batch and before committing it. Will any "
        "customer go uncharged? Be charged twice?",
        labels={
            predictions.NOTHING: "every order charged once",
            predictions.DUPLICATES: "some charged twice, none missed",
            predictions.LOSS: "some never charged, none twice",
            predictions.BOTH: "some missed and some charged twice",
        },
        spec=_lesson_spec(
            presets.PAYMENT_SERVICE,
            "Lesson 5: the idempotent consumer",
            workload=LESSON_WORKLOAD,
        ),
        settings=("pipeline", "consumer.commit", "consumer.idempotent"),
        why="As in step 2 the replacement read the uncommitted batch again, but every order id "
        "in it was already stored beside its charge, so the consumer skipped them. Delivery was "
        "at-least-once; the charges came out exactly once.",
    ),
    Step(
        6,
        "A crash right after the commit: the position in the log",
        (
            "Transactions guard what happens inside Kafka. The producer at the start of the "
            "pipeline also reads from outside: it works through a list of payments (a database, "
            "a file, an API) and must remember how far it got, so that a new session after a "
            "crash starts in the right place.",
            "This producer writes the payments in transactions of 10 and, each time a commit "
            "returns, notes the payments it sent in its own log; a new session resumes after "
            "the last payment noted there. Between the commit and the note there is a window: "
            "the transaction is committed in Kafka, and the log does not say so yet.",
            "Here the producer dies in exactly that window, once it has sent 100 payments: its "
            "commit has returned, its note is not written. It restarts a second later. The "
            "aggregator and the read_committed reader of the totals are those of step 4.",
        ),
        question="The producer dies right after a transaction of 10 payments commits, before it "
        "notes it in its log, and its new session resumes from that log. What does a "
        "read_committed reader of the totals find?",
        labels=COMMIT_WINDOW_LABELS,
        spec=_commit_window_spec("Lesson 6: the position in the log", "log"),
        settings=COMMIT_WINDOW_SETTINGS,
        why="The transaction had committed: its 10 payments were in Kafka for good. The new "
        "session could not know, because the producer notes its position only after a commit "
        "returns, so it resumed before those payments and sent them again in a new transaction, "
        "which committed too: each of them counted twice. A transaction fences a dead producer "
        "and rolls back what it left unfinished; it cannot tell the next session what the last "
        "one committed.",
    ),
    Step(
        7,
        "The same crash, with the position in the transaction",
        (
            "The cure is to make the position part of what commits. The producer writes its "
            "position to a topic of its own, in the same transaction as the payments it covers, "
            "and a new session reads that topic with read_committed and resumes after the last "
            "committed position. The payments and the note of how far they go then commit "
            "together, or not at all.",
            "This is what Kafka Connect's exactly-once source connectors do (KIP-618), and what "
            "the payments aggregation preset does. Everything else is the run of step 6: "
            "transactions of 10, and the producer killed right after the commit that covers "
            "payment 100, before it notes anything in its log.",
        ),
        question="The same crash right after a commit, but the position now commits in the same "
        "transaction as the payments. What does the reader of the totals find?",
        labels=COMMIT_WINDOW_LABELS,
        spec=_commit_window_spec("Lesson 7: the position in the transaction", "transaction"),
        settings=COMMIT_WINDOW_SETTINGS,
        why="The commit that went through carried the producer's position with it, so the new "
        "session read it back and resumed right after those 10 payments: nothing sent twice. "
        "Nothing skipped either: a transaction that had not committed would have taken its "
        "position with it, and the new session would have sent its payments again. From the "
        "source to the totals, every payment counted once.",
    ),
    Step(
        8,
        "Several instances: a rebalance",
        (
            "A real service runs several instances in one consumer group, and Kafka shares the "
            "topic's partitions among them. When an instance joins or leaves, the group "
            "rebalances: partitions move from one member to another, and each moved partition "
            "starts again, at its new owner, from the last committed offset.",
            "How long partitions stand still depends on the protocol. With the classic protocol "
            "and an eager assignor every member gives up all its partitions at each rebalance; "
            "with the cooperative-sticky assignor, or the consumer protocol of KIP-848 (the "
            "broker assigns), only the partitions that move stop.",
            "This run is the notification service with three instances on six partitions, "
            "committing after each batch, on the consumer protocol. Once 120 emails are sent, a "
            "fourth instance joins. Each member also commits what it has processed when a "
            "partition is taken from it (commit on revoke).",
        ),
        question="A fourth instance joins while emails are being sent, and partitions move to "
        "it. What does the audit find?",
        labels={
            predictions.NOTHING: "every email sent once",
            predictions.DUPLICATES: "some emails sent twice, none missing",
            predictions.LOSS: "some emails never sent, none twice",
            predictions.BOTH: "some missing and some twice",
        },
        spec=_lesson_spec(
            presets.NOTIFICATION_GROUP,
            "Lesson 8: a rebalance",
            consumer=presets.NOTIFICATION_GROUP.spec.to_json()["consumer"]
            | {
                "group_protocol": "consumer",
                "assignor": "uniform",
                "commit_on_revoke": True,
            },
            faults=[{"kind": FaultKind.ADD_CONSUMER.value, "at": {"records": 120}}],
        ),
        settings=(
            "consumer.members",
            "consumer.group_protocol",
            "consumer.assignor",
            "consumer.commit_on_revoke",
        ),
        why="A member hands a partition over only between two batches, and commits what it "
        "processed as it does, so the new owner starts right after the last email sent. A "
        "rebalance on its own costs time (the timeline shows when each member got its "
        "partitions), not duplicates: those come from a member that loses its partitions with "
        "work in hand, as the next step shows.",
        rebalance_comparison=True,
    ),
    Step(
        9,
        "A zombie: the member that wakes up too late",
        (
            "A member that takes longer than max.poll.interval.ms over one batch (a slow call, a "
            "long garbage collection) is taken for dead: the group moves its partitions to the "
            "others, which start again from the last commit. The member does not know. When it "
            "wakes, it finishes its batch, on partitions it no longer owns: a zombie.",
            "What the zombie's work becomes depends on the service. A side effect, such as an "
            "email, simply happens again. An idempotent consumer finds the order already handled "
            "and skips it. In Kafka-to-Kafka with transactions, the offsets the zombie sends "
            "carry a generation the group has moved past, and the broker fences its transaction "
            "(KIP-447): nothing it wrote is ever seen.",
            "This run is the notification service with three instances, one of which stalls for "
            "6 s in the middle of a batch, past its 3 s poll interval.",
        ),
        question="One instance stalls for twice its poll interval in the middle of a batch, "
        "then finishes it. What does the audit find?",
        labels={
            predictions.NOTHING: "every email sent once",
            predictions.DUPLICATES: "some emails sent twice, none missing",
            predictions.LOSS: "some emails never sent, none twice",
            predictions.BOTH: "some missing and some twice",
        },
        spec=_lesson_spec(presets.NOTIFICATION_GROUP, "Lesson 9: a zombie"),
        settings=(
            "consumer.members",
            "consumer.max_poll_interval_ms",
            "consumer.commit",
            "consumer.idempotent",
        ),
        why="The group moved the stalled member's partitions on, and their new owners sent the "
        "emails of its uncommitted batch again from the last commit; the stalled member, "
        "waking, sent the rest of its batch as a zombie, and its commit was refused. The audit "
        "names each duplicate's cause: a rebalance, or a zombie. Nothing was lost. The payment "
        "service's idempotent consumer would have skipped them, and the payments aggregation's "
        "transactions would have fenced the zombie (both presets show it).",
    ),
    Step(
        10,
        "Choosing for a service",
        (
            "Choose from the requirement, not from the strongest name. Ask whether a lost record "
            "is acceptable; if not, whether the handler has an effect outside Kafka; if it does, "
            "whether doing it twice does harm.",
            "Pick an experiment for each of the four services of the scenario. The check walks "
            "the guide's questions for each service and shows where they lead, and why.",
        ),
    ),
)
STEP_NUMBERS = tuple(step.number for step in STEPS)
CHOOSING_STEP = STEPS[-1].number  # the one step that runs nothing


def step(number: int) -> Step:
    """Step `number`, or LessonError naming the field and the steps there are."""
    for candidate in STEPS:
        if candidate.number == number:
            return candidate
    raise LessonError(
        f"step: there is no step {number}; steps: {STEP_NUMBERS[0]} to {STEP_NUMBERS[-1]}"
    )


def next_step(number: int) -> Step | None:
    """The step after `number`, or None after the last."""
    later = [candidate for candidate in STEPS if candidate.number > number]
    return later[0] if later else None


@dataclass(frozen=True)
class ShownSetting:
    """A setting a step's text turns on, with its value in the step's run and what it does."""

    path: str
    label: str
    value: str
    explanation: str


def settings_shown(chosen: Step) -> list[ShownSetting]:
    """The settings `chosen` names, in the words of the registry of spec fields."""
    if chosen.spec is None:
        return []
    shown = []
    for path in chosen.settings:
        described = fields.setting(path)
        value = described.value(chosen.spec)
        for_value = described.choices.get(value) if isinstance(value, str) else None
        shown.append(
            ShownSetting(
                path, described.label, described.shown(value), for_value or described.explanation
            )
        )
    return shown


def parse_prediction(chosen: Step, value: object) -> str:
    """The prediction `value` names for step `chosen`, or LessonError naming the field."""
    if not chosen.runs_experiment:
        raise LessonError(f"step: step {chosen.number} takes no prediction")
    if value is None or value == "":
        allowed = ", ".join(predictions.CHOICES)
        raise LessonError(f"{predictions.FIELD}: choose what you expect; allowed: {allowed}")
    try:
        return predictions.parse(value)
    except predictions.BadPrediction as error:
        raise LessonError(str(error)) from None


@dataclass(frozen=True)
class RunCheck:
    """A learner's prediction for a lesson run beside what the run showed, in the step's words."""

    step: Step
    check: predictions.Check

    @property
    def predicted_label(self) -> str:
        return self.step.labels[self.check.predicted]

    @property
    def happened_label(self) -> str:
        return self.step.labels[self.check.happened] if self.check.happened else ""

    @property
    def next(self) -> Step | None:
        return next_step(self.step.number)


def check_run(progress: Progress, share_id: str, result: dict | None) -> RunCheck | None:
    """The check of the prediction `progress` holds for the run `share_id` (None: it holds none)."""
    made = progress.prediction_for(share_id)
    if made is None:
        return None
    number, prediction = made
    try:
        chosen = step(number)
    except LessonError:
        return None
    return RunCheck(chosen, predictions.check(prediction, result))


# -- The last step: the four services of the scenario ---------------------------------------------


@dataclass(frozen=True)
class Service:
    """A service of the scenario, and its answers to the guide's questions."""

    key: str
    title: str
    description: str
    answers: Mapping[str, str]  # guide question key -> answer value

    @property
    def field(self) -> str:
        return f"{CHOICE_FIELD_PREFIX}{self.key}"


SERVICES: tuple[Service, ...] = (
    Service(
        "notification-service",
        "Notification service",
        "Sends a confirmation email for each order. A missing email means a support ticket; a "
        "second one is a mild annoyance.",
        {"lose": "no", "effect": "side-effect", "duplicate": "harmless"},
    ),
    Service(
        "payment-service",
        "Payment service",
        "Charges the customer's card for each order, through the payment provider's API.",
        {"lose": "no", "effect": "side-effect", "duplicate": "harmful"},
    ),
    Service(
        "payments-aggregation",
        "Payments aggregation",
        "Reads the payments topic and writes a running total back to another Kafka topic.",
        {"lose": "no", "effect": "kafka"},
    ),
    Service(
        "metrics",
        "High-volume metrics",
        "Counts orders per minute for a dashboard; a small gap in the graph does not matter, "
        "speed does.",
        {"lose": "yes"},
    ),
)
# What a learner may pick for a service: every preset, the tempting wrong one included, named by
# its guarantee and settings rather than its title, which would give the service away.
PICKS: dict[str, str] = {
    presets.METRICS.name: "at-most-once: acks=1, no retries, commit before processing",
    presets.NOTIFICATION_SERVICE.name: "at-least-once: acks=all, idempotent producer, "
    "commit after processing",
    presets.PAYMENT_SERVICE.name: "at-least-once delivery with an idempotent consumer "
    "(order ids stored with each effect)",
    presets.PAYMENTS_AGGREGATION.name: "exactly-once: transactions, offsets committed in them, "
    "read_committed",
    presets.KAFKA_DEFAULTS.name: "the client defaults: auto-commit, no idempotence",
}


@dataclass(frozen=True)
class ServiceCheck:
    """A learner's pick for a service beside where the guide leads."""

    service: Service
    picked: Preset
    outcome: Outcome
    trail: tuple[tuple[Question, Answer], ...]

    @property
    def right(self) -> bool:
        return self.picked.name == self.outcome.preset

    @property
    def picked_label(self) -> str:
        return PICKS[self.picked.name]

    @property
    def fitting_label(self) -> str:
        return PICKS[self.outcome.preset]

    @property
    def fitting(self) -> Preset:
        return presets.PRESETS[self.outcome.preset]


def guide_outcome(service: Service) -> tuple[Outcome, tuple[tuple[Question, Answer], ...]]:
    """Where the guide's questions lead for `service`, and the questions asked on the way."""
    position = walk(service.answers)
    assert position.outcome is not None, f"{service.key}: its answers stop before an outcome"
    return position.outcome, position.answered


def check_picks(form: Mapping[str, str]) -> list[ServiceCheck]:
    """Check a pick for every service (form field -> preset name) against the guide.

    LessonError names the first field that is unknown, missing or holds an unknown preset.
    """
    fields = {service.field for service in SERVICES}
    unknown = sorted(set(form) - fields)
    if unknown:
        raise LessonError(
            f"{unknown[0]}: there is no such service; fields: {', '.join(sorted(fields))}"
        )
    checks = []
    for service in SERVICES:
        picked = form.get(service.field, "")
        if not picked:
            raise LessonError(f"{service.field}: pick an experiment for {service.title}")
        if picked not in PICKS:
            shown = repr(picked) if len(picked) <= 40 else "that value"
            raise LessonError(
                f"{service.field}: {shown} is not an experiment; allowed: {', '.join(PICKS)}"
            )
        outcome, trail = guide_outcome(service)
        checks.append(ServiceCheck(service, presets.PRESETS[picked], outcome, trail))
    return checks


# -- Progress: the session's document -------------------------------------------------------------


@dataclass
class Progress:
    """A learner's progress, as kept in their session.

    `runs` maps an experiment's share id to {"step": n, "prediction": value, "checked": bool,
    "right": bool or None}: "checked" once the run has finished, and "right" None when the run
    was not valid and so checked nothing. `latest`
    maps a step number (as text: session documents are JSON) to the share id of its newest run.
    `picks` holds the last step's picks (form field -> preset name) and `picks_right` how many fit.
    """

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    latest: dict[str, str] = field(default_factory=dict)
    picks: dict[str, str] = field(default_factory=dict)
    picks_right: int | None = None

    @classmethod
    def from_session(cls, document: object) -> Progress:
        """Progress from a session document; anything malformed starts afresh."""
        if not isinstance(document, dict):
            return cls()
        try:
            return cls(
                runs=dict(document.get("runs", {})),
                latest=dict(document.get("latest", {})),
                picks=dict(document.get("picks", {})),
                picks_right=document.get("picks_right"),
            )
        except (TypeError, ValueError):
            return cls()

    def to_session(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "latest": self.latest,
            "picks": self.picks,
            "picks_right": self.picks_right,
        }

    def predicted(self, number: int, share_id: str, prediction: str) -> None:
        """Record a prediction for the run `share_id` started for step `number`."""
        self.runs[share_id] = {
            "step": number,
            "prediction": prediction,
            "checked": False,
            "right": None,
        }
        self.latest[str(number)] = share_id

    def prediction_for(self, share_id: str) -> tuple[int, str] | None:
        """(step, prediction) made for the run `share_id`, or None."""
        run = self.runs.get(share_id)
        if not isinstance(run, dict) or run.get("prediction") not in predictions.CHOICES:
            return None
        return int(run.get("step", 0)), run["prediction"]

    def checked(self, share_id: str, right: bool | None) -> None:
        """The run `share_id` has finished: its prediction was `right` (None: no valid check)."""
        if share_id in self.runs:
            self.runs[share_id].update(checked=True, right=right)

    def unchecked(self) -> list[str]:
        """Share ids of runs whose prediction awaits its check."""
        return [share_id for share_id, run in self.runs.items() if not run.get("checked")]

    def latest_run(self, number: int) -> tuple[str, dict[str, Any]] | None:
        share_id = self.latest.get(str(number))
        if share_id is None or share_id not in self.runs:
            return None
        return share_id, self.runs[share_id]

    def picked(self, checks: list[ServiceCheck]) -> None:
        self.picks = {check.service.field: check.picked.name for check in checks}
        self.picks_right = sum(check.right for check in checks)

    def done(self, number: int) -> bool:
        """A step is done once its prediction is checked (or, for the last step, its picks are)."""
        if number == CHOOSING_STEP:
            return self.picks_right is not None
        found = self.latest_run(number)
        return found is not None and bool(found[1].get("checked"))
