"""The Kafka-aware fault proxy: one asyncio listener in front of each broker's client listener.

With no fault armed it only follows the framing and passes frames through. On command it can:
drop the responses to the next N Produce requests (the broker still receives and writes them),
reset the client connection right after forwarding a Produce request, delay every response by T ms,
and blackhole the broker for T seconds (frames in both directions vanish).

The two one-shot Produce faults can be aimed at chosen clients, by client-id prefix, so that
experiments sharing the cluster each hit only their own producers. The proxies keep, per client id,
how many responses they dropped and when the last one was (`DropLedger`): a lost answer costs the
client that sent the request its own request timeout, so whoever armed the fault can tell how long
the clients it actually hit may wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
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
# Client ids the drop ledger remembers at most: each experiment forgets its own when it clears its
# faults; this bounds what clients nobody clears (aimed at by "any client") can leave behind.
DROP_LEDGER_CLIENTS = 10_000


ClientPrefixes = tuple[str, ...]
ClientId = Callable[[], str | None]  # a request's client id, parsed when first asked for


def client_prefixes(clients: Iterable[str] | None) -> ClientPrefixes | None:
    """`clients` as a budget's target: its distinct prefixes, sorted; None stays "any client"."""
    if clients is None:
        return None
    if isinstance(clients, str):  # would otherwise aim at each of its characters
        raise ValueError(f"clients: expected a list of client-id prefixes, got {clients!r}")
    prefixes = tuple(sorted(set(clients)))
    if not prefixes or "" in prefixes:
        raise ValueError(f"clients: expected non-empty client-id prefixes, got {list(prefixes)}")
    return prefixes


@dataclass
class Budget:
    """A count of Produce requests still to be hit by a one-shot fault, and whose requests."""

    remaining: int
    clients: ClientPrefixes | None = None  # client-id prefixes; None: any client

    def aims_at(self, client_id: ClientId) -> bool:
        if self.clients is None:
            return True  # no need to parse the client id
        found = client_id()
        return found is not None and found.startswith(self.clients)

    def as_dict(self) -> dict:
        clients = None if self.clients is None else list(self.clients)
        return {"clients": clients, "remaining": self.remaining}


@dataclass
class Budgets:
    """The armed budgets of one one-shot fault, in arming order. Each Produce request takes from
    the first budget that aims at its client only; a spent budget is dropped."""

    armed: list[Budget] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return sum(budget.remaining for budget in self.armed)

    def arm(self, count: int, clients: ClientPrefixes | None = None) -> None:
        """Add `count` requests to the budget aimed at `clients` (a new one, last, if none)."""
        if count < 1:
            raise ValueError(f"count: expected at least 1, got {count}")
        for budget in self.armed:
            if budget.clients == clients:
                budget.remaining += count
                return
        self.armed.append(Budget(count, clients))

    def take(self, client_id: ClientId) -> bool:
        """Whether the request of `client_id` is hit; if so, it is taken from the budget."""
        for index, budget in enumerate(self.armed):
            if budget.aims_at(client_id):
                budget.remaining -= 1
                if not budget.remaining:
                    del self.armed[index]
                return True
        return False

    def clear(self) -> None:
        self.armed.clear()

    def clear_clients(self, prefixes: ClientPrefixes) -> int:
        """Stop aiming at any client within `prefixes`; return how many requests were disarmed.

        A budget aimed at a prefix that starts with one of `prefixes` hits only clients within
        them, so it loses that prefix; a budget left with none is disarmed. Budgets aimed at any
        client are kept: they belong to no one in particular."""
        disarmed = 0
        kept = []
        for budget in self.armed:
            if budget.clients is not None:
                others = tuple(p for p in budget.clients if not p.startswith(prefixes))
                if not others:
                    disarmed += budget.remaining
                    continue
                budget.clients = others
            kept.append(budget)
        self.armed[:] = kept
        return disarmed

    def as_list(self) -> list[dict]:
        return [budget.as_dict() for budget in self.armed]


@dataclass
class Dropped:
    """The Produce responses dropped for one client id: how many, and when the last one's request
    passed (time.monotonic() of the lab process)."""

    count: int = 0
    last: float = 0.0


class DropLedger:
    """Whose Produce responses the proxies dropped, by client id, over every broker."""

    def __init__(self) -> None:
        self.clients: dict[str, Dropped] = {}

    def note(self, client_id: str | None) -> None:
        """A response to `client_id` will be dropped (its request is on its way to the broker)."""
        if not client_id:
            return  # a request without a client id is nobody's to account for
        dropped = self.clients.get(client_id)
        if dropped is None:
            if len(self.clients) >= DROP_LEDGER_CLIENTS:
                del self.clients[min(self.clients, key=lambda k: self.clients[k].last)]
            dropped = self.clients[client_id] = Dropped()
        dropped.count += 1
        dropped.last = time.monotonic()

    def of(self, prefixes: ClientPrefixes) -> dict[str, dict]:
        """Per client id within `prefixes`: {"count", "seconds_ago"} (since its last drop)."""
        now = time.monotonic()
        return {
            client_id: {"count": dropped.count, "seconds_ago": round(now - dropped.last, 3)}
            for client_id, dropped in self.clients.items()
            if client_id.startswith(prefixes)
        }

    def forget(self, prefixes: ClientPrefixes | None = None) -> None:
        """Forget the clients within `prefixes` (None: every client)."""
        for client_id in list(self.clients):
            if prefixes is None or client_id.startswith(prefixes):
                del self.clients[client_id]


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

    drop_produce_responses: Budgets = field(default_factory=Budgets)
    reset_after_produce: Budgets = field(default_factory=Budgets)
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

    def clear_budgets(self) -> None:
        """Disarm both one-shot faults, in place: the shared faults are held by every proxy."""
        self.drop_produce_responses.clear()
        self.reset_after_produce.clear()

    def clear_clients(self, prefixes: ClientPrefixes) -> int:
        """Disarm both one-shot faults for clients within `prefixes`; return the requests spared."""
        spared = self.drop_produce_responses.clear_clients(prefixes)
        return spared + self.reset_after_produce.clear_clients(prefixes)

    def budgets_status(self) -> dict:
        """Per one-shot fault: the total count still armed, and each budget with its target."""
        return {
            "drop_produce_responses": self.drop_produce_responses.remaining,
            "reset_after_produce": self.reset_after_produce.remaining,
            "drop_produce_responses_budgets": self.drop_produce_responses.as_list(),
            "reset_after_produce_budgets": self.reset_after_produce.as_list(),
        }


class FaultProxy:
    """Listens on `listen_port` and forwards to the broker's client listener on `broker_port`."""

    def __init__(
        self, node_id: int, listen_port: int, broker_port: int, shared: Faults, drops: DropLedger
    ) -> None:
        self.node_id = node_id
        self.shared = (
            shared  # budgets any proxy may consume: "the next N Produce requests anywhere"
        )
        self.drops = drops  # whose responses were dropped, kept by the fleet
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
        proxy, stats = self.proxy, self.proxy.stats
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
                drop, reset = self._produce_faults(faults, head, acks)
                if drop:
                    self.dropped_correlation_ids.add(correlation_id)
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

    def _produce_faults(self, faults: Faults, head: bytes, acks: int) -> tuple[bool, bool]:
        """Which one-shot faults hit this Produce request: (drop its response, reset after it).

        This proxy's budgets come before the shared ones. A request with acks=0 has no response
        to drop, so it takes nothing from a drop budget."""
        shared = self.proxy.shared
        client_id = _LazyClientId(head)  # `head` holds it whole: acks, after it, was read
        drops = (faults.drop_produce_responses, shared.drop_produce_responses)
        resets = (faults.reset_after_produce, shared.reset_after_produce)
        # any() stops at the first budget that takes the request: it is hit once, not twice.
        drop = acks != 0 and any(budgets.take(client_id) for budgets in drops)
        reset = any(budgets.take(client_id) for budgets in resets)
        if drop:
            self.proxy.drops.note(client_id())
        return drop, reset

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


class _LazyClientId:
    """A request's client id, parsed on first call only: most Produce requests meet no budget
    aimed at clients, and those should not pay for decoding it."""

    __slots__ = ("_head", "_parsed", "_value")

    def __init__(self, head: bytes) -> None:
        self._head = head
        self._value: str | None = None
        self._parsed = False

    def __call__(self) -> str | None:
        if not self._parsed:
            self._value = protocol.request_client_id(self._head)
            self._parsed = True
        return self._value


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
        self.drops = DropLedger()
        self.proxies = {
            node_id: FaultProxy(node_id, listen, broker, self.shared, self.drops)
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

    def _faults(self, node_id: int | None) -> Faults:
        return self.shared if node_id is None else self.targets(node_id)[0].faults

    def drop_produce_responses(
        self, count: int, node_id: int | None = None, clients: Iterable[str] | None = None
    ) -> None:
        """Drop the responses to the next `count` Produce requests (to `node_id`, or anywhere)
        from clients whose id starts with one of the `clients` prefixes (None: any client)."""
        self._faults(node_id).drop_produce_responses.arm(count, client_prefixes(clients))

    def reset_after_produce(
        self, count: int, node_id: int | None = None, clients: Iterable[str] | None = None
    ) -> None:
        """Reset the client connection right after forwarding each of the next `count` Produces
        (to `node_id`, or anywhere) from clients whose id starts with one of `clients` (None: any
        client)."""
        self._faults(node_id).reset_after_produce.arm(count, client_prefixes(clients))

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
        """Disarm every fault on every proxy, and forget every client's dropped responses."""
        self.shared.clear_budgets()
        self.drops.forget()
        for proxy in self.proxies.values():
            proxy.clear()

    def clear_clients(self, clients: Iterable[str]) -> int:
        """Disarm the one-shot faults aimed at clients within the `clients` prefixes, on every
        proxy and anywhere, leaving other clients' faults armed, and forget those clients'
        dropped responses; return the requests spared."""
        prefixes = client_prefixes(clients)
        self.drops.forget(prefixes)
        spared = self.shared.clear_clients(prefixes)
        for proxy in self.proxies.values():
            spared += proxy.faults.clear_clients(prefixes)
        return spared

    def dropped_responses(self, clients: Iterable[str]) -> dict[str, dict]:
        """The clients within the `clients` prefixes whose Produce responses were dropped: per
        client id, how many and how long ago the last one was ({"count", "seconds_ago"})."""
        return self.drops.of(client_prefixes(clients))

    def status(self) -> dict:
        """Armed faults and counters: per broker, plus the budgets shared by all brokers."""
        return {
            "any_broker": self.shared.budgets_status(),
            "brokers": {
                str(node_id): {
                    "listen_port": proxy.listen_port,
                    **proxy.faults.budgets_status(),
                    "delay_ms": proxy.faults.response_delay * 1000,
                    "blackholed": proxy.faults.blackholed,
                    **proxy.stats.as_dict(),
                }
                for node_id, proxy in self.proxies.items()
            },
        }
