"""The builder's forms: flat fields over the experiment spec, and the spec pasted as JSON.

The forms only turn fields into a spec document. Whether the document means anything is
`Spec.from_json`'s decision, and each `FieldError` it reports is shown on the field its dotted
path names: "producer.acks" on the acks field, "faults[1].at.records" on the second fault row's
"after" field; a path that names no field becomes an error of the whole form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from playground.engine.spec import (
    ALL_BROKERS,
    FAULT_FIELDS,
    LEADER,
    MAX_FAULTS,
    MAX_NAME_LENGTH,
    SPEC_VERSION,
    Acks,
    Commit,
    DropTarget,
    FaultKind,
    FieldError,
    IsolationLevel,
    KillPoint,
    Pipeline,
    Spec,
    SpecError,
    default_spec,
    fault_defaults,
)
from playground.lab.topology import BROKER_IDS
from playground.web import user_json
from playground.web.experiments import duration_error

FAULT_ROWS = 4  # rows shown for faults; a spec with more faults gets a row for each
MAX_PASTED_CHARACTERS = 100_000

# What each setting changes in the guarantee, shown beside its field. Keyed by spec path.
EXPLANATIONS: dict[str, str] = {
    "name": "A label for the experiment page. No effect on the guarantee.",
    "workload.records": "Orders the producer sends, each with its own order id. "
    "No effect on the guarantee.",
    "workload.rate": "Orders per second; 0 sends as fast as possible. No effect on the guarantee.",
    "workload.partitions": "Partitions of the orders topic. No effect on the guarantee; "
    "leader faults pick one of them.",
    "pipeline": "What the consumer does with each order, which decides what a Kafka "
    "transaction can cover.",
    "producer.acks": "When the broker confirms a write to the producer.",
    "producer.enable_idempotence": "The broker recognises a retried batch by producer id and "
    "sequence number and writes it once. Off, a retry after a lost acknowledgement stores the "
    "record twice. Needs acks=all, retries of at least 1 and at most 5 in flight; it only "
    "holds within one producer session.",
    "producer.retries": "How often a failed send is tried again. 0: one transient error, "
    "such as a leader change, loses the record. 1 or more without idempotence: a retry can "
    "store it twice.",
    "producer.max_in_flight": "Unacknowledged requests per broker connection. No direct effect; "
    "idempotence allows at most 5.",
    "producer.linger_ms": "How long the producer waits to fill a batch: latency against "
    "throughput. No effect on the guarantee.",
    "producer.request_timeout_ms": "How long the producer waits for a broker's answer before it "
    "retries. No effect on the guarantee by itself.",
    "producer.message_timeout_ms": "How long a record may stay unacknowledged before the "
    "producer gives up on it. At least the request timeout.",
    "producer.transactional": "Writes go in transactions. A restarted producer aborts what the "
    "dead one left open, so read_committed consumers never see a re-sent record twice: this "
    "removes the duplicate risk of a producer restart. Needs idempotence.",
    "producer.transactional_id": "Names the producer across restarts, so a new session fences "
    "the old one. Blank: txn-producer.",
    "consumer.commit": "When the consumer commits its offsets: the sharpest lever on the "
    "guarantee.",
    "consumer.auto_commit_interval_ms": "How often auto-commit runs; only used with commit=auto. "
    "A crash repeats everything processed since the last auto-commit.",
    "consumer.batch_size": "Records handled between two commits. No effect on the semantic; "
    "a crash loses or repeats up to one batch.",
    "consumer.isolation_level": "Which records of a transactional producer the consumer sees.",
    "consumer.idempotent": "The consumer records each order id in the same atomic write as the "
    "charge and skips ids it has charged: removes every duplicate risk. Side-effect pipeline "
    "only; in kafka-to-kafka, transactions do that job.",
    "restarts.consumer.enabled": "A killed consumer starts again from the last committed offset. "
    "Off: the rest of the log is never processed (loss). On: commit timing decides whether "
    "records are processed twice.",
    "restarts.consumer.delay_ms": "Wait before the restart. No effect on the guarantee.",
    "restarts.producer.enabled": "A killed producer starts again and re-sends what it never saw "
    "acknowledged. Off: those records are lost. On without transactions: the re-sent copies "
    "are duplicates, since idempotence does not span sessions.",
    "restarts.producer.delay_ms": "Wait before the restart. No effect on the guarantee.",
    "faults.at": "For kill-consumer, records the consumer has processed; for the others, "
    "records the producer has sent. Or seconds since the start.",
    "faults.partition": "The partition whose leader is hit; below the number of partitions.",
    "faults.count": "How many produce responses are dropped.",
    "faults.target": "Whose produce responses are dropped; only this experiment's clients.",
    "faults.seconds": "How long the broker is cut off or paused. Blank for pause-broker: paused "
    "until a resume-broker or the end of the run.",
    "faults.broker": "The leader of partition 0 when the fault fires, or a fixed broker; "
    "resume-broker takes a broker or all of them. Default: leader, or all for resume-broker.",
}

# What each value of a choice does to the guarantee. Keyed by spec path, then by value.
CHOICE_EXPLANATIONS: dict[str, dict[str, str]] = {
    "pipeline": {
        Pipeline.SIDE_EFFECT: "the consumer charges each order outside Kafka. No Kafka "
        "transaction reaches that charge; only an idempotent consumer makes it happen once.",
        Pipeline.KAFKA_TO_KAFKA: "the consumer writes a running total back to Kafka, so its "
        "output and its offsets can share one transaction: exactly-once is possible.",
    },
    "producer.acks": {
        Acks.NONE: "the producer does not wait for the broker, so a failed write goes "
        "unnoticed (loss).",
        Acks.LEADER: "the leader acknowledges alone; a leader that dies before a follower "
        "copies the record loses an acknowledged write (loss).",
        Acks.ALL: "every in-sync replica holds the record before it is acknowledged.",
    },
    "consumer.commit": {
        Commit.BEFORE_PROCESSING: "commit, then process; a crash in between skips the batch "
        "(loss, never a duplicate).",
        Commit.AFTER_PROCESSING: "process, then commit; a crash in between processes the "
        "batch again (duplicates, never a loss).",
        Commit.AUTO: "librdkafka commits in the background, including offsets of records "
        "handed over but not yet processed (loss and duplicates).",
        Commit.TRANSACTIONAL: "offsets are committed in a producer transaction. In "
        "kafka-to-kafka with read_committed, nothing is lost or repeated; an external charge "
        "stays outside the transaction (duplicates).",
    },
    "consumer.isolation_level": {
        IsolationLevel.READ_COMMITTED: "only records of committed transactions.",
        IsolationLevel.READ_UNCOMMITTED: "also records of aborted transactions, which a "
        "transactional producer sends again after the abort (duplicates).",
    },
    "faults.kind": {
        FaultKind.KILL_CONSUMER: "the consumer kills itself (SIGKILL) at the chosen point.",
        FaultKind.KILL_PRODUCER: "the producer kills itself; what it sent without an "
        "acknowledgement is re-sent only if it restarts.",
        FaultKind.KILL_LEADER: "the broker leading the partition is killed; a follower takes "
        "over and the producer retries what was in flight.",
        FaultKind.PAUSE_FOLLOWERS_KILL_LEADER: "the followers are paused so the leader takes "
        "writes alone, then the leader is killed: how acks=1 loses acknowledged records.",
        FaultKind.DROP_ACKS: "the next produce requests reach the broker but their responses "
        "are dropped, so the producer retries records already written. Needs acks 1 or all.",
        FaultKind.BLACKHOLE_BROKER: "every frame to and from the broker vanishes for a while, "
        "as in a network partition.",
        FaultKind.PAUSE_BROKER: "the broker is frozen (SIGSTOP) for a while, or until a "
        "resume-broker: alive to the cluster's eyes, answering nobody.",
        FaultKind.RESUME_BROKER: "a paused broker (or every one) carries on where it stopped.",
    },
    "faults.point": {
        KillPoint.AFTER_PROCESSING_BEFORE_COMMIT: "the batch is processed, its offsets are "
        "not committed yet. Not with before-processing commits.",
        KillPoint.AFTER_COMMIT_BEFORE_PROCESSING: "the offsets are committed, the batch is not "
        "processed yet. Only with before-processing and auto commits.",
        KillPoint.MID_BATCH: "part of the batch is processed. Needs a batch size of at least 2.",
        KillPoint.MID_TRANSACTION: "inside an open transaction, before it commits. Needs "
        "transactional commits.",
        KillPoint.NEXT_COMMIT_POINT: "the next point between processing and committing, "
        "whatever the commit mode: where that mode is most exposed.",
        KillPoint.ANYWHERE: "wherever the consumer happens to be: killed from outside once it "
        "has processed that many records.",
    },
    "faults.target": {
        DropTarget.SOURCE_PRODUCER: "the producer that sends the orders. Needs acks 1 or all.",
        DropTarget.OUTPUT_PRODUCER: "the consumer's own producer, which exists only in "
        "kafka-to-kafka or with transactional commits.",
        DropTarget.ALL: "every client of this experiment.",
    },
}

# The settings form's fields and the spec paths they stand for, in page order.
SETTING_PATHS: dict[str, str] = {
    "name": "name",
    "records": "workload.records",
    "rate": "workload.rate",
    "partitions": "workload.partitions",
    "pipeline": "pipeline",
    "acks": "producer.acks",
    "enable_idempotence": "producer.enable_idempotence",
    "retries": "producer.retries",
    "max_in_flight": "producer.max_in_flight",
    "linger_ms": "producer.linger_ms",
    "request_timeout_ms": "producer.request_timeout_ms",
    "message_timeout_ms": "producer.message_timeout_ms",
    "transactional": "producer.transactional",
    "transactional_id": "producer.transactional_id",
    "commit": "consumer.commit",
    "auto_commit_interval_ms": "consumer.auto_commit_interval_ms",
    "batch_size": "consumer.batch_size",
    "isolation_level": "consumer.isolation_level",
    "idempotent": "consumer.idempotent",
    "consumer_restart": "restarts.consumer.enabled",
    "consumer_restart_delay_ms": "restarts.consumer.delay_ms",
    "producer_restart": "restarts.producer.enabled",
    "producer_restart_delay_ms": "restarts.producer.delay_ms",
}
SETTING_OF_PATH = {path: name for name, path in SETTING_PATHS.items()}

# The part of a fault's path after "faults[i]." and the row field it belongs to.
FAULT_FIELD_OF_PATH = {
    "kind": "kind",
    "at": "at",
    "at.records": "at",
    "at.seconds": "at",
    **{name: name for names in FAULT_FIELDS.values() for name in names},
}
_FAULT_PATH = re.compile(r"faults\[(\d+)\](?:\.(.+))?")


@dataclass(frozen=True)
class Fieldset:
    legend: str
    intro: str
    names: tuple[str, ...]  # settings fields; the Faults fieldset has the fault rows instead


FIELDSETS = (
    Fieldset(
        "Workload",
        "What is sent, and what the consumer does with it.",
        ("name", "records", "rate", "partitions", "pipeline"),
    ),
    Fieldset(
        "Producer",
        "How the source producer writes: acknowledgements, retries, idempotence, transactions.",
        (
            "acks",
            "enable_idempotence",
            "retries",
            "max_in_flight",
            "linger_ms",
            "request_timeout_ms",
            "message_timeout_ms",
            "transactional",
            "transactional_id",
        ),
    ),
    Fieldset(
        "Consumer",
        "When the consumer commits, how much it handles per commit, and what it reads.",
        ("commit", "auto_commit_interval_ms", "batch_size", "isolation_level", "idempotent"),
    ),
    Fieldset(
        "Faults",
        "Faults test the promise; they never change it. Leave a row's kind blank for no fault.",
        (),
    ),
    Fieldset(
        "Restarts",
        "Whether a killed worker is started again, and after how long.",
        (
            "consumer_restart",
            "consumer_restart_delay_ms",
            "producer_restart",
            "producer_restart_delay_ms",
        ),
    ),
)


def _choices(enum: Any, labels: dict[str, str] | None = None) -> list[tuple[str, str]]:
    return [(member.value, (labels or {}).get(member.value, member.value)) for member in enum]


def _integer(label: str) -> forms.IntegerField:
    # No min/max here: the ranges are Spec.from_json's, and its messages name them.
    return forms.IntegerField(label=label)


def _flag(label: str) -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False)


class SettingsForm(forms.Form):
    """Every spec field except the faults, one flat field each (see SETTING_PATHS)."""

    name = forms.CharField(
        label="Name",
        required=False,
        widget=forms.TextInput(attrs={"maxlength": MAX_NAME_LENGTH, "placeholder": "experiment"}),
    )
    records = _integer("Records")
    rate = _integer("Rate (records/s)")
    partitions = _integer("Partitions")
    pipeline = forms.ChoiceField(label="Pipeline", choices=_choices(Pipeline))
    acks = forms.ChoiceField(
        label="Acks",
        choices=_choices(
            Acks, {"0": "0: none", "1": "1: leader only", "all": "all: in-sync replicas"}
        ),
    )
    enable_idempotence = _flag("Idempotent producer")
    retries = _integer("Retries")
    max_in_flight = _integer("Max requests in flight")
    linger_ms = _integer("Linger (ms)")
    request_timeout_ms = _integer("Request timeout (ms)")
    message_timeout_ms = _integer("Message timeout (ms)")
    transactional = _flag("Transactional producer")
    transactional_id = forms.CharField(
        label="Transactional id",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "txn-producer"}),
    )
    commit = forms.ChoiceField(label="Commit", choices=_choices(Commit))
    auto_commit_interval_ms = _integer("Auto-commit interval (ms)")
    batch_size = _integer("Batch size")
    isolation_level = forms.ChoiceField(label="Isolation level", choices=_choices(IsolationLevel))
    idempotent = _flag("Idempotent consumer")
    consumer_restart = _flag("Restart a killed consumer")
    consumer_restart_delay_ms = _integer("Consumer restart delay (ms)")
    producer_restart = _flag("Restart a killed producer")
    producer_restart_delay_ms = _integer("Producer restart delay (ms)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            _explain(field, SETTING_PATHS[name])

    def document(self, faults: list[dict[str, Any]]) -> dict[str, Any]:
        """The spec document of the cleaned fields, with `faults` as its fault list."""
        document: dict[str, Any] = {"version": SPEC_VERSION, "faults": faults}
        for name, path in SETTING_PATHS.items():
            value = self.cleaned_data[name]
            if name == "transactional_id" and not value:
                value = None  # blank means "the default id", which the spec writes as null
            _put(document, path, value)
        return document


class FaultForm(forms.Form):
    """One fault row: a kind (blank for none), when it fires, and the fields of its kind."""

    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "none"), *_choices(FaultKind)]
    )
    at = forms.FloatField(label="After", required=False)
    when = forms.ChoiceField(
        label="Unit",
        required=False,
        choices=[("records", "records"), ("seconds", "seconds")],
    )
    point = forms.ChoiceField(label="Point", required=False, choices=_choices(KillPoint))
    partition = forms.IntegerField(label="Partition", required=False)
    count = forms.IntegerField(label="Responses dropped", required=False)
    target = forms.ChoiceField(label="Acks of", required=False, choices=_choices(DropTarget))
    seconds = forms.FloatField(label="For (seconds)", required=False)
    broker = forms.ChoiceField(
        label="Broker",
        required=False,
        choices=[
            ("", "default"),
            (LEADER, "leader"),
            *((str(b), f"broker {b}") for b in BROKER_IDS),
            (ALL_BROKERS, "all"),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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
    def fieldsets(self) -> list[tuple[Fieldset, list[forms.BoundField]]]:
        return [
            (fieldset, [self.settings[name] for name in fieldset.names]) for fieldset in FIELDSETS
        ]

    def fields(self) -> Iterator[forms.BoundField]:
        """Every field on the page, settings then fault rows."""
        yield from self.settings
        for row in self.faults:
            yield from row

    @property
    def fault_help(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The explanations of the fault rows' kinds, kill points and fields."""
        fields = [
            (FaultForm.base_fields[name].label, EXPLANATIONS[f"faults.{name}"])
            for name in ("at", "partition", "count", "target", "seconds", "broker")
        ]
        return [
            ("Kinds", list(CHOICE_EXPLANATIONS["faults.kind"].items())),
            ("Kill points (kill-consumer)", list(CHOICE_EXPLANATIONS["faults.point"].items())),
            ("Targets (drop-acks)", list(CHOICE_EXPLANATIONS["faults.target"].items())),
            ("Fields", fields),
        ]

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


def _explain(field: forms.Field, path: str) -> None:
    field.spec_path = path
    field.help_text = EXPLANATIONS.get(path, "")
    field.choice_help = list(CHOICE_EXPLANATIONS.get(path, {}).items())


def _put(document: dict[str, Any], path: str, value: Any) -> None:
    *parents, key = path.split(".")
    for parent in parents:
        document = document.setdefault(parent, {})
    document[key] = value


def _get(document: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        document = document[key]
    return document


def _settings_initial(spec: Spec) -> dict[str, Any]:
    document = spec.to_json()
    initial = {name: _get(document, path) for name, path in SETTING_PATHS.items()}
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
