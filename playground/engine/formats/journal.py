"""Append-only JSON-lines files that survive a SIGKILL of their writer: the producer log, the
consumer group's ledger of charges and its group log.

Each append is one os.write on an O_APPEND descriptor, with no user-space buffer: once it returns,
the lines are in the kernel and a SIGKILL of the writer a microsecond later cannot lose them.
Readers take complete lines only. A SIGKILL from outside that lands during a write can cut it
short, at a page boundary (the kernel stops copying once a fatal signal is pending): the lines
written whole stay, and the cut-off last line is dropped before anyone appends after it, so that
no line is ever glued to it.

Who drops it depends on how many processes write the journal at once:
- one (the producer log: one producer session at a time): the next writer, when it opens the
  journal. Its appends take no lock: the per-record hot path stays one system call.
- several (`shared`: the ledger and the group log, one writer per consumer group member): every
  append, under an exclusive lock on the file (flock) held by all of them. Dropping the cut-off
  line without it could cut a line another member appended between the look at the end and the
  truncation, and a member appending after a killed one would glue its line to the cut-off one.
  Under the lock the writer looks at the journal's last byte, truncates after the last newline if
  it is not one, and appends. The lock dies with its holder (the kernel releases a killed
  process's flock), so a SIGKILL mid-write never blocks the others. An append plus the look at
  the end costs a few system calls per write, not per line: the sink writes a batch at a time.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CUT_OFF_SEARCH_BYTES = 65_536  # how far back a writer looks at a time for the last newline
READ_CHUNK_BYTES = 8 << 20  # how much of a journal whole_lines() reads at a time


class Journal:
    """The writing end of one journal file; `shared` when several processes append at once."""

    def __init__(self, path: Path, *, shared: bool = False) -> None:
        self.shared = shared
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        if shared:
            with self.exclusive():
                pass  # the drop of a cut-off line, under the lock
        else:
            self._drop_cut_off_line()

    def _drop_cut_off_line(self) -> int:
        """Truncate the journal after its last complete line (see the module's docstring), and
        return its size then. One look at the last byte when it ends with a whole line."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return size
        end = size - 1
        while end > 0:
            start = max(end - CUT_OFF_SEARCH_BYTES, 0)
            newline = os.pread(self._fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        os.ftruncate(self._fd, end)
        return end

    @contextmanager
    def exclusive(self) -> Iterator[int]:
        """Hold the journal's lock (a shared journal's writers take it for each write); yields
        the journal's size, whole lines only: no other writer appends until the block ends, so
        a reader of the journal up to there (whole_lines) and an append() act as one step."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield self._drop_cut_off_line()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def write(self, data: bytes) -> None:
        """Append `data`, complete lines each ending with a newline, in one write (the writers
        format their lines as bytes: formats/); a shared journal's under its lock."""
        if self.shared:
            with self.exclusive():
                self.append(data)
        else:
            self.append(data)

    def append(self, data: bytes) -> None:
        """write() without the lock: for one writer, or inside exclusive()."""
        written = os.write(self._fd, data)
        while written < len(data):  # only if interrupted or out of space: write the rest
            data = data[written:]
            written = os.write(self._fd, data)

    def whole_lines(self, start: int, end: int) -> Iterator[bytes]:
        """The complete lines between byte `start` (where a line begins) and `end`, in chunks of
        whole lines of some megabytes each (a reader of a large journal holds one at a time);
        a line cut off at `end` is left out: the caller adds up the chunks' lengths to know
        where it got to."""
        size = READ_CHUNK_BYTES
        while start < end:
            chunk = os.pread(self._fd, min(size, end - start), start)
            whole = chunk.rfind(b"\n") + 1
            if whole == 0:
                if len(chunk) < size:
                    return  # no newline before `end`: a cut-off line
                size *= 2  # a line longer than a chunk
                continue
            yield chunk[:whole] if whole < len(chunk) else chunk
            start += whole
            size = READ_CHUNK_BYTES

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
