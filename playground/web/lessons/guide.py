"""The "which guarantee do I need?" guide: a few questions about a service that end on a preset.

Pure logic, no HTTP: the answers so far arrive as a mapping of question key to answer value (the
guide page's query string), and `walk` returns the questions answered, then either the next
question or the outcome. The tree follows the course module's decision chart:

    Can you afford to lose a record?              yes -> metrics (at-most-once)
      no: does the handler have an external side effect, or only write back to Kafka?
          Kafka only                              -> payments-aggregation (transactions)
          side effect: is a repeated effect harmful?
              harmful (a second charge)           -> payment-service (idempotent consumer)
              harmless (a second email)           -> notification-service (at-least-once)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode


class GuideError(ValueError):
    """Answers that do not fit the tree; the message names the question and the allowed answers."""


@dataclass(frozen=True)
class Outcome:
    """Where the guide ends: the preset to run and why it fits."""

    preset: str  # a key of playground.engine.spec.presets.PRESETS
    reason: str


@dataclass(frozen=True)
class Answer:
    value: str  # the value in the query string
    label: str
    then: str | Outcome  # the key of the next question, or the end


@dataclass(frozen=True)
class Question:
    key: str  # the name in the query string
    text: str
    hint: str
    answers: tuple[Answer, ...]

    def answer(self, value: str) -> Answer:
        for answer in self.answers:
            if answer.value == value:
                return answer
        allowed = ", ".join(answer.value for answer in self.answers)
        raise GuideError(f"{self.key}: {value!r} is not an answer; allowed: {allowed}")


@dataclass(frozen=True)
class Position:
    """How far a set of answers gets: the path taken, then a question or an outcome."""

    answered: tuple[tuple[Question, Answer], ...]
    question: Question | None
    outcome: Outcome | None

    @property
    def choices(self) -> tuple[tuple[Answer, str], ...]:
        """Each answer to the current question with the query string ("?..." or "") giving it."""
        if self.question is None:
            return ()
        return tuple(
            (answer, self._query(len(self.answered), (self.question.key, answer.value)))
            for answer in self.question.answers
        )

    @property
    def trail(self) -> tuple[tuple[Question, Answer, str], ...]:
        """Each answered question, its answer, and the query string that asks it again."""
        return tuple(
            (question, answer, self._query(depth))
            for depth, (question, answer) in enumerate(self.answered)
        )

    def _query(self, depth: int, *extra: tuple[str, str]) -> str:
        pairs = [(question.key, answer.value) for question, answer in self.answered[:depth]]
        pairs.extend(extra)
        return f"?{urlencode(pairs)}" if pairs else ""


QUESTIONS: dict[str, Question] = {
    question.key: question
    for question in (
        Question(
            key="lose",
            text="Can you afford to lose a record now and then?",
            hint="Think of a crash between the commit and the work: is a gap acceptable?",
            answers=(
                Answer(
                    "yes",
                    "Yes, a gap costs nothing",
                    Outcome(
                        "metrics",
                        "A lost record costs less than the work it takes to keep every one, so "
                        "at-most-once fits: the producer does not wait for replicas or retry, and "
                        "the consumer commits before processing. A crash can leave a gap, never a "
                        "record counted twice.",
                    ),
                ),
                Answer("no", "No, every record must count", "effect"),
            ),
        ),
        Question(
            key="effect",
            text="What does the handler do with each record?",
            hint="Kafka transactions cover only what lives in Kafka: input, output and offsets.",
            answers=(
                Answer(
                    "side-effect",
                    "Something outside Kafka: charges a card, sends an email, calls an API",
                    "duplicate",
                ),
                Answer(
                    "kafka",
                    "It only reads from Kafka and writes back to Kafka",
                    Outcome(
                        "payments-aggregation",
                        "Input, output and consumer offsets all live in Kafka, so one transaction "
                        "can commit them together: a crashed transformer's half-done batch is "
                        "aborted and redone, and read_committed readers see each record's "
                        "contribution exactly once.",
                    ),
                ),
            ),
        ),
        Question(
            key="duplicate",
            text="What if the effect happens twice for the same record?",
            hint="Losing nothing means committing after processing, so a crash before the "
            "commit repeats the effect.",
            answers=(
                Answer(
                    "harmful",
                    "Harmful: a customer is charged twice",
                    Outcome(
                        "payment-service",
                        "Transactions cannot undo an external effect, so keep at-least-once "
                        "delivery and make the consumer idempotent: it stores each order id with "
                        "its charge and skips ids it has seen. Redelivered records are read again "
                        "but charged once.",
                    ),
                ),
                Answer(
                    "harmless",
                    "Tolerable: a second email is annoying, not costly",
                    Outcome(
                        "notification-service",
                        "Losing a record is worse than repeating it, so at-least-once fits: "
                        "acks=all with an idempotent producer, and commit only after processing. "
                        "A crash before the commit repeats a few effects; none goes missing.",
                    ),
                ),
            ),
        ),
    )
}
FIRST_QUESTION = "lose"


def walk(answers: Mapping[str, str]) -> Position:
    """Follow `answers` (question key -> answer value) from the first question.

    Raises GuideError for an unknown question, an answer a question does not offer, or an answer
    to a question the path never reaches.
    """
    unknown = sorted(set(answers) - set(QUESTIONS))
    if unknown:
        known = ", ".join(QUESTIONS)
        raise GuideError(f"{unknown[0]}: there is no such question; questions: {known}")
    answered: list[tuple[Question, Answer]] = []
    step: str | Outcome = FIRST_QUESTION
    while isinstance(step, str) and step in answers:
        question = QUESTIONS[step]
        answer = question.answer(answers[step])
        answered.append((question, answer))
        step = answer.then
    unreached = sorted(set(answers) - {question.key for question, _ in answered})
    if unreached:
        raise GuideError(f"{unreached[0]}: this question does not come up after the answers given")
    if isinstance(step, Outcome):
        return Position(tuple(answered), None, step)
    return Position(tuple(answered), QUESTIONS[step], None)
