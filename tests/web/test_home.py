"""The home page shows the cluster the playground runs against, whatever state it is in."""

from __future__ import annotations

import pytest

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


def test_external_cluster_is_shown_with_faults_unavailable(client, settings, lab):
    settings.KAFKA_BOOTSTRAP_SERVERS = lab.direct_bootstrap_servers()

    page = client.get("/").content.decode()

    assert "external" in page
    assert "Broker faults are unavailable" in page
    assert page.count('class="badge state-up"') == 3
