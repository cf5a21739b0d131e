"""The live page's websocket: anyone with the share link may watch; nobody acts through it.

Viewers receive the HTML fragments publisher.Publisher renders. A viewer that falls behind (a slow
client, a busy server) skips to the newest fragment of each kind instead of working through a
backlog of stale counters: fragments wait in `pending`, one per kind, in the order they came, and
a sender task sends what is there whenever it gets to run.

The socket takes no commands (the crash buttons POST, where the session decides who controls the
experiment); a message sent to it gets an error fragment back, and the socket stays open. A viewer
whose session controls the experiment also joins its controllers' group, which alone receives the
class's prediction tally before it is revealed.
"""

from __future__ import annotations

import asyncio
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from playground.web.models import Experiment
from playground.web.runs import experiments, fanout

CLOSE_UNKNOWN_EXPERIMENT = 4404


class ExperimentConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.share_id = self.scope["url_route"]["kwargs"]["share_id"]
        exists = await database_sync_to_async(
            Experiment.objects.filter(share_id=self.share_id).exists
        )()
        if not exists:
            await self.close(code=CLOSE_UNKNOWN_EXPERIMENT)
            return
        fanout.bind_loop(asyncio.get_running_loop())
        self.pending: dict[str, str] = {}
        self.ready = asyncio.Event()
        self.group = fanout.group_name(self.share_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        if await database_sync_to_async(_controls)(self.scope.get("cookies", {}), self.share_id):
            self.controllers = fanout.controllers_group(self.share_id)
            await self.channel_layer.group_add(self.controllers, self.channel_name)
        await self.accept()
        latest = fanout.current(self.share_id)
        if latest:
            await self.send(text_data=latest)
        self.sender = asyncio.create_task(self._send_pending())

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "sender"):
            self.sender.cancel()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if hasattr(self, "controllers"):
            await self.channel_layer.group_discard(self.controllers, self.channel_name)

    async def _send_pending(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.pending:
                kind = next(iter(self.pending))
                await self.send(text_data=self.pending.pop(kind))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(
            text_data=render_to_string(
                "experiment.html#socket_error",
                {"message": "This connection only sends updates; use the buttons to act."},
            )
        )

    async def dispatch(self, message: dict) -> None:
        # The fan-out handler touches no database: it skips the hop to a thread that channels
        # makes before every handler to close stale connections, a round trip per message and
        # viewer that, ten times a second for a hundred viewers, is most of the server's work.
        if message["type"] == fanout.MESSAGE_TYPE:
            await self.experiment_html(message)
        else:
            await super().dispatch(message)

    async def experiment_html(self, event: dict) -> None:
        kind = event.get("kind", fanout.PAGE)
        self.pending.pop(kind, None)  # an older fragment of the same kind is stale: drop it
        self.pending[kind] = event["html"]
        self.ready.set()


def _controls(cookies: dict, share_id: str) -> bool:
    """Whether the browser session named by the session cookie controls `share_id`. Read once
    per connection: a session middleware around the consumer would look at the session again
    with every message sent."""
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return experiments.session_controls(store(session_key), share_id)
