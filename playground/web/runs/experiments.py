"""Starting experiments and deciding who may control them: the one way every page, the API and
"run again" create, cancel or stop an experiment, with the fair-use rules of a shared server.

Fair use: a client (a browser session, or an IP address for the API) may have at most
PLAYGROUND_MAX_ACTIVE_PER_CLIENT experiments queued or running (a comparison counts once), and
no spec may be expected to run longer than PLAYGROUND_MAX_RUN_SECONDS.

Held for predictions: a teacher may start an experiment held, so that the class predicts before it
runs. A held experiment takes no place in the queue and holds nobody up, but it counts toward its
owner's limit (nobody parks unlimited holds). Its controller's Start queues it at the back; one not
started within HOLD_SECONDS of its creation is removed (`expire_holds`, run by every runner).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from playground.engine.spec.model import FieldError, Spec
from playground.web.comparisons import measurements
from playground.web.models import Comparison, Experiment, QueueLock
from playground.web.runs import actions, fanout, runner_link, scheduling

CONTROL_SESSION_KEY = "controls"  # share ids this browser session may control
HOLD_SECONDS = 3600  # a held experiment nobody started within an hour is removed
ACTIVE = (Experiment.HELD, Experiment.QUEUED, Experiment.RUNNING)  # count toward the limit


class Refused(Exception):
    """A request to queue an experiment that the server turns down: `status` is 400 for a spec
    the server will not run, 429 for a client over its limit."""

    def __init__(self, status: int, error: FieldError) -> None:
        super().__init__(str(error))
        self.status = status
        self.error = error


def start(spec: Spec, request: HttpRequest, *, api: bool = False, hold: bool = False) -> Experiment:
    """Queue an experiment of `spec`, owned by whoever asked, and wake the runner; with `hold`,
    keep it out of the queue until its controller presses Start (`release`)."""
    return _queue([spec], request, api=api, hold=hold)[0]


def start_comparison(
    specs: Sequence[Spec],
    request: HttpRequest,
    *,
    cost_records: int = measurements.COST_RECORDS,
    faults_label: str = "",
    course: bool = False,
    kind: str = Comparison.TRADEOFFS,
) -> Comparison:
    """Queue a trade-off comparison of `specs` (each already under the shared faults): its
    guarantee runs, then its cost rounds (see tradeoffs); or, of kind REBALANCE, the rounds of
    each spec, interleaved, and no cost runs (see comparisons.rebalances)."""
    if kind == Comparison.REBALANCE:
        planned = measurements.plan_rounds(specs)
        cost_records = 0
    else:
        planned = measurements.plan(specs, cost_records)
    comparison = Comparison(
        cost_records=cost_records,
        rounds=measurements.ROUNDS,
        faults_label=faults_label,
        course=course,
        kind=kind,
    )
    _queue([run.spec for run in planned], request, comparison=comparison, planned=planned)
    return comparison


def _queue(
    specs: Sequence[Spec],
    request: HttpRequest,
    *,
    api: bool = False,
    comparison: Comparison | None = None,
    planned: Sequence[measurements.PlannedRun] = (),
    hold: bool = False,
) -> list[Experiment]:
    for spec in specs:
        error = duration_error(spec)
        if error is not None:
            raise Refused(400, error)
    session = "" if api else _session_key(request)
    client = client_of(request, api=api)
    with transaction.atomic():
        QueueLock.hold()  # the count and the insert are one step for every process
        _check_limit(client)
        if comparison is not None:
            comparison.save()
        queued = []
        for index, spec in enumerate(specs):
            part = planned[index] if planned else None
            queued.append(
                Experiment.objects.create(
                    spec=spec.to_json(),
                    owner_session=session,
                    client=client,
                    comparison=comparison,
                    comparison_column=part.column if part else 0,
                    comparison_role=part.role if part else "",
                    comparison_round=part.round if part else 0,
                    exclusive=scheduling.needs_cluster_alone(
                        spec, measures_cost=part is not None and part.role == measurements.COST
                    ),
                    status=Experiment.HELD if hold else Experiment.QUEUED,
                )
            )
    for experiment in queued:
        grant_control(request, experiment)
    fanout.publish_queue()
    runner_link.wake_runner()
    return queued


def duration_error(spec: Spec) -> FieldError | None:
    """The field error of a spec expected to run longer than this server allows, or None."""
    limit = settings.PLAYGROUND_MAX_RUN_SECONDS
    records, rate = spec.workload.records, spec.workload.rate
    if not rate or records / rate <= limit:
        return None
    return FieldError(
        "workload.rate",
        f"{records} records at {rate}/s would take {_duration(records / rate)}; this server runs "
        f"an experiment for at most {limit} s (PLAYGROUND_MAX_RUN_SECONDS): raise the rate to "
        f"at least {-(-records // limit)}/s or send at most {rate * limit} records",
    )


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _check_limit(client: str) -> None:
    limit = settings.PLAYGROUND_MAX_ACTIVE_PER_CLIENT
    active = Experiment.objects.filter(client=client, status__in=ACTIVE)
    counted = active.filter(comparison=None).count() + (
        active.exclude(comparison=None).values("comparison").distinct().count()
    )
    if counted >= limit:
        raise Refused(
            429,
            FieldError(
                "",
                f"you already have {counted} experiment{'s' if counted != 1 else ''} queued or "
                f"running, the most one person may have at once on this shared server "
                f"(PLAYGROUND_MAX_ACTIVE_PER_CLIENT={limit}): wait for one to finish, or "
                "cancel one you queued or held",
            ),
        )


def cancel(experiment: Experiment) -> str:
    """The owner's cancel: a queued or held experiment is removed; a running one is stopped (the
    producer stops, the consumer finishes the log, and the run is audited as far as it ran)."""
    with transaction.atomic():
        QueueLock.hold()  # a runner claiming it now either has it already or never will
        removed, _ = Experiment.objects.filter(
            Q(pk=experiment.pk), status__in=(Experiment.HELD, Experiment.QUEUED)
        ).delete()
    if removed:
        fanout.publish_queue()
        return "cancelled: the experiment was removed from the queue"
    experiment.refresh_from_db()
    if experiment.status == Experiment.RUNNING:
        return actions.live_action_queue(experiment, {"action": actions.STOP})
    return "nothing to cancel: the experiment has already finished"


def cancel_comparison(comparison: Comparison, request: HttpRequest) -> None:
    """The owner's stop of a whole comparison: its queued runs are removed and its running ones
    stopped (each audited as far as it ran); what it measured so far stays on its page."""
    mine = [run for run in comparison.experiments.all() if can_control(request, run)]
    if not mine:
        raise actions.ActionError("only the person who started this comparison can stop it")
    comparison.cancelled_at = timezone.now()
    comparison.save(update_fields=["cancelled_at"])
    for run in mine:
        if not run.finished:
            cancel(run)


class NotHeld(Exception):
    """Start pressed on an experiment that is not held (any more); the message says why."""


def release(experiment: Experiment) -> None:
    """The controller's Start: a held experiment joins the queue, at the back (its created_at
    becomes now, since the queue is oldest first), and the runner is woken."""
    with transaction.atomic():
        QueueLock.hold()
        expire_holds()
        released = Experiment.objects.filter(pk=experiment.pk, status=Experiment.HELD).update(
            status=Experiment.QUEUED, created_at=timezone.now()
        )
    if not released:
        gone = not Experiment.objects.filter(pk=experiment.pk).exists()
        raise NotHeld(
            f"start: the hold expired ({HOLD_SECONDS // 60} minutes) and the experiment was "
            "removed; run it again"
            if gone
            else "start: this experiment is not held; it is already on the queue or has run"
        )
    experiment.refresh_from_db()
    fanout.send(experiment.share_id, fanout.reload_fragment(experiment))
    fanout.publish_queue()
    runner_link.wake_runner()


def hold_expires_at(experiment: Experiment):
    """When a held experiment is removed if nobody starts it."""
    return experiment.created_at + timedelta(seconds=HOLD_SECONDS)


def expire_holds() -> list[str]:
    """Remove the held experiments nobody started within HOLD_SECONDS, telling their viewers;
    the share ids that went."""
    cutoff = timezone.now() - timedelta(seconds=HOLD_SECONDS)
    expired = Experiment.objects.filter(status=Experiment.HELD, created_at__lt=cutoff)
    share_ids = list(expired.values_list("share_id", flat=True))
    if share_ids:
        Experiment.objects.filter(share_id__in=share_ids, status=Experiment.HELD).delete()
        for share_id in share_ids:
            fanout.send(share_id, render_to_string("_class_predictions.html#hold_expired"))
    return share_ids


def grant_control(request: HttpRequest, experiment: Experiment) -> None:
    if not hasattr(request, "session"):
        return
    controlled = set(request.session.get(CONTROL_SESSION_KEY, []))
    controlled.add(experiment.share_id)
    request.session[CONTROL_SESSION_KEY] = sorted(controlled)


def can_control(request: HttpRequest, experiment: Experiment) -> bool:
    """The owner's session, or a session that presented the control token, controls an
    experiment; the share link alone never does."""
    return session_controls(request.session, experiment.share_id)


def session_controls(session: SessionBase | None, share_id: str) -> bool:
    """Whether a browser session (a request's, or a websocket's scope) controls `share_id`."""
    return session is not None and share_id in session.get(CONTROL_SESSION_KEY, [])


def token_matches(token: str, experiment: Experiment) -> bool:
    """Whether `token` is the experiment's control token (compared in constant time;
    compare_digest takes only ASCII text, and a token with any other character is simply
    wrong)."""
    return token.isascii() and secrets.compare_digest(token, experiment.control_token)


def client_of(request: HttpRequest, *, api: bool = False) -> str:
    """Who a request counts as for the fair-use limit: its browser session, or for the API
    (scripts keep no cookies) its IP address."""
    if api:
        return f"ip:{request.META.get('REMOTE_ADDR') or 'unknown'}"
    return f"session:{_session_key(request)}"


def _session_key(request: HttpRequest) -> str:
    if request.session.session_key is None:
        request.session.save()
    return request.session.session_key or ""


def lose_runs(*, runner: str, reason: str) -> list[str]:
    """The experiments runner `runner` (runner_link.runner_name) was running are failed with
    `reason`: it died before they finished. Their live pages reload to say so. Returns their
    share ids."""
    running = Experiment.objects.filter(status=Experiment.RUNNING, runner=runner)
    return lose(list(running), reason)


def lose(running: Sequence[Experiment], reason: str) -> list[str]:
    """Mark `running` experiments failed with `reason` (their runner is gone), once the
    surrounding transaction commits tell their viewers, and return their share ids."""
    lost = [
        experiment
        for experiment in running
        if Experiment.objects.filter(pk=experiment.pk, status=Experiment.RUNNING).update(
            status=Experiment.FAILED, error=reason, finished_at=timezone.now()
        )
    ]

    def tell() -> None:
        for experiment in lost:
            experiment.refresh_from_db()
            fanout.forget(experiment.share_id)
            fanout.send(experiment.share_id, fanout.reload_fragment(experiment))
        fanout.publish_queue()

    if lost:
        transaction.on_commit(tell)
    return [experiment.share_id for experiment in lost]
