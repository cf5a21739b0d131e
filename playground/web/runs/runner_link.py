"""The link between `manage.py serve` and its runner child, and who runs a process's experiments.

`serve` serves the pages and loads no Kafka client; its experiments run in a child process
(`manage.py runner --link-fd N`, see runner_process), where a native abort in a Kafka client costs
the runner's experiments and never the pages. The two talk over one Unix socket pair:
- up (runner to serve): what `live` would send to the viewers (`send`), with the in-memory
  channel layer the only way a fragment reaches them, and the latest fragments of each running
  experiment (`remember`, `forget`), which a viewer connecting mid-run is sent first;
- down (serve to runner): `wake`, look at the queue now (someone queued an experiment).

A frame is a 4-byte big-endian length, then that many bytes of one JSON object with an `op`. The
runner never waits for serve: its frames go through a bounded queue that a thread of its own
writes, and when serve falls that far behind the newest fragments are dropped (viewers skip to
the newest fragment of each kind anyway).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import socket
import struct
import threading
from collections.abc import Callable

from playground.web.runs import fanout

log = logging.getLogger(__name__)

SEND, REMEMBER, FORGET, WAKE = "send", "remember", "forget", "wake"
UP_QUEUE_FRAMES = 4096  # frames a runner keeps for serve before it drops fragments
_LENGTH = struct.Struct(">I")


def runner_name(pid: int) -> str:
    """How a runner process is named in the database (Experiment.runner): host and pid."""
    return f"{socket.gethostname()}:{pid}"


def write_frame(connection: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode()
    connection.sendall(_LENGTH.pack(len(data)) + data)


def read_frame(stream) -> dict | None:
    """The next frame of a binary `stream` (a socket's makefile("rb")); None at its end."""
    prefix = stream.read(_LENGTH.size)
    if len(prefix) < _LENGTH.size:
        return None
    data = stream.read(_LENGTH.unpack(prefix)[0])
    return json.loads(data)


class ChildEnd:
    """The runner's end: forwards `live`'s sends (fanout.Forward) and hands serve's wake-ups to
    `on_wake`; `on_parent_gone` is called once serve has closed the link (it is stopping, or it
    died)."""

    def __init__(
        self,
        connection: socket.socket,
        *,
        on_wake: Callable[[], None],
        on_parent_gone: Callable[[], None],
    ) -> None:
        self._connection = connection
        self._on_wake = on_wake
        self._on_parent_gone = on_parent_gone
        self._up: queue.Queue[dict] = queue.Queue(UP_QUEUE_FRAMES)
        self._dropped = 0

    @classmethod
    def open(cls, fd: int, **callbacks: Callable[[], None]) -> ChildEnd:
        """The link on inherited descriptor `fd`, running, and `live` forwarding through it."""
        end = cls(socket.socket(fileno=fd), **callbacks)
        threading.Thread(target=end._write_up, name="runner-link-up", daemon=True).start()
        threading.Thread(target=end._read_down, name="runner-link-down", daemon=True).start()
        fanout.forward_to(end)
        return end

    # -- fanout.Forward ----------------------------------------------------------------------------
    def send(self, group: str, message: dict) -> None:
        self._put({"op": SEND, "group": group, "message": message})

    def remember(self, share_id: str, kind: str, html: str) -> None:
        self._put({"op": REMEMBER, "share_id": share_id, "kind": kind, "html": html})

    def forget(self, share_id: str) -> None:
        self._put({"op": FORGET, "share_id": share_id})

    def _put(self, frame: dict) -> None:
        try:
            self._up.put_nowait(frame)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("serve is behind: %d live fragments dropped", self._dropped)

    def _write_up(self) -> None:
        while True:
            frame = self._up.get()
            try:
                write_frame(self._connection, frame)
            except OSError:  # serve is gone; _read_down has seen it too
                return

    def _read_down(self) -> None:
        stream = self._connection.makefile("rb")
        try:
            while (frame := read_frame(stream)) is not None:
                if frame.get("op") == WAKE:
                    self._on_wake()
        except (OSError, ValueError):
            pass  # a broken link is a closed one
        finally:
            fanout.forward_to(None)
            self._on_parent_gone()


class ParentEnd:
    """Serve's end: hands the runner's frames to `live` in this process, and wakes the runner."""

    def __init__(self, connection: socket.socket) -> None:
        self._connection = connection
        self._lock = threading.Lock()  # one writer at a time: requests wake from many threads
        self._reader = threading.Thread(target=self._read_up, name="runner-link-up", daemon=True)

    @classmethod
    def pair(cls) -> tuple[ParentEnd, socket.socket]:
        """A new link: serve's end (reading already) and the socket to give the child."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        end = cls(mine)
        end._reader.start()
        return end, theirs

    def wake(self) -> None:
        """Tell the runner to look at the queue now (no-op when it is not there to hear)."""
        try:
            with self._lock:
                write_frame(self._connection, {"op": WAKE})
        except OSError:
            pass  # it died: its successor looks at the queue as it starts

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already shut by the other end
            self._connection.shutdown(socket.SHUT_RDWR)
        self._connection.close()
        self._reader.join(timeout=5)

    def _read_up(self) -> None:
        stream = self._connection.makefile("rb")
        try:
            while (frame := read_frame(stream)) is not None:
                _take(frame)
        except (OSError, ValueError):
            pass  # the runner died mid-frame: runner_process tells what happened


def _take(frame: dict) -> None:
    op = frame.get("op")
    if op == SEND:
        fanout.deliver(frame["group"], frame["message"])
    elif op == REMEMBER:
        fanout.keep(frame["share_id"], frame["kind"], frame["html"])
    elif op == FORGET:
        fanout.drop(frame["share_id"])


# -- who runs this process's experiments ---------------------------------------------------------
_waker: Callable[[], None] | None = None


def wake_with(waker: Callable[[], None] | None) -> None:
    """Who runs the experiments this process queues: `waker` tells them to look at the queue.
    `serve` wakes its runner child; `manage.py runner` and the tests wake the runner thread of
    their own process; a process that said nothing (or `serve --no-runner`) wakes nobody, and
    runners of their own find the experiment when they next poll the queue."""
    global _waker
    _waker = waker


def wake_runner() -> None:
    """Someone queued an experiment: tell whoever runs this process's experiments (wake_with)."""
    if _waker is not None:
        _waker()
