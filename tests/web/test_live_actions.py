"""The crash buttons are spec faults whose time is "now": one vocabulary, one reader."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from django.test import Client

from playground.engine.spec.model import FAULT_DEFAULTS, Spec
from playground.web.models import Action, Experiment
from playground.web.runs import actions
from tests.web.conftest import wait_for_status, wait_until, wait_until_finished


def running(**spec) -> Experiment:
    return Experiment.objects.create(spec=Spec.from_json(spec).to_json(), status=Experiment.RUNNING)


def press(experiment: Experiment, **fields) -> dict:
    actions.live_action_queue(experiment, QueryDict(mutable=True) | fields)
    return Action.objects.filter(experiment=experiment).latest("id").params


@pytest.mark.django_db
def test_the_commit_point_button_is_a_kill_consumer_fault_at_the_next_commit_point_now():
    fault = press(running(), action="kill-consumer-at-point")["fault"]
    assert fault == {
        "kind": "kill-consumer",
        "at": "now",
        "point": "next-commit-point",
        "member": 0,
    }


@pytest.mark.django_db
def test_the_group_buttons_are_member_faults_with_the_fields_asked_for():
    stall = press(running(), action="stall-consumer", member="0", seconds="4.5")["fault"]
    assert stall == {"kind": "stall-consumer", "at": "now", "member": 0, "seconds": 4.5}
    added = press(running(), action="add-consumer")["fault"]
    assert added == {"kind": "add-consumer", "at": "now"}
    pause = press(running(), action="pause-consumer", member="", seconds="")["fault"]
    assert pause["member"] == 0 and pause["seconds"] == FAULT_DEFAULTS["seconds"]


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


# -- Kill producer after its next commit (issue 20) ------------------------------------------------

TRANSACTIONAL = {
    "pipeline": "kafka-to-kafka",
    "producer": {"acks": "all", "enable_idempotence": True, "transactional": True},
    "consumer": {"commit": "transactional", "isolation_level": "read_committed"},
}


def shown(experiment: Experiment) -> list[str]:
    return [action.name for action in actions.available(experiment)]


@pytest.mark.django_db
def test_the_after_commit_button_is_a_producer_kill_after_its_commit_before_it_logs_it():
    fault = press(running(**TRANSACTIONAL), action="kill-producer-after-commit")["fault"]
    assert fault == {"kind": "kill-producer", "at": "now", "point": "after-commit-before-log"}


@pytest.mark.django_db
def test_the_plain_producer_kill_strikes_wherever_the_producer_is():
    fault = press(running(**TRANSACTIONAL), action="kill-producer")["fault"]
    assert fault == {"kind": "kill-producer", "at": "now", "point": "anywhere"}


@pytest.mark.django_db
def test_the_after_commit_button_shows_only_for_a_transactional_producer():
    assert "kill-producer-after-commit" in shown(running(**TRANSACTIONAL))
    assert "kill-producer-after-commit" not in shown(running())
    assert "kill-producer" in shown(running())


@pytest.mark.django_db
def test_the_after_commit_button_posted_for_a_producer_without_transactions_is_refused():
    experiment = running()
    message = 'point: expected one of "after-send", "anywhere" with producer.transactional false'
    with pytest.raises(actions.ActionError, match=message):
        press(experiment, action="kill-producer-after-commit")
    assert not Action.objects.filter(experiment=experiment).exists()


@pytest.mark.django_db(transaction=True)
def test_killing_a_producer_after_its_commit_from_the_page_repeats_that_transaction(playground):
    """Real Kafka: the producer keeps its position in its log, so the session after the kill
    sends the transaction that had committed again: its 10 orders twice, nothing lost."""
    owner = Client()
    document = TRANSACTIONAL | {
        "workload": {"records": 300, "rate": 50},
        "producer": TRANSACTIONAL["producer"] | {"transaction_records": 10, "position": "log"},
        "restarts": {"producer": {"delay_ms": 300}, "consumer": {"delay_ms": 300}},
    }
    spec = Spec.from_json(document).to_json()
    created = owner.post("/api/experiments", spec, content_type="application/json").json()
    experiment = Experiment.objects.get(share_id=created["id"])
    wait_for_status(experiment, Experiment.RUNNING)
    # Pressed while the producer still has commits ahead of it (the consumer may lag behind).
    wait_until(experiment, lambda e: (e.snapshot or {}).get("attempted", 0) >= 30, "30 sent", 60)
    url = experiment.get_absolute_url()
    assert b'data-action="kill-producer-after-commit"' in owner.get(url).content

    pressed = owner.post(f"{url}act", {"action": "kill-producer-after-commit"})
    assert pressed.status_code == 202, pressed.content

    experiment = wait_until_finished(experiment)
    result = experiment.result
    assert result["valid"], result["problems"]
    crashes = [e["detail"] for e in result["timeline"] if e["kind"] == "crash"]
    assert len(crashes) == 1 and "after-commit-before-log" in crashes[0], result["timeline"]
    audit = result["audit"]
    assert audit["lost"] == 0
    assert audit["duplicated"] == audit["duplicated_by_producer"] == 10
    assert result["observed_semantic"] == "at-least-once"
