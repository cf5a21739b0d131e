"""The "which guarantee do I need?" guide: its question tree, and the pages that walk it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from playground.engine.spec.presets import PRESETS
from playground.engine.spec.semantics import Semantic
from playground.web.lessons.guide import QUESTIONS, GuideError, Outcome, walk

PATHS = [
    ({"lose": "yes"}, "metrics"),
    ({"lose": "no", "effect": "kafka"}, "payments-aggregation"),
    ({"lose": "no", "effect": "side-effect", "duplicate": "harmful"}, "payment-service"),
    ({"lose": "no", "effect": "side-effect", "duplicate": "harmless"}, "notification-service"),
]


# The tree, as pure logic.


def test_no_answers_asks_whether_a_record_may_be_lost():
    position = walk({})

    assert position.question.key == "lose"
    assert position.answered == ()
    assert position.outcome is None


@pytest.mark.parametrize(("answers", "preset"), PATHS)
def test_each_path_ends_on_its_preset(answers, preset):
    position = walk(answers)

    assert position.question is None
    assert position.outcome.preset == preset
    assert [question.key for question, _ in position.answered] == list(answers)


def test_every_answer_leads_to_a_question_or_a_known_preset():
    for question in QUESTIONS.values():
        for answer in question.answers:
            if isinstance(answer.then, Outcome):
                assert answer.then.preset in PRESETS
            else:
                assert answer.then in QUESTIONS


def test_a_record_that_may_be_lost_leads_to_at_most_once():
    assert PRESETS[walk({"lose": "yes"}).outcome.preset].semantic == Semantic.AT_MOST_ONCE


def test_a_harmless_duplicate_leads_to_at_least_once():
    answers = {"lose": "no", "effect": "side-effect", "duplicate": "harmless"}

    assert PRESETS[walk(answers).outcome.preset].semantic == Semantic.AT_LEAST_ONCE


def test_a_partial_path_asks_the_next_question():
    assert walk({"lose": "no"}).question.key == "effect"
    assert walk({"lose": "no", "effect": "side-effect"}).question.key == "duplicate"


def test_choices_carry_the_answers_so_far():
    choices = dict((answer.value, query) for answer, query in walk({"lose": "no"}).choices)

    assert choices == {
        "side-effect": "?lose=no&effect=side-effect",
        "kafka": "?lose=no&effect=kafka",
    }


def test_an_answer_a_question_does_not_offer_names_the_allowed_ones():
    with pytest.raises(GuideError, match=r"lose: 'maybe' is not an answer; allowed: yes, no"):
        walk({"lose": "maybe"})


def test_an_unknown_question_is_an_error():
    with pytest.raises(GuideError, match=r"colour: there is no such question"):
        walk({"colour": "blue"})


def test_an_answer_to_a_question_off_the_path_is_an_error():
    with pytest.raises(GuideError, match=r"effect: this question does not come up"):
        walk({"lose": "yes", "effect": "kafka"})


def test_an_answer_without_the_answers_before_it_is_an_error():
    with pytest.raises(GuideError, match=r"duplicate: this question does not come up"):
        walk({"duplicate": "harmful"})


# The view: htmx partials, full pages for plain links, 400 for bad answers.


def htmx_get(client, query: str = ""):
    return client.get(reverse("guide") + query, headers={"HX-Request": "true"})


def test_an_htmx_request_gets_only_the_guide_section(client):
    body = htmx_get(client).content.decode()

    assert body.lstrip().startswith('<section id="guide"')
    assert "<html" not in body


def test_a_plain_request_gets_a_whole_page_with_the_guide(client):
    body = client.get(reverse("guide")).content.decode()

    assert "<html" in body
    assert '<section id="guide"' in body
    assert "css/home.css" in body


def test_answer_links_work_with_and_without_htmx(client):
    body = htmx_get(client).content.decode()
    answer = re.search(r'data-answer="no" href="([^"]+)" hx-get="([^"]+)"', body)

    assert answer.group(1) == answer.group(2) == "/guide?lose=no"
    assert 'hx-target="#guide"' in body


def follow(client, answers: dict[str, str]) -> str:
    """Click through the guide from its start, the way a person would, and return the last step."""
    body = htmx_get(client).content.decode()
    for value in answers.values():
        link = re.search(rf'data-answer="{value}" href="([^"]+)"', body).group(1)
        body = client.get(
            link.replace("&amp;", "&"), headers={"HX-Request": "true"}
        ).content.decode()
    return body


@pytest.mark.parametrize(("answers", "preset"), PATHS)
def test_clicking_through_each_path_reaches_its_preset(client, answers, preset):
    body = follow(client, answers)

    assert f'data-guide-outcome="{preset}"' in body
    assert escape(walk(answers).outcome.reason) in body


@pytest.mark.parametrize(("answers", "preset"), PATHS)
def test_the_outcome_offers_run_and_open_in_builder(client, answers, preset):
    body = follow(client, answers)

    assert f'action="{reverse("experiment-new")}"' in body
    assert f'<input type="hidden" name="preset" value="{preset}">' in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert 'class="run-preset"' in body
    assert f'href="{reverse("builder")}?preset={preset}"' in body


def test_the_outcome_page_works_without_htmx(client):
    response = client.get(reverse("guide") + "?lose=no&effect=kafka")

    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert 'data-guide-outcome="payments-aggregation"' in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?lose=maybe", "lose: &#x27;maybe&#x27; is not an answer; allowed: yes, no"),
        ("?colour=blue", "colour: there is no such question"),
        ("?lose=yes&effect=kafka", "effect: this question does not come up"),
    ],
)
def test_bad_answers_are_a_400_with_the_message_in_the_guide(client, query, message):
    response = client.get(reverse("guide") + query)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert '<section id="guide"' in response.content.decode()


def test_bad_answers_over_htmx_are_a_400_partial(client):
    response = htmx_get(client, "?lose=maybe")

    assert response.status_code == 400
    assert response.content.decode().lstrip().startswith('<section id="guide"')
