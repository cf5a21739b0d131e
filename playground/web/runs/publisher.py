"""A running experiment's live page, drawn in the runner's process: the conductor's snapshots
turned into HTML fragments (counters, timeline), and what the engine's run observer hands over
(the log strip, the cluster panel), each sent to the viewers through `live`.

It reads no journal and asks Kafka nothing: the observer (engine.run_observer) does that, and
this only draws what it is handed (a RunView).
"""

from __future__ import annotations

import threading
import time

from django.template.loader import render_to_string

from playground.engine.observe.strip_state import StripView
from playground.web import chart, strip
from playground.web.models import Experiment
from playground.web.runs import fanout
from playground.web.runs.fanout import CLUSTER, COUNTERS, STRIP, TIMELINE

STRIP_DATA_SECONDS = 1.0  # the strip is summarised for the API (saved with the snapshot) this often
TIMELINE_INTERVAL_SECONDS = 0.5  # the chart and the event list are larger than the counters


class Publisher:
    """Turns one running experiment's snapshots into fragments for its viewers."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.share_id = experiment.share_id
        self.samples: list[dict] = []
        self._timeline_at = -TIMELINE_INTERVAL_SECONDS
        self._events = 0
        self._strip_shown = ""  # the strip last drawn
        self._strip_unsent = ""  # a strip drawn since the last counters were sent
        self._unsent_lock = threading.Lock()
        self._summarised_at = -STRIP_DATA_SECONDS
        self.strip_data: dict = {}  # the strip as the API gives it (partitions), every second
        fanout.send(self.share_id, fanout.reload_fragment(experiment))  # queued pages go live

    def snapshot(self, snapshot: dict) -> None:
        """Counters at every snapshot; the timeline twice a second, or at once on a new event."""
        self.samples.append(
            {
                "t": snapshot["elapsed"],
                "delivered": snapshot.get("delivered", 0),
                "duplicated": snapshot.get("duplicated_so_far", 0),
            }
        )
        context = {"experiment": self.experiment, "snapshot": snapshot}
        counters = render_to_string("experiment.html#live_update", context)
        fanout.remember(self.share_id, COUNTERS, counters)
        # A new log strip rides on the counters' message: one message per snapshot, not two,
        # because the messages a server can push to a hundred viewers, not their bytes, are
        # what runs out.
        with self._unsent_lock:
            strip_html, self._strip_unsent = self._strip_unsent, ""
        fanout.send(self.share_id, counters + strip_html, COUNTERS)
        events = snapshot.get("timeline", [])
        now = time.monotonic()
        if len(events) != self._events or now - self._timeline_at >= TIMELINE_INTERVAL_SECONDS:
            self._events, self._timeline_at = len(events), now
            context["chart"] = chart.render(self.samples, events)
            self._publish(TIMELINE, render_to_string("experiment.html#timeline_update", context))

    def _publish(self, kind: str, html: str) -> None:
        fanout.remember(self.share_id, kind, html)
        fanout.send(self.share_id, html, kind)

    def strip(self, view: StripView) -> None:
        """A new read of the log strip: drawn, and sent with the next counters when it changed;
        summarised for the API every STRIP_DATA_SECONDS."""
        html = render_to_string("log_strip.html#strip", strip_context(view))
        now = time.monotonic()
        if now - self._summarised_at >= STRIP_DATA_SECONDS:
            self.strip_data, self._summarised_at = view.to_json(), now
        if html != self._strip_shown:  # sent with the next counters (see snapshot)
            fanout.remember(self.share_id, STRIP, html)
            with self._unsent_lock:
                self._strip_shown = self._strip_unsent = html

    def cluster(self, state: dict) -> None:
        """The cluster panel, every second."""
        html = render_to_string("experiment.html#cluster_state", {"cluster": state, "live": True})
        self._publish(CLUSTER, html)

    def final_snapshot(self, latest: dict | None, final_strip: StripView | None) -> dict:
        """The snapshot to keep with the result: the last one, the chart's samples, and the
        final log strip (its partitions for the API, and its pictures for the verdict)."""
        kept = (latest or {}) | {"samples": self.samples}
        if final_strip is not None:
            kept |= final_strip.to_json() | {"strip": strip_context(final_strip)}
        return kept

    def finished(self) -> None:
        """Tell every viewer the run is over (its final snapshot is stored)."""
        self.experiment.refresh_from_db()
        fanout.forget(self.share_id)
        fanout.send(self.share_id, fanout.reload_fragment(self.experiment))


def strip_context(view: StripView) -> dict:
    """The log strip's pictures: the input topic, and the output topic of kafka-to-kafka."""
    return {
        "input_svg": strip.render_input(view),
        "output_svg": strip.render_output(view) if view.outputs else "",
    }
