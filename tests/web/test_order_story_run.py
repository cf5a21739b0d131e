"""An order's story after a real run on the cluster: a consumer killed after processing a batch and
before committing it redelivers that batch, and the story of a redelivered order says so."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from playground.engine.spec.model import Spec
from playground.web.models import Experiment
from tests.web.conftest import wait_until_finished

KILLED_BEFORE_COMMIT = {
    "name": "order story",
    "workload": {"records": 120, "rate": 0},
    "producer": {"acks": "all", "enable_idempotence": True},
    "consumer": {"commit": "after-processing", "batch_size": 10},
    "faults": [
        {"kind": "kill-consumer", "point": "after-processing-before-commit", "at": {"records": 40}}
    ],
    "restarts": {"consumer": {"delay_ms": 300}},
}


def consumer_sessions(svg: str) -> list[str]:
    """The subtitles of the picture's consumer lanes ("session 0", ...)."""
    return re.findall(
        r'<g class="story-lane lane-consumer">.*?class="story-lane-subtitle"[^>]*>([^<]+)<', svg
    )


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_order_names_both_consumer_sessions_and_consumer_commit(playground):
    client = Client()
    document = Spec.from_json(KILLED_BEFORE_COMMIT).to_json()
    created = client.post("/api/experiments", document, content_type="application/json")
    assert created.status_code == 201, created.content
    experiment = wait_until_finished(Experiment.objects.get(share_id=created.json()["id"]))
    assert experiment.status == Experiment.DONE, experiment.error
    assert experiment.result["audit"]["duplicated_by_consumer"] > 0

    table = client.get(f"{experiment.get_absolute_url()}orders?filter=duplicated")
    link = re.search(r'href="(/e/[^"]+/orders/order-\d+)"', table.content.decode()).group(1)
    page = client.get(link)
    assert page.status_code == 200
    html = page.content.decode()
    said = re.search(r'id="story-sentence">([^<]+)<', html).group(1)
    assert said.startswith("consumer.commit = after-processing")
    assert "the restarted consumer (session 1)" in said
    assert consumer_sessions(html) == ["session 0", "session 1"]
    assert html.count('class="story-step step-counted"') == 2  # both processings counted
