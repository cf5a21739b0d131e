"""A trade-off comparison's page (the course's table, filled in as its runs finish), and the one
clicks that queue the course's own comparison and the rebalance protocols' comparison."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from playground.web.comparisons import charts, measurements, rebalances
from playground.web.error_pages import error_page, refused
from playground.web.models import Comparison, Experiment
from playground.web.runs import actions, experiments


@require_GET
def comparison(request: HttpRequest, share_id: str) -> HttpResponse:
    found = get_object_or_404(Comparison, share_id=share_id)
    runs = list(found.experiments.all())
    columns = measurements.columns(runs)
    context = {
        "comparison": found,
        "columns": columns,
        "finished": all(column.finished for column in columns),
        "done": sum(1 for run in runs if run.finished),
        "total": len(runs),
        "charts": charts.render(columns),
        "commit_records": measurements.COMMIT_RECORDS,
        "now": _now(columns),
        "controls": any(experiments.can_control(request, run) for run in runs),
        "protocol_words": rebalances.PROTOCOL_WORDS,
        "rebalance_rows": rebalances.rows([column.rebalance for column in columns])
        if found.kind == Comparison.REBALANCE
        else [],
    }
    template = "comparison.html#update" if request.htmx else "comparison.html"
    return render(request, template, context)


def _now(columns: list[measurements.Column]) -> str:
    """What the comparison is doing now, in words: the runs running, or why the next one waits."""
    runs = [(column, run) for column in columns for run in column.runs]
    running = [_part(column, run) for column, run in runs if run.status == Experiment.RUNNING]
    if running:
        return ", ".join(running) + (" running" if len(running) > 1 else " is running")
    queued = [(column, run) for column, run in runs if run.status == Experiment.QUEUED]
    if not queued:
        return ""
    column, run = min(queued, key=lambda pair: (pair[1].created_at, pair[1].pk))
    place = run.place()
    waits = f" ({place.summary})" if place is not None else ""
    return f"{_part(column, run)} is next{waits}"


def _part(column: measurements.Column, run: Experiment) -> str:
    if run.comparison_role == measurements.REBALANCE:
        return f"{column.name}'s round {run.comparison_round}"
    if run.comparison_role == measurements.COST:
        return f"spec {column.number}'s cost round {run.comparison_round}"
    return f"spec {column.number}'s guarantee run"


@require_POST
def cancel(request: HttpRequest, share_id: str) -> HttpResponse:
    """Its owner stops a comparison: queued runs are removed, running ones stopped."""
    found = get_object_or_404(Comparison, share_id=share_id)
    try:
        experiments.cancel_comparison(found, request)
    except actions.ActionError as error:
        return error_page(request, str(error), 403)
    return redirect(found)


@require_POST
def course(request: HttpRequest) -> HttpResponse:
    """Queue the course's comparison: the three semantics and the payment service, under one
    fault schedule."""
    try:
        found = experiments.start_comparison(
            measurements.course_specs(),
            request,
            faults_label=measurements.COURSE_FAULTS_LABEL,
            course=True,
        )
    except experiments.Refused as refusal:
        return refused(request, refusal)
    return redirect(found)


@require_POST
def rebalance(request: HttpRequest) -> HttpResponse:
    """Queue the rebalance protocols' comparison: one group workload, a member added and one
    stalled, under eager, cooperative-sticky and KIP-848, in rounds."""
    try:
        found = experiments.start_comparison(
            rebalances.specs(),
            request,
            faults_label=rebalances.FAULTS_LABEL,
            kind=Comparison.REBALANCE,
        )
    except experiments.Refused as refusal:
        return refused(request, refusal)
    return redirect(found)
