"""Pages. The home page is a placeholder for now: it shows the cluster and its state."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from playground.web import selectors


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"lab": selectors.lab_status()})


@require_GET
def cluster_panel(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html#cluster", {"lab": selectors.lab_status()})


@require_GET
def node_log(request: HttpRequest, node_id: int) -> HttpResponse:
    tail = selectors.node_log_tail(node_id)
    if tail is None:
        raise Http404(f"no managed node {node_id}")
    return HttpResponse(tail, content_type="text/plain; charset=utf-8")
