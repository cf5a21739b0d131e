"""The builder on issue 20: where a transactional producer keeps its position (producer.position)
and the risk it names, the producer's kill points on the fault rows, and what each fault of the
schedule can cost the producer beside the bounds of its retries, all in the live promise panel."""

from __future__ import annotations

import html
import re

import pytest

from tests.web.test_builder import default_values, errors_at, form_values, options_of, spec_of

pytestmark = pytest.mark.django_db


def promise_panel(client, values: dict[str, str]) -> str:
    response = client.post("/builder/promise", values, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def risks(page: str, kind: str) -> str:
    found = re.search(rf'<ul class="risks risks-{kind}">(.*?)</ul>', page, re.S)
    return found[1] if found else ""


def payments_aggregation(client) -> dict[str, str]:
    return form_values(client.get("/builder/?preset=payments-aggregation").content.decode())


def dropped_answers(client, count: int = 10, **changes: str) -> dict[str, str]:
    """The defaults (acks=all, retries without end, restarts on) with `count` answers dropped."""
    return default_values(client) | {
        "faults-0-kind": "drop-acks",
        "faults-0-at": "100",
        "faults-0-when": "records",
        "faults-0-count": str(count),
        **changes,
    }


# -- producer.position -----------------------------------------------------------------------------


def test_the_payments_aggregation_preset_keeps_its_position_in_the_transaction(client):
    page = client.get("/builder/?preset=payments-aggregation").content.decode()

    assert options_of(page, "id_position") == ["log", "transaction"]
    assert form_values(page)["position"] == "transaction"
    assert "semantic-exactly-once" in page


def test_a_transactional_producer_with_its_position_in_its_log_names_the_duplicate_risk(client):
    page = promise_panel(client, payments_aggregation(client) | {"position": "log"})

    assert "semantic-at-least-once" in page
    duplicates = risks(page, "duplicate")
    assert '<a href="#id_position">Position kept in</a> (<code>producer.position</code>)' in (
        duplicates
    )
    assert "sends records that committed once more" in duplicates


def test_position_transaction_without_transactions_is_refused_at_its_field(client):
    values = default_values(client) | {"position": "transaction"}

    response = client.post("/builder/", values)

    assert response.status_code == 400
    (message,) = errors_at(response.content.decode(), "id_position")
    assert 'requires producer.transactional true, got false; expected "log"' in message


# -- the producer's kill points -------------------------------------------------------------------


def test_the_fault_help_lists_the_producers_kill_points_apart_from_the_consumers(client):
    page = html.unescape(client.get("/builder/").content.decode())

    consumer = re.search(r"<h4>Kill points \(kill-consumer\)</h4>\s*<dl>(.*?)</dl>", page, re.S)
    producer = re.search(r"<h4>Kill points \(kill-producer\)</h4>\s*<dl>(.*?)</dl>", page, re.S)
    assert consumer and producer
    points = re.findall(r"<dt>(.*?)</dt>", producer[1])
    assert points == ["after-send", "during-commit", "after-commit-before-log", "anywhere"]
    assert "next-commit-point" in consumer[1] and "during-commit" not in consumer[1]


def test_a_producer_kill_after_its_commit_reads_into_the_spec(client):
    values = payments_aggregation(client) | {
        "faults-1-kind": "kill-producer",
        "faults-1-at": "60",
        "faults-1-when": "records",
        "faults-1-point": "after-commit-before-log",
    }

    faults = spec_of(values).to_json()["faults"]

    assert faults[1] == {
        "kind": "kill-producer",
        "at": {"records": 60},
        "point": "after-commit-before-log",
    }


def test_a_commit_point_of_a_producer_without_transactions_is_refused_at_the_row(client):
    values = default_values(client) | {
        "faults-0-kind": "kill-producer",
        "faults-0-at": "60",
        "faults-0-when": "records",
        "faults-0-point": "during-commit",
    }

    response = client.post("/builder/", values)

    assert response.status_code == 400
    (message,) = errors_at(response.content.decode(), "id_faults-0-point")
    assert 'with producer.transactional false, got "during-commit"' in message


# -- what the faults cost the producer -----------------------------------------------------------


def test_each_fault_row_says_what_it_can_cost_one_record_of_the_producer(client):
    values = dropped_answers(client) | {
        "faults-2-kind": "kill-consumer",
        "faults-2-at": "50",
        "faults-2-when": "records",
    }

    page = promise_panel(client, values)

    def row_cost(number: int) -> str:
        found = re.search(rf'<p class="fault-cost" id="fault-{number}-cost"([^>]*)>(.*?)</p>', page)
        assert found and 'hx-swap-oob="true"' in found[1]  # swapped in beside its row
        return found[2]

    # Ten lost answers at a 30 s request timeout, one after another: five minutes.
    assert (
        row_cost(1) == "Can cost one of the producer's records up to 300 s and 10 failed attempts."
    )
    assert row_cost(2) == ""  # a row without a fault
    assert row_cost(3).startswith("Costs the producer no time")


def test_dropped_answers_past_the_message_timeout_are_a_loss_risk_the_cost_line_explains(client):
    page = promise_panel(client, dropped_answers(client, message_timeout_ms="60000"))

    costs = re.search(r'<p class="detail fault-costs" id="fault-costs">(.*?)</p>', page, re.S)
    assert costs and "Together, one record can wait up to 300 s and 10 failed attempts" in costs[1]
    assert "can outlast the message timeout (60 s)" in costs[1]
    assert "The promise names it among the loss risks." in costs[1]
    assert "<code>producer.message_timeout_ms</code>" in risks(page, "loss")


def test_faults_within_the_bounds_of_the_retries_say_so_and_risk_nothing(client):
    page = promise_panel(client, dropped_answers(client, count=2))

    costs = re.search(r'id="fault-costs">(.*?)</p>', page, re.S)
    assert costs and "stays within the message timeout (300 s)" in costs[1]
    assert "message_timeout_ms" not in risks(page, "loss")


def test_a_finite_retries_setting_is_outlasted_by_more_lost_answers(client):
    page = promise_panel(client, dropped_answers(client, retries="3", enable_idempotence="on"))

    assert "fail the record more often than the 3 retries allow" in page
    assert "<code>producer.retries</code>" in risks(page, "loss")


def test_a_transactional_producer_sends_the_aborted_transaction_again(client):
    values = payments_aggregation(client) | {
        "message_timeout_ms": "60000",
        "faults-1-kind": "drop-acks",
        "faults-1-at": "100",
        "faults-1-when": "records",
        "faults-1-count": "10",
    }

    page = promise_panel(client, values)

    assert "aborts that transaction and sends it again whole" in page
    assert "semantic-exactly-once" in page


def test_no_fault_no_cost_line(client):
    page = client.get("/builder/").content.decode()

    assert 'id="fault-costs"' not in page
    assert re.findall(r'<p class="fault-cost" id="fault-\d-cost">(.*?)</p>', page) == [""] * 4
