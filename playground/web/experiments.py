"""Starting experiments and deciding who may control them: the one way every page, the API and
"run again" create an experiment."""

from __future__ import annotations

from django.http import HttpRequest

from playground.engine.spec import Spec
from playground.web.models import Comparison, Experiment

CONTROL_SESSION_KEY = "controls"  # share ids this browser session may control


def start(spec: Spec, request: HttpRequest, comparison: Comparison | None = None) -> Experiment:
    """Queue an experiment of `spec`, owned by the session of `request`, and wake the runner."""
    from playground.web import runner  # the runner imports this module's models

    experiment = Experiment.objects.create(
        spec=spec.to_json(), owner_session=_session_key(request), comparison=comparison
    )
    grant_control(request, experiment)
    runner.wake()
    return experiment


def grant_control(request: HttpRequest, experiment: Experiment) -> None:
    controlled = set(request.session.get(CONTROL_SESSION_KEY, []))
    controlled.add(experiment.share_id)
    request.session[CONTROL_SESSION_KEY] = sorted(controlled)


def can_control(request: HttpRequest, experiment: Experiment) -> bool:
    """The owner's session, or a session that presented the control token, controls an
    experiment; the share link alone never does."""
    return experiment.share_id in request.session.get(CONTROL_SESSION_KEY, [])


def _session_key(request: HttpRequest) -> str:
    if request.session.session_key is None:
        request.session.save()
    return request.session.session_key or ""
