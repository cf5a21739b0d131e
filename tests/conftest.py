"""Fixtures shared by the whole suite: one real managed cluster for the session, and the marks of
what a test needs beyond Python (kafka, browser, postgres, redis) that `make check` leaves out.

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
# `make check` runs its tests on a twentieth of their random cases; `make test` on all of them.
QUICK = os.environ.get("PLAYGROUND_TEST_QUICK") == "1"

# A test that asks for one of these fixtures needs what it starts. A test that starts a cluster
# some other way (`manage.py serve` or `cluster up` as a child, an AppServer) is marked where it is.
NEEDS_OF_FIXTURES = {"lab": "kafka", "postgres_url": "postgres", "redis_url": "redis"}
BROWSER_TESTS = Path(__file__).parent / "browser"


def pytest_configure() -> None:
    """DEBUG is off, as in production, but the test client renders pages without `collectstatic`
    first: plain static names, as in development (the app servers of the browser tests do collect
    theirs)."""
    from django.conf import settings

    settings.STORAGES = settings.STORAGES | {
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with what it needs, from the fixtures it uses and where it lives."""
    for item in items:
        for fixture, need in NEEDS_OF_FIXTURES.items():
            if fixture in item.fixturenames:
                item.add_marker(need)
        if BROWSER_TESTS in item.path.parents:
            item.add_marker("browser")


def random_cases(full: int) -> int:
    """How many random cases a test draws: `full`, or a twentieth of them in the quick lane."""
    return max(1, full // 20) if QUICK else full


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
