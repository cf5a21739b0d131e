"""What makes a run invalid: problems of the apparatus, each a plain sentence with the evidence.

A run is valid when it ran its spec faithfully. A problem is anything that stops it from being
that (a worker that could not start or kept failing, a fault that never fired or could not be
applied, a drain that gave up); the result then names no semantic, only what broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LOG_EXCERPT_LINES = 12
LOG_EXCERPT_BYTES = 8192


@dataclass(frozen=True)
class Problem:
    message: str  # one plain sentence: what broke
    log: str = ""  # an excerpt of the log that shows it ("" when there is none)

    def to_json(self) -> dict[str, str]:
        return {"message": self.message, "log": self.log}


def log_excerpt(path: Path, lines: int = LOG_EXCERPT_LINES) -> str:
    """The last `lines` lines of a worker's log (its stderr), or "" if it has none."""
    try:
        with path.open("rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(size - LOG_EXCERPT_BYTES, 0))
            tail = log.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(tail.splitlines()[-lines:])
