"""A class's predictions on a shared experiment (teacher mode): the services and the reads.

While an experiment is held or queued, everyone watching its share link may predict its outcome
(one of predictions.CHOICES), once per browser session: a second prediction from the same session
replaces the first, so a student may change their mind until the run starts, and not after. The
controller sees the tally live, pushed over the websocket to the controllers' group alone, and
reveals it when they choose; from then on everyone sees it, fanout. The tally fragment is rendered
once per change, whoever watches. After the verdict, each choice's count stands beside what
happened, and each viewer sees their own prediction checked (predictions.check).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from playground.web.lessons import predictions
from playground.web.models import Experiment, Prediction, QueueLock
from playground.web.runs import experiments, fanout

OPEN_STATUSES = (Experiment.HELD, Experiment.QUEUED)  # predictions close when the run starts


class PredictionsClosed(Exception):
    """A prediction sent once the run has started; the message names the field."""


def predictions_open(experiment: Experiment) -> bool:
    return experiment.status in OPEN_STATUSES


def prediction_make(*, experiment: Experiment, session_key: str, value: object) -> Prediction:
    """Record (or replace) this session's prediction, then show the new tally to whoever may
    see it. Raises predictions.BadPrediction for a value not in CHOICES, PredictionsClosed once
    the run has started."""
    choice = predictions.parse(value)
    with transaction.atomic():
        QueueLock.hold()  # the runner claims under this lock: the status read here stays true
        status = Experiment.objects.filter(pk=experiment.pk).values_list("status", flat=True)
        if status.first() not in OPEN_STATUSES:
            raise PredictionsClosed(
                f"{predictions.FIELD}: predictions closed when the run started; "
                "the verdict will show the class's tally"
            )
        made, _ = Prediction.objects.update_or_create(
            experiment=experiment, session_key=session_key, defaults={"choice": choice}
        )
    tally_publish(experiment=experiment)
    return made


def tally_reveal(*, experiment: Experiment) -> None:
    """The controller shows the tally to everyone, now and from then on (revealing twice keeps
    the first time)."""
    Experiment.objects.filter(pk=experiment.pk, tally_revealed_at=None).update(
        tally_revealed_at=timezone.now()
    )
    experiment.refresh_from_db(fields=["tally_revealed_at"])
    tally_publish(experiment=experiment)


def tally_publish(*, experiment: Experiment) -> None:
    """Render the tally once and send it to the controllers, or to everyone once revealed (the
    controllers are among everyone)."""
    html = render_to_string("_class_predictions.html#tally", {"board": tally_context(experiment)})
    if experiment.tally_revealed_at is None:
        fanout.send_to_controllers(experiment.share_id, html, fanout.TALLY)
    else:
        fanout.send(experiment.share_id, html, fanout.TALLY)


# -- reads ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TallyRow:
    choice: str  # a key of predictions.CHOICES
    label: str
    count: int
    happened: bool  # what the run showed (only once it has a valid verdict)


def tally_of(experiment: Experiment) -> dict[str, int]:
    """How many of the class predicted each outcome, in CHOICES order."""
    return predictions.tally(experiment.predictions.values_list("choice", flat=True))


def happened(experiment: Experiment) -> str | None:
    """The outcome a finished valid run showed (a key of CHOICES), else None."""
    checked = _check(predictions.NOTHING, experiment)
    return checked.happened if checked else None


def _check(choice: str, experiment: Experiment) -> predictions.Check | None:
    """`choice` checked against the verdict; None before it, or for a stored result too odd to
    read (a page must show such a result, never fail on it)."""
    result = experiment.result
    if experiment.status != Experiment.DONE or not isinstance(result, dict):
        return None
    try:
        return predictions.check(choice, result)
    except (AttributeError, TypeError, ValueError):
        return None


def tally_context(experiment: Experiment) -> dict:
    """What the tally fragment shows: each choice's count, and what happened once known."""
    counts = tally_of(experiment)
    outcome = happened(experiment) if any(counts.values()) else None
    rows = [
        TallyRow(choice, predictions.CHOICES[choice], count, choice == outcome)
        for choice, count in counts.items()
    ]
    return {
        "experiment": experiment,
        "tally_rows": rows,
        "total": sum(counts.values()),
        "right": counts.get(outcome, 0) if outcome else None,
        "revealed": experiment.tally_revealed_at is not None,
        "tally_shown": True,
    }


def board(experiment: Experiment, *, session_key: str | None, controls: bool) -> dict:
    """The predictions panel of the experiment page, for one viewer: their own prediction (and
    its check after the verdict), and the tally if they may see it."""
    own = None
    if session_key:
        own = experiment.predictions.filter(session_key=session_key).first()
    context = tally_context(experiment)
    context["tally_shown"] = controls or context["revealed"]
    is_open = predictions_open(experiment)
    return context | {
        "open": is_open,
        "shown": is_open or context["total"] > 0,
        "choices": predictions.CHOICES,
        "field": predictions.FIELD,
        "own": own,
        "own_label": predictions.CHOICES.get(own.choice, "") if own else "",
        "own_check": _own_check(experiment, own),
        "hold_expires_at": (
            experiments.hold_expires_at(experiment)
            if experiment.status == Experiment.HELD
            else None
        ),
    }


def _own_check(experiment: Experiment, own: Prediction | None) -> predictions.Check | None:
    return None if own is None else _check(own.choice, experiment)
