"""Web fixtures: the runner pointed at the session cluster, and ways to wait for experiments."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from playground.lab.launcher import PROJECT_ROOT
from playground.web.models import Experiment
from playground.web.runs import runner, runner_link
from tests.conftest import TEST_LAB_DIR

WEB_VAR_DIR = Path(os.environ.get("PLAYGROUND_TEST_WEB_VAR_DIR", PROJECT_ROOT / "var" / "test-web"))


@pytest.fixture
def playground(lab, settings):
    """Experiments started by the pages run on the session cluster, their files in var/test-web.
    The test waits for every experiment it started before the database is emptied."""
    settings.LAB_DIR = TEST_LAB_DIR
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    settings.VAR_DIR = WEB_VAR_DIR
    WEB_VAR_DIR.mkdir(parents=True, exist_ok=True)
    runner_link.wake_with(lambda: runner.wake())  # this process runs what its pages queue
    yield lab
    runner_link.wake_with(None)
    for experiment in Experiment.objects.exclude(status__in=[Experiment.DONE, Experiment.FAILED]):
        wait_until_finished(experiment, timeout=180)
    runner.stop()  # no runner polling a database the next test may not allow


def wait_until(experiment: Experiment, done, what: str, timeout: float) -> Experiment:
    """Re-read `experiment` until `done(experiment)`; fail saying it never got to `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        experiment.refresh_from_db()
        if done(experiment):
            return experiment
        time.sleep(0.05)
    raise AssertionError(f"experiment {experiment} never got to {what} within {timeout} s")


def wait_until_finished(experiment: Experiment, timeout: float = 120) -> Experiment:
    runner.wake()
    return wait_until(experiment, lambda e: e.finished, "its end", timeout)


def wait_for_status(experiment: Experiment, status: str, timeout: float = 60) -> Experiment:
    return wait_until(experiment, lambda e: e.status == status, status, timeout)


def wait_for_delivered(experiment: Experiment, count: int, timeout: float = 60) -> Experiment:
    """Wait until the stored snapshot shows `count` orders delivered (the workers are running)."""
    return wait_until(
        experiment,
        lambda e: (e.snapshot or {}).get("delivered", 0) >= count,
        f"{count} orders delivered",
        timeout,
    )
