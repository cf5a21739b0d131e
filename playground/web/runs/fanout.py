"""What the live page receives: HTML fragments sent to everyone watching an experiment through the
channel layer (the htmx ws extension swaps them in by id).

Fragments are rendered once, where they are made (a running experiment's in `publisher`, in the
runner's process), not once per viewer: a hundred viewers cost a hundred sends, not a hundred
renders. The channel layer's coroutines run on the server's event loop, which the websocket
consumer binds the first time a viewer connects.

This module loads no Kafka client: the process that serves the pages imports it. A runner process
that `manage.py serve` started sends its fragments through `runner_link` (set with `forward_to`),
which hands them to this module in the serving process: with the in-memory channel layer that is
the only way they reach the viewers; with Redis (REDIS_URL) they go through Redis as from any
runner. Either way the latest fragments of each running experiment (`current`, what a viewer who
connects mid-run sees first) are kept in the serving process too.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.template.loader import render_to_string

from playground.web.models import Experiment, queue_places

# Kinds of fragment. A viewer that falls behind skips to the newest fragment of each kind.
COUNTERS, TIMELINE, CLUSTER, STRIP, PAGE = "counters", "timeline", "cluster", "strip", "page"
TALLY = "tally"  # the class's prediction tally (class_predictions)
MESSAGE_TYPE = "experiment.html"  # handled by ExperimentConsumer.experiment_html

_loop: asyncio.AbstractEventLoop | None = None
_current: dict[str, dict[str, str]] = {}  # share id -> fragment name -> latest html


class Forward(Protocol):
    """Where a runner child sends what this module would send or keep (runner_link's child
    end): each call returns at once, and never raises."""

    def send(self, group: str, message: dict) -> None: ...

    def remember(self, share_id: str, kind: str, html: str) -> None: ...

    def forget(self, share_id: str) -> None: ...


_forward: Forward | None = None


def forward_to(forward: Forward | None) -> None:
    """In a runner child of `serve`: send fragments and the current ones to the serving process
    (None: stop forwarding)."""
    global _forward
    _forward = forward


def bind_loop(loop: asyncio.AbstractEventLoop) -> None:
    global _loop
    _loop = loop


def group_name(share_id: str) -> str:
    return f"experiment-{share_id}"


def current(share_id: str) -> str:
    """The latest fragments of a running experiment, for a viewer who just connected."""
    return "".join(_current.get(share_id, {}).values())


def remember(share_id: str, kind: str, html: str) -> None:
    """Keep `html` as the latest fragment of `kind` of running experiment `share_id`."""
    keep(share_id, kind, html)
    if _forward is not None:
        _forward.remember(share_id, kind, html)


def forget(share_id: str) -> None:
    """The run of `share_id` is over: no fragment of it is current any more."""
    drop(share_id)
    if _forward is not None:
        _forward.forget(share_id)


def keep(share_id: str, kind: str, html: str) -> None:
    """`remember` in this process only (what a runner child remembered, runner_link)."""
    _current.setdefault(share_id, {})[kind] = html


def drop(share_id: str) -> None:
    """`forget` in this process only (what a runner child forgot, runner_link)."""
    _current.pop(share_id, None)


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
    message = {"type": MESSAGE_TYPE, "html": html, "kind": kind}
    if _forward is not None and isinstance(get_channel_layer(), InMemoryChannelLayer):
        _forward.send(group, message)  # this process has no viewers: its parent has
    else:
        deliver(group, message)


def deliver(group: str, message: dict) -> None:
    """Send `message` to `group` through this process's channel layer (from any thread)."""
    layer = get_channel_layer()
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
