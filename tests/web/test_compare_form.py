"""The compare form: each preset's promise, custom specs checked as they are typed (with the
builder's own errors), the fault schedule in one line, and nothing typed lost on a refused submit.

Only submits that fail validation are posted: a valid one queues real Kafka work.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser

import pytest

from playground.engine.spec.model import Spec
from playground.engine.spec.presets import PRESETS
from playground.engine.spec.semantics import promise
from playground.web.comparisons.form import in_own_terms

pytestmark = pytest.mark.django_db

TWO_PRESETS = {"spec1": "metrics", "spec2": "payment-service", "faults_from": "1"}


class _TextOf(HTMLParser):
    """The text inside the first element with a given id, as a browser would read it."""

    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id, self.depth, self.found, self.text = element_id, 0, False, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += tag not in VOID_TAGS
        elif not self.found and dict(attrs).get("id") == self.element_id:
            self.depth, self.found = 1, True

    def handle_endtag(self, tag: str) -> None:
        self.depth -= bool(self.depth)

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


VOID_TAGS = {"br", "hr", "img", "input", "meta", "link"}


def shown(page: str, element_id: str) -> str:
    parser = _TextOf(element_id)
    parser.feed(page)
    assert parser.found, f"no element #{element_id}"
    return " ".join(" ".join(parser.text).split())


def check(client, **fields: str) -> str:
    response = client.post("/compare/check", fields)
    assert response.status_code == 200
    return response.content.decode()


def test_the_picker_shows_each_presets_title_and_promise(client):
    page = html.unescape(client.get("/compare/").content.decode())

    for preset in PRESETS.values():
        assert f"{preset.title} · promises {preset.semantic.value}" in page


def test_a_chosen_preset_shows_its_promise_and_service_under_its_slot(client):
    page = client.get("/compare/").content.decode()

    chosen = PRESETS["notification-service"]
    assert shown(page, "slot-1-check").startswith(
        f"Promises {chosen.semantic.value} for {chosen.service}"
    )
    assert chosen.explanation in shown(page, "slot-1-check")


def test_a_bad_custom_spec_is_checked_with_the_builders_error_naming_the_field(client):
    custom = json.dumps({"producer": {"acks": "2"}})

    page = check(client, spec1="custom", custom1=custom, spec2="metrics")

    assert 'producer.acks: expected one of "0", "1", "all", got "2"' in shown(page, "slot-1-check")
    assert "spec 1: producer.acks" in shown(page, "compare-status")


def test_text_that_is_not_json_is_checked_as_not_a_json_document(client):
    page = check(client, spec1="custom", custom1="{oops", spec2="metrics")

    assert shown(page, "slot-1-check").startswith("not a JSON document:")


def test_a_valid_custom_spec_shows_the_promise_of_its_settings(client):
    document = {"consumer": {"commit": "before-processing"}}
    expected = promise(Spec.from_json(document))

    page = check(client, spec1="custom", custom1=json.dumps(document), spec2="metrics")

    assert f"Promises {expected.semantic.value}" in shown(page, "slot-1-check")
    assert expected.summary in shown(page, "slot-1-check")
    assert shown(page, "compare-status").startswith("Ready: 2 specs")


def test_the_fault_line_says_no_faults_means_nothing_goes_wrong(client):
    page = check(client, **TWO_PRESETS | {"faults_from": "none"})

    assert shown(page, "faults-line") == (
        "No faults: the guarantee runs show each spec with nothing going wrong."
    )


def test_the_fault_line_names_the_chosen_specs_faults_and_where_a_kill_strikes(client):
    page = check(client, **TWO_PRESETS)

    assert shown(page, "faults-line") == (
        "Every spec gets spec 1's faults (kill-consumer at 80 records); a consumer kill strikes "
        "at each spec's next commit point when that spec never passes the point named."
    )


def test_the_fault_line_says_when_the_chosen_slot_holds_no_spec(client):
    page = check(client, **TWO_PRESETS | {"faults_from": "3"})

    assert shown(page, "faults-line").startswith("Spec 3 is not chosen")
    assert "faults_from" in shown(page, "compare-status")


def test_a_cost_record_count_out_of_range_is_named_as_typed(client):
    page = check(client, **TWO_PRESETS | {"cost_records": "12"})

    assert shown(page, "cost-records-errors") == (
        "cost_records: expected a whole number from 1,000 to 200,000"
    )


def test_a_refused_submit_keeps_everything_typed(client):
    custom = '{"producer": {"acks": "2"}, "name": "<mine> & \\"quoted\\""}'
    fields = {"spec1": "custom", "custom1": custom, "spec2": "metrics", "cost_records": "1,5"}

    response = client.post("/compare/", fields | {"faults_from": "2"})

    page = response.content.decode()
    assert response.status_code == 400
    assert f">{html.escape(custom)}</textarea>" in page
    assert 'value="1,5"' in page
    assert '<option value="metrics" selected>' in page
    assert '<option value="2" selected>' in page
    assert "spec 1: producer.acks" in shown(page, "compare-errors")
    assert "producer.acks" in shown(page, "slot-1-check")


def test_a_refused_submit_marks_the_slot_it_names_as_invalid(client):
    response = client.post("/compare/", {"spec1": "nope", "spec2": "metrics", "faults_from": "2"})

    page = response.content.decode()
    assert response.status_code == 400
    assert re.search(r'<select id="spec-1"[^>]*aria-invalid="true"', page)
    assert "there is no preset 'nope'" in shown(page, "slot-1-check")


GARBAGE = ["", "\x00", "9" * 5000, "[" * 3000 + "]" * 3000, "\ufffd", "💥", " 1 ", "custom"]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_in_every_field_never_gives_a_500(client, garbage):
    fields = {f"spec{n}": garbage for n in range(1, 5)}
    fields |= {f"custom{n}": garbage for n in range(1, 5)}
    fields |= {"faults_from": garbage, "cost_records": garbage}

    assert client.post("/compare/check", fields).status_code == 200
    assert client.post("/compare/", fields).status_code == 400


def test_the_check_takes_only_posts(client):
    assert client.get("/compare/check").status_code == 405


def test_a_shared_producer_kill_at_a_commit_strikes_after_a_send_without_transactions():
    fault = {"kind": "kill-producer", "point": "during-commit", "at": {"records": 50}}
    plain, transactional = (
        Spec(),
        Spec.from_json({"producer": {"enable_idempotence": True, "transactional": True}}),
    )

    assert in_own_terms(fault, plain)["point"] == "after-send"
    assert in_own_terms(fault, transactional) == fault
