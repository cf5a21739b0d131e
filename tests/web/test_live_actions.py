"""The crash buttons are spec faults whose time is "now": one vocabulary, one reader."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from playground.engine.spec import FAULT_DEFAULTS, Spec
from playground.web import actions
from playground.web.models import Action, Experiment


def running(**spec) -> Experiment:
    return Experiment.objects.create(spec=Spec.from_json(spec).to_json(), status=Experiment.RUNNING)


def press(experiment: Experiment, **fields) -> dict:
    actions.request(experiment, QueryDict(mutable=True) | fields)
    return Action.objects.filter(experiment=experiment).latest("id").params


@pytest.mark.django_db
def test_the_commit_point_button_is_a_kill_consumer_fault_at_the_next_commit_point_now():
    fault = press(running(), action="kill-consumer-at-point")["fault"]
    assert fault == {"kind": "kill-consumer", "at": "now", "point": "next-commit-point"}


@pytest.mark.django_db
def test_a_blank_count_drops_the_spec_default_number_of_acks_of_the_source_producer():
    fault = press(running(), action="drop-acks", count="")["fault"]
    assert fault["count"] == FAULT_DEFAULTS["count"]
    assert fault["target"] == "source-producer"


@pytest.mark.django_db
def test_resuming_without_a_broker_resumes_every_paused_one():
    assert press(running(), action="resume-broker")["fault"]["broker"] == "all"


@pytest.mark.django_db
def test_pausing_from_the_page_lasts_until_resumed():
    assert press(running(), action="pause-broker", broker="2")["fault"]["seconds"] is None


@pytest.mark.django_db
@pytest.mark.parametrize("count", ["abc", "5000", "0"])
def test_a_bad_count_is_refused_naming_the_field(count):
    with pytest.raises(actions.ActionError, match="count: expected an integer from 1"):
        press(running(), action="drop-acks", count=count)


@pytest.mark.django_db
def test_a_leader_kill_beyond_the_partitions_is_refused_by_the_spec_reader():
    with pytest.raises(actions.ActionError, match="partition"):
        press(running(workload={"partitions": 2}), action="kill-leader", partition="2")


@pytest.mark.django_db
def test_stop_is_not_a_fault():
    assert press(running(), action="stop") == {}
