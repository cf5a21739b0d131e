"""How a worker runs: its orders, its messages to the conductor, its stop and crash signals.

A worker talks to the conductor in JSON lines on stdout: it reports that it started, its progress,
the records at which the conductor wants to strike (without waiting for it: the producer keeps
sending, as it would in production), and the crash it is about to commit. SIGTERM asks it to stop
cleanly at the next safe point; SIGUSR1 arms the crashes listed in its arm file (ROLE.arm in the
experiment folder) for its next crash point of each kind. Signal handlers only set flags. A crash
is os.kill(SIGKILL) on itself: no finally block, no flush, no close. Why a worker ends otherwise
is one of the exit codes of exits.py.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum

from confluent_kafka import KafkaError, KafkaException

from playground.engine.formats import arm_file
from playground.engine.naming import CONSUMER, member_name
from playground.engine.spec.model import KillPoint
from playground.engine.workers.exits import ends_the_worker


class Report(StrEnum):
    """What a worker tells the conductor: the "event" of each JSON line it writes."""

    STARTED = "started"  # its clients are up (producer: with the position it resumes from)
    PROGRESS = "progress"  # consumer: records handled, and the offset reached per partition
    REACHED = "reached"  # producer: a record the conductor strikes at
    CRASH = "crash"  # it is about to kill itself at a crash point
    STALL = "stall"  # consumer: its handler stalls now, in the middle of a batch (stall-consumer)
    WOKE = "woke"  # consumer: the stall is over; it finishes the batch
    FINISHED = "finished"  # producer: its workload is sent (or it was asked to stop)


# A consumer's "crash" that does not kill: its handler stalls `seconds` right after a record,
# with the effects of the batch so far performed and its commit not made (stall-consumer).
STALL_POINT = "stall"


@dataclass
class Crash:
    """Die at `point` (a KillPoint of the worker's loop) once `after_records` records are counted
    (None: as soon as it is armed); or, at STALL_POINT, stall `seconds` there and go on.

    `fault` is the index of the spec's fault this crash carries out (negative for a live one)."""

    point: str
    after_records: int | None = None
    fault: int = -1
    seconds: float | None = None


@dataclass
class Orders:
    """What the conductor tells a worker when it starts it."""

    role: str
    experiment_dir: str
    experiment_id: str
    bootstrap_servers: str
    session: int  # counted over the role: a consumer's over every member of the group
    crashes: list[Crash] = field(default_factory=list)
    strikes: list[int] = field(default_factory=list)  # producer: report reaching record k
    counted_before: int = 0  # records counted by earlier sessions of this worker
    member: int = 0  # a consumer's place in the group (naming.member_name)

    @property
    def worker(self) -> str:
        """The worker's name: its log's, its arm file's, the timeline's."""
        return member_name(self.member) if self.role == CONSUMER else self.role

    def to_json(self) -> str:
        return json.dumps(self, default=lambda o: o.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Orders:
        data = json.loads(text)
        data["crashes"] = [Crash(**c) for c in data["crashes"]]
        return cls(**data)


class Runtime:
    """The worker's side of the conversation with the conductor."""

    def __init__(self, orders: Orders) -> None:
        self.orders = orders
        self.count = orders.counted_before
        self.stop_requested = False
        self._arm_requested = False
        # A fatal error (or a fencing) a client reported through its error callback, and when:
        # the watchdog ends the worker if the loop has not acted on it in time.
        self.fatal_error: KafkaError | None = None
        self.fatal_at = 0.0
        # Whether any crash is pending at all: one in the orders, or one being armed (the hot
        # loops skip their crash points if not). A plain attribute, read once per record.
        self.may_crash = bool(orders.crashes)
        self._stalled: set[int] = set()  # the faults whose stall is done: never armed again
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGUSR1, self._on_arm)
        if arm_file.path(orders.experiment_dir, orders.worker).exists():
            self._on_arm()  # crashes armed while this session was starting

    def _on_stop(self, *_: object) -> None:
        self.stop_requested = True

    def _on_arm(self, *_: object) -> None:
        self._arm_requested = True
        self.may_crash = True

    def _load_armed(self) -> None:
        self._arm_requested = False
        known = {crash.fault for crash in self.orders.crashes} | self._stalled
        for armed in arm_file.read(arm_file.path(self.orders.experiment_dir, self.orders.worker)):
            if armed["fault"] not in known:
                self.orders.crashes.append(Crash(**armed))
        self.may_crash = bool(self.orders.crashes) or self._arm_requested

    def report(self, event: Report, **fields: object) -> None:
        """One JSON line to the conductor."""
        sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
        sys.stdout.flush()

    def due(self, point: KillPoint) -> Crash | None:
        """The crash due at `point`, if any: its record count is reached, or it was armed."""
        if self._arm_requested:
            self._load_armed()
        for crash in self.orders.crashes:
            if crash.point == point and (
                crash.after_records is None or self.count >= crash.after_records
            ):
                return crash
        return None

    def crash_point(self, point: KillPoint) -> None:
        """Die here, by SIGKILL, if a crash at `point` is due."""
        crash = self.due(point)
        if crash is not None:
            self.crash(crash)

    def stall(self, crash: Crash) -> None:
        """Stall here for the crash's seconds (stall-consumer), saying so before and after; the
        stall is done once (it leaves the crashes due). A stop asked for meanwhile ends it."""
        self.orders.crashes.remove(crash)
        self._stalled.add(crash.fault)
        self.may_crash = bool(self.orders.crashes) or self._arm_requested
        self.report(Report.STALL, count=self.count, fault=crash.fault, seconds=crash.seconds)
        deadline = time.monotonic() + (crash.seconds or 0)
        while not self.stop_requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        self.report(Report.WOKE, count=self.count, fault=crash.fault)

    def crash(self, crash: Crash, **details: object) -> None:
        """Say so, then die by SIGKILL: no finally block, no flush, no close."""
        self.report(Report.CRASH, point=crash.point, count=self.count, fault=crash.fault, **details)
        os.kill(os.getpid(), signal.SIGKILL)

    def on_client_error(self, error: KafkaError) -> None:
        """The clients' error callback: log every error; remember one that ends the worker (a
        fatal error or a fencing leaves the client unable to do anything more), which the loop
        turns into its exit, or else the watchdog within a second (watchdog.py)."""
        print(f"client error: {error}", file=sys.stderr, flush=True)
        if ends_the_worker(error) and self.fatal_error is None:
            self.fatal_at = time.monotonic()  # first: the watchdog reads it once the error is set
            self.fatal_error = error

    def raise_if_fatal(self) -> None:
        """End the worker if a client reported a fatal error (it can do nothing more)."""
        if self.fatal_error is not None:
            raise KafkaException(self.fatal_error)
