"""Where the web layer keeps each experiment's files: one folder per run under var/experiments,
holding the raw records, the result and the per-order stories."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

STORIES_FILE_NAME = "stories.jsonl"  # the per-order stories, one JSON line each, by order id


def experiments_dir() -> Path:
    return Path(settings.VAR_DIR) / "experiments"


def experiment_dir(run_id: str) -> Path:
    return experiments_dir() / run_id


def stories_file(run_id: str) -> Path:
    """Where the per-order stories of a finished experiment are kept."""
    return experiment_dir(run_id) / STORIES_FILE_NAME
