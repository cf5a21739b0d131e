"""Teacher mode's endpoints: a viewer predicts, the controller reveals the tally or starts a held
experiment. Each works as an htmx form (a fragment comes back) and as a plain form (a redirect to
the page, or an error page); every error a user can cause names the field, never a 500."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from playground.web.error_pages import error_page
from playground.web.lessons import class_predictions, predictions
from playground.web.models import Experiment
from playground.web.runs import experiments

PANEL_ANCHOR = "#class-predictions"


@require_POST
def predict(request: HttpRequest, share_id: str) -> HttpResponse:
    """A viewer's prediction, while the experiment is held or queued; a second one replaces it."""
    found = Experiment.objects.filter(share_id=share_id).first()
    if found is None:
        return _prediction_reply(request, None, _unknown(share_id), 404)
    if predictions.FIELD not in request.POST:
        allowed = ", ".join(predictions.CHOICES)
        message = f"{predictions.FIELD}: choose one of the outcomes; allowed: {allowed}"
        return _prediction_reply(request, found, message, 400)
    try:
        class_predictions.prediction_make(
            experiment=found,
            session_key=_viewer_session_key(request),
            value=request.POST[predictions.FIELD],
        )
    except predictions.BadPrediction as error:
        return _prediction_reply(request, found, str(error), 400)
    except class_predictions.PredictionsClosed as error:
        found.refresh_from_db()
        return _prediction_reply(request, found, str(error), 409)
    return _prediction_reply(request, found, "", 200)


@require_POST
def reveal(request: HttpRequest, share_id: str) -> HttpResponse:
    """The controller shows the class's tally to everyone watching."""
    found = Experiment.objects.filter(share_id=share_id).first()
    if found is None:
        return _error(request, _unknown(share_id), 404)
    if not experiments.can_control(request, found):
        message = "reveal: only the person running this experiment can reveal the tally"
        return _error(request, message, 403)
    class_predictions.tally_reveal(experiment=found)
    if request.htmx:
        return render(request, "_class_predictions.html#reveal", {"experiment": found})
    return redirect(found.get_absolute_url() + PANEL_ANCHOR)


@require_POST
def start_held(request: HttpRequest, share_id: str) -> HttpResponse:
    """The controller's Start: a held experiment joins the queue (predictions close when it
    runs)."""
    found = Experiment.objects.filter(share_id=share_id).first()
    if found is None:
        return _error(request, _unknown(share_id), 404)
    if not experiments.can_control(request, found):
        return _error(request, "start: only the person running this experiment can start it", 403)
    try:
        experiments.release(found)
    except experiments.NotHeld as error:
        return _error(request, str(error), 409)
    return redirect(found)


def _prediction_reply(
    request: HttpRequest, found: Experiment | None, error: str, status: int
) -> HttpResponse:
    if not request.htmx:
        if error:
            return _error(request, error, status)
        return redirect(found.get_absolute_url() + PANEL_ANCHOR)
    context = {"experiment": found, "prediction_error": error}
    if found is not None:
        context["board"] = class_predictions.board(
            found, session_key=request.session.session_key, controls=False
        )
    return render(request, "_class_predictions.html#viewer", context, status=status)


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    if request.htmx:
        return render(request, "_class_predictions.html#error", {"message": message}, status=status)
    return error_page(request, message, status)


def _unknown(share_id: str) -> str:
    shown = share_id if len(share_id) <= 40 else share_id[:40] + "…"
    return f"experiment: there is no experiment {shown!r}; check that the share link is whole"


def _viewer_session_key(request: HttpRequest) -> str:
    """This browser's session key, made now if it has none (a viewer who only watched)."""
    if request.session.session_key is None:
        request.session.save()
    return request.session.session_key or ""
