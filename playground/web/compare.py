"""Compare: 2 to 4 specs run one after another under the same fault schedule, measured side by
side (throughput, end-to-end latency, lost, duplicated, the semantic each showed)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from playground.engine import presets
from playground.engine.spec import FaultKind, KillPoint, Spec, SpecError, kill_points
from playground.web import experiments, user_json, verdict
from playground.web.models import Comparison

SLOTS = 4
CUSTOM = "custom"
NO_FAULTS = "none"


@dataclass
class Slot:
    number: int
    choice: str = ""  # "", a preset name, or "custom"
    custom: str = ""  # the custom spec's JSON text
    error: str = ""


def _slots(data) -> list[Slot]:
    return [
        Slot(n, data.get(f"spec{n}", ""), data.get(f"custom{n}", "")) for n in range(1, SLOTS + 1)
    ]


def _context(slots: list[Slot], faults_from: str, errors: list[str]) -> dict:
    return {
        "slots": slots,
        "presets": presets.PRESETS.values(),
        "faults_from": faults_from,
        "errors": errors,
        "custom": CUSTOM,
    }


@require_http_methods(["GET", "POST"])
def compare(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        defaults = {"spec1": "notification-service", "spec2": "payment-service"}
        return render(request, "compare.html", _context(_slots(defaults), "1", []))
    slots = _slots(request.POST)
    faults_from = request.POST.get("faults_from", "1")
    specs, errors = build_specs(slots, faults_from)
    if errors:
        return render(request, "compare.html", _context(slots, faults_from, errors), status=400)
    try:
        return redirect(experiments.start_comparison(specs, request))
    except experiments.Refused as refusal:
        return render(
            request,
            "compare.html",
            _context(slots, faults_from, [str(refusal)]),
            status=refusal.status,
        )


def build_specs(slots: list[Slot], faults_from: str) -> tuple[list[Spec], list[str]]:
    """The chosen specs, each with the fault schedule of slot `faults_from` (or none), or the
    errors, each naming its slot and field."""
    chosen: dict[int, Spec] = {}
    errors: list[str] = []
    for slot in slots:
        if not slot.choice:
            continue
        try:
            if slot.choice == CUSTOM:
                chosen[slot.number] = Spec.from_json(user_json.parse(slot.custom))
            else:
                chosen[slot.number] = presets.preset(slot.choice).spec
        except KeyError:
            slot.error = f"spec {slot.number}: there is no preset {slot.choice!r}"
        except user_json.NotJson as error:
            slot.error = f"spec {slot.number}: {error}"
        except SpecError as error:
            slot.error = f"spec {slot.number}: {error}"
        if slot.error:
            errors.append(slot.error)
    if errors:
        return [], errors
    if not 2 <= len(chosen) <= SLOTS:
        return [], [f"specs: choose 2 to {SLOTS} specs to compare ({len(chosen)} chosen)"]
    if faults_from == NO_FAULTS:
        faults = []
    elif faults_from in {str(number) for number in chosen}:  # never int() of arbitrary text
        faults = chosen[int(faults_from)].to_json()["faults"]
    else:
        return [], [f"faults_from: {faults_from!r} is not one of the chosen specs or 'none'"]
    specs = []
    for number, spec in chosen.items():
        document = spec.to_json() | {"faults": [in_own_terms(f, spec) for f in faults]}
        try:
            specs.append(Spec.from_json(document))
        except SpecError as error:
            errors.append(f"spec {number} with the shared faults: {error}")
    return specs, errors


def in_own_terms(fault: dict, spec: Spec) -> dict:
    """A shared fault as it applies to `spec`: a consumer kill at a point `spec`'s commit mode
    never passes strikes at its next commit point instead (every mode has one), so that the kill
    happens in every column rather than being refused or never firing."""
    if fault["kind"] != FaultKind.KILL_CONSUMER:
        return fault
    if fault["point"] in {point.value for point in kill_points(spec.consumer)}:
        return fault
    return fault | {"point": KillPoint.NEXT_COMMIT_POINT.value}


@require_GET
def comparison(request: HttpRequest, share_id: str) -> HttpResponse:
    found = get_object_or_404(Comparison, share_id=share_id)
    runs = list(found.experiments.all())
    context = {
        "comparison": found,
        "runs": runs,
        "finished": all(run.finished for run in runs),
        "rows": table(runs),
    }
    template = "compare.html#table" if request.htmx else "comparison.html"
    return render(request, template, context)


@dataclass(frozen=True)
class InvalidRun:
    """The observed cell of a run that was not a valid test of its settings: no semantic, the
    first reason instead."""

    problem: str

    def __str__(self) -> str:
        return f"invalid run: {self.problem}"


def _observed(result: dict) -> str | InvalidRun | None:
    outcome = verdict.outcome(result)
    return outcome.observed_semantic if outcome.valid else InvalidRun(outcome.first_problem)


def _at(*path: str):
    """The value at `path` in a result, None where an older or odd result has none."""

    def read(result: dict) -> object:
        value: object = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    return read


ROWS = (
    ("promised", _at("promised_semantic")),
    ("observed", _observed),
    ("throughput (records/s)", _at("timing", "records_per_second")),
    ("latency p50 (ms)", _at("timing", "latency_ms_p50")),
    ("latency p99 (ms)", _at("timing", "latency_ms_p99")),
    ("lost", _at("audit", "lost")),
    ("never sent", lambda r: verdict.outcome(r).never_sent),
    ("duplicated", _at("audit", "duplicated")),
    ("delivered", _at("audit", "delivered")),
)


def table(runs) -> list[tuple[str, list]]:
    """One row per measure, one cell per run (None until that run is done; "—" where its result
    has no such measure)."""
    return [
        (label, [_cell(value, run.result) if run.result else None for run in runs])
        for label, value in ROWS
    ]


def _cell(value, result: object) -> object:
    if not isinstance(result, dict):
        return "—"
    found = value(result)
    return "—" if found is None else found
