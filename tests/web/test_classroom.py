"""A classroom on one server: who runs beside whom, fair limits per client, cancelling, the time
limit, and runners of their own. The rule's tests need no cluster; the runs are real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import Client

from playground.engine.spec.model import Spec
from playground.engine.spec.presets import preset
from playground.lab.launcher import PROJECT_ROOT
from playground.web.models import Action, Comparison, Experiment
from playground.web.runs import runner, scheduling
from tests.conftest import TEST_LAB_DIR, TEST_PORT_BASE
from tests.web.conftest import WEB_VAR_DIR, wait_until, wait_until_finished
from tools.recount import invariant_violations


@dataclass
class Run:
    pk: int
    exclusive: bool = False
    comparison_id: int | None = None
    comparison_role: str = ""
    comparison_round: int = 0


# -- the rule -------------------------------------------------------------------------------------
def test_own_client_faults_run_side_by_side_up_to_the_limit():
    assert scheduling.may_start(Run(3), [Run(1), Run(2)], max_parallel=3)
    assert not scheduling.may_start(Run(4), [Run(1), Run(2), Run(3)], max_parallel=3)


def test_an_experiment_that_needs_the_cluster_alone_waits_and_nothing_starts_beside_it():
    assert not scheduling.may_start(Run(2, exclusive=True), [Run(1)], max_parallel=4)
    assert scheduling.may_start(Run(2, exclusive=True), [], max_parallel=4)
    assert not scheduling.may_start(Run(2), [Run(1, exclusive=True)], max_parallel=4)


def test_broker_faults_and_cost_runs_need_the_cluster_alone_and_client_faults_do_not():
    kills = preset("notification-service").spec.to_json()
    leader = kills | {"faults": [{"kind": "kill-leader", "at": {"records": 50}}]}
    acks = kills | {"faults": [{"kind": "drop-acks", "at": {"records": 50}, "count": 2}]}
    kills, leader, acks = (Spec.from_json(document) for document in (kills, leader, acks))
    assert not scheduling.needs_cluster_alone(kills)
    assert scheduling.needs_cluster_alone(kills, measures_cost=True)
    assert scheduling.needs_cluster_alone(leader)
    assert not scheduling.needs_cluster_alone(acks)


def test_a_queued_experiment_says_why_it_waits_and_how_many_are_ahead():
    places = scheduling.places([Run(1, exclusive=True)], [Run(2), Run(3), Run(4)], max_parallel=2)
    assert [places[pk].ahead for pk in (2, 3, 4)] == [0, 1, 2]
    assert "waits for a broker-fault experiment" in places[4].waits_for
    assert places[4].summary.endswith("(2 ahead)")
    full = scheduling.places([Run(1), Run(2)], [Run(3)], max_parallel=2)
    assert "2 of 2 experiments" in full[3].waits_for
    behind = scheduling.places(
        [Run(1)],
        [Run(2, exclusive=True, comparison_id=7, comparison_role="cost"), Run(3)],
        max_parallel=4,
    )
    assert "comparison" in behind[2].waits_for and "runs alone" in behind[2].waits_for
    assert "queued ahead" in behind[3].waits_for
    assert scheduling.places([], [Run(5)], max_parallel=2)[5].waits_for == ""


# -- fair use -------------------------------------------------------------------------------------
@pytest.fixture
def no_runner(monkeypatch):
    """Experiments are queued but never run (the rules of queueing are under test)."""
    monkeypatch.setattr(runner, "wake", lambda: None)


@pytest.mark.django_db
def test_a_browser_may_have_three_experiments_active_and_the_fourth_is_refused(client, no_runner):
    for _ in range(3):
        assert client.post("/experiments/new", {"preset": "metrics"}).status_code == 302
    refused = client.post("/experiments/new", {"preset": "metrics"})
    assert refused.status_code == 429
    assert b"you already have 3 experiments queued or running" in refused.content
    assert Experiment.objects.count() == 3
    other = Client()  # another person is not held back by this one
    assert other.post("/experiments/new", {"preset": "metrics"}).status_code == 302


@pytest.mark.django_db
def test_the_api_counts_by_address_and_answers_429_with_the_reason(client, no_runner, settings):
    settings.PLAYGROUND_MAX_ACTIVE_PER_CLIENT = 2
    body = json.dumps(preset("metrics").spec.to_json())
    for _ in range(2):
        created = client.post("/api/experiments", body, content_type="application/json")
        assert created.status_code == 201
    refused = client.post("/api/experiments", body, content_type="application/json")
    assert refused.status_code == 429
    assert "PLAYGROUND_MAX_ACTIVE_PER_CLIENT=2" in refused.json()["errors"][0]["message"]
    elsewhere = client.post(
        "/api/experiments", body, content_type="application/json", REMOTE_ADDR="10.0.0.9"
    )
    assert elsewhere.status_code == 201


@pytest.mark.django_db
def test_a_comparison_counts_once(client, no_runner, settings):
    settings.PLAYGROUND_MAX_ACTIVE_PER_CLIENT = 2
    form = {"spec1": "metrics", "spec2": "notification-service", "spec3": "payment-service"}
    assert client.post("/compare/", form | {"faults_from": "1"}).status_code == 302
    assert client.post("/experiments/new", {"preset": "metrics"}).status_code == 302
    refused = client.post("/compare/", form | {"faults_from": "1"})
    assert refused.status_code == 429 and b"you already have 2 experiments" in refused.content
    assert Comparison.objects.count() == 1
    runs = Experiment.objects.exclude(comparison=None)
    # Cost runs have the cluster alone; guarantee runs (client faults only) share it.
    assert all(e.exclusive == (e.comparison_role == "cost") for e in runs)
    assert {e.comparison_role for e in runs} == {"cost", "guarantee"}


@pytest.mark.django_db
def test_a_spec_longer_than_the_time_limit_is_refused_naming_the_rate(client, no_runner):
    spec = preset("metrics").spec.to_json()
    spec["workload"] |= {"records": 1_000_000, "rate": 1}
    refused = client.post("/api/experiments", json.dumps(spec), content_type="application/json")
    assert refused.status_code == 400
    [error] = refused.json()["errors"]
    assert error["path"] == "workload.rate" and "11.6 days" in error["message"]
    pasted = client.post("/builder/", {"spec_json": json.dumps(spec)})
    assert pasted.status_code == 400 and b"PLAYGROUND_MAX_RUN_SECONDS" in pasted.content
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_the_owner_cancels_a_queued_experiment_and_a_viewer_cannot(client, no_runner):
    client.post("/experiments/new", {"preset": "metrics"})
    queued = Experiment.objects.get()
    page = client.get(queued.get_absolute_url()).content.decode()
    assert 'data-action="cancel"' in page
    viewer = Client()
    assert b'data-action="cancel"' not in viewer.get(queued.get_absolute_url()).content
    assert viewer.post(f"/e/{queued.share_id}/cancel").status_code == 403
    cancelled = client.post(f"/e/{queued.share_id}/cancel", follow=True)
    assert not Experiment.objects.exists()
    assert "removed from the queue" in cancelled.content.decode()
    assert client.get(queued.get_absolute_url()).status_code == 404


@pytest.mark.django_db
def test_the_api_cancels_with_the_control_token_only(client, no_runner):
    body = json.dumps(preset("metrics").spec.to_json())
    created = client.post("/api/experiments", body, content_type="application/json").json()
    url, token = created["api_url"], created["control_url"].split("token=")[1]
    refused = client.delete(url, headers={"X-Control-Token": "é" + token[1:]})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["path"] == "X-Control-Token"
    cancelled = client.delete(url, headers={"X-Control-Token": token})
    assert cancelled.status_code == 200 and cancelled.json()["removed"] is True
    assert client.get(url).status_code == 404
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_cancelling_a_running_experiment_stops_it(client, no_runner):
    client.post("/experiments/new", {"preset": "metrics"})
    running = Experiment.objects.get()
    Experiment.objects.filter(pk=running.pk).update(status=Experiment.RUNNING)
    assert client.post(f"/e/{running.share_id}/cancel").status_code == 202
    assert Action.objects.get().action == "stop"


@pytest.mark.django_db
def test_a_broker_fault_button_is_refused_while_others_run_beside_it(client, no_runner):
    client.post("/experiments/new", {"preset": "metrics"})
    mine = Experiment.objects.get()
    Experiment.objects.filter(pk=mine.pk).update(status=Experiment.RUNNING)
    other = Experiment.objects.create(spec={}, status=Experiment.RUNNING)
    refused = client.post(f"/e/{mine.share_id}/act", {"action": "kill-leader"})
    assert refused.status_code == 400 and b"1 other experiment running beside" in refused.content
    other.delete()
    assert client.post(f"/e/{mine.share_id}/act", {"action": "kill-leader"}).status_code == 202
    mine.refresh_from_db()
    assert mine.exclusive  # nothing starts beside it from now on


# -- real runs ------------------------------------------------------------------------------------
def _overlap(a: Experiment, b: Experiment) -> bool:
    return a.started_at < b.finished_at and b.started_at < a.finished_at


def _quick(name: str, records: int = 300, rate: int = 100) -> dict:
    spec = preset(name).spec.to_json()
    spec["workload"] |= {"records": records, "rate": rate}
    return spec


@pytest.mark.django_db(transaction=True)
def test_client_fault_runs_share_the_cluster_and_a_broker_fault_run_has_it_alone(
    playground, settings
):
    settings.PLAYGROUND_MAX_PARALLEL = 3
    side_by_side = [
        Experiment.objects.create(spec=_quick(name))
        for name in ("notification-service", "payment-service", "metrics")
    ]
    leader = _quick("notification-service") | {
        "faults": [{"kind": "kill-leader", "at": {"records": 100}}]
    }
    alone = Experiment.objects.create(spec=leader, exclusive=True)
    after = Experiment.objects.create(spec=_quick("payments-aggregation"))
    runner.wake()
    for experiment in [*side_by_side, alone, after]:
        wait_until_finished(experiment, timeout=240)
        assert experiment.status == Experiment.DONE, experiment.error
        assert experiment.result["valid"], experiment.result["problems"]
        assert invariant_violations(experiment.result["audit"]) == []
    assert _overlap(side_by_side[0], side_by_side[1]) or _overlap(side_by_side[1], side_by_side[2])
    assert not any(_overlap(alone, other) for other in [*side_by_side, after])


@pytest.mark.django_db(transaction=True)
def test_the_time_limit_stops_a_run_and_the_audit_covers_what_ran(playground, settings, client):
    settings.PLAYGROUND_MAX_RUN_SECONDS = 4
    long = Experiment.objects.create(spec=_quick("notification-service", records=3000, rate=100))
    runner.wake()
    wait_until_finished(long, timeout=120)
    assert long.status == Experiment.DONE, long.error
    result = long.result
    assert result["stopped"] == "time limit" and result["valid"], result["problems"]
    assert 0 < result["audit"]["attempted"] < 3000 and result["audit"]["never_sent"] > 0
    assert "time limit (4 s)" in result["never_sent_reason"]
    assert result["duration_seconds"] < 4 + 30
    page = client.get(long.get_absolute_url()).content.decode()
    assert "stopped at the time limit" in page


@pytest.mark.django_db(transaction=True)
def test_a_runner_of_its_own_and_this_process_claim_work_without_running_anything_twice(
    playground, settings
):
    settings.PLAYGROUND_MAX_PARALLEL = 2
    queued = [
        Experiment.objects.create(spec=_quick(name, records=200))
        for name in ("metrics", "notification-service", "payment-service", "metrics")
    ]
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "PLAYGROUND_VAR_DIR": str(WEB_VAR_DIR),
        "KAFKA_LAB_DIR": str(TEST_LAB_DIR),
        "KAFKA_LAB_PORT_BASE": str(TEST_PORT_BASE),
        "PLAYGROUND_MAX_PARALLEL": "2",
        "DJANGO_SECRET_KEY": "runner-test",
    }
    other = subprocess.Popen(
        [sys.executable, "manage.py", "runner"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The other runner claims first (it may take both places), then this one joins in.
        wait_until(queued[0], lambda e: e.status != Experiment.QUEUED, "a claim", timeout=60)
        runner.wake()
        for experiment in queued:
            wait_until(experiment, lambda e: e.finished, "its end", timeout=240)
    finally:
        other.terminate()
        output, _ = other.communicate(timeout=150)
    assert other.returncode == 0, output
    assert "runner stopped" in output
    assert queued[0].runner != runner.RUNNER_NAME  # the other process ran the first one
    for experiment in queued:
        assert experiment.status == Experiment.DONE, experiment.error
        assert experiment.result["valid"], experiment.result["problems"]
    for a in queued:  # never more than two at once, across both processes
        at_its_start = [b for b in queued if b.started_at <= a.started_at < b.finished_at]
        assert len(at_its_start) <= 2
