"""The producer log: one JSON line per attempt and per delivery report, appended by the producer.

Lines are written with os.write on an O_APPEND descriptor: once a write returns, the line is in the
kernel and survives a SIGKILL of the producer a microsecond later. The audit reads it back whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from playground.engine.records import ProducerEvent


class ProducerLogWriter:
    """Appends events to the producer log without any user-space buffering."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, events: Iterable[ProducerEvent]) -> None:
        data = "".join(event.to_json() + "\n" for event in events).encode()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]

    def close(self) -> None:
        os.close(self._fd)


def read_producer_log(path: Path) -> Iterator[ProducerEvent]:
    """Every complete event in the log (a line cut short by a crash is ignored)."""
    if not path.exists():
        return
    with path.open() as log:
        for line in log:
            if line.endswith("\n"):
                yield ProducerEvent.from_json(line)
