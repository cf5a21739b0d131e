"""Fixtures shared by the whole suite: one real managed cluster for the session.

The test lab lives in var/lab-test on its own port base, so a running app (var/lab, base 19000)
and the tests never touch each other's brokers.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from playground.lab.control import LabClient
from playground.lab.launcher import PROJECT_ROOT, launch

TEST_LAB_DIR = Path(os.environ.get("PLAYGROUND_TEST_LAB_DIR", PROJECT_ROOT / "var" / "lab-test"))
TEST_PORT_BASE = int(os.environ.get("PLAYGROUND_TEST_PORT_BASE", "29000"))


def pytest_configure() -> None:
    """DEBUG is off, as in production, but the test client renders pages without `collectstatic`
    first: plain static names, as in development (the app servers of the browser tests do collect
    theirs)."""
    from django.conf import settings

    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }


@pytest.fixture(scope="session")
def lab() -> LabClient:
    """A managed cluster that lives as long as the test session (and dies with it)."""
    process = launch(TEST_LAB_DIR, TEST_PORT_BASE)
    try:
        process.client.wait_ready(timeout=180)
        yield process.client
    finally:
        process.stop()


@pytest.fixture
def healthy_lab(lab: LabClient) -> LabClient:
    """The session cluster, whole again after the test: every node up, no fault armed, all
    partitions fully replicated. Tests that break the cluster use this one."""
    yield lab
    lab.clear_faults()
    lab.restore_nodes(timeout=90)


@pytest.fixture
def topic_name() -> str:
    """A topic name no other test uses."""
    return f"test-{uuid.uuid4().hex[:10]}"
