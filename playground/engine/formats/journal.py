"""Append-only JSON-lines files that survive a SIGKILL of their writer: the producer log and the
consumer's ledger of charges.

Each append is one os.write on an O_APPEND descriptor, with no user-space buffer: once it returns,
the lines are in the kernel and a SIGKILL of the writer a microsecond later cannot lose them.
Readers take complete lines only. A SIGKILL from outside that lands during a write can cut it
short, at a page boundary (the kernel stops copying once a fatal signal is pending): the lines
written whole stay, and the cut-off last line is dropped by the next writer when it opens the
journal (one process writes a journal at a time), so that no line of its own is glued to it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

CUT_OFF_SEARCH_BYTES = 65_536  # how far back a writer looks at a time for the last newline


class Journal:
    """The writing end of one journal file."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._drop_cut_off_line()

    def _drop_cut_off_line(self) -> None:
        """Truncate the journal after its last complete line (see the module's docstring)."""
        end = os.fstat(self._fd).st_size
        while end > 0:
            start = max(end - CUT_OFF_SEARCH_BYTES, 0)
            newline = os.pread(self._fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end < os.fstat(self._fd).st_size:
            os.ftruncate(self._fd, end)

    def write(self, data: bytes) -> None:
        """Append `data`, complete lines each ending with a newline, in one write (the writers
        format their lines as bytes: formats/)."""
        written = os.write(self._fd, data)
        while written < len(data):  # only if interrupted or out of space: write the rest
            data = data[written:]
            written = os.write(self._fd, data)

    def close(self) -> None:
        os.close(self._fd)


def read_lines(path: Path) -> Iterator[str]:
    """Every complete line of a journal (none if it does not exist yet)."""
    if not path.exists():
        return
    with path.open() as journal:
        for line in journal:
            if line.endswith("\n"):
                yield line


class Follower:
    """Reads the lines appended to a journal since the previous call (for live tallies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._position = 0

    def new_data(self) -> bytes:
        """The complete lines appended since the previous call, newlines included."""
        try:
            with self.path.open("rb") as journal:
                journal.seek(self._position)
                chunk = journal.read()
        except FileNotFoundError:
            return b""
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._position += len(complete)
        return complete
