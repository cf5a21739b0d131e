"""The one page for a request the server turns down: what went wrong, in words, and its status."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from playground.web.runs import experiments


def error_page(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "error.html", {"message": message}, status=status)


def refused(request: HttpRequest, refusal: experiments.Refused) -> HttpResponse:
    """A request to queue that the server turned down (a limit, a long spec)."""
    return error_page(request, str(refusal), refusal.status)
