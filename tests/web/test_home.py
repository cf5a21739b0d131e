"""The home page: the semantics, the presets to run, the guide, and the cluster in any state."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils.html import escape

from playground.engine.spec.presets import PRESETS
from playground.web.runs import runner
from tests.conftest import TEST_LAB_DIR


@pytest.fixture
def managed(settings, lab):
    settings.LAB_DIR = TEST_LAB_DIR
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    return lab


def test_home_shows_the_managed_cluster_and_its_nodes(client, managed):
    page = client.get("/").content.decode()

    assert "phase-ready" in page
    assert managed.bootstrap_servers() in page
    for node_id in (1, 2, 3, 100):
        assert f"/lab/nodes/{node_id}/log" in page


def test_cluster_panel_is_a_partial_for_polling(client, managed):
    panel = client.get("/lab/cluster").content.decode()

    assert panel.lstrip().startswith('<section id="cluster"')
    assert "<html" not in panel


def test_node_log_shows_the_end_of_the_broker_log(client, managed):
    log_path = next(n["log"] for n in managed.status()["nodes"] if n["id"] == 1)
    response = client.get("/lab/nodes/1/log")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    shown = response.content.decode().rstrip("\n").split("\n")
    with open(log_path, errors="replace") as log:
        written = log.read().split("\n")
    assert 0 < len(shown) <= 400
    assert shown[0] in written
    assert shown[-1] in written


def test_log_of_an_unknown_node_is_404(client, managed):
    assert client.get("/lab/nodes/42/log").status_code == 404


def test_without_a_lab_the_page_says_how_to_start_one(client, settings, tmp_path):
    settings.LAB_DIR = tmp_path
    settings.KAFKA_BOOTSTRAP_SERVERS = ""

    page = client.get("/").content.decode()

    assert "phase-absent" in page
    assert "make run" in page


@pytest.mark.django_db
def test_external_cluster_is_shown_as_a_runner_reported_it_with_faults_unavailable(
    client, settings, lab
):
    settings.KAFKA_BOOTSTRAP_SERVERS = lab.direct_bootstrap_servers()
    runner.report_cluster()  # what a runner does every few seconds; the page asks Kafka nothing

    page = client.get("/").content.decode()

    assert "external" in page
    assert "Broker faults are unavailable" in page
    assert page.count('class="badge state-up"') == 3


@pytest.mark.django_db
def test_an_external_cluster_no_runner_reported_says_that_no_runner_is_looking(client, settings):
    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9"

    page = client.get("/lab/cluster").content.decode()

    assert "external" in page and "no runner has looked at the cluster" in page


# The page's teaching content needs no cluster: these tests run with none.


@pytest.fixture
def no_lab(settings, tmp_path):
    settings.LAB_DIR = tmp_path
    settings.KAFKA_BOOTSTRAP_SERVERS = ""


def preset_cards(page: str) -> dict[str, str]:
    """Each preset card's HTML, by the preset name in its data-preset attribute."""
    cards = re.findall(
        r'<article class="preset-card" data-preset="([^"]+)">(.*?)</article>', page, re.S
    )
    return dict(cards)


def test_home_lists_every_preset_as_a_card(client, no_lab):
    cards = preset_cards(client.get("/").content.decode())

    assert list(cards) == list(PRESETS)
    for name, card in cards.items():
        assert escape(PRESETS[name].title) in card
        assert PRESETS[name].service in card
        assert f'class="badge semantic-{PRESETS[name].semantic}"' in card


def test_each_preset_card_runs_its_preset_with_a_post_to_experiment_new(client, no_lab):
    cards = preset_cards(client.get("/").content.decode())

    for name, card in cards.items():
        assert f'<form method="post" action="{reverse("experiment-new")}">' in card
        assert f'<input type="hidden" name="preset" value="{name}">' in card
        assert 'name="csrfmiddlewaretoken"' in card
        assert '<button type="submit" class="run-preset">Run</button>' in card


def test_each_preset_card_opens_its_preset_in_the_builder(client, no_lab):
    cards = preset_cards(client.get("/").content.decode())

    for name, card in cards.items():
        assert f'href="{reverse("builder")}?preset={name}"' in card


def test_home_explains_the_three_semantics_and_where_they_come_from(client, no_lab):
    page = client.get("/").content.decode()
    semantics = page[page.index('id="semantics"') : page.index('id="presets"')]

    for semantic in ("at-most-once", "at-least-once", "exactly-once"):
        assert f'data-semantic="{semantic}"' in semantics
    for source in ("acks", "idempotent", "commit", "transactions", "idempotent consumer"):
        assert source in semantics


def test_home_links_to_the_guide_and_shows_its_first_question(client, no_lab):
    page = client.get("/").content.decode()

    assert 'href="#guide"' in page
    assert '<section id="guide"' in page
    assert 'data-question="lose"' in page


def test_home_keeps_the_cluster_panel_below_the_guide(client, no_lab):
    page = client.get("/").content.decode()

    assert page.index('<section id="guide"') < page.index('<section id="cluster"')


def test_home_links_its_stylesheet(client, no_lab):
    assert "css/home.css" in client.get("/").content.decode()
