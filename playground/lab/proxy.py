"""The Kafka-aware fault proxy: one asyncio listener in front of each broker's client listener.

With no fault armed it only follows the framing and passes frames through. On command it can:
drop the responses to the next N Produce requests (the broker still receives and writes them),
reset the client connection right after forwarding a Produce request, delay every response by T ms,
and blackhole the broker for T seconds (frames in both directions vanish).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field

from playground.lab import protocol

# A reset connection keeps its broker side open this long, so the broker still handles the
# Produce request that was forwarded just before the reset (its response is then discarded).
RESET_UPSTREAM_GRACE_SECONDS = 5.0
# A request's first bytes hold everything the proxy reads (header, client id, Produce's acks).
REQUEST_HEAD_BYTES = 512
CHUNK_BYTES = 256 * 1024
# Let a whole batch of requests sit in a transport's buffer before drain() makes a pump wait.
WRITE_BUFFER_HIGH_WATER = 8 * 1024 * 1024
READ_BUFFER = 1024 * 1024  # a stream stops reading its socket at twice this much unread


@dataclass
class Budget:
    """A count of Produce requests still to be hit by a one-shot fault."""

    remaining: int = 0

    def take(self) -> bool:
        if self.remaining > 0:
            self.remaining -= 1
            return True
        return False


@dataclass
class ProxyStats:
    """What one proxy did since it started: the evidence behind every fault."""

    connections: int = 0
    requests: int = 0
    produce_requests: int = 0
    responses: int = 0
    dropped_produce_responses: int = 0
    resets: int = 0
    blackholed_frames: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Faults:
    """The faults armed on one proxy, or the budgets shared by all of them ("any broker")."""

    drop_produce_responses: Budget = field(default_factory=Budget)
    reset_after_produce: Budget = field(default_factory=Budget)
    delay_seconds: float = 0.0
    delay_until: float = float("inf")
    blackhole_until: float = 0.0

    @property
    def response_delay(self) -> float:
        if self.delay_seconds and time.monotonic() < self.delay_until:
            return self.delay_seconds
        return 0.0

    @property
    def blackholed(self) -> bool:
        return time.monotonic() < self.blackhole_until


class FaultProxy:
    """Listens on `listen_port` and forwards to the broker's client listener on `broker_port`."""

    def __init__(self, node_id: int, listen_port: int, broker_port: int, shared: Faults) -> None:
        self.node_id = node_id
        self.shared = (
            shared  # budgets any proxy may consume: "the next N Produce requests anywhere"
        )
        self.listen_port = listen_port
        self.broker_port = broker_port
        self.faults = Faults()
        self.stats = ProxyStats()
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.listen_port, reuse_address=True, limit=READ_BUFFER
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()

    def blackhole(self, seconds: float) -> None:
        """Swallow every frame for `seconds`; then reset the connections that lost frames."""
        self.faults.blackhole_until = time.monotonic() + seconds
        asyncio.get_running_loop().call_later(seconds, self._end_blackhole)

    def _end_blackhole(self) -> None:
        if self.faults.blackholed:
            return  # extended by a later command
        for connection in list(self._connections):
            if connection.lost_frames:
                connection.abort()

    def clear(self) -> None:
        """Disarm every fault of this proxy (the shared budgets are cleared by their owner)."""
        self.faults = Faults()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.broker_port, limit=READ_BUFFER
            )
        except OSError:
            writer.close()  # the broker is down: the client sees a refused broker
            return
        for stream in (writer, upstream_writer):
            stream.transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH_WATER)
        connection = _Connection(self, reader, writer, upstream_reader, upstream_writer)
        self._connections.add(connection)
        try:
            await connection.run()
        except asyncio.CancelledError:
            # The lab is shutting down. Nothing awaits this handler, so a cancellation
            # re-raised here would only end up as a logged "exception in callback".
            pass
        finally:
            self._connections.discard(connection)


class _Connection:
    """One client connection and its connection to the broker."""

    def __init__(
        self,
        proxy: FaultProxy,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream_reader: asyncio.StreamReader,
        upstream_writer: asyncio.StreamWriter,
    ) -> None:
        self.proxy = proxy
        self.client_reader = reader
        self.client_writer = writer
        self.upstream_reader = upstream_reader
        self.upstream_writer = upstream_writer
        self.dropped_correlation_ids: set[int] = set()
        self.lost_frames = False
        self.client_gone = False
        self._delayed: deque[tuple[float, bytes]] = deque()
        self._delayed_ready = asyncio.Event()

    async def run(self) -> None:
        pumps = [
            asyncio.create_task(self._pump_requests()),
            asyncio.create_task(self._pump_responses()),
            asyncio.create_task(self._release_delayed()),
        ]
        try:
            await asyncio.wait(pumps[:2], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self.abort()

    def abort(self) -> None:
        """Reset the client side (RST, not FIN) and close the broker side."""
        _reset(self.client_writer)
        self.upstream_writer.transport.abort()

    async def _pump_requests(self) -> None:
        proxy, shared, stats = self.proxy, self.proxy.shared, self.proxy.stats
        reader, upstream = self.client_reader, self.upstream_writer
        while True:
            prefix, head, rest = await _read_head(reader, REQUEST_HEAD_BYTES)
            faults = proxy.faults
            if faults.blackholed:
                await _pass_on(reader, None, rest)
                stats.blackholed_frames += 1
                self.lost_frames = True
                continue
            stats.requests += 1
            api_key, api_version, correlation_id = protocol.request_header(head)
            reset = False
            if api_key == protocol.PRODUCE:
                stats.produce_requests += 1
                try:
                    acks = protocol.produce_acks(head, api_version)
                except (struct.error, IndexError):  # an unusually long header: read it all
                    head += await reader.readexactly(rest)
                    rest = 0
                    acks = protocol.produce_acks(head, api_version)
                if acks != 0 and (
                    faults.drop_produce_responses.take() or shared.drop_produce_responses.take()
                ):
                    self.dropped_correlation_ids.add(correlation_id)
                reset = faults.reset_after_produce.take() or shared.reset_after_produce.take()
            upstream.write(prefix)
            upstream.write(head)
            await _pass_on(reader, upstream, rest)
            await upstream.drain()
            if reset:
                stats.resets += 1
                self.client_gone = True
                _reset(self.client_writer)
                await asyncio.sleep(RESET_UPSTREAM_GRACE_SECONDS)
                return

    async def _pump_responses(self) -> None:
        proxy, stats = self.proxy, self.proxy.stats
        reader, client = self.upstream_reader, self.client_writer
        while True:
            prefix, head, rest = await _read_head(reader, 4)
            faults = proxy.faults
            if faults.blackholed:
                await _pass_on(reader, None, rest)
                stats.blackholed_frames += 1
                self.lost_frames = True
                continue
            correlation_id = protocol.response_correlation_id(head)
            if correlation_id in self.dropped_correlation_ids:
                await _pass_on(reader, None, rest)
                self.dropped_correlation_ids.discard(correlation_id)
                stats.dropped_produce_responses += 1
                continue
            if self.client_gone:
                await _pass_on(reader, None, rest)
                continue
            stats.responses += 1
            delay = faults.response_delay
            if delay or self._delayed:
                frame = prefix + head + await reader.readexactly(rest)
                self._delayed.append((time.monotonic() + delay, frame))
                self._delayed_ready.set()
                continue
            client.write(prefix)
            client.write(head)
            await _pass_on(reader, client, rest)
            await client.drain()

    async def _release_delayed(self) -> None:
        """Send delayed responses in order, each at its due time."""
        while True:
            await self._delayed_ready.wait()
            while self._delayed:
                due, data = self._delayed[0]
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._delayed.popleft()
                self.client_writer.write(data)
                await self.client_writer.drain()
            self._delayed_ready.clear()


async def _read_head(reader: asyncio.StreamReader, wanted: int) -> tuple[bytes, bytes, int]:
    """A frame's size prefix, its first `wanted` bytes (or all, if shorter), and how many remain."""
    prefix = await reader.readexactly(4)
    size = protocol.frame_size(prefix)
    head = await reader.readexactly(min(size, wanted))
    return prefix, head, size - len(head)


async def _pass_on(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None, remaining: int
) -> None:
    """Stream the rest of a frame to `writer` as it arrives (or swallow it, if None): forwarding
    starts before a large frame is complete, and nothing copies it whole."""
    while remaining:
        chunk = await reader.read(min(remaining, CHUNK_BYTES))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(chunk)
        if writer is not None:
            writer.write(chunk)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, so that the peer sees a connection reset."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class ProxyFleet:
    """The proxies of all brokers, addressed by broker id; None addresses "any broker"."""

    def __init__(self, ports: dict[int, tuple[int, int]]) -> None:
        self.shared = Faults()
        self.proxies = {
            node_id: FaultProxy(node_id, listen, broker, self.shared)
            for node_id, (listen, broker) in ports.items()
        }

    async def start(self) -> None:
        for proxy in self.proxies.values():
            await proxy.start()

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.close()

    def targets(self, node_id: int | None) -> list[FaultProxy]:
        if node_id is None:
            return list(self.proxies.values())
        if node_id not in self.proxies:
            raise KeyError(f"no broker {node_id}; brokers are {sorted(self.proxies)}")
        return [self.proxies[node_id]]

    def drop_produce_responses(self, count: int, node_id: int | None = None) -> None:
        """Drop the responses to the next `count` Produce requests (to `node_id`, or anywhere)."""
        faults = self.shared if node_id is None else self.targets(node_id)[0].faults
        faults.drop_produce_responses.remaining += count

    def reset_after_produce(self, count: int, node_id: int | None = None) -> None:
        """Reset the client connection right after forwarding each of the next `count` Produces."""
        faults = self.shared if node_id is None else self.targets(node_id)[0].faults
        faults.reset_after_produce.remaining += count

    def delay_responses(
        self, milliseconds: float, seconds: float | None = None, node_id: int | None = None
    ) -> None:
        """Hold every response `milliseconds` before passing it on, for `seconds` (None: until
        cleared)."""
        until = float("inf") if seconds is None else time.monotonic() + seconds
        for proxy in self.targets(node_id):
            proxy.faults.delay_seconds = milliseconds / 1000
            proxy.faults.delay_until = until

    def blackhole(self, seconds: float, node_id: int | None = None) -> None:
        """Cut the broker off from its clients for `seconds`."""
        for proxy in self.targets(node_id):
            proxy.blackhole(seconds)

    def clear(self) -> None:
        """Disarm every fault on every proxy."""
        self.shared.drop_produce_responses.remaining = 0
        self.shared.reset_after_produce.remaining = 0
        for proxy in self.proxies.values():
            proxy.clear()

    def status(self) -> dict:
        """Armed faults and counters: per broker, plus the budgets shared by all brokers."""
        return {
            "any_broker": {
                "drop_produce_responses": self.shared.drop_produce_responses.remaining,
                "reset_after_produce": self.shared.reset_after_produce.remaining,
            },
            "brokers": {
                str(node_id): {
                    "listen_port": proxy.listen_port,
                    "drop_produce_responses": proxy.faults.drop_produce_responses.remaining,
                    "reset_after_produce": proxy.faults.reset_after_produce.remaining,
                    "delay_ms": proxy.faults.response_delay * 1000,
                    "blackholed": proxy.faults.blackholed,
                    **proxy.stats.as_dict(),
                }
                for node_id, proxy in self.proxies.items()
            },
        }
