"""A running experiment's live page, made in the runner's process: its conductor's snapshots
turned into HTML fragments (counters, timeline), the cluster panel (brokers and partition leaders,
asked of Kafka every second) and the log strip (log_strip.LogStripWatch, which asks Kafka for the
log end and the committed offsets), each sent to the viewers through `live`.

Nothing here talks to Kafka itself: the strip's markers and output reads and the cluster panel's
metadata are asked by the experiment's own child process (engine.kafka_questions), so a native
abort in a Kafka client costs one experiment's picture a beat, never the runner's experiments or
the pages.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from django.template.loader import render_to_string

from playground.engine import kafka_questions
from playground.engine.clusters import Target
from playground.engine.conductor import SNAPSHOT_INTERVAL_SECONDS
from playground.engine.kafka_questions import Questions
from playground.engine.log_strip import LogStripWatch, StripView, questions_for
from playground.engine.naming import CONSUMER, ExperimentNames
from playground.engine.spec import Spec
from playground.lab.control import LabError
from playground.lab.topology import BROKER
from playground.web import chart, live, strip
from playground.web.folders import experiment_dir
from playground.web.live import CLUSTER, COUNTERS, STRIP, TIMELINE
from playground.web.models import Experiment

log = logging.getLogger(__name__)

CLUSTER_INTERVAL_SECONDS = 1.0
CLUSTER_WAIT_SECONDS = 5.0  # a metadata answer later than this leaves the panel as it was
# The log strip is read once per snapshot, timed to end this long before the next one is due, so
# that the strip the counters' message carries is as fresh as the counters themselves: a read
# starts as long before as reads have lately taken, plus this (back to back at worst).
STRIP_LEAD_SECONDS = 0.02
STRIP_READ_SMOOTHING = 0.3  # the weight of the newest read in how long reads take
STRIP_DATA_SECONDS = 1.0  # and summarises them for the API (saved with the snapshot) this often
TIMELINE_INTERVAL_SECONDS = 0.5  # the chart and the event list are larger than the counters


class Publisher:
    """Turns one running experiment's snapshots into fragments for its viewers."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.share_id = experiment.share_id
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._timeline_at = -TIMELINE_INTERVAL_SECONDS
        self._events = 0
        self._strip: LogStripWatch | None = None
        self._strip_lock = threading.Lock()  # one read of the raw records at a time
        self._strip_unsent = ""  # a strip drawn since the last counters were sent
        self._unsent_lock = threading.Lock()
        self._snapshot_at = time.monotonic()  # when the last counters were sent
        self._strip_thread: threading.Thread | None = None
        self._questions: Questions | None = None  # asks Kafka, in a child process
        self._questions_lock = threading.Lock()
        self.strip_data: dict = {}  # the strip as the API gives it (partitions), every second
        live.send(self.share_id, live.reload_fragment(experiment))  # queued pages go live

    def snapshot(self, snapshot: dict) -> None:
        """Counters at every snapshot; the timeline twice a second, or at once on a new event."""
        self.samples.append(
            {
                "t": snapshot["elapsed"],
                "delivered": snapshot.get("delivered", 0),
                "duplicated": snapshot.get("duplicated_so_far", 0),
            }
        )
        if self._strip is not None:
            self._strip.sync_clock(snapshot["elapsed"])
            consumer = snapshot.get("workers", {}).get(CONSUMER)
            if consumer:
                self._strip.consumer_session(consumer["session"])
        context = {"experiment": self.experiment, "snapshot": snapshot}
        counters = render_to_string("experiment.html#live_update", context)
        live.remember(self.share_id, COUNTERS, counters)
        # A new log strip rides on the counters' message: one message per snapshot, not two,
        # because the messages a server can push to a hundred viewers, not their bytes, are
        # what runs out.
        with self._unsent_lock:  # never the strip's own lock: a read may wait on Kafka
            strip_html, self._strip_unsent = self._strip_unsent, ""
            self._snapshot_at = time.monotonic()
        live.send(self.share_id, counters + strip_html, COUNTERS)
        events = snapshot.get("timeline", [])
        now = time.monotonic()
        if len(events) != self._events or now - self._timeline_at >= TIMELINE_INTERVAL_SECONDS:
            self._events, self._timeline_at = len(events), now
            context["chart"] = chart.render(self.samples, events)
            self._publish(TIMELINE, render_to_string("experiment.html#timeline_update", context))

    def _publish(self, kind: str, html: str) -> None:
        live.remember(self.share_id, kind, html)
        live.send(self.share_id, html, kind)

    def watch_cluster(self, target: Target) -> None:
        """Every second, the brokers' states and the partition leaders, in a thread of its own
        (a paused broker can make a metadata request wait; the conductor must never wait)."""
        threading.Thread(target=self._watch, args=(target,), daemon=True).start()

    def _watch(self, target: Target) -> None:
        questions = self._questions_of(target)
        while not self._stop.is_set():
            started = time.monotonic()
            html = render_to_string(
                "experiment.html#cluster_state",
                {"cluster": cluster_state(target, questions), "live": True},
            )
            if self._stop.is_set():
                break
            self._publish(CLUSTER, html)
            self._stop.wait(max(0.0, CLUSTER_INTERVAL_SECONDS - (time.monotonic() - started)))

    def _questions_of(self, target: Target) -> Questions:
        """The experiment's kafka_questions child, one for the strip and the cluster panel."""
        with self._questions_lock:
            if self._questions is None:
                names = ExperimentNames(self.experiment.run_id, Path())
                spec = Spec.from_json(self.experiment.spec)
                self._questions = questions_for(names, spec, target.direct_bootstrap_servers)
            return self._questions

    def watch_log(self, target: Target) -> None:
        """Follow the log strip (log_strip.LogStripWatch) in a thread of its own, and send it to
        the viewers whenever it changes."""
        names = ExperimentNames(self.experiment.run_id, experiment_dir(self.experiment.run_id))
        spec = Spec.from_json(self.experiment.spec)
        questions = self._questions_of(target)
        self._strip = LogStripWatch(names, spec, target.direct_bootstrap_servers, questions)
        self._strip_thread = threading.Thread(target=self._follow_log, daemon=True)
        self._strip_thread.start()

    def _follow_log(self) -> None:
        shown, summarised_at = "", 0.0
        read_seconds = 0.0  # how long a read and its drawing take, smoothed
        aimed_at = 0.0  # when the snapshot the last read was for is due
        while not self._stop.is_set():
            started = time.monotonic()
            with self._strip_lock:
                if self._stop.is_set():
                    break
                try:
                    self._strip.read()
                    view = self._strip.view()
                    html = render_to_string("log_strip.html#strip", strip_context(view))
                    if started - summarised_at >= STRIP_DATA_SECONDS:
                        self.strip_data, summarised_at = view.to_json(), started
                except Exception:  # the picture misses a beat; the run and its audit do not
                    log.exception("the log strip of %s failed", self.share_id)
                    html = shown
            took = time.monotonic() - started
            read_seconds += STRIP_READ_SMOOTHING * (took - read_seconds)
            if html != shown:  # sent with the next counters (see snapshot)
                live.remember(self.share_id, STRIP, html)
                with self._unsent_lock:
                    shown = self._strip_unsent = html
            wait, aimed_at = self._next_read(aimed_at, read_seconds)
            self._stop.wait(wait)

    def _next_read(self, aimed_at: float, read_seconds: float) -> tuple[float, float]:
        """(seconds to wait, when its snapshot is due) for the next read: the snapshot after
        the last one sent, or after the one the last read was for; started so that a read of
        read_seconds ends STRIP_LEAD_SECONDS before it, or at once when that time has passed
        (a read that ends just after its snapshot rides on the next one, a beat late, rather
        than waiting a whole beat to start)."""
        due = self._snapshot_at + SNAPSHOT_INTERVAL_SECONDS
        if due <= aimed_at:
            due = aimed_at + SNAPSHOT_INTERVAL_SECONDS
        start = due - min(read_seconds + STRIP_LEAD_SECONDS, SNAPSHOT_INTERVAL_SECONDS)
        return max(0.0, start - time.monotonic()), due

    def close(self) -> None:
        self._stop.set()

    def _final_strip(self) -> dict:
        """The strip once the run is over (before its topics and group are deleted): the
        partitions for the API, and the pictures for the verdict."""
        if self._strip is None:
            return {}
        if self._strip_thread is not None:
            self._strip_thread.join(timeout=30)
        with self._strip_lock:
            try:
                self._strip.read(final=True)
                view = self._strip.view(final=True)
                return view.to_json() | {"strip": strip_context(view)}
            except Exception:  # the verdict stands without its picture
                log.exception("the final log strip of %s failed", self.share_id)
                return {}
            finally:
                self._strip.close()

    def final_snapshot(self, latest: dict | None) -> dict:
        """The snapshot to keep with the result: the last one, the chart's samples, and the
        final log strip."""
        try:
            return (latest or {}) | {"samples": self.samples} | self._final_strip()
        finally:
            if self._questions is not None:  # its child ends with its last answer
                self._questions.close()

    def finished(self) -> None:
        """Tell every viewer the run is over (its final snapshot is stored)."""
        self.experiment.refresh_from_db()
        live.forget(self.share_id)
        live.send(self.share_id, live.reload_fragment(self.experiment))


def strip_context(view: StripView) -> dict:
    """The log strip's pictures: the input topic, and the output topic of kafka-to-kafka."""
    return {
        "input_svg": strip.render_input(view),
        "output_svg": strip.render_output(view) if view.outputs else "",
    }


def cluster_state(target: Target, questions: Questions) -> dict:
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
