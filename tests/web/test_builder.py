"""The builder: a form over every spec field, the live promise, spec links and running a spec.

These tests need no cluster: starting an experiment only queues it, and the runner is not woken.
"""

from __future__ import annotations

import base64
import html
import json
import random
import re
from html.parser import HTMLParser

import pytest

from playground.engine.spec.model import Spec, default_spec
from playground.engine.spec.presets import PRESETS
from playground.web.forms import BuilderForms
from playground.web.models import Experiment
from playground.web.spec_links import decode_spec, encode_spec
from tests.conftest import random_cases

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """What a browser would submit for the form with id `form_id`."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.values: dict[str, str] = {}
        self.select: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside:
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.values[a["name"]] = a.get("value", "on" if a.get("type") == "checkbox" else "")
        elif tag == "select":
            self.select, self.first_option = a["name"], None
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = a["value"]
                self.values.setdefault(self.select, a["value"])
            if "selected" in a:
                self.values[self.select] = a["value"]
        elif tag == "textarea":
            self.textarea = a["name"]
            self.values[a["name"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.inside and self.textarea:
            self.values[self.textarea] += data


def form_values(page: str, form_id: str = "builder-form") -> dict[str, str]:
    parser = _FormValues(form_id)
    parser.feed(page)
    return parser.values


def spec_of(values: dict[str, str]) -> Spec:
    """The spec the builder reads from submitted values (fails the test if they are invalid)."""
    forms = BuilderForms(values)
    assert forms.is_valid(), forms.shown_errors()
    assert forms.spec is not None
    return forms.spec


def default_values(client) -> dict[str, str]:
    return form_values(client.get("/builder/").content.decode())


def errors_at(page: str, field_id: str) -> list[str]:
    match = re.search(
        rf'<ul class="field-errors" id="{re.escape(field_id)}-errors"[^>]*>(.*?)</ul>', page
    )
    assert match, f"no error list for {field_id}"
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", match[1])]


@pytest.fixture
def no_runner(monkeypatch):
    """Starting an experiment queues it; no runner thread takes it to the cluster."""
    monkeypatch.setattr("playground.web.runs.runner.wake", lambda: None)


# -- opening a spec -------------------------------------------------------------------------------


def test_builder_opens_on_the_defaults(client):
    response = client.get("/builder/")

    page = response.content.decode()
    assert response.status_code == 200
    assert '<button type="submit" class="run-experiment">Run experiment</button>' in page
    assert spec_of(form_values(page)).to_json() == default_spec().to_json()


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_fills_the_form_and_reads_back_as_the_same_spec(client, name):
    response = client.get(f"/builder/?preset={name}")

    assert response.status_code == 200
    assert PRESETS[name].title in response.content.decode()
    read_back = spec_of(form_values(response.content.decode()))
    assert read_back.to_json() == PRESETS[name].spec.to_json()


def test_unknown_preset_says_so_and_shows_the_defaults(client):
    response = client.get("/builder/?preset=no-such-preset")

    page = response.content.decode()
    assert response.status_code == 400
    assert "unknown preset" in page and "payment-service" in page
    assert spec_of(form_values(page)).to_json() == default_spec().to_json()


def test_spec_link_round_trips_every_preset_and_unicode():
    documents = [p.spec.to_json() for p in PRESETS.values()] + [{"name": "Zahlungsdienst ✓ é"}]
    for document in documents:
        text = encode_spec(document)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", text)
        assert decode_spec(text) == document


def test_spec_link_is_base64url_of_compact_json_without_padding():
    text = encode_spec({"workload": {"records": 5}})

    assert text == base64.urlsafe_b64encode(b'{"workload":{"records":5}}').decode().rstrip("=")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        ("not base64!", "not base64url"),
        ("eyJhb", "cut short"),
        (base64.urlsafe_b64encode(b"{not json").decode(), "JSON"),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), "UTF-8"),
        (base64.urlsafe_b64encode(b"[1, 2]").decode(), "array, not an object"),
        (base64.urlsafe_b64encode(b"[" * 5000).decode(), "nested too deeply"),
        ("A" * 20_000, "characters long"),
    ],
)
def test_bad_spec_link_raises_a_value_error_saying_what_is_wrong(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        decode_spec(text)


def test_spec_link_fills_the_form(client):
    document = PRESETS["payments-aggregation"].spec.to_json()

    response = client.get(f"/builder/?spec={encode_spec(document)}")

    assert response.status_code == 200
    assert spec_of(form_values(response.content.decode())).to_json() == document


def test_bad_spec_link_shows_a_clear_error_not_a_500(client):
    response = client.get("/builder/?spec=%%%")

    assert response.status_code == 400
    assert "Cannot open the linked spec: the spec link is not base64url" in html.unescape(
        response.content.decode()
    )


def test_spec_link_to_an_invalid_spec_names_the_field(client):
    link = encode_spec({"producer": {"acks": "2"}})

    response = client.get(f"/builder/?spec={link}")

    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert 'producer.acks: expected one of "0", "1", "all", got "2"' in page


# -- the live promise -----------------------------------------------------------------------------


def test_promise_for_acks_0_is_at_most_once_with_a_loss_risk_naming_producer_acks(client):
    values = default_values(client) | {"acks": "0", "consumer_restart": "on"}
    values.pop("enable_idempotence", None)
    values["retries"] = "0"  # no retry, so no duplicate from the producer
    values.pop("producer_restart", None)  # no restart, so no re-sent copies...
    values["commit"] = "before-processing"  # ...and no reprocessing by the consumer

    response = client.post("/builder/promise", values, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith('<aside id="promise"')
    assert "semantic-at-most-once" in page
    loss = re.search(r'<ul class="risks risks-loss">(.*?)</ul>', page, re.S)
    assert loss and "<code>producer.acks</code>" in loss[1]
    assert "acks=0" in loss[1]
    assert "acks=0\n" in page  # the producer's effective properties


def test_promise_shows_every_clients_properties_and_a_link_to_the_spec(client):
    values = form_values(client.get("/builder/?preset=payments-aggregation").content.decode())

    page = html.unescape(client.post("/builder/promise", values).content.decode())

    assert "semantic-exactly-once" in page
    assert "transactional.id=exp-<experiment>-payments-producer" in page
    assert "transactional.id=exp-<experiment>-txn-consumer" in page  # the consumer's own producer
    assert "isolation.level=read_committed" in page
    link = re.search(r'id="spec-link" type="text" readonly value="([^"]+)"', page)
    assert link and "/builder/?spec=" in link[1]
    linked = decode_spec(link[1].split("?spec=")[1])
    assert linked == PRESETS["payments-aggregation"].spec.to_json()


def test_promise_of_invalid_input_is_200_and_says_what_to_fix(client):
    values = default_values(client) | {"records": "abc", "acks": "1", "enable_idempotence": "on"}

    response = client.post("/builder/promise", values)

    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    assert "fix the settings" in page
    assert '<a href="#id_records">Records</a>: Enter a whole number.' in page
    # Each field's error list is swapped in beside the field, out of band.
    assert '<ul class="field-errors" id="id_records-errors" hx-swap-oob="true">' in page


# -- invalid input: errors at the field, status 400 -----------------------------------------------


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        ({"acks": "2"}, "id_acks", "Select a valid choice"),
        ({"records": "abc"}, "id_records", "Enter a whole number."),
        ({"records": "0"}, "id_records", "expected an integer from 1 to 10000000, got 0"),
        ({"partitions": "13"}, "id_partitions", "expected an integer from 1 to 12, got 13"),
        (
            {"acks": "1", "enable_idempotence": "on"},
            "id_enable_idempotence",
            'requires producer.acks "all", got "1"',
        ),
        (
            {"message_timeout_ms": "1000"},
            "id_message_timeout_ms",
            "must be at least producer.request_timeout_ms (30000), got 1000",
        ),
        ({"transactional": "on"}, "id_transactional", "requires producer.enable_idempotence"),
        ({"consumer_restart_delay_ms": "-1"}, "id_consumer_restart_delay_ms", "from 0 to 60000"),
    ],
)
def test_invalid_setting_is_shown_at_its_field_with_400(client, change, field_id, message):
    response = client.post("/builder/", default_values(client) | change)

    assert response.status_code == 400
    assert any(message in error for error in errors_at(response.content.decode(), field_id))


def test_fault_error_is_shown_on_the_row_it_belongs_to(client):
    # Row 3 holds the only fault, so the spec calls it faults[0]; the error still lands on row 3.
    values = default_values(client) | {
        "records": "100",
        "faults-2-kind": "kill-consumer",
        "faults-2-at": "500",
        "faults-2-when": "records",
        "faults-2-point": "mid-batch",
    }

    response = client.post("/builder/", values)

    page = response.content.decode()
    assert response.status_code == 400
    assert errors_at(page, "id_faults-2-at") == ["must be at most workload.records (100), got 500"]
    assert errors_at(page, "id_faults-2-point") == [
        'expected one of "after-processing-before-commit", "next-commit-point", "anywhere" '
        'with consumer.commit "after-processing" and consumer.batch_size 1, got "mid-batch"'
    ]
    assert errors_at(page, "id_faults-0-at") == []


def test_fault_row_type_error_is_a_field_error_but_unused_fields_are_ignored(client):
    values = default_values(client) | {
        "faults-0-kind": "drop-acks",
        "faults-0-at": "soon",
        "faults-0-count": "5",
        "faults-0-partition": "garbage",  # kill-leader's field: hidden for drop-acks
    }

    page = client.post("/builder/", values).content.decode()

    assert errors_at(page, "id_faults-0-at") == ["Enter a number."]
    assert errors_at(page, "id_faults-0-partition") == []


def test_fault_rows_read_into_the_spec_in_order_skipping_blank_rows(client):
    values = default_values(client) | {
        "faults-1-kind": "blackhole-broker",
        "faults-1-at": "2.5",
        "faults-1-when": "seconds",
        "faults-1-seconds": "3",
        "faults-1-broker": "2",
        "faults-3-kind": "kill-leader",
        "faults-3-at": "10",
        "faults-3-when": "records",
    }

    faults = spec_of(values).to_json()["faults"]

    assert faults == [
        {"kind": "blackhole-broker", "at": {"seconds": 2.5}, "seconds": 3.0, "broker": 2},
        {"kind": "kill-leader", "at": {"records": 10}, "partition": 0},
    ]


def options_of(page: str, select_id: str) -> list[str]:
    match = re.search(rf'<select[^>]* id="{re.escape(select_id)}"[^>]*>(.*?)</select>', page, re.S)
    assert match, f"no select {select_id}"
    return re.findall(r'<option value="([^"]*)"', match[1])


def test_fault_rows_offer_every_kind_kill_point_and_drop_target(client):
    page = client.get("/builder/").content.decode()

    assert {"pause-broker", "resume-broker"} <= set(options_of(page, "id_faults-0-kind"))
    assert {"next-commit-point", "anywhere"} <= set(options_of(page, "id_faults-0-point"))
    assert options_of(page, "id_faults-0-target") == ["source-producer", "output-producer", "all"]
    assert "all" in options_of(page, "id_faults-0-broker")


def test_fault_rows_never_offer_now(client):
    page = client.get("/builder/").content.decode()

    assert options_of(page, "id_faults-0-when") == ["records", "seconds"]


def test_the_new_kinds_points_and_targets_are_explained(client):
    page = html.unescape(client.get("/builder/").content.decode())

    for value in (
        "pause-broker",
        "resume-broker",
        "next-commit-point",
        "anywhere",
        "output-producer",
    ):
        assert re.search(rf"<dt>{value}</dt><dd>\S", page), value


def test_new_fault_kinds_read_into_the_spec_with_their_defaults(client):
    values = default_values(client) | {
        "faults-0-kind": "pause-broker",
        "faults-0-at": "10",
        "faults-0-broker": "2",
        "faults-0-seconds": "",
        "faults-1-kind": "resume-broker",
        "faults-1-at": "20",
        "faults-2-kind": "drop-acks",
        "faults-2-at": "30",
        "faults-2-target": "all",
        "faults-3-kind": "kill-consumer",
        "faults-3-at": "40",
        "faults-3-point": "anywhere",
    }

    faults = spec_of(values).to_json()["faults"]

    assert faults == [
        {"kind": "pause-broker", "at": {"records": 10}, "broker": 2, "seconds": None},
        {"kind": "resume-broker", "at": {"records": 20}, "broker": "all"},
        {"kind": "drop-acks", "at": {"records": 30}, "count": 3, "target": "all"},
        {"kind": "kill-consumer", "at": {"records": 40}, "point": "anywhere", "member": 0},
    ]


def test_a_spec_with_the_new_fault_fields_fills_the_form_and_reads_back_the_same(client):
    document = Spec.from_json(
        {
            "pipeline": "kafka-to-kafka",
            "faults": [
                {"kind": "pause-broker", "at": {"seconds": 1}, "broker": 3, "seconds": None},
                {"kind": "pause-broker", "at": {"seconds": 2}, "seconds": 7.5},
                {"kind": "resume-broker", "at": {"seconds": 3}, "broker": 3},
                {"kind": "drop-acks", "at": {"records": 5}, "target": "output-producer"},
                {"kind": "kill-consumer", "at": {"records": 6}, "point": "next-commit-point"},
            ],
        }
    ).to_json()

    page = client.get(f"/builder/?spec={encode_spec(document)}").content.decode()

    assert spec_of(form_values(page)).to_json() == document


@pytest.mark.parametrize(
    ("change", "field_id", "message"),
    [
        (
            {"faults-0-kind": "kill-consumer", "faults-0-point": "after-commit-before-processing"},
            "id_faults-0-point",
            'with consumer.commit "after-processing" and consumer.batch_size 1',
        ),
        (
            {"faults-0-kind": "drop-acks", "faults-0-target": "output-producer"},
            "id_faults-0-target",
            'the consumer has a producer of its own only with pipeline "kafka-to-kafka"',
        ),
        (
            {"faults-0-kind": "resume-broker", "faults-0-broker": "leader"},
            "id_faults-0-broker",
            'expected "all" or an integer from 1 to 3, got "leader"',
        ),
        (
            {"faults-0-kind": "pause-broker", "faults-0-broker": "all"},
            "id_faults-0-broker",
            'expected "leader" or an integer from 1 to 3, got "all"',
        ),
        (
            {"faults-0-kind": "pause-broker", "faults-0-seconds": "601"},
            "id_faults-0-seconds",
            "expected null or a number from 0.1 to 600, got 601.0",
        ),
        (
            {"name": "orders\x01"},
            "id_name",
            "must not contain control characters or lone surrogates; found U+0001 at position 6",
        ),
        (
            {"transactional_id": "txn\x7f"},
            "id_transactional_id",
            "found U+007F at position 3",
        ),
    ],
)
def test_each_new_spec_error_is_shown_at_its_field(client, change, field_id, message):
    values = default_values(client) | {"faults-0-at": "1", "faults-0-when": "records"} | change

    response = client.post("/builder/", values)

    assert response.status_code == 400
    assert any(message in error for error in errors_at(response.content.decode(), field_id))


def test_a_pasted_spec_with_a_lone_surrogate_is_400_with_the_error(client, no_runner):
    response = client.post("/builder/", {"spec_json": '{"name": "\\udfff"}'})

    assert response.status_code == 400
    assert errors_at(response.content.decode(), "pasted") == [
        "name: must not contain control characters or lone surrogates; found U+DFFF at position 0"
    ]


def test_a_pasted_spec_with_a_lone_surrogate_in_a_key_is_400_not_500(client, no_runner):
    response = client.post("/builder/", {"spec_json": '{"\\udfff": 1}'})

    assert response.status_code == 400
    assert errors_at(response.content.decode(), "pasted")[0].startswith("\\udfff: unknown field")


def test_post_without_the_fault_rows_management_data_is_400(client):
    response = client.post("/builder/", {"records": "10"})

    assert response.status_code == 400
    assert "ManagementForm data is missing" in response.content.decode()


def _garbage(rng: random.Random) -> str:
    pool = [
        "",
        "abc",
        "-1",
        "0",
        "1e999",
        "nan",
        "inf",
        "9" * 5000,
        "1.5",
        "all",
        "leader",
        "kill-consumer",
        "\x00",
        "<script>",
        "☃" * 300,
        "on",
        "true",
        "[]",
    ]
    if rng.random() < 0.6:
        return rng.choice(pool)
    return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(0, 30)))


def test_garbage_posts_never_give_a_500(client, no_runner):
    rng = random.Random(20240611)
    names = [*default_values(client), "faults-9-kind", "faults-12-at", "spec"]
    for _ in range(random_cases(150)):
        values = {name: _garbage(rng) for name in names if rng.random() < 0.9}
        if rng.random() < 0.5:  # keep the fault rows, so their fields are read too
            values |= {"faults-TOTAL_FORMS": "4", "faults-INITIAL_FORMS": "4"}

        assert client.post("/builder/", values).status_code in (302, 400)
        assert client.post("/builder/promise", values).status_code == 200


def test_garbage_spec_json_and_links_never_give_a_500(client, no_runner):
    rng = random.Random(7)
    texts = ["", "null", "[]", "{", '{"faults": [1, "x", {}]}', "[" * 3000, '{"a": ' * 900]
    texts += [_garbage(rng) for _ in range(random_cases(40))]
    for text in texts:
        assert client.post("/builder/", {"spec_json": text}).status_code in (302, 400)
        assert client.get("/builder/", {"spec": text}).status_code in (200, 400)
        link = base64.urlsafe_b64encode(text.encode()).decode()
        assert client.get("/builder/", {"spec": link}).status_code in (200, 400)


# -- running ---------------------------------------------------------------------------------------


def test_valid_form_starts_an_experiment_and_redirects_to_it(client, no_runner):
    values = form_values(client.get("/builder/?preset=notification-service").content.decode())

    response = client.post("/builder/", values)

    experiment = Experiment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == experiment.get_absolute_url()
    assert experiment.spec == PRESETS["notification-service"].spec.to_json()


def test_pasted_json_spec_starts_an_experiment(client, no_runner):
    document = {"workload": {"records": 50}, "producer": {"acks": "1"}}

    response = client.post("/builder/", {"spec_json": json.dumps(document)})

    experiment = Experiment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == experiment.get_absolute_url()
    assert experiment.spec == Spec.from_json(document).to_json()


def test_pasted_invalid_json_is_400_with_the_error(client, no_runner):
    response = client.post("/builder/", {"spec_json": '{"workload": '})

    assert response.status_code == 400
    assert errors_at(response.content.decode(), "pasted")[0].startswith("not a JSON document")
    assert not Experiment.objects.exists()


def test_pasted_invalid_spec_is_400_with_every_dotted_path(client, no_runner):
    document = {"producer": {"acks": 2}, "faults": [{"kind": "kill-leader", "at": {"records": 0}}]}

    response = client.post("/builder/", {"spec_json": json.dumps(document)})

    errors = errors_at(response.content.decode(), "pasted")
    assert response.status_code == 400
    assert any(error.startswith("producer.acks: expected one of") for error in errors)
    assert any(error.startswith("faults[0].at.records: expected an integer") for error in errors)
    assert not Experiment.objects.exists()
