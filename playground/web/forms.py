"""The builder's forms: flat fields over the experiment spec, and the spec pasted as JSON.

Each field is derived from its setting in engine/spec_fields (name, label, kind, values,
explanation, section), so a new spec field is described there, not here.

The forms only turn fields into a spec document. Whether the document means anything is
`Spec.from_json`'s decision, and each `FieldError` it reports is shown on the field its dotted
path names: "producer.acks" on the acks field, "faults[1].at.records" on the second fault row's
"after" field; a path that names no field becomes an error of the whole form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from playground.engine.spec.fields import (
    FAULT_SETTINGS,
    SECTIONS,
    SPEC_SETTINGS,
    Kind,
    Section,
    Setting,
    setting,
)
from playground.engine.spec.model import (
    FAULT_FIELDS,
    MAX_FAULTS,
    MAX_NAME_LENGTH,
    SPEC_VERSION,
    Fault,
    FaultKind,
    FieldError,
    KillPoint,
    Spec,
    SpecError,
    default_spec,
    fault_defaults,
    producer_kill_points,
)
from playground.web import user_json
from playground.web.runs.experiments import duration_error

FAULT_ROWS = 4  # rows shown for faults; a spec with more faults gets a row for each
MAX_PASTED_CHARACTERS = 100_000

# The settings form's field of each spec path ("producer.acks" -> "acks").
SETTING_OF_PATH = {entry.path: entry.name for entry in SPEC_SETTINGS}
# The part of a fault's path after "faults[i]." and the row field it belongs to.
FAULT_FIELD_OF_PATH = {
    **{entry.name: entry.name for entry in FAULT_SETTINGS},
    "at.records": "at",
    "at.seconds": "at",
}
_FAULT_PATH = re.compile(r"faults\[(\d+)\](?:\.(.+))?")


def _form_field(entry: Setting) -> forms.Field:
    """The form field that edits one setting, with the setting's label.

    No min/max here: the ranges are Spec.from_json's, and its messages name them. A fault row's
    fields may all be blank (a row without a fault; the kind's default for the others).
    """
    required = not entry.per_fault
    if entry.kind == Kind.INTEGER:
        return forms.IntegerField(label=entry.label, required=required)
    if entry.kind == Kind.NUMBER:
        return forms.FloatField(label=entry.label, required=required)
    if entry.kind == Kind.FLAG:
        return forms.BooleanField(label=entry.label, required=False)
    if entry.kind == Kind.CHOICE:
        blank = [("", entry.blank)] if entry.blank else []
        choices = [*blank, *((value.value, value.label) for value in entry.values)]
        return forms.ChoiceField(label=entry.label, required=required, choices=choices)
    attrs: dict[str, Any] = {"maxlength": MAX_NAME_LENGTH} if entry.path == "name" else {}
    attrs["placeholder"] = entry.blank
    return forms.CharField(label=entry.label, required=False, widget=forms.TextInput(attrs=attrs))


class SettingsForm(forms.Form):
    """Every spec setting except the faults, one flat field each (spec_fields.SPEC_SETTINGS)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for entry in SPEC_SETTINGS:
            self.fields[entry.name] = field = _form_field(entry)
            field.spec_path = entry.path
            field.help_text = entry.explanation
            field.choice_help = list(entry.choices.items())

    def document(self, faults: list[dict[str, Any]]) -> dict[str, Any]:
        """The spec document of the cleaned fields, with `faults` as its fault list."""
        document: dict[str, Any] = {"version": SPEC_VERSION, "faults": faults}
        for entry in SPEC_SETTINGS:
            value = self.cleaned_data[entry.name]
            if entry.path == "producer.transactional_id" and not value:
                value = None  # blank means "the default id", which the spec writes as null
            entry.put(document, value)
        return document


class FaultForm(forms.Form):
    """One fault row: a kind (blank for none), when it fires, and the fields of its kind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for entry in FAULT_SETTINGS:
            self.fields[entry.name] = _form_field(entry)
            if entry.name == "at":
                # "at" counts records or seconds; the row's unit says which, the spec's key.
                self.fields["when"] = forms.ChoiceField(
                    label="Unit",
                    required=False,
                    choices=[("records", "records"), ("seconds", "seconds")],
                )
        for name, field in self.fields.items():
            # Which kinds use the field, for the page to show only those. The fields'
            # explanations are listed once for all rows (BuilderForms.fault_help).
            field.kinds = [kind.value for kind, names in FAULT_FIELDS.items() if name in names]

    def clean(self) -> dict[str, Any]:
        # Fields the chosen kind does not use are hidden and ignored, so are their errors.
        kind = self.cleaned_data.get("kind")
        used = {"kind", "at", "when", *FAULT_FIELDS[FaultKind(kind)]} if kind else {"kind"}
        for name in self.fields:
            if name not in used:
                self.errors.pop(name, None)
        return self.cleaned_data

    def document(self) -> dict[str, Any] | None:
        """The fault's spec document, or None for a row without a kind."""
        kind = self.cleaned_data.get("kind")
        if not kind:
            return None
        document: dict[str, Any] = {"kind": kind}
        at = self.cleaned_data.get("at")
        if at is not None:
            when = self.cleaned_data.get("when") or "records"
            # The field takes both units; a whole number of records goes in as an integer.
            document["at"] = {when: int(at) if when == "records" and at.is_integer() else at}
        for name in FAULT_FIELDS[FaultKind(kind)]:
            value = self.cleaned_data.get(name)
            if value is None or value == "":
                if kind == FaultKind.PAUSE_BROKER and name == "seconds":
                    document[name] = None  # paused until a resume-broker or the end of the run
                continue  # otherwise the spec's default for the field
            document[name] = int(value) if name == "broker" and value.isdigit() else value
        return document


FaultFormSet = forms.formset_factory(
    FaultForm, extra=0, max_num=MAX_FAULTS, absolute_max=MAX_FAULTS, validate_max=True
)


@dataclass(frozen=True)
class ShownError:
    """An error as the page lists it: where it is and what is wrong."""

    label: str  # "Acks", "Fault 2: After"; empty for the whole form
    anchor: str  # the id of the field (or error list) to jump to
    message: str


class BuilderForms:
    """The settings form and the fault rows, read together into one Spec.

    Unbound, they show `spec` (the defaults if None). Bound, `is_valid()` builds the spec
    document, validates it with Spec.from_json and, if that fails, puts each FieldError on the
    field its path names.
    """

    FAULTS_PREFIX = "faults"

    def __init__(self, data: Any = None, *, spec: Spec | None = None) -> None:
        if data is None:
            spec = spec or default_spec()
            self.settings = SettingsForm(initial=_settings_initial(spec))
            self.faults = FaultFormSet(initial=_faults_initial(spec), prefix=self.FAULTS_PREFIX)
        else:
            self.settings = SettingsForm(data)
            self.faults = FaultFormSet(data, prefix=self.FAULTS_PREFIX)
        self.spec: Spec | None = spec if data is None else None

    def is_valid(self) -> bool:
        settings_valid = self.settings.is_valid()
        if not (self.faults.is_valid() and settings_valid):
            return False
        faults = [(row, row.document()) for row in self.faults]
        rows = [row for row, fault in faults if fault is not None]
        document = self.settings.document([fault for _, fault in faults if fault is not None])
        try:
            self.spec = Spec.from_json(document)
        except SpecError as error:
            for field_error in error.errors:
                self._place(field_error, rows)
            return False
        too_long = duration_error(self.spec)
        if too_long is not None:  # valid, but longer than this server runs an experiment
            self._place(too_long, rows)
            self.spec = None
            return False
        return True

    def _place(self, error: FieldError, rows: list[FaultForm]) -> None:
        """Put one FieldError on the field its path names, or on the whole form."""
        if error.path in SETTING_OF_PATH:
            self.settings.add_error(SETTING_OF_PATH[error.path], error.message)
            return
        match = _FAULT_PATH.fullmatch(error.path)
        if match and int(match[1]) < len(rows):
            row, field = rows[int(match[1])], FAULT_FIELD_OF_PATH.get(match[2] or "")
            row.add_error(field, error.message if field else str(error))
            return
        self.settings.add_error(None, str(error))

    @property
    def sections(self) -> list[tuple[Section, list[forms.BoundField]]]:
        """Each section of the page with its settings' fields; the faults section has none
        (its settings are the fault rows')."""
        return [
            (
                section,
                [self.settings[entry.name] for entry in SPEC_SETTINGS if entry.section == section],
            )
            for section in SECTIONS
        ]

    def fields(self) -> Iterator[forms.BoundField]:
        """Every field on the page, settings then fault rows."""
        yield from self.settings
        for row in self.faults:
            yield from row

    @property
    def fault_help(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The explanations of the fault rows' kinds, kill points (the consumer's, then the
        producer's: those a transactional producer passes; "anywhere" is both) and fields."""
        points = setting("faults.point").choices.items()
        producer = set(producer_kill_points(_TRANSACTIONAL_PRODUCER))
        producer_only = producer - {KillPoint.ANYWHERE}
        return [
            ("Kinds", list(setting("faults.kind").choices.items())),
            ("Kill points (kill-consumer)", [(p, t) for p, t in points if p not in producer_only]),
            ("Kill points (kill-producer)", [(p, t) for p, t in points if p in producer]),
            ("Targets (drop-acks)", list(setting("faults.target").choices.items())),
            ("Fields", [(entry.label, entry.explanation) for entry in FAULT_SETTINGS]),
        ]

    def row_faults(self) -> list[Fault | None]:
        """The spec's fault each fault row stands for, in row order (None: a row without a
        kind, or every row while the form is not a valid spec)."""
        if self.spec is None:
            return [None] * len(self.faults)
        faults = iter(self.spec.faults)
        shown = []
        for row in self.faults:
            kind = row.cleaned_data.get("kind") if row.is_bound else row.initial.get("kind")
            shown.append(next(faults, None) if kind else None)
        return shown

    def anchor(self, path: str) -> str:
        """The id of the field that sets `path` ("producer.acks" -> "id_acks")."""
        name = SETTING_OF_PATH.get(path)
        return self.settings[name].auto_id if name else ""

    def shown_errors(self) -> list[ShownError]:
        """Every error on the page, in page order, for the list of things to fix."""
        shown = [ShownError("", "builder-errors", e) for e in self.settings.non_field_errors()]
        shown += [ShownError("", "builder-errors", e) for e in self.faults.non_form_errors()]
        for name, errors in self.settings.errors.items():
            if name != NON_FIELD_ERRORS:
                field = self.settings[name]
                shown += [ShownError(field.label, field.auto_id, e) for e in errors]
        for number, row in enumerate(self.faults, start=1):
            shown += [
                ShownError(f"Fault {number}", f"fault-{number}", e) for e in row.non_field_errors()
            ]
            for name, errors in row.errors.items():
                if name != NON_FIELD_ERRORS:
                    label = f"Fault {number}: {row[name].label}"
                    shown += [ShownError(label, row[name].auto_id, e) for e in errors]
        return shown


class PastedSpecForm(forms.Form):
    """A whole spec document pasted as JSON; `clean_spec_json` turns it into a Spec."""

    spec_json = forms.CharField(
        label="Spec as JSON",
        max_length=MAX_PASTED_CHARACTERS,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
    )

    def clean_spec_json(self) -> Spec:
        try:
            document = user_json.parse(self.cleaned_data["spec_json"])
        except user_json.NotJson as error:
            raise ValidationError(str(error)) from None
        try:
            spec = Spec.from_json(document)
        except SpecError as error:
            raise ValidationError([str(field_error) for field_error in error.errors]) from None
        too_long = duration_error(spec)
        if too_long is not None:
            raise ValidationError(str(too_long))
        return spec


# A producer that passes every producer kill point (the commit's too), for the fault help.
_TRANSACTIONAL_PRODUCER = replace(
    default_spec().producer, enable_idempotence=True, transactional=True
)


def _settings_initial(spec: Spec) -> dict[str, Any]:
    initial = {entry.name: entry.value(spec) for entry in SPEC_SETTINGS}
    initial["transactional_id"] = initial["transactional_id"] or ""
    return initial


def _blank_fault_row() -> dict[str, Any]:
    """A row without a fault: each field shows its default where every kind that has the field
    agrees on it, and is left blank (the chosen kind's default) where they differ."""
    defaults: dict[str, set[Any]] = {}
    for kind in FaultKind:
        for name, value in fault_defaults(kind).items():
            defaults.setdefault(name, set()).add(value)
    agreed = {name: values.pop() for name, values in defaults.items() if len(values) == 1}
    return {"when": "records", **agreed}


def _faults_initial(spec: Spec) -> list[dict[str, Any]]:
    blank = _blank_fault_row()
    rows = []
    for fault in spec.to_json()["faults"]:
        (when, at), *_ = fault["at"].items()
        rows.append({**blank, **fault, "when": when, "at": at})
    return rows + [blank] * max(0, FAULT_ROWS - len(rows))
