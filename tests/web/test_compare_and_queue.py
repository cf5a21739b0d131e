"""Compare runs specs one after another under one fault schedule, and the page says where a
queued experiment stands."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from playground.engine.presets import preset
from playground.web.compare import Slot, build_specs
from playground.web.models import Comparison, Experiment
from tests.web.conftest import wait_until_finished


def _custom(document: dict) -> str:
    return json.dumps(document)


def test_every_spec_gets_the_fault_schedule_of_the_chosen_one():
    slots = [Slot(1, "notification-service"), Slot(2, "metrics"), Slot(3), Slot(4)]
    specs, errors = build_specs(slots, "1")
    assert errors == []
    faults = preset("notification-service").spec.to_json()["faults"]
    assert specs[0].to_json()["faults"] == faults
    assert specs[1].consumer.commit.value == "before-processing"  # the rest of metrics is kept
    # metrics commits before processing: the same kill strikes at its own commit point.
    assert specs[1].to_json()["faults"] == [faults[0] | {"point": "next-commit-point"}]
    specs, errors = build_specs(slots, "none")
    assert errors == [] and all(s.faults == () for s in specs)


@pytest.mark.parametrize(
    ("slots", "faults_from", "expected"),
    [
        ([Slot(1, "metrics")], "1", "choose 2 to 4"),
        ([Slot(1, "metrics"), Slot(2, "nope")], "1", "spec 2: there is no preset 'nope'"),
        ([Slot(1, "metrics"), Slot(2, "custom", "{oops")], "1", "spec 2: not a JSON document"),
        (
            [Slot(1, "metrics"), Slot(2, "custom", _custom({"producer": {"acks": "2"}}))],
            "1",
            "spec 2: producer.acks",
        ),
        ([Slot(1, "metrics"), Slot(2, "payment-service")], "3", "faults_from"),
    ],
)
def test_bad_comparisons_name_the_slot_and_the_field(slots, faults_from, expected):
    specs, errors = build_specs(slots, faults_from)
    assert specs == [] and any(expected in error for error in errors), errors


@pytest.mark.django_db
def test_the_compare_form_shows_errors_without_starting_anything(client):
    assert client.get("/compare/").status_code == 200
    response = client.post("/compare/", {"spec1": "metrics", "spec2": "", "faults_from": "1"})
    assert response.status_code == 400 and b"choose 2 to 4" in response.content
    garbage = client.post("/compare/", {"spec1": "\x00", "custom9": "x", "faults_from": "zz"})
    assert garbage.status_code == 400
    assert not Experiment.objects.exists() and not Comparison.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_comparison_measures_each_spec_under_the_same_faults(playground):
    client = Client()
    small = {"workload": {"records": 100, "rate": 0}, "consumer": {"batch_size": 10}}
    safe = small | {"consumer": {"commit": "after-processing", "batch_size": 10}}
    risky = small | {"consumer": {"commit": "before-processing", "batch_size": 10}}
    crash = {"kind": "kill-consumer", "point": "after-commit-before-processing"}
    risky["faults"] = [crash | {"at": {"records": 40}}]
    response = client.post(
        "/compare/",
        {
            "spec1": "custom",
            "custom1": _custom(safe),
            "spec2": "custom",
            "custom2": _custom(risky),
            "faults_from": "2",
        },
    )
    assert response.status_code == 302, response.content
    comparison = Comparison.objects.get()
    first, second = comparison.experiments.all()
    # A comparison runs alone: while the first runs, the second waits in the queue and says so.
    page = client.get(second.get_absolute_url()).content.decode()
    if 'data-status="queued"' in page:
        assert "waits for a comparison" in page and "the cluster to itself" in page
    for run in (first, second):
        wait_until_finished(run)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.finished_at <= second.started_at  # never side by side
    assert second.spec["faults"] == risky["faults"]
    # The safe spec never passes that point: the kill strikes at its own commit point instead.
    assert first.spec["faults"] == [risky["faults"][0] | {"point": "next-commit-point"}]
    table = client.get(comparison.get_absolute_url()).content.decode()
    for label in ("throughput (records/s)", "latency p50 (ms)", "latency p99 (ms)", "lost"):
        assert label in table
    assert first.result["audit"]["lost"] == 0  # committed after processing: nothing lost
    assert second.result["audit"]["lost"] > 0  # committed before processing: lost
    partial = client.get(comparison.get_absolute_url(), headers={"HX-Request": "true"})
    assert b'id="comparison-table"' in partial.content and b"<html" not in partial.content


@pytest.mark.django_db
def test_a_queued_experiment_counts_the_older_queued_ones_ahead_and_says_why_it_waits(client):
    Experiment.objects.create(spec={}, status=Experiment.RUNNING, exclusive=True)
    first = Experiment.objects.create(spec={"name": "first"})
    second = Experiment.objects.create(spec={"name": "second"})
    assert (first.place().ahead, second.place().ahead) == (0, 1)
    answer = client.get(f"/api/experiments/{second.share_id}").json()
    assert answer["ahead"] == 1
    assert "waits for a broker-fault experiment" in answer["waits_for"]
    page = client.get(second.get_absolute_url()).content.decode()
    assert "1 ahead" in page and "waits for a broker-fault experiment" in page


def _observed_row(page: str) -> list[str]:
    row = re.search(r"<tr><th>observed</th>(.*?)</tr>", page, re.S)
    assert row, "no observed row"
    return re.findall(r"<td>(.*?)</td>", row[1], re.S)


@pytest.mark.django_db
def test_the_observed_row_of_an_invalid_run_shows_its_first_problem_not_a_semantic(client):
    comparison = Comparison.objects.create()
    valid = {"valid": True, "observed_semantic": "at-least-once", "audit": {"lost": 0}}
    invalid = {
        "valid": False,
        "observed_semantic": None,
        "problems": [
            {"message": "the producer could not start: no broker", "log": "..."},
            {"message": "faults[0] could not be applied: gone", "log": ""},
        ],
        "audit": {"lost": 3},
    }
    for result in (valid, invalid):
        Experiment.objects.create(
            spec={}, status=Experiment.DONE, result=result, comparison=comparison
        )
    cells = _observed_row(client.get(comparison.get_absolute_url()).content.decode())
    assert cells[0] == "at-least-once"
    assert cells[1] == (
        '<strong class="invalid-run">invalid run</strong>: the producer could not start: no broker'
    )


@pytest.mark.django_db
def test_the_comparison_table_of_an_old_result_shows_dashes_not_an_error(client):
    comparison = Comparison.objects.create()
    old = {"observed_semantic": "exactly-once", "audit": {"lost": 0}}
    for result in (old, {"something": "else"}):
        Experiment.objects.create(
            spec={}, status=Experiment.DONE, result=result, comparison=comparison
        )
    page = client.get(comparison.get_absolute_url()).content.decode()
    assert _observed_row(page) == ["exactly-once", "—"]
    assert "<tr><th>latency p50 (ms)</th><td>—</td><td>—</td></tr>" in page
