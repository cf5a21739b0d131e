"""A prediction of an experiment's outcome, made before it runs, and its check against the audit.

One vocabulary serves the lessons (a learner's own prediction) and teacher mode (a class's
predictions on a shared experiment): a prediction answers the two questions the course asks of
every setting, "will any order be lost?" and "will any order take effect twice?", so it names one
of the four outcomes an audit can show. Only a valid run checks a prediction: a run whose
apparatus failed says nothing about the semantic, and the check says so instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from playground.web.verdict import outcome as result_outcome

# The four outcomes, keyed by the value a form or an API sends.
NOTHING, DUPLICATES, LOSS, BOTH = "nothing", "duplicates", "loss", "both"
CHOICES: dict[str, str] = {
    NOTHING: "nothing lost, nothing twice (exactly-once)",
    DUPLICATES: "some orders twice, none lost (at-least-once)",
    LOSS: "some orders lost, none twice (at-most-once)",
    BOTH: "some lost and some twice (neither)",
}
FIELD = "prediction"  # the form field and the API key


class BadPrediction(ValueError):
    """Not one of CHOICES; the message names the field and the allowed values."""


def parse(value: object) -> str:
    """The prediction `value` names, or BadPrediction."""
    if isinstance(value, str) and value in CHOICES:
        return value
    allowed = ", ".join(CHOICES)
    shown = repr(value) if isinstance(value, str) and len(value) <= 40 else "that value"
    raise BadPrediction(f"{FIELD}: {shown} is not a prediction; allowed: {allowed}")


def of_counts(lost: int, duplicated: int) -> str:
    """The outcome that `lost` and `duplicated` orders make."""
    if lost and duplicated:
        return BOTH
    if lost:
        return LOSS
    if duplicated:
        return DUPLICATES
    return NOTHING


@dataclass(frozen=True)
class Check:
    """A prediction beside what happened."""

    predicted: str  # a key of CHOICES
    happened: str | None  # a key of CHOICES; None when the run is invalid or not finished
    sentence: str  # the check in words, with the counts behind it

    @property
    def right(self) -> bool | None:
        return None if self.happened is None else self.predicted == self.happened

    @property
    def predicted_label(self) -> str:
        return CHOICES[self.predicted]

    @property
    def happened_label(self) -> str:
        return CHOICES[self.happened] if self.happened else ""


def check(predicted: str, result: dict | None) -> Check:
    """Check `predicted` against a stored result (None while the run has none)."""
    if not isinstance(result, dict) or not result:
        return Check(predicted, None, "The run has not finished; the check comes with its verdict.")
    shown = result_outcome(result)
    if not shown.valid:
        return Check(
            predicted,
            None,
            "No check: the run did not run its spec faithfully "
            f"({shown.first_problem}), so it shows no semantic.",
        )
    audit = result.get("audit")
    lost, duplicated = (_count(audit.get(n)) if isinstance(audit, dict) else None
                        for n in ("lost", "duplicated"))  # fmt: skip
    if lost is None or duplicated is None:
        return Check(predicted, None, "No check: the stored result has no counts to check.")
    happened = of_counts(lost, duplicated)
    counts = f"{lost} lost, {duplicated} duplicated"
    if happened == predicted:
        sentence = f"Right: {CHOICES[happened]} ({counts})."
    else:
        sentence = f"Not this time: {CHOICES[happened]} ({counts})."
    return Check(predicted, happened, sentence)


def _count(value: object) -> int | None:
    """A count from a stored result, which may be older or odder than this code (None)."""
    return value if isinstance(value, int) and value >= 0 else None


def tally(predictions: Iterable[str]) -> dict[str, int]:
    """How many predictions name each outcome, every outcome listed, in CHOICES order."""
    counted = Counter(predictions)
    return {choice: counted.get(choice, 0) for choice in CHOICES}
