"""The lesson check beside a verdict: the prediction this browser session made for the
experiment on the page, if it made one, checked against the run's result."""

from __future__ import annotations

from django import template

from playground.web.lessons import course

register = template.Library()


@register.simple_tag(takes_context=True)
def lesson_check(context: template.Context) -> course.RunCheck | None:
    """The RunCheck for `experiment` in the context, or None when this session predicted nothing
    for it (a share link opened elsewhere, a run started outside the lessons)."""
    request, experiment = context.get("request"), context.get("experiment")
    if request is None or experiment is None or not hasattr(request, "session"):
        return None
    progress = course.Progress.from_session(request.session.get(course.SESSION_KEY))
    return course.check_run(progress, experiment.share_id, experiment.result)
