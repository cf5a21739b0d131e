"""The builder's client configuration is the one the workers run: the same client ids, group and
transactional ids, with placeholders only where the run fills a value in."""

from __future__ import annotations

import html
import re

import pytest

from playground.engine.spec.model import Spec
from playground.web.spec_links import encode_spec

pytestmark = pytest.mark.django_db


def builder_page(client, **document) -> str:
    link = encode_spec(Spec.from_json(document).to_json())
    response = client.get(f"/builder/?spec={link}")
    assert response.status_code == 200
    return response.content.decode()


def config(page: str, slug: str) -> str:
    found = re.search(rf'<pre id="{slug}">(.*?)</pre>', page, re.S)
    assert found, f"no configuration {slug}"
    return html.unescape(found[1])


TRANSACTIONAL = {"producer": {"transactional": True, "acks": "all", "enable_idempotence": True}}


def test_a_transactional_producer_shows_the_transactional_id_the_run_uses(client):
    page = builder_page(client, **TRANSACTIONAL)
    lines = config(page, "source-producer-config").splitlines()
    assert "transactional.id=exp-<experiment>-txn-producer" in lines
    assert "transactional.id=txn-producer" not in lines


def test_the_consumer_shows_its_group_and_static_membership(client):
    lines = config(builder_page(client), "consumer-config").splitlines()
    assert "group.id=exp-<experiment>-group" in lines
    assert "group.instance.id=exp-<experiment>-consumer" in lines


def test_every_client_shows_its_client_id_and_the_cluster_placeholder(client):
    page = builder_page(client, consumer={"commit": "transactional"})
    for role in ("source-producer", "consumer", "output-producer"):
        lines = config(page, f"{role}-config").splitlines()
        assert f"client.id=exp-<experiment>-{role}-0" in lines
        assert "bootstrap.servers=<cluster>" in lines


def test_the_consumers_own_producer_is_shown_only_when_the_consumer_produces(client):
    assert 'id="output-producer-config"' not in builder_page(client)
    page = builder_page(client, consumer={"commit": "transactional"})
    own_producer = config(page, "output-producer-config").splitlines()
    assert "transactional.id=exp-<experiment>-txn-consumer" in own_producer


def test_each_client_is_named_in_plain_words(client):
    page = builder_page(client, consumer={"commit": "transactional"})
    for title in (
        "<h4>Producer</h4>",
        "<h4>Consumer</h4>",
        "<h4>The consumer&#x27;s own producer</h4>",
    ):
        assert title in page


def test_the_panel_says_which_values_the_run_fills_in(client):
    page = builder_page(client)
    said = re.search(r'<p class="detail" id="config-placeholders">(.*?)</p>', page, re.S)
    assert said
    words = html.unescape(said[1])
    assert "<experiment></code> becomes the experiment's id" in words
    assert "<cluster></code> the cluster's addresses" in words
    assert "counting up each time that worker is restarted" in words


def test_each_configuration_keeps_its_copy_button(client):
    page = builder_page(client)
    for slug in ("source-producer-config", "consumer-config"):
        assert f'<button type="button" class="copy" data-copy="{slug}">Copy</button>' in page
