"""Class predictions in teacher mode: a held experiment waits for its controller's Start, the
class predicts (one per browser) until the run starts, the controller alone sees the tally live
until they reveal it, and the verdict shows the tally beside what happened. The view logic needs no
cluster; the last test runs for real."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from playground.asgi import application
from playground.engine.spec.model import Spec
from playground.web.models import Experiment, Prediction
from playground.web.runs import experiments, runner
from tests.web.conftest import wait_for_status, wait_until_finished

ORIGIN = [(b"origin", b"http://127.0.0.1")]
HTMX = {"HX-Request": "true"}


def small_spec() -> dict:
    return Spec.from_json(
        {
            "name": "class test",
            "workload": {"records": 120, "rate": 100},
            "producer": {"acks": "all", "enable_idempotence": True},
            "consumer": {"commit": "after-processing", "batch_size": 10},
        }
    ).to_json()


@pytest.fixture
def no_runner(monkeypatch):
    """Experiments are queued but never run (the rules of predicting are under test)."""
    monkeypatch.setattr(runner, "wake", lambda: None)


def teacher_holds(teacher: Client) -> Experiment:
    """The teacher pastes a spec in the builder with "hold for predictions" ticked."""
    response = teacher.post("/builder/", {"spec_json": json.dumps(small_spec()), "hold": "on"})
    assert response.status_code == 302
    return Experiment.objects.latest("id")


def predict(client: Client, experiment: Experiment, value: str | None, **headers):
    data = {} if value is None else {"prediction": value}
    return client.post(f"/e/{experiment.share_id}/predict", data, headers=headers)


def tally_counts(page: str) -> dict[str, int]:
    return {
        choice: int(count)
        for choice, count in re.findall(r'data-choice="(\w+)" data-count="(\d+)"', page)
    }


# -- holding ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_held_experiment_is_not_claimed_by_the_runner_and_takes_no_place_in_the_queue(no_runner):
    held = Experiment.objects.create(spec=small_spec(), status=Experiment.HELD)
    queued = Experiment.objects.create(spec=small_spec())
    assert queued.place().ahead == 0 and held.place() is None
    assert runner._claim_next() == queued
    assert runner._claim_next() is None  # the held one stays where it is
    held.refresh_from_db()
    assert held.status == Experiment.HELD


@pytest.mark.django_db
def test_the_builders_hold_box_holds_and_only_the_controllers_start_queues_it(client, no_runner):
    held = teacher_holds(client)
    assert held.status == Experiment.HELD
    page = client.get(held.get_absolute_url()).content.decode()
    assert 'id="start-held"' in page and 'id="hold-expires"' in page
    student = Client()
    assert b'id="start-held"' not in student.get(held.get_absolute_url()).content
    refused = student.post(f"/e/{held.share_id}/start")
    assert refused.status_code == 403 and b"start: only the person running" in refused.content
    assert client.post(f"/e/{held.share_id}/start").status_code == 302
    held.refresh_from_db()
    assert held.status == Experiment.QUEUED and held.place().ahead == 0
    again = client.post(f"/e/{held.share_id}/start")
    assert again.status_code == 409 and b"start: this experiment is not held" in again.content


@pytest.mark.django_db
def test_start_joins_the_queue_at_the_back(client, no_runner):
    held = teacher_holds(client)
    other = Experiment.objects.create(spec=small_spec())
    client.post(f"/e/{held.share_id}/start")
    held.refresh_from_db()
    assert other.place().ahead == 0 and held.place().ahead == 1


@pytest.mark.django_db
def test_a_hold_nobody_starts_within_the_hour_is_removed(client, no_runner):
    held = teacher_holds(client)
    fresh = teacher_holds(client)
    an_hour_ago = timezone.now() - timedelta(seconds=experiments.HOLD_SECONDS + 1)
    Experiment.objects.filter(pk=held.pk).update(created_at=an_hour_ago)
    assert experiments.expire_holds() == [held.share_id]
    assert list(Experiment.objects.all()) == [fresh]
    gone = client.post(f"/e/{held.share_id}/start")
    assert gone.status_code == 404 and b"experiment: there is no experiment" in gone.content


@pytest.mark.django_db
def test_starting_an_expired_hold_says_it_expired(client, no_runner):
    held = teacher_holds(client)
    an_hour_ago = timezone.now() - timedelta(seconds=experiments.HOLD_SECONDS + 1)
    Experiment.objects.filter(pk=held.pk).update(created_at=an_hour_ago)
    expired = client.post(f"/e/{held.share_id}/start")
    assert expired.status_code == 409 and b"start: the hold expired" in expired.content


@pytest.mark.django_db
def test_a_held_experiment_counts_toward_the_limit_of_active_experiments(client, no_runner):
    for _ in range(3):
        teacher_holds(client)
    refused = client.post("/builder/", {"spec_json": json.dumps(small_spec()), "hold": "on"})
    assert refused.status_code == 429 and b"queued or held" in refused.content


# -- predicting -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_one_prediction_per_session_a_second_replaces_the_first(client, no_runner):
    held = teacher_holds(client)
    student = Client()
    assert predict(student, held, "loss").status_code == 302
    answer = predict(student, held, "duplicates", **HTMX)
    assert answer.status_code == 200
    assert 'data-choice="duplicates"' in answer.content.decode()
    assert list(Prediction.objects.values_list("choice", flat=True)) == ["duplicates"]
    page = student.get(held.get_absolute_url()).content.decode()
    assert "sending another replaces it" in page
    assert 'value="duplicates" id="predict-duplicates" checked' in page


@pytest.mark.django_db
def test_predictions_stay_open_while_queued_and_close_when_the_run_starts(client, no_runner):
    held = teacher_holds(client)
    client.post(f"/e/{held.share_id}/start")
    student = Client()
    assert predict(student, held, "nothing").status_code == 302
    Experiment.objects.filter(pk=held.pk).update(status=Experiment.RUNNING)
    closed = predict(student, held, "loss", **HTMX)
    assert closed.status_code == 409
    assert "prediction: predictions closed when the run started" in closed.content.decode()
    plain = predict(Client(), held, "loss")
    assert plain.status_code == 409 and b"predictions closed" in plain.content
    assert list(Prediction.objects.values_list("choice", flat=True)) == ["nothing"]
    assert 'id="class-prediction-form"' not in student.get(held.get_absolute_url()).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        ("maybe", 400, "prediction: 'maybe' is not a prediction; allowed: nothing, duplicates"),
        ("", 400, "prediction: '' is not a prediction"),
        (None, 400, "prediction: choose one of the outcomes; allowed: nothing, duplicates"),
    ],
)
def test_a_bad_prediction_names_the_field_and_the_allowed_values(
    client, no_runner, value, status, message
):
    held = teacher_holds(client)
    for headers in ({}, HTMX):
        answer = predict(Client(), held, value, **headers)
        assert answer.status_code == status
        assert message in answer.content.decode().replace("&#x27;", "'")
    assert not Prediction.objects.exists()


@pytest.mark.django_db
def test_an_unknown_experiment_is_a_clear_404_naming_the_field(client):
    for path in ("/e/nope/predict", "/e/nope/reveal", "/e/nope/start"):
        answer = client.post(path, {"prediction": "nothing"})
        assert answer.status_code == 404
        assert b"experiment: there is no experiment" in answer.content
    assert client.get("/e/nope/predict").status_code == 405


@pytest.mark.django_db
def test_the_tally_is_the_controllers_until_they_reveal_it(client, no_runner):
    held = teacher_holds(client)
    students = [Client() for _ in range(3)]
    for student, value in zip(students, ("nothing", "duplicates", "duplicates"), strict=True):
        predict(student, held, value)
    teacher_page = client.get(held.get_absolute_url()).content.decode()
    assert tally_counts(teacher_page) == {"nothing": 1, "duplicates": 2, "loss": 0, "both": 0}
    assert 'id="reveal-tally"' in teacher_page
    student_page = students[0].get(held.get_absolute_url()).content.decode()
    assert 'id="prediction-tally"' in student_page and tally_counts(student_page) == {}
    assert 'id="reveal-tally"' not in student_page
    assert "predictions" not in client.get(f"/api/experiments/{held.share_id}").json()

    refused = students[0].post(f"/e/{held.share_id}/reveal")
    assert refused.status_code == 403 and b"reveal: only the person running" in refused.content
    revealed = client.post(f"/e/{held.share_id}/reveal", headers=HTMX)
    assert revealed.status_code == 200 and 'id="tally-revealed"' in revealed.content.decode()
    student_page = students[0].get(held.get_absolute_url()).content.decode()
    assert tally_counts(student_page)["duplicates"] == 2
    api = client.get(f"/api/experiments/{held.share_id}").json()
    assert api["predictions"] == {"nothing": 1, "duplicates": 2, "loss": 0, "both": 0}


@pytest.mark.django_db
def test_after_the_verdict_the_tally_stands_beside_what_happened_and_each_own_is_checked(
    client, no_runner
):
    held = teacher_holds(client)
    right, wrong = Client(), Client()
    predict(right, held, "duplicates")
    predict(wrong, held, "nothing")
    client.post(f"/e/{held.share_id}/reveal")
    result = {"valid": True, "audit": {"lost": 0, "duplicated": 7, "delivered": 120}}
    Experiment.objects.filter(pk=held.pk).update(status=Experiment.DONE, result=result)
    page = right.get(held.get_absolute_url()).content.decode()
    assert re.search(r'class="tally-row happened" data-choice="duplicates"', page)
    assert 'id="predictions-right">1<' in page
    assert "Right: some orders twice, none lost (at-least-once) (0 lost, 7 duplicated)" in page
    assert "Not this time" in wrong.get(held.get_absolute_url()).content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("result", ["text", {"audit": "odd"}, {"audit": {"lost": "many"}}])
def test_a_tally_beside_an_odd_stored_result_shows_no_outcome_and_never_fails(
    client, no_runner, result
):
    held = teacher_holds(client)
    predict(Client(), held, "loss")
    Experiment.objects.filter(pk=held.pk).update(status=Experiment.DONE, result=result)
    page = client.get(held.get_absolute_url())
    assert page.status_code == 200
    assert tally_counts(page.content.decode())["loss"] == 1
    assert "tally-row happened" not in page.content.decode()


# -- live -----------------------------------------------------------------------------------------
async def socket_of(client: Client, experiment: Experiment) -> WebsocketCommunicator:
    """A websocket on the experiment's page with the browser's cookies (its session, if any)."""
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    socket = WebsocketCommunicator(
        application,
        f"/ws/e/{experiment.share_id}/",
        headers=[*ORIGIN, (b"cookie", cookies.encode())],
    )
    connected, _ = await socket.connect()
    assert connected
    return socket


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_controller_receives_the_tally_live_and_a_viewer_only_after_the_reveal(
    monkeypatch,
):
    monkeypatch.setattr(runner, "wake", lambda: None)
    teacher, student = Client(), Client()
    held = await database_sync_to_async(teacher_holds)(teacher)
    teacher_socket = await socket_of(teacher, held)
    await database_sync_to_async(predict)(student, held, "loss")
    pushed = await teacher_socket.receive_from(timeout=5)
    assert 'id="prediction-tally"' in pushed and 'data-revealed="false"' in pushed
    assert tally_counts(pushed)["loss"] == 1

    student_socket = await socket_of(student, held)  # with the session that predicted
    await database_sync_to_async(predict)(student, held, "both")
    pushed = await teacher_socket.receive_from(timeout=5)
    assert tally_counts(pushed) == {"nothing": 0, "duplicates": 0, "loss": 0, "both": 1}
    assert await student_socket.receive_nothing(timeout=0.5)

    await database_sync_to_async(teacher.post)(f"/e/{held.share_id}/reveal")
    for socket in (teacher_socket, student_socket):
        revealed = await socket.receive_from(timeout=5)
        assert 'data-revealed="true"' in revealed and tally_counts(revealed)["both"] == 1
    await teacher_socket.disconnect()
    await student_socket.disconnect()


# -- for real -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_held_experiment_runs_only_after_start_and_its_verdict_shows_the_tally(playground):
    teacher = Client()
    held = teacher_holds(teacher)
    runner.wake()
    students = [Client() for _ in range(3)]
    for student, value in zip(students, ("nothing", "nothing", "loss"), strict=True):
        assert predict(student, held, value).status_code == 302
    held.refresh_from_db()
    assert held.status == Experiment.HELD and held.run_id == ""  # the runner left it alone
    teacher.post(f"/e/{held.share_id}/reveal")
    assert teacher.post(f"/e/{held.share_id}/start").status_code == 302
    wait_for_status(held, Experiment.RUNNING, timeout=60)
    assert predict(students[2], held, "both").status_code == 409
    done = wait_until_finished(held, timeout=120)
    assert done.status == Experiment.DONE, done.error
    page = students[0].get(held.get_absolute_url()).content.decode()
    assert tally_counts(page) == {"nothing": 2, "duplicates": 0, "loss": 1, "both": 0}
    assert 'class="tally-row happened" data-choice="nothing"' in page
    assert 'id="predictions-right">2<' in page
    assert "Right: nothing lost, nothing twice (exactly-once)" in page
    assert "Not this time" in students[2].get(held.get_absolute_url()).content.decode()
