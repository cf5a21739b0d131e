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

    @classmethod
    def from_json(cls, stored: object) -> Problem:
        """A problem as a result stored it, whatever its age (older results kept bare strings)."""
        if isinstance(stored, dict):
            message = stored.get("message") or "a problem with no message"
            return cls(str(message), str(stored.get("log") or ""))
        return cls(str(stored))

    @property
    def sentence(self) -> str:
        """The message as a sentence on its own: a capital first (unless it starts with a name
        such as `faults[1]`), a full stop last."""
        text = self.message.strip()
        if text.split(" ", 1)[0].isalpha():
            text = text[:1].upper() + text[1:]
        return text if text.endswith((".", "!", "?")) else f"{text}."


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
