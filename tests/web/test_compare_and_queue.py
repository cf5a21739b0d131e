"""The compare form gives every spec one fault schedule, in its own terms, and the page says where
a queued experiment stands. (What a comparison measures: test_tradeoffs.)"""

from __future__ import annotations

import json

import pytest

from playground.engine.spec.presets import preset
from playground.web.comparisons.form import Slot, build_specs
from playground.web.models import Comparison, Experiment


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
