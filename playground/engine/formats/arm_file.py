"""The arm file's format: the crashes a running worker is to commit at its next crash points.

The conductor's supervisor writes WORKER.arm in the experiment folder (a JSON list, one object per
crash: its point, after_records, fault and seconds, as workers.runtime.Crash holds them; seconds
only for a stall) and signals the
worker; the worker reads it when the signal's flag is next looked at. The file is replaced whole
(written beside it, then renamed), so a worker never reads half of it.
"""

from __future__ import annotations

import json
from pathlib import Path

SUFFIX = ".arm"
_FIELDS = frozenset(("point", "after_records", "fault", "seconds"))
_REQUIRED = frozenset(("point", "after_records", "fault"))  # a file written before stalls


def path(experiment_dir: str, worker: str) -> Path:
    """Where the crashes armed for `worker` (its name: naming.member_name, or the producer's)
    are written."""
    return Path(experiment_dir) / f"{worker}{SUFFIX}"


def write(armed: Path, crashes: list[dict]) -> None:
    """Replace the file at `armed` with `crashes` (each a Crash's fields), whole."""
    written = armed.with_suffix(".tmp")
    written.write_text(json.dumps(crashes))
    written.replace(armed)


def read(armed: Path) -> list[dict]:
    """The crashes in the file at `armed` (none when there is no file); ValueError for a file
    no writer writes."""
    try:
        crashes = json.loads(armed.read_text())
    except FileNotFoundError:
        return []
    except ValueError as refused:
        raise ValueError(f"{armed.name}: not an arm file ({refused})") from None
    if not isinstance(crashes, list) or not all(
        isinstance(crash, dict) and _REQUIRED <= crash.keys() <= _FIELDS for crash in crashes
    ):
        raise ValueError(f"{armed.name}: not a list of crashes with {sorted(_FIELDS)}: {crashes}")
    return crashes
