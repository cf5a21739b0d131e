"""The experiment pages against the real cluster: start, watch over the websocket, act, read the
verdict, share, take control with the token, run again, and the API."""

from __future__ import annotations

import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from playground.asgi import application
from playground.engine.spec.model import Spec
from playground.web.models import Experiment
from playground.web.runs import runner
from tests.web.conftest import wait_for_delivered, wait_for_status, wait_until_finished

ORIGIN = [(b"origin", b"http://127.0.0.1")]


def small_spec(**overrides) -> dict:
    document = {
        "name": "web test",
        "workload": {"records": 150, "rate": 100},
        "producer": {"acks": "all", "enable_idempotence": True},
        "consumer": {"commit": "after-processing", "batch_size": 10},
        "restarts": {"consumer": {"delay_ms": 300}},
    }
    document.update(overrides)
    return Spec.from_json(document).to_json()


def counter(html: str, name: str) -> int | None:
    found = re.search(rf'id="count-{name}">(\d+)<', html)
    return int(found.group(1)) if found else None


@pytest.mark.django_db(transaction=True)
def test_api_runs_an_experiment_to_its_verdict_and_the_share_link_cannot_act(playground):
    owner = Client()
    response = owner.post("/api/experiments", small_spec(), content_type="application/json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "queued" and "control_url" in created
    experiment = Experiment.objects.get(share_id=created["id"])
    experiment = wait_until_finished(experiment)
    assert experiment.status == Experiment.DONE, experiment.error
    audit = experiment.result["audit"]
    assert audit["attempted"] == audit["delivered"] == 150
    assert audit["lost"] == audit["duplicated"] == 0

    state = Client().get(f"/api/experiments/{experiment.share_id}").json()
    assert state["status"] == "done" and state["result"]["audit"]["delivered"] == 150
    assert "control_url" not in state  # reading state never hands out control

    page = owner.get(experiment.get_absolute_url())
    assert page.status_code == 200
    assert counter(page.content.decode(), "delivered") == 150
    assert b"exactly-once" in page.content
    link = re.search(r'href="(/builder/\?spec=[^"]+)"', page.content.decode()).group(1)
    assert owner.get(link).status_code == 200  # the spec opens in the builder without running

    stranger = Client()
    shared = stranger.get(experiment.get_absolute_url()).content.decode()
    assert counter(shared, "delivered") == 150
    assert "You are watching" in shared
    table = stranger.get(f"{experiment.get_absolute_url()}orders?filter=")
    assert table.status_code == 200 and table.content.count(b"<tr class=") == 50
    assert stranger.get(f"{experiment.get_absolute_url()}orders?page=3").status_code == 200
    assert stranger.get(f"{experiment.get_absolute_url()}orders?page=4").status_code == 400
    assert stranger.get(f"{experiment.get_absolute_url()}orders?filter=weird").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_only_the_owner_or_a_control_token_holder_can_crash_a_running_experiment(playground):
    owner = Client()
    spec = small_spec(workload={"records": 600, "rate": 60})
    created = owner.post("/api/experiments", spec, content_type="application/json").json()
    experiment = Experiment.objects.get(share_id=created["id"])
    wait_for_status(experiment, Experiment.RUNNING)
    wait_for_delivered(experiment, 60)
    url = experiment.get_absolute_url()

    viewer = Client()
    refused = viewer.post(f"{url}act", {"action": "kill-consumer-at-point"})
    assert refused.status_code == 403
    assert b"data-action=" not in viewer.get(url).content  # no crash buttons for a viewer

    bad = owner.post(f"{url}act", {"action": "pause-broker", "broker": "7"})
    assert bad.status_code == 400 and b"broker" in bad.content
    unknown = owner.post(f"{url}act", {"action": "explode"})
    assert unknown.status_code == 400 and b"allowed" in unknown.content

    teacher = Client()
    assert teacher.get(f"{url}control?token=wrong").status_code == 403
    teacher.get(created["control_url"].replace("http://testserver", ""))
    assert b"data-action=" in teacher.get(url).content
    accepted = teacher.post(f"{url}act", {"action": "kill-consumer-at-point"})
    assert accepted.status_code == 202, accepted.content

    experiment = wait_until_finished(experiment)
    assert experiment.status == Experiment.DONE, experiment.error
    audit = experiment.result["audit"]
    kinds = [event["kind"] for event in experiment.result["timeline"]]
    assert "action" in kinds and "crash" in kinds
    assert audit["lost"] == 0 and audit["duplicated"] > 0  # at-least-once, crashed: duplicates
    assert audit["duplicated_by_consumer"] == audit["duplicated"]
    page = owner.get(url).content.decode()
    assert "duplicated by a consumer restart" in page and "consumer.commit" in page
    dups = owner.get(f"{url}orders?filter=duplicated").content.decode()
    assert dups.count('<tr class="outcome-duplicated">') == min(50, audit["duplicated"])

    again = owner.post(f"{url}rerun")
    assert again.status_code == 302
    rerun = Experiment.objects.exclude(pk=experiment.pk).get()
    assert rerun.spec == experiment.spec and again["Location"] == rerun.get_absolute_url()
    wait_until_finished(rerun)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_viewers_receive_counters_over_the_websocket_until_the_verdict(playground):
    experiment = await database_sync_to_async(Experiment.objects.create)(
        spec=small_spec(workload={"records": 300, "rate": 150})
    )
    socket = WebsocketCommunicator(application, f"/ws/e/{experiment.share_id}/", headers=ORIGIN)
    connected, _ = await socket.connect()
    assert connected
    await database_sync_to_async(runner.wake)()
    delivered, reloads, messages = [], 0, 0
    while reloads < 2:  # one when it starts running, one when it ends
        html = await socket.receive_from(timeout=60)
        messages += 1
        if 'id="experiment-body"' in html:
            reloads += 1
        if (value := counter(html, "delivered")) is not None:
            delivered.append(value)
    assert delivered == sorted(delivered) and delivered[-1] == 300
    assert len([v for v in delivered if 0 < v < 300]) >= 3  # it was seen moving
    assert messages > 20  # several updates a second
    await socket.send_to(text_data="kill everything")
    reply = await socket.receive_from(timeout=5)
    assert "only sends updates" in reply
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_for_an_unknown_experiment_is_closed():
    socket = WebsocketCommunicator(application, "/ws/e/nope/", headers=ORIGIN)
    connected, code = await socket.connect()
    assert not connected and code == 4404


@pytest.mark.django_db
def test_api_refuses_bad_bodies_with_errors_that_name_the_field(client):
    bad_json = client.post("/api/experiments", "{nope", content_type="application/json")
    assert (
        bad_json.status_code == 400
        and "not a JSON document" in bad_json.json()["errors"][0]["message"]
    )
    invalid = client.post(
        "/api/experiments",
        json.dumps({"producer": {"acks": "2"}, "workload": {"records": 0}}),
        content_type="application/json",
    )
    assert invalid.status_code == 400
    paths = {error["path"] for error in invalid.json()["errors"]}
    assert paths == {"producer.acks", "workload.records"}
    for absurd in ("9" * 5000, "[" * 5000, b"\xff\xfe"):
        response = client.post("/api/experiments", absurd, content_type="application/json")
        assert response.status_code == 400, absurd[:10]
    assert client.get("/api/experiments").status_code == 405
    assert client.get("/api/experiments/unknown").status_code == 404
    presets = client.get("/api/presets").json()["presets"]
    assert {p["name"] for p in presets} >= {"metrics", "payment-service"}
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_unknown_preset_and_unknown_experiment_are_clear_errors(client):
    response = client.post("/experiments/new", {"preset": "fastest"})
    assert response.status_code == 400 and b"fastest" in response.content
    assert client.get("/e/doesnotexist/").status_code == 404
    assert client.post("/e/doesnotexist/act", {"action": "stop"}).status_code == 404


# -- the verdict of a stored result, of any age ---------------------------------------------------


def stored_result(**changes) -> dict:
    """A finished run's result as the conductor stores it, with `changes` merged in."""
    spec = small_spec()
    result = {
        "experiment_id": "abc123",
        "spec": spec,
        "promised_semantic": "exactly-once",
        "promise": {
            "summary": "Each order is charged once.",
            "loss_risks": [],
            "duplicate_risks": [],
        },
        "valid": True,
        "problems": [],
        "observed_semantic": "exactly-once",
        "audit": {
            "planned": 150,
            "attempted": 150,
            "never_sent": 0,
            "acked": 150,
            "delivered": 150,
            "lost": 0,
            "duplicated": 0,
            "redelivered": 0,
        },
        "never_sent_reason": None,
        "uncommitted_view": None,
        "timeline": [{"at": 0.0, "kind": "phase", "detail": "running", "fault": None}],
        "duration_seconds": 3.2,
        "timing": {"records_per_second": 50, "latency_ms_p50": 4, "latency_ms_p99": 9},
        "errors": [],
    }
    return result | changes


def finished_page(client, result, spec: dict | None = None) -> str:
    experiment = Experiment.objects.create(
        spec=small_spec() if spec is None else spec, status=Experiment.DONE, result=result
    )
    response = client.get(experiment.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


NEVER_FIRED = "never fired: the run ended after 12.3 s"
INVALID = {
    "valid": False,
    "observed_semantic": None,
    "problems": [
        {"message": "the consumer failed 21 times: KafkaException", "log": "<b>Traceback</b> …"},
        {"message": f"faults[1] (kill-consumer at 600 s) {NEVER_FIRED}", "log": ""},
    ],
}


@pytest.mark.django_db
def test_an_invalid_run_names_no_observed_semantic(client):
    page = finished_page(client, stored_result(**INVALID))
    assert "This run is not a valid test of its settings" in page
    assert 'id="verdict-observed"' not in page
    assert "this run showed" not in page
    assert 'semantic-exactly-once" id="observed"' not in page
    assert '<span class="badge invalid-run" id="observed">not a valid run</span>' in page


@pytest.mark.django_db
def test_an_invalid_run_shows_each_problem_as_a_sentence_with_its_log_escaped(client):
    page = finished_page(client, stored_result(**INVALID))
    assert "<p>The consumer failed 21 times: KafkaException.</p>" in page
    assert f"<p>faults[1] (kill-consumer at 600 s) {NEVER_FIRED}.</p>" in page
    assert "<pre>&lt;b&gt;Traceback&lt;/b&gt; …</pre>" in page
    assert page.count("<details><summary>From the worker's log</summary>") == 1  # none for ""


@pytest.mark.django_db
def test_the_header_of_an_invalid_run_names_its_first_problem(client):
    page = finished_page(client, stored_result(**INVALID))
    banner = re.search(r'<p class="invalid-banner" id="invalid-banner">(.*?)</p>', page, re.S)
    assert banner
    assert (
        "settings: the consumer failed 21 times: KafkaException (and 1 more problem)" in banner[1]
    )


@pytest.mark.django_db
def test_an_invalid_run_keeps_its_counts(client):
    audit = stored_result()["audit"] | {"delivered": 140, "lost": 10}
    page = finished_page(client, stored_result(**INVALID, audit=audit))
    assert counter(page, "delivered") == 140 and counter(page, "lost") == 10


@pytest.mark.django_db
def test_a_result_stored_before_validity_and_the_workload_counts_still_renders(client):
    old = stored_result(observed_semantic="at-least-once")
    for key in ("valid", "problems", "never_sent_reason"):
        del old[key]
    old["audit"] = {k: v for k, v in old["audit"].items() if k not in ("planned", "never_sent")}
    old["audit"]["attempted"] = 120
    page = finished_page(client, old)
    assert 'id="verdict-observed">at-least-once<' in page
    assert counter(page, "planned") == 150 and counter(page, "sent") == 120
    assert "30 orders were never sent. They are not counted as lost" in page


@pytest.mark.django_db
def test_orders_never_sent_are_said_not_to_be_lost(client):
    audit = stored_result()["audit"] | {"planned": 1000, "attempted": 87, "never_sent": 913}
    reason = "the producer was killed and not restarted"
    page = finished_page(client, stored_result(audit=audit, never_sent_reason=reason))
    assert counter(page, "planned") == 1000 and counter(page, "sent") == 87
    assert (
        "913 orders were never sent: the producer was killed and not restarted. They are not "
        "counted as lost: lost counts orders the producer attempted."
    ) in page


@pytest.mark.django_db
def test_errors_left_in_a_result_are_explained_not_just_listed(client):
    page = finished_page(client, stored_result(errors=["restoring the cluster: node 2 is down"]))
    errors = re.search(r'<div class="run-errors" id="run-errors">(.*?)</div>', page, re.S)
    assert errors and "The run also reported 1 error: something that kept it from" in errors[1]
    assert "<li>restoring the cluster: node 2 is down</li>" in errors[1]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("result", "spec"),
    [
        (None, {}),
        ({}, {}),
        ([], {}),
        ("text", {}),
        ({"audit": [], "promise": 3, "problems": {}, "timeline": [1, {"at": "x"}]}, {"x": 1}),
        ({"valid": False}, {"workload": {"records": "many"}}),
        ({"valid": False, "problems": ["a bare string", {"log": 5}]}, None),
    ],
)
def test_a_finished_page_never_fails_on_an_odd_stored_result_or_spec(client, result, spec):
    finished_page(client, result, spec)
