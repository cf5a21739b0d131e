"""The lesson pages: the path's index, each step (read, predict, run), and the last step's picks.

Progress lives in the learner's session (course.Progress); a run is started through
experiments.start exactly like the builder's, so it queues and obeys the fair-use limits.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from playground.web.error_pages import error_page, refused
from playground.web.lessons import course, predictions
from playground.web.lessons.course import LessonError, Progress, Step
from playground.web.models import Experiment
from playground.web.runs import experiments


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    progress = _progress(request)
    rows = []
    for step in course.STEPS:
        latest = progress.latest_run(step.number)
        rows.append(
            {"step": step, "done": progress.done(step.number), "run": _run_row(step, latest)}
        )
    context = {
        "rows": rows,
        "progress": progress,
        "services": len(course.SERVICES),
        "choosing": course.CHOOSING_STEP,
        "resume": next((step for step in course.STEPS if not progress.done(step.number)), None),
    }
    return render(request, "lessons/index.html", context)


@require_http_methods(["GET", "POST"])
def lesson(request: HttpRequest, number: int) -> HttpResponse:
    try:
        step = course.step(number)
    except LessonError as error:
        return error_page(request, str(error), 404)
    if step.number == course.CHOOSING_STEP:
        return _choosing(request, step)
    if request.method == "POST":
        return _predict_and_run(request, step)
    return _step_page(request, step)


def _predict_and_run(request: HttpRequest, step: Step) -> HttpResponse:
    """Take the learner's prediction, then queue the step's experiment and go to its page."""
    try:
        prediction = course.parse_prediction(step, request.POST.get(predictions.FIELD))
    except LessonError as error:
        return _step_page(request, step, error=str(error), status=400)
    assert step.spec is not None
    try:
        experiment = experiments.start(step.spec, request)
    except experiments.Refused as refusal:
        return refused(request, refusal)
    progress = _progress(request)
    progress.predicted(step.number, experiment.share_id, prediction)
    _save(request, progress)
    return redirect(experiment)


def _step_page(
    request: HttpRequest, step: Step, *, error: str = "", status: int = 200
) -> HttpResponse:
    progress = _progress(request)
    context = {
        "step": step,
        "settings": course.settings_shown(step),
        "error": error,
        "chosen": request.POST.get(predictions.FIELD, ""),
        "run": _run_row(step, progress.latest_run(step.number)),
        **_neighbours(step),
    }
    return render(request, "lessons/step.html", context, status=status)


def _choosing(request: HttpRequest, step: Step) -> HttpResponse:
    """The last step: the learner picks an experiment for each service; the guide checks each."""
    progress = _progress(request)
    context: dict[str, Any] = {"step": step, "picks": progress.picks, **_neighbours(step)}
    if request.method == "POST":
        form = {key: value for key, value in request.POST.items() if key != "csrfmiddlewaretoken"}
        try:
            checks = course.check_picks(form)
        except LessonError as error:
            context.update(error=str(error), picks=form, services=_service_rows(form))
            return render(request, "lessons/choose.html", context, status=400)
        progress.picked(checks)
        _save(request, progress)
        context.update(checks=checks, picks=progress.picks, right=progress.picks_right)
    context["services"] = _service_rows(context["picks"])
    return render(request, "lessons/choose.html", context)


def _service_rows(picks: dict[str, str]) -> list[dict[str, Any]]:
    """Each service with the presets on offer and the learner's current pick."""
    offered = list(course.PICKS.items())
    return [
        {"service": service, "offered": offered, "picked": picks.get(service.field, "")}
        for service in course.SERVICES
    ]


def _neighbours(step: Step) -> dict[str, Step | None]:
    earlier = [other for other in course.STEPS if other.number < step.number]
    return {"previous": earlier[-1] if earlier else None, "next": course.next_step(step.number)}


def _run_row(step: Step, latest: tuple[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    """The learner's newest run of `step`: its share id, their prediction and its check so far."""
    if latest is None:
        return None
    share_id, run = latest
    return {
        "share_id": share_id,
        "prediction_label": step.labels.get(run.get("prediction", ""), ""),
        "checked": bool(run.get("checked")),
        "right": run.get("right"),
    }


def _progress(request: HttpRequest) -> Progress:
    """The session's progress, with every run that has finished since checked against its result."""
    progress = Progress.from_session(request.session.get(course.SESSION_KEY))
    waiting = progress.unchecked()
    if not waiting:
        return progress
    finished = Experiment.objects.filter(
        share_id__in=waiting, status__in=(Experiment.DONE, Experiment.FAILED)
    )
    for experiment in finished:
        result = experiment.result if experiment.status == Experiment.DONE else None
        checked = course.check_run(progress, experiment.share_id, result)
        progress.checked(experiment.share_id, checked.check.right if checked else None)
    if finished:
        _save(request, progress)
    return progress


def _save(request: HttpRequest, progress: Progress) -> None:
    request.session[course.SESSION_KEY] = progress.to_session()
