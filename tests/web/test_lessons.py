"""The lessons: each step renders, a prediction is validated and kept in the session, the last
step checks picks against the guide, steps 6 and 7 put the same producer crash in the commit
window one setting apart, and (against the real cluster) a step 2 prediction is checked beside
the verdict of the run it started."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from playground.engine.spec import fields
from playground.engine.spec.model import KillPoint
from playground.engine.spec.semantics import promise
from playground.web.lessons import course, predictions
from playground.web.lessons.course import LessonError, Progress
from playground.web.models import Experiment
from tests.web.conftest import wait_until_finished

CHOOSING = f"/lessons/{course.CHOOSING_STEP}/"
ALL_RIGHT = {
    "service-notification-service": "notification-service",
    "service-payment-service": "payment-service",
    "service-payments-aggregation": "payments-aggregation",
    "service-metrics": "metrics",
}


def session_progress(client: Client) -> Progress:
    return Progress.from_session(client.session.get(course.SESSION_KEY))


# -- Content ---------------------------------------------------------------------------------------


def test_steps_follow_the_module_path_and_only_the_last_step_runs_nothing():
    assert [step.number for step in course.STEPS] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [step.runs_experiment for step in course.STEPS] == [True] * 9 + [False]
    assert course.CHOOSING_STEP == 10


@pytest.mark.parametrize(
    "step", [step for step in course.STEPS if step.spec], ids=lambda step: f"step-{step.number}"
)
def test_each_lesson_run_is_short_and_labels_all_four_outcomes(step, settings):
    assert set(step.labels) == set(predictions.CHOICES)
    workload = step.spec.workload
    assert workload.records <= 500
    assert workload.records / workload.rate < settings.PLAYGROUND_MAX_RUN_SECONDS / 10
    assert step.question and step.why and step.settings
    assert [shown.path for shown in course.settings_shown(step)] == list(step.settings)


def test_lesson_runs_promise_what_their_steps_teach():
    promised = [promise(step.spec).semantic.value for step in course.STEPS if step.spec]
    assert promised == [
        "at-most-once",
        "at-least-once",
        "at-least-once",
        "exactly-once",
        "exactly-once",
        "at-least-once",
        "exactly-once",
        "at-least-once",
        "at-least-once",
    ]


def test_the_commit_window_steps_run_the_same_producer_crash_one_setting_apart():
    in_log, in_transaction = course.step(6).spec, course.step(7).spec
    assert in_log.producer.position == "log" and in_transaction.producer.position == "transaction"
    first, second = in_log.to_json(), in_transaction.to_json()
    for document in (first, second):
        del document["name"], document["producer"]["position"]
    assert first == second
    assert in_log.pipeline == "kafka-to-kafka" and in_log.producer.transactional
    assert in_log.producer.transaction_records == 10
    (kill,) = in_log.faults
    assert kill.kind == "kill-producer" and kill.point == KillPoint.AFTER_COMMIT_BEFORE_LOG
    assert in_log.restarts.producer.enabled
    assert [risk.setting for risk in promise(in_log).duplicate_risks] == ["producer.position"]
    assert not promise(in_transaction).duplicate_risks


def test_the_commit_window_steps_show_where_the_position_is_kept_in_the_registrys_words():
    for number, value in ((6, "log"), (7, "transaction")):
        (position,) = [
            s for s in course.settings_shown(course.step(number)) if s.path == "producer.position"
        ]
        assert position.value == value
        assert position.explanation == fields.setting("producer.position").choices[value]


def test_every_service_of_the_scenario_reaches_its_own_preset_in_the_guide():
    for service in course.SERVICES:
        outcome, trail = course.guide_outcome(service)
        assert outcome.preset == service.key
        assert trail


# -- Pure logic: predictions, checks, picks -------------------------------------------------------


def test_a_missing_or_unknown_prediction_names_the_field_and_the_allowed_values():
    step = course.step(2)
    with pytest.raises(LessonError, match=r"^prediction: choose .*allowed: nothing, duplicates"):
        course.parse_prediction(step, None)
    with pytest.raises(LessonError, match=r"^prediction: 'twice' is not a prediction; allowed"):
        course.parse_prediction(step, "twice")


def test_an_unknown_step_names_the_field_and_the_steps():
    with pytest.raises(LessonError, match=r"^step: there is no step 11; steps: 1 to 10"):
        course.step(11)


def test_a_checked_prediction_speaks_in_the_steps_own_words():
    progress = Progress()
    progress.predicted(5, "abc", predictions.DUPLICATES)
    result = {"valid": True, "audit": {"lost": 0, "duplicated": 0}}
    checked = course.check_run(progress, "abc", result)
    assert checked.check.right is False
    assert checked.predicted_label == "some charged twice, none missed"
    assert checked.happened_label == "every order charged once"
    assert checked.next.number == 6


def test_an_invalid_run_checks_no_prediction():
    progress = Progress()
    progress.predicted(2, "abc", predictions.DUPLICATES)
    result = {"valid": False, "problems": ["a worker failed"], "audit": {"duplicated": 4}}
    checked = course.check_run(progress, "abc", result)
    assert checked.check.right is None and checked.happened_label == ""


def test_no_check_for_a_run_this_session_did_not_predict():
    assert course.check_run(Progress(), "abc", {"audit": {}}) is None


def test_malformed_session_progress_starts_afresh():
    assert Progress.from_session("junk") == Progress()
    assert Progress.from_session({"runs": 5}) == Progress()


def test_picks_are_checked_against_the_guide_with_its_reason():
    checks = course.check_picks({**ALL_RIGHT, "service-metrics": "kafka-defaults"})
    assert [check.right for check in checks] == [True, True, True, False]
    metrics = checks[-1]
    assert metrics.fitting.name == "metrics" and "at-most-once" in metrics.outcome.reason


def test_the_offered_picks_never_name_a_service():
    for label in course.PICKS.values():
        for service in course.SERVICES:
            assert service.title.lower() not in label.lower()


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({**ALL_RIGHT, "service-billing": "metrics"}, "^service-billing: there is no such service"),
        ({**ALL_RIGHT, "service-metrics": ""}, "^service-metrics: pick an experiment"),
        ({**ALL_RIGHT, "service-metrics": "fast"}, "^service-metrics: 'fast' is not an experiment"),
    ],
)
def test_bad_picks_name_the_field(form, message):
    with pytest.raises(LessonError, match=message):
        course.check_picks(form)


# -- Pages -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_index_lists_every_step_with_its_own_link():
    page = Client().get("/lessons/")
    assert page.status_code == 200
    html = page.content.decode()
    for step in course.STEPS:
        assert f'href="/lessons/{step.number}/"' in html
    assert html.count("not started") == len(course.STEPS)
    assert "delivery semantics in 10 steps" in html
    assert re.search(r'id="lesson-resume" href="/lessons/1/"', html)


@pytest.mark.django_db
def test_home_and_the_navigation_link_to_the_lessons():
    html = Client().get("/").content.decode()
    assert 'id="home-lessons"' in html
    assert html.count('href="/lessons/"') >= 2


@pytest.mark.django_db
@pytest.mark.parametrize("number", [1, 2, 3, 4, 5, 6, 7])
def test_each_step_renders_its_question_settings_and_prediction_form(number):
    page = Client().get(f"/lessons/{number}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="lesson-question"' in html and 'id="prediction-form"' in html
    assert re.findall(r'name="prediction" value="(\w+)"', html) == list(predictions.CHOICES)
    assert 'id="lesson-settings"' in html


@pytest.mark.django_db
def test_the_last_step_renders_a_pick_for_every_service():
    html = Client().get(CHOOSING).content.decode()
    assert 'id="picks-form"' in html
    for service in course.SERVICES:
        assert f'name="{service.field}"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("address", ["/lessons/0/", "/lessons/11/"])
def test_an_unknown_step_is_a_404_naming_the_step(address):
    page = Client().get(address)
    assert page.status_code == 404
    assert b"step: there is no step" in page.content


@pytest.mark.django_db
def test_a_bad_prediction_is_a_400_naming_the_field_and_runs_nothing():
    client = Client()
    page = client.post("/lessons/2/", {"prediction": "maybe"})
    assert page.status_code == 400
    assert b"prediction: &#x27;maybe&#x27; is not a prediction; allowed" in page.content
    assert b'id="prediction-error"' in page.content
    assert client.post("/lessons/2/", {}).status_code == 400
    assert not Experiment.objects.exists()
    assert session_progress(client) == Progress()


@pytest.mark.django_db
def test_a_learner_over_the_fair_use_limit_is_told_so_and_keeps_no_prediction(settings):
    settings.PLAYGROUND_MAX_ACTIVE_PER_CLIENT = 0
    client = Client()
    page = client.post("/lessons/2/", {"prediction": predictions.DUPLICATES})
    assert page.status_code == 429
    assert b"PLAYGROUND_MAX_ACTIVE_PER_CLIENT" in page.content
    assert session_progress(client).runs == {}


@pytest.mark.django_db
def test_the_index_shows_a_finished_runs_prediction_checked_and_remembers_it():
    client = Client()
    finished = Experiment.objects.create(
        spec=course.step(2).spec.to_json(),
        status=Experiment.DONE,
        result={"valid": True, "audit": {"lost": 0, "duplicated": 7}},
    )
    session = client.session
    progress = Progress()
    progress.predicted(2, finished.share_id, predictions.DUPLICATES)
    session[course.SESSION_KEY] = progress.to_session()
    session.save()

    html = client.get("/lessons/").content.decode()
    step_2 = re.search(r'id="lesson-step-2".*?</li>', html, re.S).group(0)
    assert "some get two emails, nobody misses one" in step_2 and "right" in step_2
    remembered = session_progress(client)
    assert remembered.runs[finished.share_id]["right"] is True
    assert remembered.done(2) and not remembered.done(1)


@pytest.mark.django_db
def test_the_last_step_checks_each_pick_and_keeps_the_score_in_the_session():
    client = Client()
    page = client.post(CHOOSING, {**ALL_RIGHT, "service-payment-service": "kafka-defaults"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="picks-check"' in html and "3 of 4 right" in html
    assert re.search(r'id="pick-payment-service" data-right="no"', html)
    assert re.search(r'id="pick-metrics" data-right="yes"', html)
    assert "Transactions cannot undo an external effect" in html  # the guide's reason
    assert session_progress(client).picks_right == 3
    assert "3 of 4 services right" in client.get("/lessons/").content.decode()


@pytest.mark.django_db
def test_the_last_steps_bad_input_is_a_400_naming_the_field():
    client = Client()
    page = client.post(CHOOSING, {**ALL_RIGHT, "service-metrics": "fast"})
    assert page.status_code == 400
    assert b"service-metrics: &#x27;fast&#x27; is not an experiment" in page.content
    assert client.post(CHOOSING, {"service-billing": "x"}).status_code == 400
    assert session_progress(client).picks_right is None


# -- Against the real cluster ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_step_2_prediction_is_checked_beside_the_verdict_of_its_run(playground):
    learner = Client()
    started = learner.post("/lessons/2/", {"prediction": predictions.DUPLICATES})
    assert started.status_code == 302
    share_id = re.fullmatch(r"/e/([^/]+)/", started.url).group(1)
    assert session_progress(learner).prediction_for(share_id) == (2, predictions.DUPLICATES)

    experiment = wait_until_finished(Experiment.objects.get(share_id=share_id), timeout=180)
    assert experiment.status == Experiment.DONE, experiment.error
    audit = experiment.result["audit"]
    assert audit["duplicated"] > 0 and audit["lost"] == 0  # what step 2 teaches

    html = learner.get(started.url).content.decode()
    check = re.search(r'<section[^>]*id="prediction-check".*?</section>', html, re.S).group(0)
    assert 'data-right="yes"' in check
    assert "some get two emails, nobody misses one" in check
    assert f"{audit['duplicated']} duplicated" in check
    assert 'href="/lessons/3/"' in check  # on to the next step
    assert 'id="prediction-check"' not in Client().get(started.url).content.decode()
    assert session_progress(learner).done(2) is False  # checked when the index is next read
    learner.get("/lessons/")
    assert session_progress(learner).done(2)
