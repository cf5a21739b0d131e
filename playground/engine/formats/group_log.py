"""The group log's format: one JSON line per thing the consumer group gave a member or took back.

Who writes: every consumer group member (the consumer worker), through a shared journal (several
members append at once, journal.py), as the group tells it of its partitions of the input topic:
when they are assigned (ASSIGNED: those given, incremental or whole), revoked in a rebalance
(REVOKED), found lost (LOST: the client learned its assignment was gone, after a session or poll
timeout), when a commit is refused because the member no longer owns the partitions
(COMMIT_REFUSED: that commit's partitions), and when the member leaves cleanly (LEFT). Each line
names the member, its consumer session, the group generation it held (-1: none) and when
(wall-clock epoch ms, the clock of sink.now_ms), so that the ledger's lines can be set against
who owned what.

Who reads: the audit (which member held a partition when an effect happened: a zombie's
effect, a rebalance's) and the live page, through read() or decode(), which give GroupEvents
and refuse a line no member writes with a ValueError.

Line: {"member":m,"session":s,"generation":g,"event":E,"partitions":[...],"at_ms":t}
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from playground.engine.formats.journal import Journal, read_lines

ASSIGNED = "assigned"
REVOKED = "revoked"
LOST = "lost"
COMMIT_REFUSED = "commit-refused"
LEFT = "left"
EVENTS = (ASSIGNED, REVOKED, LOST, COMMIT_REFUSED, LEFT)

# The line, newline included. % (member, session, generation, event, partitions joined by ",",
# at_ms).
LINE = b'{"member":%d,"session":%d,"generation":%d,"event":"%s","partitions":[%s],"at_ms":%d}\n'
_EVENT_BYTES = {event: event.encode() for event in EVENTS}


class GroupEvent(NamedTuple):
    """One line of the group log, decoded: the fields in the order LINE writes them."""

    member: int
    session: int
    generation: int
    event: str  # one of EVENTS
    partitions: tuple[int, ...]
    at_ms: int


class GroupLog:
    """One member's writing end of the group log (a consumer session: member and session are
    fixed, the generation is the one held at each event)."""

    def __init__(self, path: Path, *, member: int, session: int) -> None:
        self.member = member
        self.session = session
        self.journal = Journal(path, shared=True)

    def write(
        self, event: str, partitions: Iterable[int], *, generation: int, at_ms: int | None = None
    ) -> None:
        """Append one event (one of EVENTS) about `partitions`, at `at_ms` (default: now)."""
        if at_ms is None:
            at_ms = time.time_ns() // 1_000_000
        self.journal.write(line(GroupEvent(
            self.member, self.session, generation, event, tuple(partitions), at_ms
        )))  # fmt: skip

    def close(self) -> None:
        self.journal.close()


def line(event: GroupEvent) -> bytes:
    """The line of `event`, as a member writes it; ValueError for an event no member writes."""
    if event.event not in _EVENT_BYTES:
        raise ValueError(f"group log: {event.event!r} is no event a member writes")
    joined = b",".join(b"%d" % partition for partition in event.partitions)
    return LINE % (
        event.member, event.session, event.generation, _EVENT_BYTES[event.event], joined,
        event.at_ms,
    )  # fmt: skip


def decode(line: str | bytes) -> GroupEvent:
    """The event a line records; ValueError for a line no member writes (not JSON, a field
    missing or extra, an unknown event, a partition or number that is no integer)."""
    try:
        fields = json.loads(line)
        event = GroupEvent(**fields)
        numbers = (event.member, event.session, event.generation, event.at_ms, *event.partitions)
        if event.event not in EVENTS or not all(_is_int(number) for number in numbers):
            raise ValueError("an unknown event or a number that is no integer")
        return event._replace(partitions=tuple(event.partitions))
    except (TypeError, ValueError) as refused:
        raise ValueError(f"group log: a line no member writes: {line!r} ({refused})") from None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read(path: Path) -> Iterator[GroupEvent]:
    """Every complete line of the group log, in the order they were appended (none if no member
    wrote one yet; a line cut short by a crash is ignored)."""
    for complete in read_lines(path):
        yield decode(complete)
