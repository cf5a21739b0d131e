"""The builder: a form over the experiment spec, the promise its settings make (live, as the user
edits), and the ways in: defaults, a preset, a spec link, or a pasted JSON spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from playground.engine.naming import CONSUMER, OUTPUT_PRODUCER, SOURCE_PRODUCER
from playground.engine.run import clients
from playground.engine.spec import presets
from playground.engine.spec.fault_cost import (
    QUEUE_SECONDS,
    Cost,
    fault_cost,
    outlasts_message_timeout,
    outlasts_retries,
    schedule_cost,
)
from playground.engine.spec.model import MAX_INT32, Acks, Fault, Spec, SpecError, default_spec
from playground.engine.spec.presets import Preset
from playground.engine.spec.semantics import promise
from playground.web import user_json
from playground.web.error_pages import refused
from playground.web.forms import BuilderForms, PastedSpecForm
from playground.web.runs import experiments
from playground.web.spec_links import decode_spec, spec_url


@require_http_methods(["GET", "POST"])
def builder(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _run(request)
    spec, chosen, problems = _opened_spec(request.GET)
    return _page(
        request,
        BuilderForms(spec=spec),
        preset=chosen,
        problems=problems,
        status=400 if problems else 200,
    )


@require_POST
def builder_promise(request: HttpRequest) -> HttpResponse:
    """The promise panel for the form as it stands, with every field's errors swapped in beside
    it; always 200 so htmx swaps it in, valid or not."""
    forms = BuilderForms(request.POST)
    forms.is_valid()
    return render(request, "builder.html#promise-update", _panel(request, forms))


def _run(request: HttpRequest) -> HttpResponse:
    if "spec_json" in request.POST:
        pasted = PastedSpecForm(request.POST)
        if pasted.is_valid():
            return _start(request, pasted.cleaned_data["spec_json"])
        return _page(request, BuilderForms(), pasted=pasted, status=400)
    forms = BuilderForms(request.POST)
    if forms.is_valid():
        assert forms.spec is not None
        return _start(request, forms.spec)
    return _page(request, forms, status=400)


def _start(request: HttpRequest, spec: Spec) -> HttpResponse:
    try:  # "hold for predictions": it waits for its controller's Start (teacher mode)
        experiment = experiments.start(spec, request, hold=request.POST.get("hold") == "on")
    except experiments.Refused as refusal:
        return refused(request, refusal)
    return redirect(experiment.get_absolute_url())


def _opened_spec(query: Mapping[str, str]) -> tuple[Spec, Preset | None, list[str]]:
    """The spec a GET asks for (?preset=name or ?spec=link), its preset, and what went wrong."""
    if "preset" in query:
        try:
            chosen = presets.preset(query["preset"])
        except KeyError as error:
            return default_spec(), None, [f"Cannot open the preset: {error.args[0]}."]
        return chosen.spec, chosen, []
    if "spec" in query:
        try:
            return Spec.from_json(decode_spec(query["spec"])), None, []
        except SpecError as error:
            problems = ["The linked spec is not valid, so the defaults are shown instead:"]
            return default_spec(), None, problems + [str(e) for e in error.errors]
        except ValueError as error:
            return default_spec(), None, [f"Cannot open the linked spec: {error}."]
    return default_spec(), None, []


def _page(
    request: HttpRequest,
    forms: BuilderForms,
    *,
    preset: Preset | None = None,
    problems: list[str] | None = None,
    pasted: PastedSpecForm | None = None,
    status: int = 200,
) -> HttpResponse:
    if pasted is None:
        shown = forms.spec or default_spec()
        pasted = PastedSpecForm(initial={"spec_json": user_json.dumps(shown.to_json(), indent=2)})
    context = {
        "presets": presets.PRESETS.values(),
        "preset": preset,
        "problems": problems or [],
        "pasted": pasted,
        **_panel(request, forms),
    }
    return render(request, "builder.html", context, status=status)


def _panel(request: HttpRequest, forms: BuilderForms) -> dict[str, Any]:
    """What the promise panel shows: the promise of a valid spec, or what to fix."""
    spec = forms.spec
    faults = zip(forms.faults, forms.row_faults(), strict=True)
    rows = [(row, _row_cost(fault, spec)) for row, fault in faults]
    if spec is None:
        return {"forms": forms, "fault_rows": rows, "spec": None, "errors": forms.shown_errors()}
    result = promise(spec)
    document = spec.to_json()
    return {
        "forms": forms,
        "fault_rows": rows,
        "schedule_cost": _schedule_cost(spec),
        "spec": spec,
        "promise": result,
        "loss_risks": [(risk, forms.anchor(risk.setting)) for risk in result.loss_risks],
        "duplicate_risks": [(risk, forms.anchor(risk.setting)) for risk in result.duplicate_risks],
        "configs": _configs(spec),
        "experiment_placeholder": clients.EXPERIMENT_PLACEHOLDER,
        "servers_placeholder": clients.SERVERS_PLACEHOLDER,
        "link": request.build_absolute_uri(spec_url(document)),
        "spec_json": user_json.dumps(document, indent=2),
    }


def _row_cost(fault: Fault | None, spec: Spec | None) -> str:
    """What the fault of one row can cost one record of the producer, in a sentence ("" for a
    row without a fault, or while the form is not a valid spec)."""
    if fault is None or spec is None:
        return ""
    cost = fault_cost(fault, spec)
    if cost.none:
        return "Costs the producer no time: it never holds up the producer's requests."
    return f"Can cost one of the producer's records {cost.describe()}."


def _schedule_cost(spec: Spec) -> list[str]:
    """The whole schedule's cost to one record of the producer beside the bounds of its
    retries, in sentences (none without faults)."""
    if not spec.faults:
        return []
    total = schedule_cost(spec)
    if total.none:
        return ["No fault here holds up the producer's requests: its retries are never at stake."]
    producer = spec.producer
    said = [
        f"Together, one record can wait {total.describe()}: every fault's cost added up, as if "
        "all of them struck the same record."
    ]
    timeout = producer.message_timeout_ms / 1000
    over = _over_bounds(total, spec)
    if outlasts_message_timeout(total, spec):
        said.append(
            f"With up to {QUEUE_SECONDS:g} s in the client's own queue, that can outlast the "
            f"message timeout ({timeout:g} s): the producer can give up on the record."
        )
    else:
        said.append(f"That stays within the message timeout ({timeout:g} s).")
    if producer.retries < MAX_INT32 and outlasts_retries(total, spec):
        said.append(
            f"It can also fail the record more often than the {producer.retries} retries allow."
        )
    if over and producer.acks == Acks.NONE:
        said.append("With acks=0 the producer never retries: acks=0 is a loss risk of its own.")
    elif over and producer.transactional:
        said.append(
            "A transactional producer then aborts that transaction and sends it again whole: "
            "nothing is lost."
        )
    elif over:
        said.append("The promise names it among the loss risks.")
    return said


def _over_bounds(cost: Cost, spec: Spec) -> bool:
    """Whether `cost` can outlast either bound of the producer's retries."""
    return outlasts_message_timeout(cost, spec) or (
        spec.producer.retries < MAX_INT32 and outlasts_retries(cost, spec)
    )


# Each client the run starts, in plain words: (title, what it does).
CLIENT_TITLES = {
    SOURCE_PRODUCER: ("Producer", "Writes the orders to the input topic."),
    CONSUMER: ("Consumer", "Reads the orders and handles each one, in the experiment's group."),
    OUTPUT_PRODUCER: (
        "The consumer's own producer",
        "Belongs to the consumer: writes its output records (kafka-to-kafka) and, with "
        "transactional commits, commits its offsets inside the transaction.",
    ),
}


def _configs(spec: Spec) -> list[tuple[str, str, str, str]]:
    """(title, what it does, element id, librdkafka properties text) of each client the spec
    runs, configured exactly as the workers configure it (clients.shown)."""
    return [
        (*CLIENT_TITLES[role], f"{role}-config", _properties(config))
        for role, config in clients.shown(spec).items()
    ]


def _properties(config: Mapping[str, str | int | bool]) -> str:
    """`key=value` lines, as in a librdkafka properties file (booleans as true/false)."""
    return "\n".join(
        f"{key}={str(value).lower() if isinstance(value, bool) else value}"
        for key, value in config.items()
    )
