"""Whether the consumer group settles within the spec's limits, watched while the run goes on.

Two things the group must do, and a run in which it does not is not the run its spec describes
(each becomes a problem of the run: the verdict then names no semantic):
- every partition of the input topic gets a member again after a rebalance takes it away (a
  rebalance that never settles);
- every member that is running joins the group: the group gives it an assignment (a member that
  could not join).

How long the group may take is the spec's own limit: the poll interval (how long a classic
rebalance waits for a member to rejoin, and the consumer protocol's rebalance timeout), plus the
session timeout (how long the group waits for a member that went silent), plus SLACK_SECONDS for
the heartbeats and the coordinator's own steps. The clock does not run while no member is running
(every member removed, or killed and not restarted: nobody could own anything), while a member
is stalled or frozen by a fault (the group may rightly wait for it), or while a fault is still
playing out (faults.quiet_until: a broker paused or coming back).

What the group gave and took is read from the group log (formats/group_log.py), which every
member writes as its rebalance callbacks run; each event is also handed on (`on_event`), in
words (group_event_words), for the run's timeline. A member is "joined" once a session of its got
an assignment, even an empty one; the join check is skipped while the group has more members
than partitions (a member may then rightly get none, and the consumer protocol does not call it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from playground.engine.formats import group_log
from playground.engine.formats.journal import Follower
from playground.engine.naming import ExperimentNames, member_name, member_of
from playground.engine.run.problems import Problem
from playground.engine.spec.model import Spec

SLACK_SECONDS = 10.0


def settle_limit_seconds(spec: Spec) -> float:
    """How long the spec's settings let the group take to give every partition a member, or a
    new member its assignment."""
    consumer = spec.consumer
    return (consumer.max_poll_interval_ms + consumer.session_timeout_ms) / 1000 + SLACK_SECONDS


def limit_words(spec: Spec) -> str:
    consumer = spec.consumer
    return (
        f"{settle_limit_seconds(spec):.0f} s, the spec's limit: consumer.max_poll_interval_ms "
        f"{consumer.max_poll_interval_ms} + consumer.session_timeout_ms "
        f"{consumer.session_timeout_ms} + {SLACK_SECONDS:.0f} s"
    )


@dataclass
class _Waiting:
    session: int
    since: float  # time.monotonic() the member has waited since (across sessions that never joined)
    joined: bool = False


class GroupSettling:
    """Follows the group log; check() reports, once each, a partition the group left without a
    member too long and a member the group never let in."""

    def __init__(
        self,
        spec: Spec,
        names: ExperimentNames,
        on_event: Callable[[group_log.GroupEvent], None] | None = None,
    ) -> None:
        self.spec = spec
        self.on_event = on_event
        self.limit = settle_limit_seconds(spec)
        self._log = Follower(names.group_log)
        self._owner: dict[int, tuple[int, int]] = {}  # partition -> (member, session)
        self._ever_owned = False
        self._joined: set[tuple[int, int]] = set()  # (member, session) given an assignment
        self._orphaned_since: dict[int, float] = {}  # partition -> time.monotonic()
        self._waiting: dict[int, _Waiting] = {}  # member -> its wait to join
        self._reported_partitions: set[int] = set()
        self._reported_members: set[int] = set()

    def check(self, now: float, running: list, quiet_until: float) -> list[Problem]:
        """The new problems at `now` (time.monotonic()), given the running member workers
        (supervision.Worker) and until when a fault may hold the group still."""
        self._read()
        problems: list[Problem] = []
        holding = not running or any(w.stalled or w.paused for w in running) or quiet_until > now
        self._watch_partitions(now, holding, problems)
        self._watch_joins(now, running, holding, problems)
        return problems

    def _read(self) -> None:
        data = self._log.new_data()
        if not data:
            return
        for line in data.splitlines():
            try:
                event = group_log.decode(line)
            except ValueError:
                continue  # the audit reports a line no member writes; this watch skips it
            if self.on_event is not None:
                self.on_event(event)
            if event.event == group_log.ASSIGNED:
                self._joined.add((event.member, event.session))
                for partition in event.partitions:
                    self._owner[partition] = (event.member, event.session)
                    self._ever_owned = True
            elif event.event in (group_log.REVOKED, group_log.LOST, group_log.LEFT):
                for partition in event.partitions:
                    if self._owner.get(partition) == (event.member, event.session):
                        del self._owner[partition]

    def _watch_partitions(self, now: float, holding: bool, problems: list[Problem]) -> None:
        if not self._ever_owned:
            return  # the group's forming is the join check's
        for partition in range(self.spec.workload.partitions):
            if partition in self._owner or holding:
                self._orphaned_since.pop(partition, None)
                continue
            since = self._orphaned_since.setdefault(partition, now)
            if now - since > self.limit and partition not in self._reported_partitions:
                self._reported_partitions.add(partition)
                problems.append(
                    Problem(
                        f"a rebalance never settled: partition {partition} of the input topic "
                        f"had no member for more than {limit_words(self.spec)}"
                    )
                )

    def _watch_joins(
        self, now: float, running: list, holding: bool, problems: list[Problem]
    ) -> None:
        crowded = len(running) > self.spec.workload.partitions
        for worker in running:
            member = member_of(worker.name)
            if member is None:
                continue
            waiting = self._waiting.get(member)
            if (member, worker.session) in self._joined:
                self._waiting[member] = _Waiting(worker.session, now, joined=True)
                continue
            if waiting is None or (waiting.session != worker.session and waiting.joined):
                waiting = _Waiting(worker.session, worker.created)
            elif waiting.session != worker.session:
                waiting = _Waiting(worker.session, waiting.since)  # another session, still out
            if holding or crowded:
                waiting.since = now
            self._waiting[member] = waiting
            if now - waiting.since > self.limit and member not in self._reported_members:
                self._reported_members.add(member)
                problems.append(
                    Problem(
                        f"the {worker.name} could not join the group: the group gave it no "
                        f"assignment in more than {limit_words(self.spec)}"
                    )
                )


def _partitions(partitions: tuple[int, ...]) -> str:
    numbers = ", ".join(str(p) for p in partitions)
    return f"partition {numbers}" if len(partitions) == 1 else f"partitions {numbers}"


def group_event_words(event: group_log.GroupEvent) -> str | None:
    """A group log event as the timeline says it; None for one not worth a line (an empty
    revocation, which an eager member's rebalance with nothing to give back makes)."""
    name, held = member_name(event.member), _partitions(event.partitions)
    generation = f"generation {event.generation}" if event.generation >= 0 else "no generation"
    if event.event == group_log.ASSIGNED:
        if not event.partitions:
            return f"the group gave {name} no partitions ({generation})"
        return f"the group gave {name} {held} ({generation})"
    if not event.partitions and event.event != group_log.LEFT:
        return None
    if event.event == group_log.REVOKED:
        return f"the group took {held} back from {name} (a rebalance)"
    if event.event == group_log.LOST:
        return f"{name} found {held} lost: its session or poll interval had run out"
    if event.event == group_log.COMMIT_REFUSED:
        return f"the group refused {name}'s commit of {held}: it no longer owned them"
    return f"{name} left the group" + (f", giving back {held}" if event.partitions else "")
