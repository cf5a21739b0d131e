"""One order's story as a sequence: who sent it, who heard the ack, where it sits in the log, which
consumer session processed which copy and whether that counted, and the commit that covered it.

It reads only the stored story (the story book the audit wrote) and the experiment's last
snapshot, so the picture says exactly what the audit's records say and nothing a worker believed.
Stories kept before acks carried their producer session, or processings their consumer session,
still draw: the session is then "not recorded".
"""

from __future__ import annotations

from dataclasses import dataclass

from playground.engine.audit.outcomes import (
    PROCESSING_ABORTED,
    PROCESSING_COUNTED,
    PROCESSING_DEDUPLICATED,
    PRODUCER_ACKED,
    PRODUCER_FAILED,
    PRODUCER_SENT,
    PRODUCER_UNKNOWN,
)
from playground.engine.naming import CONSUMER, PRODUCER
from playground.engine.spec.model import Pipeline

# What a lane stands for; each is a css class too (the workers' lanes are named by their role).
LOG = "log"
SINK = "sink"

# What a step shows; each is a css class (step-...) too, as is how a processing ended (the
# audit's PROCESSING_ENDS).
SEND = "send"
ACK = "ack"
NO_ACK = "no-ack"
COPY = "copy"
ABORTED_COPY = "aborted-copy"
NOT_IN_LOG = "not-in-log"
PROCESS = "process"
NEVER_PROCESSED = "never-processed"
COMMIT = "commit"
NO_COMMIT = "no-commit"

# How a processing ended, per pipeline: the label on its arrow to the sink.
ENDINGS = {
    PROCESSING_COUNTED: {Pipeline.SIDE_EFFECT: "charged", Pipeline.KAFKA_TO_KAFKA: "total written"},
    PROCESSING_DEDUPLICATED: {
        Pipeline.SIDE_EFFECT: "skipped: already charged",
        Pipeline.KAFKA_TO_KAFKA: "skipped",
    },
    PROCESSING_ABORTED: {
        Pipeline.SIDE_EFFECT: "not counted",
        Pipeline.KAFKA_TO_KAFKA: "written, then aborted",
    },
}
NO_ANSWER = {
    PRODUCER_SENT: (
        "no ack (acks=0)",
        "No broker answered: with acks=0 the client took it as sent.",
    ),
    PRODUCER_FAILED: ("delivery failed", "Its delivery report carried an error: no broker has it."),
    PRODUCER_UNKNOWN: ("no answer", "The producer heard nothing back: it died first."),
    PRODUCER_ACKED: ("", ""),
}


@dataclass(frozen=True)
class Lane:
    """One participant, drawn as a column with its lifeline."""

    kind: str  # PRODUCER, LOG, CONSUMER or SINK
    title: str
    subtitle: str


@dataclass(frozen=True)
class Step:
    """One row of the sequence: an arrow from one lane to another, or a note on one lane."""

    source: int  # lane index
    target: int  # lane index; the same as source for a note
    label: str  # the few words drawn on the row
    kind: str  # what it shows (SEND, ACK, ...)
    words: str  # the step as a sentence, for the text beside the picture ("": said by the next)

    @property
    def is_note(self) -> bool:
        return self.source == self.target


@dataclass(frozen=True)
class Commit:
    """The group's committed offset as the live log strip saw it change."""

    seconds: float
    offset: int


@dataclass(frozen=True)
class Sequence:
    order_id: str
    outcome: str
    lanes: list[Lane]
    steps: list[Step]

    @property
    def processed(self) -> int:
        """How many times a consumer session processed one of its copies."""
        return sum(1 for step in self.steps if step.kind == PROCESS)

    @property
    def sink(self) -> Lane:
        return self.lanes[-1]


def copy_name(partition: int, offset: int) -> str:
    return f"p{partition}@{offset}"


def commit_history(snapshot: object) -> dict[int, list[Commit]] | None:
    """Per input partition, the group's commits as the snapshot's `partitions` recorded them
    ([elapsed seconds, committed offset] pairs, in the order seen); None when the snapshot has no
    commit history (a run from before the log strip). Never fails on an odd snapshot."""
    partitions = snapshot.get("partitions") if isinstance(snapshot, dict) else None
    if not isinstance(partitions, list):
        return None
    history: dict[int, list[Commit]] = {}
    for entry in partitions:
        if isinstance(entry, dict) and _is_number(entry.get("partition")):
            commits = entry.get("commits")
            history[int(entry["partition"])] = [
                Commit(float(pair[0]), int(pair[1]))
                for pair in (commits if isinstance(commits, list) else [])
                if isinstance(pair, list | tuple) and len(pair) == 2 and all(map(_is_number, pair))
            ]
    return history


def covering_commit(history: dict[int, list[Commit]], partition: int, offset: int) -> Commit | None:
    """The commit that covered partition@offset: the first one seen whose offset is past it."""
    return next((c for c in history.get(partition, []) if c.offset > offset), None)


def sequence(story: dict, *, pipeline: str, history: dict[int, list[Commit]] | None) -> Sequence:
    """The steps of one order's story, top to bottom; its lanes, left to right: producer
    sessions, the input partitions, consumer sessions, the sink. `history` is commit_history()."""
    order_id = str(story.get("order_id", ""))
    acks = [_ack(entry) for entry in story.get("acked_at", [])]
    copies = [(p, o, bool(committed)) for p, o, committed in story.get("log_copies", [])]
    processings = _processings(story)
    sessions = sorted(set(story.get("sessions", [])))

    producers = sorted(set(sessions) | {s for _, _, s in acks if s is not None})
    log_partitions = sorted(
        {p for p, _, _ in acks} | {p for p, _, _ in copies} | {p for p, _, _, _ in processings}
    )
    consumers = sorted({s for _, _, s, _ in processings}, key=_session_order)
    lanes = [Lane(PRODUCER, "producer", f"session {s}") for s in producers] or [
        Lane(PRODUCER, "producer", "never sent it")
    ]
    log_at = {p: len(lanes) + i for i, p in enumerate(log_partitions)}
    lanes += [Lane(LOG, "input topic", f"partition {p}") for p in log_partitions] or [
        Lane(LOG, "input topic", "no copy")
    ]
    consumer_at = {s: len(lanes) + i for i, s in enumerate(consumers)}
    lanes += [Lane(CONSUMER, "consumer", _session_name(s)) for s in consumers] or [
        Lane(CONSUMER, "consumer", "never processed it")
    ]
    sink_at = len(lanes)
    if pipeline == Pipeline.KAFKA_TO_KAFKA:
        lanes.append(Lane(SINK, "output topic", "running totals"))
    else:
        lanes.append(Lane(SINK, "ledger", "charges"))
    producer_at = {s: i for i, s in enumerate(producers)}
    first_log = len(producer_at) or 1
    home = log_at[log_partitions[0]] if log_partitions else first_log

    steps = [
        Step(producer_at[s], home, "send", SEND, f"Producer session {s} sent {order_id}.")
        for s in sessions
    ]
    for p, o, s in acks:
        who = producer_at.get(s, 0)
        steps.append(
            Step(
                log_at[p],
                who,
                f"ack {copy_name(p, o)}",
                ACK,
                f"A broker acknowledged it at {copy_name(p, o)} to "
                f"{_session_name(s, 'producer session')}.",
            )
        )
    label, words = NO_ANSWER.get(story.get("producer_outcome", ""), ("", ""))
    if not acks and label and producer_at:
        steps.append(_note(0, label, NO_ACK, words))

    steps += _copy_steps(copies, log_at, home)
    steps += _processing_steps(processings, copies, log_at, consumer_at, sink_at, pipeline)
    steps += _commit_steps(copies, processings, log_at, history, home)
    return Sequence(order_id, str(story.get("outcome", "")), lanes, steps)


def _copy_steps(copies: list, log_at: dict, home: int) -> list[Step]:
    if not copies:
        return [_note(home, "not in the log", NOT_IN_LOG, "It is not in the input topic.")]
    steps = []
    for p, o, committed in copies:
        if committed:
            steps.append(
                _note(
                    log_at[p],
                    f"{copy_name(p, o)} in the log",
                    COPY,
                    f"The input topic holds a copy at {copy_name(p, o)}.",
                )
            )
        else:
            steps.append(
                _note(
                    log_at[p],
                    f"{copy_name(p, o)} aborted",
                    ABORTED_COPY,
                    f"The copy at {copy_name(p, o)} belongs to an aborted transaction.",
                )
            )
    return steps


def _processing_steps(
    processings: list, copies: list, log_at: dict, consumer_at: dict, sink_at: int, pipeline: str
) -> list[Step]:
    steps = []
    for p, o, s, how in processings:
        name, who = copy_name(p, o), _session_name(s, "consumer session")
        ending = ENDINGS.get(how, ENDINGS[PROCESSING_COUNTED]).get(pipeline, how)
        counted = "it counted" if how == PROCESSING_COUNTED else f"it did not count ({how})"
        steps.append(Step(log_at[p], consumer_at[s], name, PROCESS, ""))  # said with its end
        steps.append(
            Step(
                consumer_at[s],
                sink_at,
                ending,
                how,
                f"{who[:1].upper()}{who[1:]} processed {name}: {ending}, {counted}.",
            )
        )
    processed = {(p, o) for p, o, _, _ in processings}
    first_consumer = min(consumer_at.values(), default=sink_at - 1)
    for p, o, committed in copies:
        if committed and (p, o) not in processed:
            steps.append(
                _note(
                    first_consumer,
                    f"{copy_name(p, o)} never processed",
                    NEVER_PROCESSED,
                    f"No consumer session processed {copy_name(p, o)}.",
                )
            )
    return steps


def _commit_steps(
    copies: list, processings: list, log_at: dict, history: dict | None, home: int
) -> list[Step]:
    if history is None:
        return [
            _note(
                home,
                "commit history not recorded",
                NO_COMMIT,
                "The commit history was not recorded for this run.",
            )
        ]
    covered = sorted(
        {(p, o) for p, o, committed in copies if committed} | {(p, o) for p, o, _, _ in processings}
    )
    steps = []
    for p, o in covered:
        commit = covering_commit(history, p, o)
        if commit:
            steps.append(
                _note(
                    log_at[p],
                    f"commit at {commit.seconds:.1f} s: offset {commit.offset}",
                    COMMIT,
                    f"{copy_name(p, o)} was covered by the commit seen at "
                    f"{commit.seconds:.1f} s (group offset {commit.offset}).",
                )
            )
        else:
            steps.append(
                _note(
                    log_at[p],
                    "no commit past it",
                    NO_COMMIT,
                    f"No commit of the group was seen past {copy_name(p, o)}.",
                )
            )
    return steps


def _note(lane: int, label: str, kind: str, words: str) -> Step:
    return Step(lane, lane, label, kind, words)


def _ack(entry: list) -> tuple[int, int, int | None]:
    """An ack as (partition, offset, producer session); stories kept before acks carried their
    session hold a pair."""
    return (entry[0], entry[1], entry[2] if len(entry) > 2 else None)


def _processings(story: dict) -> list[tuple[int, int, int | None, str]]:
    """(partition, offset, consumer session, how it ended) of every processing; a story kept
    before processings were recorded gives its counted effects, sessions unknown."""
    if "processings" in story:
        return [(p, o, s, how) for p, o, s, how in story["processings"]]
    return [
        (p, o, None, PROCESSING_COUNTED)
        for p, o, n in story.get("effect_sources", [])
        for _ in range(n)
    ]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _session_order(session: int | None) -> int:
    return -1 if session is None else session


def _session_name(session: int | None, role: str = "session") -> str:
    if session is None:
        return f"{role} (not recorded)" if role != "session" else "session not recorded"
    return f"{role} {session}"
