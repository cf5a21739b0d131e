"""Pages: the home page (semantics, presets, the guide, the cluster) and the guide's steps."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from playground.engine.spec.presets import PRESETS
from playground.web import selectors
from playground.web.lessons.guide import GuideError, Position, walk

NOTICE_SESSION_KEY = "notice"  # one message for the next page (a cancelled experiment)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "notice": request.session.pop(NOTICE_SESSION_KEY, ""),
        "lab": selectors.lab_status(),
        "presets": PRESETS.values(),
        **_guide_context(walk({})),
    }
    return render(request, "home.html", context)


@require_GET
def cluster_panel(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html#cluster", {"lab": selectors.lab_status()})


@require_GET
def node_log(request: HttpRequest, node_id: int) -> HttpResponse:
    tail = selectors.node_log_tail(node_id)
    if tail is None:
        raise Http404(f"no managed node {node_id}")
    return HttpResponse(tail, content_type="text/plain; charset=utf-8")


@require_GET
def guide(request: HttpRequest) -> HttpResponse:
    """One step of the guide: a partial for htmx, the whole page for a plain link."""
    template = "guide/guide.html#step" if request.htmx else "guide/guide.html"
    try:
        position = walk(request.GET)
    except GuideError as error:
        return render(request, template, {"guide_error": str(error)}, status=400)
    return render(request, template, _guide_context(position))


def _guide_context(position: Position) -> dict:
    outcome = position.outcome
    return {"position": position, "outcome_preset": PRESETS[outcome.preset] if outcome else None}
