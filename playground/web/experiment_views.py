"""The experiment pages: start one, watch it live, act on it, read its verdict, run it again."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from playground.engine.audit import story_book
from playground.engine.spec import presets
from playground.engine.spec.model import FAULT_DEFAULTS, MAX_MEMBERS, FaultKind, Spec, SpecError
from playground.engine.spec.semantics import promise
from playground.lab.topology import BROKER_IDS
from playground.web import home_views, user_json, verdict
from playground.web.error_pages import error_page, refused
from playground.web.lessons import class_predictions
from playground.web.models import Experiment
from playground.web.runs import actions, experiments, folders
from playground.web.spec_links import spec_url
from playground.web.stories import audit_table


@require_POST
def new_experiment(request: HttpRequest) -> HttpResponse:
    """Start a preset (the home page's Run buttons)."""
    name = request.POST.get("preset", "")
    try:
        spec = presets.preset(name).spec
    except KeyError:
        allowed = ", ".join(presets.PRESETS)
        return error_page(request, f"preset: there is no preset {name!r}; allowed: {allowed}", 400)
    return _start(request, spec)


def _start(request: HttpRequest, spec: Spec) -> HttpResponse:
    try:
        return redirect(experiments.start(spec, request))
    except experiments.Refused as refusal:
        return refused(request, refusal)


@require_GET
def queue_panel(request: HttpRequest) -> HttpResponse:
    return render(request, "experiment.html#queue", queue_context())


def queue_context() -> dict:
    return {
        "running": list(Experiment.objects.filter(status=Experiment.RUNNING)),
        "queued": list(Experiment.objects.filter(status=Experiment.QUEUED)),
        "max_parallel": settings.PLAYGROUND_MAX_PARALLEL,
    }


@require_GET
def experiment(request: HttpRequest, share_id: str) -> HttpResponse:
    found = get_object_or_404(Experiment, share_id=share_id)
    return render(request, "experiment.html", page_context(request, found))


def page_context(request: HttpRequest, found: Experiment) -> dict:
    controls = experiments.can_control(request, found)
    context = {
        "experiment": found,
        "controls": controls,
        "spec_json": user_json.dumps(found.spec, indent=2),
        "builder_url": spec_url(found.spec),
        "promised": _promised(found),
        "snapshot": found.snapshot or {},
        "share_url": request.build_absolute_uri(found.get_absolute_url()),
        "actions": actions.available(found),
        "brokers": BROKER_IDS,
        "dropped_acks": FAULT_DEFAULTS["count"],
        "max_member": MAX_MEMBERS - 1,
        "stall_seconds": _stall_seconds(found),
        "group_lane": _group_lane(found),
        "board": class_predictions.board(
            found, session_key=request.session.session_key, controls=controls
        ),
    }
    if controls:
        context["control_url"] = request.build_absolute_uri(
            f"{found.get_absolute_url()}control?token={found.control_token}"
        )
    if found.status == Experiment.QUEUED:
        context["place"] = found.place()
    if found.status == Experiment.DONE:
        context["outcome"] = verdict.outcome(found.result, found.spec)
        context["verdict"] = verdict.explain(found.result)
        # The table opens on the anomalies when there are any.
        context["orders_filter"] = story_book.ANOMALIES if context["verdict"] else story_book.ALL
        context["chart"] = verdict.chart(found)
        context["raw_records_pruned"] = folders.raw_records_pruned(found.run_id)
    return context


def _group_lane(found: Experiment) -> bool:
    """Whether the log strip's legend explains the member lane: the spec's group has several
    members, or a fault that adds one."""
    try:
        spec = Spec.from_json(found.spec)
    except SpecError:
        return False
    adds = any(fault.kind == FaultKind.ADD_CONSUMER for fault in spec.faults)
    return spec.consumer.members > 1 or adds


STALL_OFFER_SECONDS = 30.0


def _stall_seconds(found: Experiment) -> float:
    """What the stall and pause buttons offer first: long enough for the group to move the
    member's partitions (past its poll interval and its session timeout)."""
    try:
        consumer = Spec.from_json(found.spec).consumer
    except SpecError:
        return FAULT_DEFAULTS[(FaultKind.STALL_CONSUMER, "seconds")]
    longest = max(consumer.max_poll_interval_ms, consumer.session_timeout_ms) / 1000
    # A group that waits minutes for a member (librdkafka's 300 s poll interval) would make a
    # watched run wait as long: past STALL_OFFER_SECONDS the button offers that, and a person
    # who wants the partitions to move types more.
    return round(min(longest + 5, STALL_OFFER_SECONDS), 1)


def _promised(found: Experiment) -> str:
    try:
        return promise(Spec.from_json(found.spec)).semantic.value
    except SpecError:
        return "unknown"


@require_GET
def orders(request: HttpRequest, share_id: str) -> HttpResponse:
    """One page of the per-order audit table, optionally filtered to one anomaly kind."""
    found = get_object_or_404(Experiment, share_id=share_id)
    if found.status != Experiment.DONE:
        raise Http404("this experiment has no audit yet")
    try:
        page = audit_table.page(found, request.GET.get("filter", ""), request.GET.get("page", "1"))
    except audit_table.BadQuery as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    return render(request, "experiment.html#orders", {"experiment": found, "page": page})


@require_POST
def act(request: HttpRequest, share_id: str) -> HttpResponse:
    """A crash button: only the owner's session or a holder of the control token may press it."""
    found = get_object_or_404(Experiment, share_id=share_id)
    if not experiments.can_control(request, found):
        return _action_reply(request, "Only the person running this experiment can do that.", 403)
    try:
        message = actions.live_action_queue(found, request.POST)
    except actions.ActionError as error:
        return _action_reply(request, str(error), 400)
    return _action_reply(request, message, 202)


def _action_reply(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(
        request,
        "experiment.html#action_result",
        {"message": message, "ok": status < 300},
        status=status,
    )


@require_POST
def rerun(request: HttpRequest, share_id: str) -> HttpResponse:
    """Run the same spec again, faults included, as a new experiment owned by whoever asked."""
    found = get_object_or_404(Experiment, share_id=share_id)
    try:
        spec = Spec.from_json(found.spec)
    except SpecError as error:  # a spec stored by an older version that no longer validates
        return error_page(request, str(error), 400)
    return _start(request, spec)


@require_POST
def cancel(request: HttpRequest, share_id: str) -> HttpResponse:
    """The owner cancels a queued experiment (it is removed) or stops a running one (it is
    audited as far as it ran)."""
    found = get_object_or_404(Experiment, share_id=share_id)
    if not experiments.can_control(request, found):
        return _action_reply(request, "Only the person running this experiment can do that.", 403)
    try:
        message = experiments.cancel(found)
    except actions.ActionError as error:
        return _action_reply(request, str(error), 400)
    if not Experiment.objects.filter(pk=found.pk).exists():
        request.session[home_views.NOTICE_SESSION_KEY] = f"{found.name}: {message}."
        return redirect("home")
    return _action_reply(request, message, 202)


@require_GET
def claim_control(request: HttpRequest, share_id: str) -> HttpResponse:
    """Present the control token: this browser session may then act on the experiment."""
    found = get_object_or_404(Experiment, share_id=share_id)
    if not experiments.token_matches(request.GET.get("token", ""), found):
        message = "token: this control link is not valid for this experiment"
        return error_page(request, message, 403)
    experiments.grant_control(request, found)
    return redirect(found)
