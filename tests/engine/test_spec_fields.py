"""The registry of spec fields (engine/spec/fields.py) covers the whole spec, and docs/spec.md says
what it says: each setting's label, explanation and allowed values, each choice's explanation.

The allowed values are asked of Spec.from_json itself (its message for a value of the wrong type),
so the docs are checked against the one place the ranges are written. Pure logic: no cluster.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from playground.engine.spec.fields import (
    CLIENT_DEFAULT_SETTINGS,
    CONSUMER,
    FAULT_SETTINGS,
    PRODUCER,
    SPEC_SETTINGS,
    Kind,
    Setting,
    setting,
)
from playground.engine.spec.model import (
    FAULT_FIELDS,
    Acks,
    Commit,
    FaultKind,
    IsolationLevel,
    Spec,
    SpecError,
    default_spec,
)
from playground.engine.spec.semantics import promise

DOCS = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
# Fields of the document that are its shape, not a setting anyone chooses.
NOT_SETTINGS = {"version"}
SETTINGS = SPEC_SETTINGS + FAULT_SETTINGS


def a_spec_with_every_fault() -> Spec:
    """A valid spec with one fault of each kind, so every fault field appears in its document."""
    faults = [{"kind": kind.value, "at": {"records": 1}} for kind in FaultKind]
    faults.append({"kind": FaultKind.KILL_PRODUCER.value, "at": {"seconds": 1}})
    return Spec.from_json({"faults": faults})


def leaf_paths(value: Any, path: str = "") -> set[str]:
    """The dotted path of every value in a spec document; a fault's fields are "faults.<field>"."""
    if isinstance(value, dict):
        prefix = f"{path}." if path else ""
        return set().union(*(leaf_paths(item, prefix + key) for key, item in value.items()))
    if isinstance(value, list):  # the faults: each fault's fields under "faults."
        return set().union(*(leaf_paths(item, path) for item in value))
    return {path}


def spec_paths() -> set[str]:
    documents = (default_spec().to_json(), a_spec_with_every_fault().to_json())
    return set().union(*(leaf_paths(document) for document in documents)) - NOT_SETTINGS


def covers(entry: Setting, path: str) -> bool:
    # faults.at covers faults.at.records and faults.at.seconds: one setting, two units.
    return path == entry.path or path.startswith(entry.path + ".")


def test_every_field_of_the_spec_is_a_setting():
    uncovered = {path for path in spec_paths() if not any(covers(e, path) for e in SETTINGS)}

    assert uncovered == set()


def test_every_setting_is_a_field_of_the_spec():
    paths = spec_paths()
    stale = {entry.path for entry in SETTINGS if not any(covers(entry, p) for p in paths)}

    assert stale == set()


def test_setting_names_are_unique_form_field_names():
    for group in (SPEC_SETTINGS, FAULT_SETTINGS):
        names = [entry.name for entry in group]
        assert len(names) == len(set(names))
        assert all(re.fullmatch(r"[a-z_]+", name) for name in names)


def test_an_unknown_path_names_the_known_ones():
    with pytest.raises(KeyError, match=re.escape("producer.acks")):
        setting("producer.ack")


def test_every_choice_explains_each_value_and_nothing_else_does():
    for entry in SETTINGS:
        assert bool(entry.values) == (entry.kind == Kind.CHOICE), entry.path
        assert entry.explanation, entry.path


def test_every_broker_value_is_accepted_by_a_kind_that_takes_a_broker():
    kinds = [kind for kind, names in FAULT_FIELDS.items() if "broker" in names]
    for value in setting("faults.broker").choices:
        broker = int(value) if value.isdigit() else value
        accepted = [kind for kind in kinds if not _errors(_fault(kind, broker=broker))]
        assert accepted, value


def test_every_risk_of_the_promise_names_a_setting():
    named = set()
    for acks, retries, transactional, commit, isolation, restart in itertools.product(
        Acks, (0, 3), (False, True), Commit, IsolationLevel, (False, True)
    ):
        producer = {"acks": acks.value, "retries": retries}
        if transactional:
            producer |= {"enable_idempotence": True, "transactional": True}
        restarts = {"consumer": {"enabled": restart}, "producer": {"enabled": restart}}
        consumer = {"commit": commit.value, "isolation_level": isolation.value}
        document = {"producer": producer, "consumer": consumer, "restarts": restarts}
        try:
            spec = Spec.from_json(document)
        except SpecError:
            continue  # idempotence refuses acks other than "all" and no retries
        result = promise(spec)
        for risk in result.loss_risks + result.duplicate_risks:
            named.add(risk.setting)
            assert risk.label == setting(risk.setting).label

    assert {"producer.acks", "producer.enable_idempotence", "consumer.isolation_level"} <= named


# --- docs/spec.md says what the registry says --------------------------------------------------


def docs_items() -> list[str]:
    """Each table row and each bullet of docs/spec.md, a wrapped bullet joined into one line."""
    items: list[str] = []
    for line in DOCS.read_text().splitlines():
        if line.startswith(("|", "- ")):
            items.append(line)
        elif line.startswith("  ") and items and items[-1].startswith("- "):
            items[-1] += " " + line.strip()
    return items


def row_of(entry: Setting) -> str:
    rows = [item for item in docs_items() if item.startswith(f"| `{entry.path}` |")]
    assert len(rows) == 1, f"docs/spec.md needs one table row for `{entry.path}`"
    return rows[0]


def _fault(kind: FaultKind, **fields: Any) -> dict[str, Any]:
    return {"faults": [{"kind": kind.value, "at": {"records": 1}, **fields}]}


def _errors(document: dict[str, Any]) -> dict[str, str]:
    try:
        Spec.from_json(document)
    except SpecError as error:
        return {e.path: e.message for e in error.errors}
    return {}


def _put(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, key = path.split(".")
    inner = document
    for parent in parents:
        inner = inner.setdefault(parent, {})
    inner[key] = value
    return document


def probes(entry: Setting) -> list[tuple[str, dict[str, Any]]]:
    """Documents that give the setting a value of the wrong type, each with the path of the
    error it must cause (for a fault field, one for each kind that takes it)."""
    wrong = ["wrong"]
    if not entry.per_fault:
        return [(entry.path, _put({}, entry.path, wrong))]
    if entry.name == "kind":
        return [("faults[0].kind", {"faults": [{"kind": wrong, "at": {"records": 1}}]})]
    if entry.name == "at":
        return [
            (f"faults[0].at.{unit}", _fault(FaultKind.KILL_PRODUCER, at={unit: wrong}))
            for unit in ("records", "seconds")
        ]
    return [
        (f"faults[0].{entry.name}", _fault(kind, **{entry.name: wrong}))
        for kind, names in FAULT_FIELDS.items()
        if entry.name in names
    ]


def accepted(entry: Setting) -> list[str]:
    """What Spec.from_json says the setting accepts, in its own words (up to ", got")."""
    return [_errors(document)[path].split(", got ")[0] for path, document in probes(entry)]


def allowed_tokens(entry: Setting) -> set[str]:
    """The quoted values, the numbers and null that the spec's messages name for the setting."""
    if entry.path == "faults.point":
        # The spec names only the points the consumer's commit mode passes; all are allowed.
        return {f'"{value}"' for value in entry.choices}
    tokens = set()
    for message in accepted(entry):
        message = message.split(" with consumer.commit")[0]
        tokens |= set(re.findall(r'"[^"]*"|\d[\d.]*|\bnull\b', message))
    return tokens


def mentions(text: str, token: str) -> bool:
    if not token[0].isdigit():
        return token in text
    number = float(token)
    spellings = {token, f"{number:,.0f}" if number.is_integer() else token}
    # Not part of a longer number: "1" is not found in "10" or in "1,000".
    return any(re.search(rf"(?<!\d)(?<!\d[,.]){re.escape(s)}(?![,.]?\d)", text) for s in spellings)


@pytest.mark.parametrize("entry", SETTINGS, ids=lambda entry: entry.path)
def test_docs_give_each_setting_its_label_explanation_and_allowed_values(entry):
    row = row_of(entry)

    assert f"| {entry.label} |" in row
    assert entry.explanation in row
    missing = {token for token in allowed_tokens(entry) if not mentions(row, token)}
    assert missing == set(), f"`{entry.path}` accepts {accepted(entry)}"


@pytest.mark.parametrize("entry", SPEC_SETTINGS, ids=lambda entry: entry.path)
def test_docs_give_each_setting_its_default(entry):
    value: Any = default_spec().to_json()
    for key in entry.path.split("."):
        value = value[key]

    assert f"| `{json.dumps(value)}` |" in row_of(entry)


@pytest.mark.parametrize(
    ("path", "value"),
    [(e.path, value) for e in SETTINGS for value, text in e.choices.items() if text],
    ids=str,
)
def test_docs_explain_each_value_of_a_choice_in_the_registrys_words(path, value):
    explanation = setting(path).choices[value]
    named = (f'`"{value}"`', f"`{value}`")

    items = [item for item in docs_items() if any(name in item for name in named)]

    assert any(explanation in item for item in items), f"{path} {value}: {explanation}"


def test_every_setting_of_the_spec_reads_its_value_from_a_spec_and_writes_it_back():
    spec = default_spec()
    document: dict[str, Any] = {"faults": []}
    for entry in SPEC_SETTINGS:
        entry.put(document, entry.value(spec))

    assert Spec.from_json(document) == spec


def test_a_fault_field_has_no_value_in_the_spec_itself():
    with pytest.raises(ValueError, match=r"faults\.kind"):
        setting("faults.kind").value(default_spec())


def test_a_value_is_shown_as_the_pages_say_it():
    assert setting("producer.acks").shown("1") == "1"
    assert setting("producer.enable_idempotence").shown(True) == "on"
    assert setting("restarts.consumer.enabled").shown(False) == "off"
    assert (
        setting("producer.transactional_id").shown(None)
        == setting("producer.transactional_id").blank
    )


def test_a_client_default_is_a_value_of_its_setting():
    for entry in CLIENT_DEFAULT_SETTINGS:
        assert entry.section in (PRODUCER, CONSUMER)
        if entry.kind == Kind.CHOICE:
            assert entry.client_default in entry.choices, entry.path
        else:
            assert isinstance(entry.client_default, bool | int), entry.path


def test_the_docs_example_is_a_whole_document_as_to_json_writes_it():
    example = DOCS.read_text().split("\n## Example\n", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", example, re.DOTALL)
    assert block, "docs/spec.md's Example needs a json block"
    document = json.loads(block.group(1))

    assert Spec.from_json(document).to_json() == document
