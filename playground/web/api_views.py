"""The JSON API for scripting demos: list presets, create an experiment from a spec, read its
state and result. The same validation as the builder (Spec.from_json), the same errors."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from playground.engine.spec import presets as builtin
from playground.engine.spec.model import FieldError, Spec, SpecError
from playground.web import user_json
from playground.web.comparisons import measurements
from playground.web.lessons import class_predictions
from playground.web.models import Comparison, Experiment
from playground.web.runs import experiments as starting
from playground.web.runs.actions import ActionError
from playground.web.stories import audit_table


def _errors(status: int, *errors: FieldError) -> JsonResponse:
    return JsonResponse(
        {"errors": [{"path": e.path, "message": e.message} for e in errors]}, status=status
    )


def _method_not_allowed(request: HttpRequest, allowed: str) -> JsonResponse:
    response = _errors(405, FieldError("", f"method {request.method} not allowed; use {allowed}"))
    response["Allow"] = allowed
    return response


def presets(request: HttpRequest) -> JsonResponse:
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    return JsonResponse(
        {
            "presets": [
                {
                    "name": p.name,
                    "title": p.title,
                    "service": p.service,
                    "semantic": p.semantic.value,
                    "explanation": p.explanation,
                    "spec": p.spec.to_json(),
                }
                for p in builtin.PRESETS.values()
            ]
        }
    )


@csrf_exempt  # a scripting API: no cookies, no CSRF token; anyone may start an experiment
def experiments(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _method_not_allowed(request, "POST")
    try:
        document = user_json.parse(request.body or b"null")
    except RequestDataTooBig:
        return _errors(413, FieldError("", "body: too large for a spec"))
    except user_json.NotJson as error:
        return _errors(400, FieldError("", f"body: {error}"))
    try:
        spec = Spec.from_json(document)
    except SpecError as error:
        return _errors(400, *error.errors)
    try:
        experiment = starting.start(spec, request, api=True)
    except starting.Refused as refusal:
        return _errors(refusal.status, refusal.error)
    return JsonResponse(describe(request, experiment, with_control=True), status=201)


@csrf_exempt  # DELETE proves control with the token, not with a cookie
def experiment(request: HttpRequest, share_id: str) -> JsonResponse:
    if request.method not in ("GET", "DELETE"):
        return _method_not_allowed(request, "GET, DELETE")
    found = Experiment.objects.filter(share_id=share_id).first()
    if found is None:
        return _errors(404, FieldError("id", f"no experiment {share_id!r}"))
    if request.method == "DELETE":
        return _cancel(request, found)
    return JsonResponse(describe(request, found))


def orders(request: HttpRequest, share_id: str) -> JsonResponse:
    """A page of an experiment's per-order stories (?filter=&page=), read from its story book."""
    found = _readable(request, share_id)
    if isinstance(found, JsonResponse):
        return found
    try:
        page = audit_table.page(found, request.GET.get("filter", ""), request.GET.get("page", "1"))
    except audit_table.BadQuery as error:
        return _errors(400, _field_error(error))
    return JsonResponse(
        {
            "filter": page.filter,
            "filters": list(page.filters),
            "page": page.number,
            "pages": page.pages,
            "total": page.total,
            "orders": page.stories,
        }
    )


def order(request: HttpRequest, share_id: str, order_id: str) -> JsonResponse:
    """One order's story, as the audit told it."""
    found = _readable(request, share_id)
    if isinstance(found, JsonResponse):
        return found
    try:
        return JsonResponse(audit_table.story(found, order_id))
    except audit_table.BadQuery as error:
        return _errors(400, _field_error(error))
    except audit_table.UnknownOrder as error:
        return _errors(404, _field_error(error))


def _readable(request: HttpRequest, share_id: str) -> Experiment | JsonResponse:
    """The experiment a GET asks for, or the error to answer with (405, 404)."""
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    found = Experiment.objects.filter(share_id=share_id).first()
    if found is None:
        return _errors(404, FieldError("id", f"no experiment {share_id!r}"))
    return found


def _field_error(error: Exception) -> FieldError:
    """A story query's error ("field: message") as the API's error."""
    field, _, _ = str(error).partition(":")
    return FieldError(field, str(error))


def comparison(request: HttpRequest, share_id: str) -> JsonResponse:
    """A trade-off comparison: per spec, its cost figures (per round and median) and its
    guarantee figures; or, for rebalance protocols, per protocol its rounds and their median
    figures (measurements.to_json)."""
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    found = Comparison.objects.filter(share_id=share_id).first()
    if found is None:
        return _errors(404, FieldError("id", f"no comparison {share_id!r}"))
    data = measurements.to_json(found, measurements.columns(found.experiments.all()))
    data["url"] = request.build_absolute_uri(found.get_absolute_url())
    for column in data["specs"]:
        if "runs" in column:  # a rebalance comparison's rounds
            column["urls"] = [_run_url(request, run) for run in column["runs"]]
            continue
        column["guarantee"]["url"] = _run_url(request, column["guarantee"]["run"])
        column["cost"]["urls"] = [_run_url(request, run) for run in column["cost"]["runs"]]
    return JsonResponse(data)


def _run_url(request: HttpRequest, share_id: str | None) -> str | None:
    return request.build_absolute_uri(f"/api/experiments/{share_id}") if share_id else None


def _cancel(request: HttpRequest, found: Experiment) -> JsonResponse:
    """The owner's cancel: a queued experiment is removed, a running one is stopped. The control
    token (from the control URL) comes in the X-Control-Token header."""
    token = request.headers.get("X-Control-Token", "")
    if not starting.token_matches(token, found):
        return _errors(
            403, FieldError("X-Control-Token", "not the control token of this experiment")
        )
    try:
        message = starting.cancel(found)
    except ActionError as error:
        return _errors(409, FieldError("", str(error)))
    removed = not Experiment.objects.filter(pk=found.pk).exists()
    return JsonResponse({"id": found.share_id, "removed": removed, "message": message})


STRIP_KEYS = ("partitions", "output_partitions", "strip")


def describe(request: HttpRequest, experiment: Experiment, with_control: bool = False) -> dict:
    url = experiment.get_absolute_url()
    snapshot = experiment.snapshot or {}
    data = {
        "id": experiment.share_id,
        "status": experiment.status,
        "url": request.build_absolute_uri(url),
        "api_url": request.build_absolute_uri(f"/api/experiments/{experiment.share_id}"),
        "spec": experiment.spec,
        # The log strip's data stands on its own (below); its pictures are the page's business.
        "snapshot": {k: v for k, v in snapshot.items() if k not in STRIP_KEYS} or None,
        "result": experiment.result,
        "error": experiment.error or None,
    }
    # Each input partition's log end, committed offset, position and ranges by state
    # (engine/observe/log_strip.py), live while it runs and final once it is audited.
    data["partitions"] = snapshot.get("partitions", [])
    if "output_partitions" in snapshot:
        data["output_partitions"] = snapshot["output_partitions"]
    place = experiment.place() if experiment.status == Experiment.QUEUED else None
    if place is not None:
        data["ahead"] = place.ahead  # queued experiments that start before this one
        data["waits_for"] = place.waits_for or None
    if experiment.tally_revealed_at is not None:  # the class's predictions, once revealed
        data["predictions"] = class_predictions.tally_of(experiment)
    if with_control:
        data["control_url"] = request.build_absolute_uri(
            f"{url}control?token={experiment.control_token}"
        )
    return data
