"""Where the web layer keeps each experiment's files: one folder per run under var/experiments,
holding the raw records, the result and the per-order stories, and whether retention has pruned
its raw records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from playground.engine.naming import STORIES_FILE_NAME

# The per-order stories, as the audit writes them (engine/audit/story_book.py); experiments
# audited before it kept them as one JSON line each, by order id (web/stories/audit_table.py
# converts them once).
LEGACY_STORIES_FILE_NAME = "stories.jsonl"
PRUNED_MARKER = "PRUNED"  # in a pruned folder: when its raw records were removed (ISO 8601)


def experiments_dir() -> Path:
    return Path(settings.VAR_DIR) / "experiments"


def experiment_dir(run_id: str) -> Path:
    return experiments_dir() / run_id


def stories_folder(run_id: str) -> Path:
    """Where the per-order stories of a finished experiment are kept."""
    return experiment_dir(run_id) / STORIES_FILE_NAME


def legacy_stories_file(run_id: str) -> Path:
    """Where an experiment audited before the story book kept its stories."""
    return experiment_dir(run_id) / LEGACY_STORIES_FILE_NAME


def raw_records_pruned(run_id: str) -> datetime | None:
    """When retention pruned the raw records of run `run_id`, or None if it did not."""
    if not run_id:
        return None
    marker = experiment_dir(run_id) / PRUNED_MARKER
    try:
        text = marker.read_text().strip()
        return datetime.fromisoformat(text)
    except OSError:
        return None
    except ValueError:  # a marker someone edited: its own time still says when
        return datetime.fromtimestamp(marker.stat().st_mtime, tz=UTC)
