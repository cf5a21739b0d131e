"""The timeline picture, the verdict's words and the audit table's paging, from plain data."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from playground.engine.audit import story_book
from playground.engine.audit.outcomes import ANOMALY_KINDS, COUNT_FIELDS
from playground.engine.run import timeline
from playground.engine.run.problems import Problem
from playground.web import chart, verdict
from playground.web.models import Experiment
from playground.web.stories import audit_table


def test_throughput_is_the_rate_between_samples():
    assert chart.throughput([(0.0, 0), (0.5, 50), (1.0, 150)]) == [(0.5, 100.0), (1.0, 200.0)]


def test_the_chart_marks_every_fault_crash_and_action_but_not_phases():
    samples = [{"t": t / 10, "delivered": t * 10, "duplicated": max(0, t - 5)} for t in range(30)]
    events = [
        {"at": 0.0, "kind": "phase", "detail": "running", "fault": None},
        {"at": 1.2, "kind": "crash", "detail": "consumer killed <now>", "fault": 0},
        {"at": 2.0, "kind": "action", "detail": "kill-producer", "fault": None},
    ]
    svg = chart.render(samples, events)
    assert svg.startswith("<svg") and svg.count("<title>") == 2  # one per marked event
    assert "consumer killed &lt;now&gt;" in svg  # details are escaped
    assert 'class="duplicates"' in svg and 'class="throughput"' in svg
    assert chart.render([], []).startswith("<svg")


def test_the_charts_legend_names_marked_kinds_of_the_timeline():
    legend = {css.removeprefix("marker-") for css, drawn, _ in chart.LEGEND if drawn == "mark"}
    assert legend <= chart.MARKED_KINDS <= set(timeline.EVENT_KINDS)
    assert timeline.PHASE not in chart.MARKED_KINDS and timeline.STOP not in chart.MARKED_KINDS


def _result(**audit) -> dict:
    counts = {"lost_at_consumer": 0, "duplicated_by_consumer": 0} | audit
    return {
        "audit": counts,
        "promise": {
            "loss_risks": [{"setting": "consumer.commit", "explanation": "commits first"}],
            "duplicate_risks": [{"setting": "producer.retries", "explanation": "retries"}],
        },
    }


def test_the_verdict_ties_each_anomaly_to_the_settings_that_allow_it():
    findings = verdict.explain(_result(lost_at_consumer=10))
    assert [f.kind for f in findings] == ["lost_at_consumer"]
    assert findings[0].count == 10
    assert [r["setting"] for r in findings[0].settings] == ["consumer.commit"]
    assert verdict.explain(_result()) == []
    assert verdict.explain(None) == []


def test_each_origin_is_an_anomaly_the_audit_counts():
    assert set(verdict.ORIGINS) <= set(COUNT_FIELDS)


def test_a_producer_duplicate_is_tied_to_where_a_transactional_producer_keeps_its_position():
    result = _result(duplicated_by_producer=10)
    result["promise"]["duplicate_risks"] = [{"setting": "producer.position", "explanation": "x"}]
    (finding,) = verdict.explain(result)
    assert [r["setting"] for r in finding.settings] == ["producer.position"]
    assert "killed as its commit went through" in finding.words


def test_a_loss_at_the_producer_is_tied_to_its_message_timeout():
    result = _result(lost_at_producer=66)
    result["promise"] = {
        "loss_risks": [{"setting": "producer.message_timeout_ms", "explanation": "x"}],
        "duplicate_risks": [],
    }
    (finding,) = verdict.explain(result)
    assert [r["setting"] for r in finding.settings] == ["producer.message_timeout_ms"]


def _story(number: int, kinds: list[str]) -> dict:
    return {
        "order_id": f"order-{number:07d}",
        "attempts": 1,
        "sessions": [0],
        "acked_at": [[0, number]],
        "producer_outcome": "acked",
        "log_copies": [[0, number, True]],
        "visible_copies": 1,
        "effects": 2 if "duplicated" in kinds else 1,
        "effect_sources": [[0, number, 1]],
        "handler_runs": 1,
        "deduplicated": 0,
        "aborted_reads": 0,
        "outcome": "duplicated" if "duplicated" in kinds else "delivered",
        "kinds": kinds,
    }


def _with_stories(tmp_path) -> Experiment:
    """A finished experiment whose 120 stories (every tenth duplicated) were kept as
    stories.jsonl, before there were story books: the first read converts them."""
    experiment = Experiment.objects.create(spec={}, run_id="r1", status=Experiment.DONE)
    folder = tmp_path / "experiments" / "r1"
    folder.mkdir(parents=True)
    with (folder / "stories.jsonl").open("w") as out:
        for number in range(120):
            kinds = ["duplicated"] if number % 10 == 0 else []
            out.write(json.dumps(_story(number, kinds)) + "\n")
    return experiment


@pytest.mark.django_db
def test_the_audit_table_pages_and_filters(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    experiment = _with_stories(tmp_path)
    first = audit_table.page(experiment, "", "1")
    assert (first.total, first.pages, len(first.rows), first.next) == (120, 3, 50, 2)
    assert first.rows[0]["acked"] == "p0@0" and first.rows[0]["in_log"] == 1
    last = audit_table.page(experiment, "", "3")
    assert len(last.rows) == 20 and last.next is None and last.previous == 2
    dups = audit_table.page(experiment, "duplicated", "1")
    assert dups.total == 12 and all(r["outcome"] == "duplicated" for r in dups.rows)
    assert audit_table.page(experiment, "lost", "1").total == 0
    assert audit_table.page(experiment, "unexplained", "1").total == 0
    for bad_filter, bad_page in (("weird", "1"), ("", "0"), ("", "x"), ("", "4")):
        with pytest.raises(audit_table.BadQuery):
            audit_table.page(experiment, bad_filter, bad_page)


def test_the_story_filters_are_all_every_anomaly_and_each_of_the_audits_anomaly_kinds():
    assert list(audit_table.FILTERS) == [story_book.ALL, story_book.ANOMALIES, *ANOMALY_KINDS]
    assert audit_table.FILTERS["unexplained"] == "unexplained"


@pytest.mark.django_db
def test_the_api_pages_through_the_stories_and_names_a_bad_field(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    api = f"/api/experiments/{_with_stories(tmp_path).share_id}/orders"
    client = Client()
    page = client.get(f"{api}?filter=duplicated&page=1").json()
    assert (page["total"], page["pages"], page["page"]) == (12, 1, 1)
    assert [story["order_id"] for story in page["orders"]][:2] == ["order-0000000", "order-0000010"]
    assert page["orders"][1]["kinds"] == ["duplicated"]
    assert len(client.get(f"{api}?page=3").json()["orders"]) == 20
    assert client.get(f"{api}/order-0000010").json()["outcome"] == "duplicated"
    for query, status, field in (
        ("?filter=weird", 400, "filter"),
        ("?page=9", 400, "page"),
        ("/order-0009999", 404, "order"),
        ("/not%20an%20id", 400, "order"),
    ):
        response = client.get(f"{api}{query}")
        assert response.status_code == status, query
        assert response.json()["errors"][0]["path"] == field
    assert client.get("/api/experiments/nobody/orders").status_code == 404
    assert client.post(api).status_code == 405


@pytest.mark.django_db
def test_an_unreadable_legacy_stories_file_shows_an_empty_table_not_an_error(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    experiment = Experiment.objects.create(spec={}, run_id="r2", status=Experiment.DONE)
    folder = tmp_path / "experiments" / "r2"
    folder.mkdir(parents=True)
    (folder / "stories.jsonl").write_text('{"order_id": "order-0000001"}\nnot json\n')
    assert audit_table.page(experiment, "", "1").total == 0
    response = Client().get(f"{experiment.get_absolute_url()}orders?filter=")
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_verdict_opens_the_audit_table_on_the_anomalies_when_there_are_any(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    experiment = Experiment.objects.create(spec={}, run_id="r3", status=Experiment.DONE)
    orders = f"{experiment.get_absolute_url()}orders?filter="
    for result, opened in ((_result(), ""), (_result(lost_at_consumer=1), "anomalies")):
        Experiment.objects.filter(pk=experiment.pk).update(result=result)
        assert f'hx-get="{orders}{opened}"' in Client().get(experiment.get_absolute_url()).text


def test_an_invalid_result_observes_no_semantic_and_keeps_its_problems():
    result = _result(lost_at_consumer=3) | {
        "valid": False,
        "observed_semantic": None,
        "problems": [{"message": "the consumer failed 21 times: boom", "log": "Traceback"}],
    }
    found = verdict.outcome(result)
    assert not found.valid
    assert found.observed_semantic is None
    assert found.problems == [Problem("the consumer failed 21 times: boom", "Traceback")]
    assert found.first_problem == "the consumer failed 21 times: boom"


def test_a_problem_reads_as_a_sentence_on_its_own():
    problem = Problem("the producer could not start: no broker", "")
    assert problem.sentence == "The producer could not start: no broker."
    assert Problem("faults[0] could not be applied.", "").sentence == (
        "faults[0] could not be applied."
    )


def test_a_result_stored_before_validity_counts_as_valid_with_its_semantic():
    old = {"observed_semantic": "at-least-once", "audit": {"attempted": 90}}
    found = verdict.outcome(old, {"workload": {"records": 100}})
    assert found.valid and found.observed_semantic == "at-least-once"
    assert found.problems == [] and found.errors == []


def test_an_old_result_takes_planned_from_the_spec_and_never_sent_from_the_difference():
    found = verdict.outcome({"audit": {"attempted": 87}}, {"workload": {"records": 1000}})
    assert (found.planned, found.attempted, found.never_sent) == (1000, 87, 913)


def test_the_result_own_spec_comes_before_the_stored_one_for_planned():
    result = {"audit": {"attempted": 5}, "spec": {"workload": {"records": 10}}}
    assert verdict.outcome(result, {"workload": {"records": 99}}).planned == 10


def test_never_sent_is_never_negative():
    found = verdict.outcome({"audit": {"attempted": 120}}, {"workload": {"records": 100}})
    assert found.never_sent == 0 and found.never_sent_sentence == ""


def test_never_sent_orders_are_explained_as_not_lost():
    result = {
        "audit": {"attempted": 87, "planned": 1000, "never_sent": 913},
        "never_sent_reason": "the producer was killed and not restarted",
    }
    assert verdict.outcome(result).never_sent_sentence == (
        "913 orders were never sent: the producer was killed and not restarted. They are not "
        "counted as lost: lost counts orders the producer attempted."
    )


@pytest.mark.parametrize("odd", [None, {}, [], "x", {"audit": [], "promise": 3, "problems": {}}])
def test_an_odd_stored_result_gives_an_empty_verdict_not_an_error(odd):
    assert verdict.explain(odd) == []
    assert verdict.outcome(odd, odd).valid
