"""A running experiment watched from outside its workers, for its live page.

The conductor's snapshots carry the counters and the timeline. Beside them, the observer follows
the log strip (the raw records, and Kafka's markers), the cluster (brokers, partition leaders) and
the consumer group (its members and the partitions each owns, as Kafka describes the group) on
threads of its own, and hands each to the run's view (`RunView`: the web's publisher) ready to
draw, the group with the cluster. Kafka is asked by the experiment's kafka_questions child, never
by this process; the view only draws and sends. The strip is read once per snapshot, timed to end
just before the next one is due, so that the strip a page shows is as fresh as its counters.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from playground.engine.naming import ExperimentNames, member_of
from playground.engine.observe import kafka_questions
from playground.engine.observe.group_watch import GroupWatch
from playground.engine.observe.log_strip import LogStripWatch, questions_for
from playground.engine.observe.strip_state import StripView
from playground.engine.run.clusters import Target
from playground.engine.run.conductor import SNAPSHOT_INTERVAL_SECONDS
from playground.engine.spec.model import Spec
from playground.lab.control import LabError
from playground.lab.topology import BROKER

log = logging.getLogger(__name__)

CLUSTER_INTERVAL_SECONDS = 1.0
CLUSTER_WAIT_SECONDS = 5.0  # a metadata answer later than this leaves the panel as it was
GROUP_INTERVAL_SECONDS = 1.0  # the group is described at most this often
# A group answer later than this means a hung child (its own requests are bounded): it is replaced.
GROUP_WAIT_SECONDS = kafka_questions.GROUP_ANSWER_SECONDS + 4.0
# A read of the strip starts as long before the next snapshot as reads have lately taken, plus
# this (back to back at worst).
STRIP_LEAD_SECONDS = 0.02
STRIP_READ_SMOOTHING = 0.3  # the weight of the newest read in how long reads take
FINAL_JOIN_SECONDS = 30.0  # how long the last live read may take to finish before the final one


class RunView(Protocol):
    """What draws a run (the web's publisher). Each call comes from the observer's threads."""

    def snapshot(self, snapshot: dict) -> None:
        """The conductor's newest snapshot (counters, workers, timeline)."""

    def strip(self, view: StripView) -> None:
        """The log strip, read again (called only when a read succeeded)."""

    def cluster(self, state: dict) -> None:
        """The cluster's state: `nodes`, `partitions`, `error`, `managed` (see cluster_state),
        and `group`, the consumer group as last described (RunObserver.group)."""


class RunObserver:
    """Follows one experiment's strip and cluster for `view` until close()."""

    def __init__(self, names: ExperimentNames, spec: Spec, target: Target, view: RunView):
        self.target = target
        self.view = view
        self.questions = questions_for(names, spec, target.direct_bootstrap_servers)
        self.strip = LogStripWatch(names, spec, target.direct_bootstrap_servers, self.questions)
        self._stop = threading.Event()
        self._strip_lock = threading.Lock()  # one read of the raw records at a time
        self._snapshot_at = time.monotonic()  # when the last snapshot came
        self._threads: list[threading.Thread] = []
        self._group = GroupWatch(names)

    def start(self) -> None:
        """Follow the strip, the cluster and the group, each in a thread of its own (a paused
        broker can make a question wait; the conductor must never wait)."""
        for follow in (self._follow_strip, self._follow_cluster, self._follow_group):
            thread = threading.Thread(target=follow, daemon=True)
            thread.start()
            self._threads.append(thread)

    def snapshot(self, snapshot: dict) -> None:
        """The conductor's snapshot callback: align the strip with the run's clock and its
        consumer session, then hand the snapshot to the view."""
        self._snapshot_at = time.monotonic()
        self.strip.sync_clock(snapshot["elapsed"])
        workers = snapshot.get("workers", {})
        sessions = [
            worker["session"] for name, worker in workers.items() if member_of(name) is not None
        ]
        if sessions:  # the group's newest session (its members' sessions are counted together)
            self.strip.consumer_session(max(sessions))
        self._group.sessions(workers)
        self.view.snapshot(snapshot)

    def group(self) -> dict:
        """The consumer group as Kafka last described it, asked at most once a second in a
        thread of the observer's (see GroupWatch.state)."""
        return self._group.state()

    # -- the strip ------------------------------------------------------------------------------
    def _follow_strip(self) -> None:
        read_seconds = 0.0  # how long a read and its drawing take, smoothed
        aimed_at = 0.0  # when the snapshot the last read was for is due
        while not self._stop.is_set():
            started = time.monotonic()
            with self._strip_lock:
                if self._stop.is_set():
                    break
                try:
                    self.strip.read()
                    self.view.strip(self.strip.view())
                except Exception:  # the picture misses a beat; the run and its audit do not
                    log.exception("the log strip of %s failed", self.strip.names.experiment_id)
            took = time.monotonic() - started
            read_seconds += STRIP_READ_SMOOTHING * (took - read_seconds)
            wait, aimed_at = self._next_read(aimed_at, read_seconds)
            self._stop.wait(wait)

    def _next_read(self, aimed_at: float, read_seconds: float) -> tuple[float, float]:
        """(seconds to wait, when its snapshot is due) for the next read: the snapshot after
        the last one, or after the one the last read was for; started so that a read of
        read_seconds ends STRIP_LEAD_SECONDS before it, or at once when that time has passed
        (a read that ends just after its snapshot rides on the next one, a beat late, rather
        than waiting a whole beat to start)."""
        due = self._snapshot_at + SNAPSHOT_INTERVAL_SECONDS
        if due <= aimed_at:
            due = aimed_at + SNAPSHOT_INTERVAL_SECONDS
        start = due - min(read_seconds + STRIP_LEAD_SECONDS, SNAPSHOT_INTERVAL_SECONDS)
        return max(0.0, start - time.monotonic()), due

    # -- the cluster ----------------------------------------------------------------------------
    def _follow_cluster(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            state = cluster_state(self.target, self.questions) | {"group": self.group()}
            if self._stop.is_set():
                break
            try:
                self.view.cluster(state)
            except Exception:  # the panel misses a beat
                log.exception("the cluster panel of %s failed", self.strip.names.experiment_id)
            self._stop.wait(max(0.0, CLUSTER_INTERVAL_SECONDS - (time.monotonic() - started)))

    # -- the group ------------------------------------------------------------------------------
    def _follow_group(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            answer = self.questions.ask({"ask": kafka_questions.GROUP}, GROUP_WAIT_SECONDS)
            self._group.take(answer, self.questions.failure)
            self._stop.wait(max(0.0, GROUP_INTERVAL_SECONDS - (time.monotonic() - started)))

    # -- the end --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following (the run is over)."""
        self._stop.set()

    def final(self) -> StripView | None:
        """The strip once the run is over (before its topics and group are deleted), read to the
        end of the output topic; None when that read failed. Ends the kafka_questions child."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=FINAL_JOIN_SECONDS)
        with self._strip_lock:
            try:
                self.strip.read(final=True)
                return self.strip.view(final=True)
            except Exception:  # the verdict stands without its picture
                log.exception("the final log strip of %s failed", self.strip.names.experiment_id)
                return None
            finally:
                self.strip.close()  # and its questions' child


def cluster_state(target: Target, questions: kafka_questions.Questions) -> dict:
    """Brokers (up, paused, down) and the leader and in-sync replicas of each input partition
    (asked by the experiment's kafka_questions child)."""
    nodes, error = [], ""
    if target.lab is not None:
        try:
            nodes = [n for n in target.lab.status()["nodes"] if n["role"] == BROKER]
        except LabError as failure:
            error = str(failure)
    answer = questions.ask({"ask": kafka_questions.CLUSTER}, CLUSTER_WAIT_SECONDS)
    if answer is None:
        answer = {"partitions": [], "error": questions.failure or "metadata unavailable"}
    return {
        "nodes": nodes,
        "partitions": answer["partitions"],
        "error": error or answer["error"],
        "managed": bool(target.lab),
    }
