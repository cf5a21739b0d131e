"""Nothing piles up: an audited experiment's topics leave the cluster, old raw records leave the
disk, and what the verdict page needs (the result, the per-order stories) stays."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from playground.engine.naming import ExperimentNames
from playground.engine.run import experiment_topics
from playground.engine.spec.model import Spec
from playground.lab.admin import create_topic
from playground.web.models import Experiment
from playground.web.runs import folders, retention
from tests.engine.test_experiment_topics import cluster_names, owned_by
from tests.web.conftest import wait_until_finished

KEPT = {"stories", folders.PRUNED_MARKER}


@pytest.mark.django_db
def test_prune_deletes_the_topics_finished_experiments_left_but_not_a_running_ones(
    lab, settings, tmp_path
):
    settings.VAR_DIR, settings.KAFKA_BOOTSTRAP_SERVERS = tmp_path, ""
    settings.LAB_DIR = lab.lab_dir
    servers = lab.direct_bootstrap_servers()
    finished, running, unknown = (uuid.uuid4().hex[:12] for _ in range(3))
    Experiment.objects.create(spec={}, run_id=finished, status=Experiment.DONE)
    Experiment.objects.create(spec={}, run_id=running, status=Experiment.RUNNING)
    for run_id in (finished, running, unknown):
        create_topic(servers, ExperimentNames(run_id, Path()).input_topic)
    try:
        report = retention.prune()
        assert [p for p in report.problems if finished in p or unknown in p] == []
        left = cluster_names(servers)
        assert owned_by(finished, left) == owned_by(unknown, left) == set()
        assert owned_by(running, left) == {f"exp-{running}-orders"}
        assert {f"exp-{finished}-orders", f"exp-{unknown}-orders"} <= set(report.topics)
    finally:
        experiment_topics.delete_experiment(servers, running)


# -- the folders --------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_pruned_by_age_the_verdict_page_keeps_its_audit_table_and_says_so(
    playground, settings, tmp_path
):
    settings.VAR_DIR = tmp_path  # this test's folders only
    document = Spec.from_json(
        {"name": "retention test", "workload": {"records": 60, "rate": 0}}
    ).to_json()
    response = Client().post("/api/experiments", document, content_type="application/json")
    assert response.status_code == 201, response.content
    experiment = wait_until_finished(Experiment.objects.get(share_id=response.json()["id"]))
    assert experiment.status == Experiment.DONE, experiment.error
    folder = tmp_path / "experiments" / experiment.run_id
    raw = {path.name for path in folder.iterdir()} - KEPT
    assert {"producer-log.jsonl", "ledger.jsonl"} <= raw
    assert folders.raw_records_pruned(experiment.run_id) is None
    assert b"were pruned on" not in Client().get(experiment.get_absolute_url()).content

    later = experiment.finished_at + timedelta(days=8)
    report = retention.prune(now=later, days=7, cap_mb=10_000)

    assert [(f.run_id, f.reason) for f in report.folders] == [(experiment.run_id, retention.AGE)]
    assert set(report.folders[0].removed) == raw and report.freed_bytes > 0
    assert {path.name for path in folder.iterdir()} == KEPT
    assert folders.raw_records_pruned(experiment.run_id) == later
    page = Client().get(experiment.get_absolute_url())
    assert page.status_code == 200
    assert 'id="raw-records-pruned"' in page.content.decode()
    assert later.strftime("%B %Y") in page.content.decode()
    table = Client().get(f"{experiment.get_absolute_url()}orders?filter=")
    assert table.status_code == 200 and table.content.count(b"<tr class=") == 50


def fake_folder(root: Path, run_id: str, raw_bytes: int) -> Path:
    """An experiment folder with a raw record of `raw_bytes` and a small story book."""
    folder = root / "experiments" / run_id
    folder.mkdir(parents=True)
    (folder / "producer-log.jsonl").write_bytes(b"x" * raw_bytes)
    (folder / "consumer.log").write_text("a worker's log\n")
    (folder / "stories").mkdir()
    (folder / "stories" / "summary.parquet").write_bytes(b"a story book")
    return folder


def finished_experiment(run_id: str, days_ago: float) -> Experiment:
    return Experiment.objects.create(
        spec={},
        run_id=run_id,
        status=Experiment.DONE,
        finished_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def no_cluster(settings, tmp_path):
    """Folders in tmp_path, and no cluster to sweep: these tests are about files."""
    settings.VAR_DIR, settings.KAFKA_BOOTSTRAP_SERVERS = tmp_path, ""
    settings.LAB_DIR = tmp_path / "no-lab"
    return tmp_path


MB = retention.MEGABYTE


@pytest.mark.django_db
def test_over_the_cap_the_oldest_raw_records_go_first_and_the_stories_stay(no_cluster):
    for run_id, days_ago in (("oldest", 3), ("middle", 2), ("newest", 1)):
        finished_experiment(run_id, days_ago)
        fake_folder(no_cluster, run_id, raw_bytes=MB)
    report = retention.prune(days=30, cap_mb=1.5)
    assert [(f.run_id, f.reason) for f in report.folders] == [
        ("oldest", retention.CAP),
        ("middle", retention.CAP),
    ]
    assert report.after_bytes <= 1.5 * MB < report.before_bytes
    root = no_cluster / "experiments"
    assert {p.name for p in (root / "oldest").iterdir()} == KEPT
    assert {p.name for p in (root / "middle").iterdir()} == KEPT
    assert (root / "newest" / "producer-log.jsonl").exists()


@pytest.mark.django_db
def test_queued_and_running_experiments_keep_their_folders_whatever_their_age(no_cluster):
    long_ago = timezone.now() - timedelta(days=100)
    Experiment.objects.create(spec={}, run_id="waiting", status=Experiment.QUEUED)
    Experiment.objects.create(
        spec={}, run_id="going", status=Experiment.RUNNING, started_at=long_ago
    )
    for run_id in ("waiting", "going"):
        fake_folder(no_cluster, run_id, raw_bytes=1000)
    report = retention.prune(now=timezone.now() + timedelta(days=365), days=0, cap_mb=0)
    assert report.folders == []
    for run_id in ("waiting", "going"):
        assert (no_cluster / "experiments" / run_id / "producer-log.jsonl").exists()


@pytest.mark.django_db
def test_a_folder_no_experiment_owns_waits_until_idle_then_goes_whole(no_cluster):
    folder = fake_folder(no_cluster, "cli", raw_bytes=1000)
    assert retention.prune(days=0).folders == []  # it may still be running
    report = retention.prune(now=timezone.now() + retention.UNKNOWN_IDLE * 2, days=0)
    assert [(f.run_id, f.whole) for f in report.folders] == [("cli", True)]
    assert not folder.exists()


@pytest.mark.django_db
def test_the_command_in_a_dry_run_removes_nothing_and_says_what_it_would(no_cluster):
    finished_experiment("old", days_ago=10)
    folder = fake_folder(no_cluster, "old", raw_bytes=5000)
    before = sorted(p.name for p in folder.iterdir())
    out = io.StringIO()
    call_command("prune", "--dry-run", "--days", "7", stdout=out)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert "would remove from old (older than 7 days)" in out.getvalue()
    assert "would free" in out.getvalue()


@pytest.mark.django_db
def test_the_command_prunes_and_reports_the_space_freed(no_cluster):
    finished_experiment("old", days_ago=10)
    folder = fake_folder(no_cluster, "old", raw_bytes=MB)
    out = io.StringIO()
    call_command("prune", "--days", "7", "--cap-mb", "100", stdout=out)
    assert {p.name for p in folder.iterdir()} == KEPT
    assert "removed from old" in out.getvalue() and "freed 1.0 MB" in out.getvalue()


def test_the_command_refuses_negative_days_naming_the_option():
    with pytest.raises(CommandError, match="--days"):
        call_command("prune", "--days", "-1")
