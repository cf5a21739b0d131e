"""Retention: a finished experiment leaves nothing in the cluster, and its raw records go in time.

A shared server must not fill up, neither the cluster nor the disk:
- once an experiment's audit is stored, its topics and its consumer group leave the cluster (the
  audit has read everything it needs from them): the runner asks the engine for that
  (`experiment_topics.delete_apart`).
- `prune`: an experiment folder past the retention period, or (oldest first) beyond the size cap of
  the experiments folder, loses its raw records: the producer log, the sink, the timeline, the
  worker logs, whatever else the run wrote there. What the pages read stays: the result (in the
  database) and the per-order stories (the stories folder). A marker file says when, so the
  verdict can say so (`folders.raw_records_pruned`). The same pass deletes topics and groups that
  finished experiments left in the cluster (a deletion that failed, or a run whose runner died),
  listed and deleted by the engine (`experiment_topics`) in a child process of its own.

Queued and running experiments are never touched. A folder or topic that no experiment in the
database owns (a `manage.py experiment` run) is left alone until its folder has not changed for
UNKNOWN_IDLE, since such a run may still be going.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from playground.engine.naming import ExperimentNames
from playground.engine.run import experiment_topics
from playground.engine.run.experiment_topics import DELETE_TIMEOUT_SECONDS
from playground.lab.control import LabClient, LabError, Phase
from playground.web.models import Experiment
from playground.web.runs.folders import (
    LEGACY_STORIES_FILE_NAME,
    PRUNED_MARKER,
    STORIES_FILE_NAME,
    experiments_dir,
)

log = logging.getLogger(__name__)

CLUSTER_ANSWER_SECONDS = 5.0  # how long the orphan sweep waits for the cluster to list things
LAB_STATUS_SECONDS = 2.0  # the sweep asks a managed lab for its address, never starts one
# A folder no experiment in the database owns is left alone while it changed this recently: it
# may belong to a `manage.py experiment` run that is still going.
UNKNOWN_IDLE = timedelta(hours=1)
MEGABYTE = 1024 * 1024
AGE, CAP = "age", "cap"  # why a folder was pruned


# -- the folders --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrunedFolder:
    """One experiment folder whose raw records were (or, in a dry run, would be) removed."""

    run_id: str
    reason: str  # AGE or CAP
    removed: tuple[str, ...]  # the names removed from the folder
    freed_bytes: int
    whole: bool  # the folder itself went: nothing in it was worth keeping


@dataclass
class PruneReport:
    """What one pass of `prune` did, or in a dry run would do."""

    dry_run: bool
    days: float
    cap_mb: float
    before_bytes: int = 0  # the experiments folder before the pass
    folders: list[PrunedFolder] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # orphan topics deleted
    groups: list[str] = field(default_factory=list)  # orphan groups deleted
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(folder.freed_bytes for folder in self.folders)

    @property
    def after_bytes(self) -> int:
        return self.before_bytes - self.freed_bytes

    def lines(self) -> list[str]:
        """The report as a person reads it, one line per thing removed."""
        verb = "would remove" if self.dry_run else "removed"
        lines = []
        for folder in self.folders:
            what = "the whole folder" if folder.whole else ", ".join(folder.removed)
            lines.append(
                f"{verb} from {folder.run_id} ({_reason_words(folder.reason, self)}): {what}; "
                f"{_size(folder.freed_bytes)}"
            )
        lines += [f"{verb} topic {topic}" for topic in self.topics]
        lines += [f"{verb} consumer group {group}" for group in self.groups]
        lines += self.notes
        lines += [f"problem: {problem}" for problem in self.problems]
        lines.append(
            f"{'would free' if self.dry_run else 'freed'} {_size(self.freed_bytes)}: the "
            f"experiments folder {'would hold' if self.dry_run else 'holds'} "
            f"{_size(self.after_bytes)} (was {_size(self.before_bytes)}; cap {self.cap_mb:g} MB)"
        )
        return lines


def _reason_words(reason: str, report: PruneReport) -> str:
    if reason == AGE:
        return f"older than {report.days:g} days"
    return f"the folder was over {report.cap_mb:g} MB"


def _size(count: int) -> str:
    return f"{count / MEGABYTE:.1f} MB" if count >= MEGABYTE / 10 else f"{count} bytes"


@dataclass
class _Folder:
    path: Path
    experiment: Experiment | None  # None: no experiment in the database owns it
    ended: datetime  # when the experiment finished, or the folder last changed
    raw: list[Path]  # what pruning removes
    size: int  # of the whole folder


def prune(
    now: datetime | None = None,
    days: float | None = None,
    cap_mb: float | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Remove the raw records of finished experiments older than `days` (default
    PLAYGROUND_RETENTION_DAYS), then, oldest first, while the experiments folder holds more than
    `cap_mb` megabytes (default PLAYGROUND_VAR_CAP_MB); delete the topics and groups finished
    experiments left in the cluster, if a cluster answers. With `dry_run`, only report. Never
    raises for a file or cluster problem: it is in the report."""
    now = now or timezone.now()
    report = PruneReport(
        dry_run=dry_run,
        days=settings.PLAYGROUND_RETENTION_DAYS if days is None else days,
        cap_mb=settings.PLAYGROUND_VAR_CAP_MB if cap_mb is None else cap_mb,
    )
    owners = {
        e.run_id: e
        for e in Experiment.objects.exclude(run_id="").only(
            "run_id", "status", "created_at", "finished_at"
        )
    }
    root = experiments_dir()
    folders = _prunable_folders(root, owners, now) if root.is_dir() else []
    report.before_bytes = _bytes_under(root) if root.is_dir() else 0
    for folder in folders:
        if now - folder.ended > timedelta(days=report.days):
            _prune_folder(folder, AGE, now, report)
    over = report.after_bytes - report.cap_mb * MEGABYTE
    pruned_by_age = {done.run_id for done in report.folders}
    for folder in sorted(folders, key=lambda f: f.ended):
        if over <= 0:
            break
        if folder.path.name not in pruned_by_age:
            over -= _prune_folder(folder, CAP, now, report)
    if over > 0:
        report.notes.append(
            "the experiments folder stays over the cap: what is left is results and stories, "
            "and those of queued or running experiments"
        )
    _sweep_cluster(owners, root, now, report)
    return report


def _prunable_folders(root: Path, owners: dict[str, Experiment], now: datetime) -> list[_Folder]:
    """Folders with raw records that a pass may remove: never a queued or running experiment's,
    nor one no experiment owns that changed within UNKNOWN_IDLE."""
    kept = {STORIES_FILE_NAME, LEGACY_STORIES_FILE_NAME, PRUNED_MARKER}
    found = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        experiment = owners.get(path.name)
        if experiment is not None and not experiment.finished:
            continue
        try:
            raw = sorted(p for p in path.iterdir() if p.name not in kept)
            if not raw:
                continue
            if experiment is None:
                ended = _last_change(path)
                if now - ended < UNKNOWN_IDLE:
                    continue
            else:
                ended = experiment.finished_at or experiment.created_at
            found.append(_Folder(path, experiment, ended, raw, _bytes_under(path)))
        except FileNotFoundError:  # another runner's pass removed it just now
            continue
    return found


def _prune_folder(folder: _Folder, reason: str, now: datetime, report: PruneReport) -> int:
    """Remove the raw records of `folder` (in a dry run, only count them); return bytes freed.
    A folder no experiment owns (a `manage.py experiment` run's) goes whole: no page shows it."""
    whole = folder.experiment is None
    freed = folder.size if whole else sum(_bytes_under(p) for p in folder.raw)
    if not report.dry_run:
        try:
            if whole:
                shutil.rmtree(folder.path)
            else:
                for path in folder.raw:
                    _remove(path)
                (folder.path / PRUNED_MARKER).write_text(now.isoformat() + "\n")
        except OSError as error:
            report.problems.append(f"could not prune {folder.path}: {error}")
            return 0
    report.folders.append(
        PrunedFolder(folder.path.name, reason, tuple(p.name for p in folder.raw), freed, whole)
    )
    return freed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _bytes_under(path: Path) -> int:
    if not path.is_dir():
        return path.lstat().st_size if path.exists() else 0
    total = 0
    for folder, _subfolders, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:  # removed while we counted
                continue
    return total


def _last_change(path: Path) -> datetime:
    newest = path.stat().st_mtime
    for folder, _subfolders, files in os.walk(path):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
            except OSError:
                continue
    return datetime.fromtimestamp(newest, tz=UTC)


# -- orphans in the cluster ---------------------------------------------------------------------
def _owned_name_patterns() -> list[re.Pattern[str]]:
    """What the names of an experiment's topics and group look like, from naming.py itself."""
    placeholder = "RUNID"
    names = ExperimentNames(placeholder, Path())
    return [
        re.compile(re.escape(name).replace(placeholder, r"(?P<run_id>[A-Za-z0-9_]+)"))
        for name in (*names.topics, names.group_id)
    ]


def _run_id_of(name: str) -> str | None:
    for pattern in _owned_name_patterns():
        found = pattern.fullmatch(name)
        if found:
            return found["run_id"]
    return None


def _cluster() -> str | None:
    """The bootstrap servers of the cluster experiments use, if one answers now: the external
    one, else the managed lab's unproxied listener (never one with a fault armed)."""
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        return settings.KAFKA_BOOTSTRAP_SERVERS
    try:
        status = LabClient(Path(settings.LAB_DIR)).call("status", timeout=LAB_STATUS_SECONDS)
    except LabError:
        return None
    if not isinstance(status, dict) or status.get("phase") != Phase.READY:
        return None
    return status.get("direct_bootstrap_servers") or None


def _sweep_cluster(
    owners: dict[str, Experiment], root: Path, now: datetime, report: PruneReport
) -> None:
    """Delete the topics and groups of finished experiments (or of ones no experiment owns
    whose folder is idle or gone) that are still in the cluster."""
    servers = _cluster()
    if servers is None:
        report.notes.append("no cluster answered: topics left in the cluster were not looked at")
        return
    try:  # listed by a child process: an abort in its Kafka client costs only the listing
        topics, groups = experiment_topics.list_apart(servers, CLUSTER_ANSWER_SECONDS)
    except experiment_topics.ApartError as error:
        report.problems.append(f"the cluster at {servers} did not list its topics: {error}")
        return
    orphan_topics = sorted(t for t in topics if _is_orphan(t, owners, root, now))
    orphan_groups = sorted(g for g in groups if _is_orphan(g, owners, root, now))
    if report.dry_run:
        report.topics, report.groups = orphan_topics, orphan_groups
        return
    try:
        deletion = experiment_topics.delete_names_apart(
            servers, orphan_topics, orphan_groups, DELETE_TIMEOUT_SECONDS, wait_for_empty=False
        )
    except experiment_topics.ApartError as error:
        report.problems.append(f"deleting the orphans from {servers} {error}")
        return
    report.topics, report.groups = deletion.topics, deletion.groups
    report.problems += deletion.problems


def _is_orphan(name: str, owners: dict[str, Experiment], root: Path, now: datetime) -> bool:
    run_id = _run_id_of(name)
    if run_id is None:
        return False
    experiment = owners.get(run_id)
    if experiment is not None:
        return experiment.finished
    try:
        return now - _last_change(root / run_id) >= UNKNOWN_IDLE
    except FileNotFoundError:  # no folder here: nothing says it is still running
        return True
