"""Long-lived threads for the synchronous part of HTTP requests.

Under ASGI, Django gives every request a thread of its own: asgiref's ThreadSensitiveContext makes
a new single-thread executor per request and, when the request ends, starts one more thread to
shut it down, from the event loop. Starting a thread blocks the loop until the new thread runs,
and on a busy machine (brokers, workers and a dozen experiments' threads sharing two cores and one
interpreter lock) that wait grows to tens of milliseconds, per request. With a class polling the
API, the loop spent most of its time starting threads, and the live pages' websocket updates
waited seconds behind it (measured with `make bench-classroom`).

Here each request borrows one of a few single-thread executors that live as long as the server,
so no request starts a thread. Requests beyond the pool's size wait their turn.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext

POOL_SIZE = 16  # requests whose synchronous code runs at the same time


class PooledRequestThreads:
    """ASGI middleware: the HTTP requests of `app` run their synchronous code on pooled threads."""

    def __init__(self, app, size: int = POOL_SIZE) -> None:
        self.app = app
        self.size = size
        self._idle: asyncio.Queue[ThreadPoolExecutor] | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._idle is None:  # made on the server's event loop, at the first request
            self._idle = asyncio.Queue()
            for number in range(self.size):
                self._idle.put_nowait(
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"request-{number}")
                )
        executor = await self._idle.get()
        try:
            # A context of its own per request (one can be entered once), on a borrowed thread;
            # Django's own context inside it then adds no executor and starts no thread.
            async with ThreadSensitiveContext(executor=executor):
                await self.app(scope, receive, send)
        finally:
            self._idle.put_nowait(executor)
