"""What the live page receives: HTML fragments rendered once per snapshot, sent to everyone
watching an experiment through the channel layer (the htmx ws extension swaps them in by id).

Fragments are rendered here, once, in the runner's thread, not once per viewer: a hundred viewers
cost a hundred sends, not a hundred renders. The channel layer's coroutines run on the server's
event loop, which the websocket consumer binds the first time a viewer connects.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.template.loader import render_to_string

from playground.engine.clusters import Target
from playground.engine.conductor import SNAPSHOT_INTERVAL_SECONDS
from playground.engine.log_strip import LogStripWatch, StripView
from playground.engine.naming import ExperimentNames
from playground.engine.spec import Spec
from playground.engine.supervision import CONSUMER
from playground.lab.admin import admin_client
from playground.lab.control import LabError
from playground.web import chart, strip
from playground.web.folders import experiment_dir
from playground.web.models import Experiment, queue_places

log = logging.getLogger(__name__)

CLUSTER_INTERVAL_SECONDS = 1.0
# The log strip is read once per snapshot, timed to end this long before the next one is due, so
# that the strip the counters' message carries is as fresh as the counters themselves: a read
# starts as long before as reads have lately taken, plus this (back to back at worst).
STRIP_LEAD_SECONDS = 0.02
STRIP_READ_SMOOTHING = 0.3  # the weight of the newest read in how long reads take
STRIP_DATA_SECONDS = 1.0  # and summarises them for the API (saved with the snapshot) this often
TIMELINE_INTERVAL_SECONDS = 0.5  # the chart and the event list are larger than the counters
# Kinds of fragment. A viewer that falls behind skips to the newest fragment of each kind.
COUNTERS, TIMELINE, CLUSTER, STRIP, PAGE = "counters", "timeline", "cluster", "strip", "page"
TALLY = "tally"  # the class's prediction tally (class_predictions)
MESSAGE_TYPE = "experiment.html"  # handled by ExperimentConsumer.experiment_html

_loop: asyncio.AbstractEventLoop | None = None
_current: dict[str, dict[str, str]] = {}  # share id -> fragment name -> latest html


def bind_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _loop
    _loop = loop


def group_name(share_id: str) -> str:
    return f"experiment-{share_id}"


def current(share_id: str) -> str:
    """The latest fragments of a running experiment, for a viewer who just connected."""
    return "".join(_current.get(share_id, {}).values())


def controllers_group(share_id: str) -> str:
    """The viewers of `share_id` whose session controls it (consumers.py adds them)."""
    return f"{group_name(share_id)}-controllers"


def send_to_controllers(share_id: str, html: str, kind: str) -> None:
    """Send `html` only to the viewers who control experiment `share_id` (the class's prediction
    tally before it is revealed), from any thread."""
    _send_to_group(controllers_group(share_id), html, kind)


def send(share_id: str, html: str, kind: str = PAGE) -> None:
    """Send `html`, a fragment of `kind`, to every viewer of experiment `share_id` (from any
    thread)."""
    _send_to_group(group_name(share_id), html, kind)


def _send_to_group(group: str, html: str, kind: str) -> None:
    layer = get_channel_layer()
    message = {"type": MESSAGE_TYPE, "html": html, "kind": kind}
    if _loop is not None and not _loop.is_closed():
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _loop)
    elif not isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.group_send)(group, message)
    # else: in-memory layer and no viewer ever connected to this process: nobody to tell


def reload_fragment(experiment: Experiment) -> str:
    """Tells every open page to fetch the experiment again (it started, or it ended)."""
    return render_to_string("experiment.html#reload", {"experiment": experiment})


def publish_queue() -> None:
    """Tell the viewers of every queued experiment where it now stands in the queue."""
    places = queue_places()
    for experiment in Experiment.objects.filter(status=Experiment.QUEUED):
        html = render_to_string(
            "experiment.html#queue_position",
            {"experiment": experiment, "place": places.get(experiment.pk)},
        )
        send(experiment.share_id, html)


class Publisher:
    """Turns one running experiment's snapshots into fragments for its viewers."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.share_id = experiment.share_id
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._fragments = _current.setdefault(self.share_id, {})
        self._timeline_at = -TIMELINE_INTERVAL_SECONDS
        self._events = 0
        self._strip: LogStripWatch | None = None
        self._strip_lock = threading.Lock()  # one read of the raw records at a time
        self._strip_unsent = ""  # a strip drawn since the last counters were sent
        self._unsent_lock = threading.Lock()
        self._snapshot_at = time.monotonic()  # when the last counters were sent
        self._strip_thread: threading.Thread | None = None
        self.strip_data: dict = {}  # the strip as the API gives it (partitions), every second
        send(self.share_id, reload_fragment(experiment))  # queued pages become live pages

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
        self._fragments[COUNTERS] = counters
        # A new log strip rides on the counters' message: one message per snapshot, not two,
        # because the messages a server can push to a hundred viewers, not their bytes, are
        # what runs out.
        with self._unsent_lock:  # never the strip's own lock: a read may wait on Kafka
            strip_html, self._strip_unsent = self._strip_unsent, ""
            self._snapshot_at = time.monotonic()
        send(self.share_id, counters + strip_html, COUNTERS)
        events = snapshot.get("timeline", [])
        now = time.monotonic()
        if len(events) != self._events or now - self._timeline_at >= TIMELINE_INTERVAL_SECONDS:
            self._events, self._timeline_at = len(events), now
            context["chart"] = chart.render(self.samples, events)
            self._publish(TIMELINE, render_to_string("experiment.html#timeline_update", context))

    def _publish(self, kind: str, html: str) -> None:
        self._fragments[kind] = html
        send(self.share_id, html, kind)

    def watch_cluster(self, target: Target) -> None:
        """Every second, the brokers' states and the partition leaders, in a thread of its own
        (a paused broker can make a metadata request wait; the conductor must never wait)."""
        threading.Thread(target=self._watch, args=(target,), daemon=True).start()

    def _watch(self, target: Target) -> None:
        admin = admin_client(target.direct_bootstrap_servers)
        topic = ExperimentNames(self.experiment.run_id, Path()).input_topic
        while not self._stop.is_set():
            started = time.monotonic()
            html = render_to_string(
                "experiment.html#cluster_state",
                {"cluster": cluster_state(target, admin, topic), "live": True},
            )
            if self._stop.is_set():
                break
            self._publish(CLUSTER, html)
            self._stop.wait(max(0.0, CLUSTER_INTERVAL_SECONDS - (time.monotonic() - started)))

    def watch_log(self, target: Target) -> None:
        """Follow the log strip (log_strip.LogStripWatch) in a thread of its own, and send it to
        the viewers whenever it changes."""
        names = ExperimentNames(self.experiment.run_id, experiment_dir(self.experiment.run_id))
        spec = Spec.from_json(self.experiment.spec)
        self._strip = LogStripWatch(names, spec, target.direct_bootstrap_servers)
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
                with self._unsent_lock:
                    shown = self._fragments[STRIP] = self._strip_unsent = html
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
        return (latest or {}) | {"samples": self.samples} | self._final_strip()

    def finished(self) -> None:
        """Tell every viewer the run is over (its final snapshot is stored)."""
        self.experiment.refresh_from_db()
        _current.pop(self.share_id, None)
        send(self.share_id, reload_fragment(self.experiment))


def strip_context(view: StripView) -> dict:
    """The log strip's pictures: the input topic, and the output topic of kafka-to-kafka."""
    return {
        "input_svg": strip.render_input(view),
        "output_svg": strip.render_output(view) if view.outputs else "",
    }


def cluster_state(target: Target, admin, topic: str) -> dict:
    """Brokers (up, paused, down) and the leader and in-sync replicas of each input partition."""
    nodes, error = [], ""
    if target.lab is not None:
        try:
            nodes = [n for n in target.lab.status()["nodes"] if n["role"] == "broker"]
        except LabError as failure:
            error = str(failure)
    partitions = []
    try:
        metadata = admin.list_topics(topic, timeout=2)
        found = metadata.topics.get(topic)
        if found is not None and found.error is None:
            partitions = [
                {"partition": p.id, "leader": p.leader, "isr": list(p.isrs)}
                for p in sorted(found.partitions.values(), key=lambda p: p.id)
            ]
    except Exception as failure:  # noqa: BLE001 - the panel says so; the experiment goes on
        error = error or f"metadata unavailable: {failure}"
    return {"nodes": nodes, "partitions": partitions, "error": error, "managed": bool(target.lab)}
