"""The compare form: 2 to 4 specs (presets or custom JSON) and one fault schedule for all of them,
queued as a trade-off comparison (see tradeoffs; its page is comparison_views)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from playground.engine.spec import presets
from playground.engine.spec.fault_words import describe_fault
from playground.engine.spec.model import (
    COMMIT_KILL_POINTS,
    FaultKind,
    KillPoint,
    Spec,
    SpecError,
    kill_points,
    producer_kill_points,
)
from playground.engine.spec.semantics import Promise, promise
from playground.web import user_json
from playground.web.comparisons import measurements
from playground.web.runs import experiments

SLOTS = 4
CUSTOM = "custom"
NO_FAULTS = "none"


@dataclass
class Slot:
    number: int
    choice: str = ""  # "", a preset name, or "custom"
    custom: str = ""  # the custom spec's JSON text
    error: str = ""
    spec: Spec | None = None  # the chosen spec, once read_slot has read it
    problems: list[str] = field(default_factory=list)  # the error, one line per field

    @property
    def preset(self) -> presets.Preset | None:
        return presets.PRESETS.get(self.choice)

    @property
    def promise(self) -> Promise | None:
        return promise(self.spec) if self.spec else None

    @property
    def faults(self) -> str:
        """The slot's own faults in words ("" for none)."""
        return ", ".join(describe_fault(fault) for fault in self.spec.faults) if self.spec else ""


def _slots(data) -> list[Slot]:
    return [
        Slot(n, data.get(f"spec{n}", ""), data.get(f"custom{n}", "")) for n in range(1, SLOTS + 1)
    ]


def _context(slots: list[Slot], faults_from: str, cost_records: str, errors: list[str]) -> dict:
    """The form as it stands: `errors` are those of the last submit; `problems` what a submit
    would say now (build_specs reads every slot, so each has its spec or its errors)."""
    specs, problems = build_specs(slots, faults_from)
    _, cost_error = read_cost_records(cost_records)
    problems += [cost_error] if cost_error else []
    return {
        "slots": slots,
        "presets": presets.PRESETS.values(),
        "faults_from": faults_from,
        "faults_line": faults_line(slots, faults_from),
        "cost_records": cost_records,
        "cost_error": cost_error,
        "errors": errors,
        "problems": problems,
        "planned": len(specs),
        "planned_runs": len(specs) * (measurements.ROUNDS + 1),
        "custom": CUSTOM,
        "rounds": measurements.ROUNDS,
        "commit_records": measurements.COMMIT_RECORDS,
        "min_cost_records": measurements.MIN_COST_RECORDS,
        "max_cost_records": measurements.MAX_COST_RECORDS,
    }


@require_http_methods(["GET", "POST"])
def compare(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        defaults = {"spec1": "notification-service", "spec2": "payment-service"}
        context = _context(_slots(defaults), "1", str(measurements.COST_RECORDS), [])
        return render(request, "compare.html", context)
    slots = _slots(request.POST)
    faults_from = request.POST.get("faults_from", "1")
    cost_text = request.POST.get("cost_records", str(measurements.COST_RECORDS))
    specs, errors = build_specs(slots, faults_from)
    cost_records, cost_error = read_cost_records(cost_text)
    errors += [cost_error] if cost_error else []
    if errors:
        context = _context(slots, faults_from, cost_text, errors)
        return render(request, "compare.html", context, status=400)
    try:
        comparison = experiments.start_comparison(
            specs,
            request,
            cost_records=cost_records,
            faults_label=faults_line(slots, faults_from),
        )
    except experiments.Refused as refusal:
        context = _context(slots, faults_from, cost_text, [str(refusal)])
        return render(request, "compare.html", context, status=refusal.status)
    return redirect(comparison)


@require_POST
def compare_check(request: HttpRequest) -> HttpResponse:
    """The form checked as it stands: each slot's promise or errors, the fault-schedule line and
    what a submit would say, swapped in beside the fields; always 200 so htmx swaps it in."""
    slots = _slots(request.POST)
    faults_from = request.POST.get("faults_from", "1")
    cost_text = request.POST.get("cost_records", str(measurements.COST_RECORDS))
    context = _context(slots, faults_from, cost_text, [])
    return render(request, "compare.html#check", context)


def read_cost_records(text: str) -> tuple[int, str]:
    """The cost runs' record count from the form, or the error naming the field."""
    low, high = measurements.MIN_COST_RECORDS, measurements.MAX_COST_RECORDS
    text = text.strip().replace(",", "").replace("_", "")
    if not (text.isascii() and text.isdigit() and len(text) <= 9 and low <= int(text) <= high):
        return 0, f"cost_records: expected a whole number from {low:,} to {high:,}"
    return int(text), ""


def faults_line(slots: list[Slot], faults_from: str) -> str:
    """The shared fault schedule in one line, for the form; the slots must have been read."""
    if faults_from == NO_FAULTS:
        return "No faults: the guarantee runs show each spec with nothing going wrong."
    source = next((slot for slot in slots if str(slot.number) == faults_from), None)
    if source is None:
        return "Choose the faults of one of the specs above, or no faults."
    if not source.choice:
        return f"Spec {faults_from} is not chosen: choose a spec there, or another schedule."
    if source.spec is None:
        return f"Spec {faults_from} is not a valid spec yet: fix it, or choose another schedule."
    if not source.spec.faults:
        return f"Spec {faults_from} has no faults: the guarantee runs show each spec unharmed."
    line = f"Every spec gets spec {faults_from}'s faults ({source.faults})"
    if any(fault.kind == FaultKind.KILL_CONSUMER for fault in source.spec.faults):
        line += (
            "; a consumer kill strikes at each spec's next commit point when that spec never "
            "passes the point named"
        )
    commit_kills = [
        fault
        for fault in source.spec.faults
        if fault.kind == FaultKind.KILL_PRODUCER and fault.point in COMMIT_KILL_POINTS
    ]
    if commit_kills:
        line += (
            "; a producer kill at a commit strikes right after a send in a spec without "
            "transactions"
        )
    return line + "."


def read_slot(slot: Slot) -> Spec | None:
    """The spec `slot` chose (None for no choice); a bad choice sets `slot.error`, naming the slot
    and the field, and `slot.problems`, one line per field."""
    slot.spec, slot.error, slot.problems = None, "", []
    try:
        if slot.choice == CUSTOM:
            slot.spec = Spec.from_json(user_json.parse(slot.custom))
        elif slot.choice:
            slot.spec = presets.preset(slot.choice).spec
    except KeyError:
        slot.problems = [f"there is no preset {slot.choice!r}"]
    except user_json.NotJson as error:
        slot.problems = [str(error)]
    except SpecError as error:
        slot.problems = [str(field_error) for field_error in error.errors]
    if slot.problems:
        slot.error = f"spec {slot.number}: " + "; ".join(slot.problems)
    return slot.spec


def build_specs(slots: list[Slot], faults_from: str) -> tuple[list[Spec], list[str]]:
    """The chosen specs, each with the fault schedule of slot `faults_from` (or none), or the
    errors, each naming its slot and field."""
    chosen: dict[int, Spec] = {}
    errors: list[str] = []
    for slot in slots:
        spec = read_slot(slot)
        if spec is not None:
            chosen[slot.number] = spec
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
    never passes strikes at its next commit point instead (every mode has one), and a producer
    kill at a commit of a producer without transactions right after a send, so that the kill
    happens in every column rather than being refused or never firing."""
    if fault["kind"] == FaultKind.KILL_PRODUCER:
        allowed = {point.value for point in producer_kill_points(spec.producer)}
        if "point" not in fault or fault["point"] in allowed:
            return fault
        return fault | {"point": KillPoint.AFTER_SEND.value}
    if fault["kind"] != FaultKind.KILL_CONSUMER:
        return fault
    if fault["point"] in {point.value for point in kill_points(spec.consumer)}:
        return fault
    return fault | {"point": KillPoint.NEXT_COMMIT_POINT.value}
