"""Live tallies for progress snapshots, read from the raw records as they grow, never from a
worker's opinion: the producer log and the ledger (each followed from where the last read
stopped), or the output topic's high watermarks.

They count distinct order ids without holding the ids: a byte of flags per order of the workload
for the producer log and one for the ledger, indexed by the order's number (orders.order_id:
"order-%07d", up to order-9999999), so a million orders cost 2 MB and ten million 20 MB. Journals
are parsed a read at a time by their formats' fast readers (formats/: regular expressions and
numpy, never a Python loop per record); an order id in any other form (none in a workload) is
kept, slowly, in a dict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from confluent_kafka import Consumer, TopicPartition

from playground.engine import orders
from playground.engine.audit.records import ACK, ATTEMPT, FAIL, PRODUCER_EVENT_KINDS, SENT
from playground.engine.formats import ledger, producer_log
from playground.engine.formats.journal import Follower
from playground.engine.naming import ExperimentNames
from playground.engine.spec.model import Pipeline, Spec

log = logging.getLogger(__name__)

# A journal is taken at most this much at a time (~13,000 lines): the parsing of one slice holds
# the interpreter (regular expressions, numpy), and the snapshots and the strip wait meanwhile.
READ_SLICE_BYTES = 1 << 20

# One bit per kind of producer event an order has had, and one for "charged" in the ledger.
KIND_BITS = {ATTEMPT: 1, ACK: 2, SENT: 4, FAIL: 8}
CHARGED_BIT = 16

# The live tally's bit of each kind, by its index in PRODUCER_EVENT_KINDS (as live_events gives).
_BITS_BY_KIND = np.array([KIND_BITS[kind] for kind in PRODUCER_EVENT_KINDS], np.uint8)
_ALL_FLAGS = np.arange(256)


class JournalSlices(Follower):
    """A Follower that hands over what was appended in slices of complete lines, READ_SLICE_BYTES
    or so each: a reader that fell far behind holds one slice at a time, never the journal."""

    def __init__(self, path: Path, limit: int = READ_SLICE_BYTES) -> None:
        super().__init__(path)
        self.limit = limit

    def slices(self) -> Iterator[bytes]:
        """The complete lines appended since the previous call, a slice at a time."""
        while data := self._slice():
            yield data

    def _slice(self) -> bytes:
        try:
            with self.path.open("rb") as journal:
                journal.seek(self._position)
                chunk = journal.read(self.limit)
        except FileNotFoundError:
            return b""
        if len(chunk) == self.limit and b"\n" not in chunk:  # one line longer than a slice
            return self.new_data()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._position += len(complete)
        return complete


class OrderFlags:
    """Bits per order id, and how many ids have each combination of bits (a histogram of 256),
    so that any count of distinct ids by their bits is a sum over 256 numbers, at any time.

    An id in the workload's form is kept as a byte at its number (no two such ids share one);
    any other id, which no workload writes, in a dict."""

    def __init__(self, orders: int = 0) -> None:
        self._flags = np.zeros(orders, np.uint8)  # by the order's number
        self._other: dict[bytes, int] = {}  # ids in any other form
        self.histogram = np.zeros(256, np.int64)  # ids by their flags (0: never marked)

    def mark(self, numbers: np.ndarray, bits: np.ndarray) -> None:
        """Set `bits` (uint8, one per id) on the orders numbered `numbers` (the workload's ids)."""
        if not len(numbers):
            return
        top = int(numbers.max()) + 1
        if top > len(self._flags):  # more orders than the spec planned: room for twice as many
            grown = np.zeros(max(top, 2 * len(self._flags)), np.uint8)
            grown[: len(self._flags)] = self._flags
            self._flags = grown
        touched = np.unique(numbers)
        self.histogram -= np.bincount(self._flags[touched], minlength=256)
        np.bitwise_or.at(self._flags, numbers, bits)
        self.histogram += np.bincount(self._flags[touched], minlength=256)

    def mark_id(self, order_id: bytes, bits: int) -> None:
        """Set `bits` on one id, whatever its form (the slow way, for lines decoded one by one)."""
        number = orders.workload_number(order_id)
        if number >= 0:
            self.mark(np.array([number]), np.array([bits], np.uint8))
        elif bits:
            before = self._other.get(order_id, 0)
            self._other[order_id] = before | bits
            self.histogram[before] -= 1
            self.histogram[before | bits] += 1

    def count(self, having: int, lacking: int = 0) -> int:
        """How many ids have every bit of `having` set and no bit of `lacking`."""
        chosen = (_ALL_FLAGS & having == having) & (_ALL_FLAGS & lacking == 0)
        return int(self.histogram[chosen].sum())

    @property
    def nbytes(self) -> int:
        """Memory the flags hold (the dict of ids in another form aside: empty in a workload)."""
        return self._flags.nbytes + self.histogram.nbytes


class ProducerLogCounts:
    """Distinct orders by the kinds of event the producer log has for them, as it grows."""

    def __init__(self, names: ExperimentNames, orders: int) -> None:
        self.follower = JournalSlices(names.producer_log)
        self.orders = OrderFlags(orders)

    def read(self) -> None:
        for data in self.follower.slices():
            self._take(data)

    def _take(self, data: bytes) -> None:
        kinds, numbers, others = producer_log.live_events(data)
        self.orders.mark(numbers, _BITS_BY_KIND[kinds])
        for event in others:  # ids in another form (or lines the fast form does not read)
            self.orders.mark_id(event.order_id.encode(), KIND_BITS[event.kind])

    def count(self, kind: str, unless: tuple[str, ...] = ()) -> int:
        """Orders with an event of `kind` and none of the kinds `unless`."""
        return self.orders.count(KIND_BITS[kind], sum(KIND_BITS[other] for other in unless))


class LedgerCounts:
    """Live counts of the ledger as it grows: charges, distinct orders charged, handler runs."""

    def __init__(self, names: ExperimentNames, orders: int) -> None:
        self.follower = JournalSlices(names.sink)
        self.effects = 0
        self.runs = 0
        self.charged = OrderFlags(orders)

    def read(self) -> dict[str, int]:
        for data in self.follower.slices():
            self._take(data)
        return {
            "effects": self.effects,
            "delivered": self.charged.count(CHARGED_BIT),
            "handler_runs": self.runs,
        }

    def _take(self, data: bytes) -> None:
        runs, numbers, others = ledger.charges(data)
        self.runs += runs
        self.effects += len(numbers) + len(others)
        self.charged.mark(numbers, np.full(len(numbers), CHARGED_BIT, np.uint8))
        for order_id in others:  # ids in another form: rare
            self.charged.mark_id(order_id.encode(), CHARGED_BIT)


class LiveTally:
    """Counts so far: attempted, acked, sent (acks=0), failed, and what reached the sink."""

    def __init__(self, names: ExperimentNames, spec: Spec, bootstrap: str = "") -> None:
        self.names = names
        self.spec = spec
        self.bootstrap = bootstrap
        self._producer_log = ProducerLogCounts(names, spec.workload.records)
        self._ledger = LedgerCounts(names, spec.workload.records)
        self._watermarks: Consumer | None = None

    def read(self) -> dict:
        self._producer_log.read()
        log = self._producer_log
        attempted = log.count(ATTEMPT)
        tally = {
            "attempted": attempted,
            "acked": log.count(ACK),
            "sent_unacked": log.count(SENT, unless=(ACK,)),
            "failed": log.count(FAIL, unless=(ACK, SENT)),
        }
        if self.spec.pipeline == Pipeline.SIDE_EFFECT:
            counts = self._ledger.read()
        else:
            counts = self._output_counts()
        tally |= counts
        tally["duplicated_so_far"] = counts["effects"] - counts["delivered"]
        tally["pending"] = max(attempted - counts["delivered"], 0)
        return tally

    def attempted(self) -> int:
        """Orders the producer has attempted so far, as its log shows right now."""
        self._producer_log.read()
        return self._producer_log.count(ATTEMPT)

    @property
    def nbytes(self) -> int:
        """Memory the tallies hold for the orders (it grows with the workload, a byte or two an
        order)."""
        return self._producer_log.orders.nbytes + self._ledger.charged.nbytes

    def _output_counts(self) -> dict:
        """Kafka-to-Kafka: records in the output topic so far (uncommitted ones included)."""
        if not self.bootstrap:
            return {"effects": 0, "delivered": 0, "handler_runs": 0}
        if self._watermarks is None:
            self._watermarks = Consumer(
                {"bootstrap.servers": self.bootstrap, "group.id": "live-tally", "log_level": 3}
            )
        total = 0
        for partition in range(self.spec.workload.partitions):
            try:
                _, high = self._watermarks.get_watermark_offsets(
                    TopicPartition(self.names.output_topic, partition), timeout=1
                )
            except Exception:  # noqa: BLE001 - a snapshot may miss a beat, never the audit
                high = 0
            total += max(high, 0)
        return {"effects": total, "delivered": total, "handler_runs": total}

    def close(self) -> None:
        if self._watermarks is not None:
            self._watermarks.close()


class TallyInBackground:
    """A LiveTally read over and over by a thread of its own, so that whoever shows its counts
    (the conductor's snapshots, ten a second) never waits for the journals to be parsed: a
    million-record run writes them faster than a loaded machine parses them at every snapshot,
    and a snapshot that waited held up the conductor and every update after it.

    latest() is the newest counts, a read or so behind the journals; close() ends the thread
    and reads once more, so that the counts after a run are complete."""

    def __init__(self, tally: LiveTally, interval: float) -> None:
        self.tally = tally
        self.interval = interval  # the least time from one read's start to the next
        self._latest: dict = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Read once now, then again and again in the thread."""
        self._latest = self.tally.read()
        self._thread = threading.Thread(target=self._follow, name="live-tally", daemon=True)
        self._thread.start()

    def latest(self) -> dict:
        """The newest counts (empty before start())."""
        return self._latest

    def attempted(self) -> int:
        """Orders the producer had attempted at the newest read."""
        return self._latest.get("attempted", 0)

    def close(self) -> None:
        """Stop reading, read once more (when started) and close the tally."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self._latest = self.tally.read()
        self.tally.close()

    def _follow(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._latest = self.tally.read()
            except Exception:  # the counts shown miss a beat; the run and its audit do not
                log.exception("the live tally of %s failed", self.tally.names.experiment_id)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))


class LogEnds:
    """The end of each input partition as the consumer can see it (the last stable offset for
    read_committed, the high watermark otherwise), asked of Kafka itself.

    The ends must also have stopped moving for a moment: records a producer sent with acks=0 may
    still be on their way into the log when the producer has finished."""

    STABLE_SECONDS = 1.0
    FAILURES_BEFORE_RECONNECT = 10  # failed reads in a row before a fresh client is made

    def __init__(self, bootstrap: str, topic: str, spec: Spec) -> None:
        self.topic = topic
        self.partitions = spec.workload.partitions
        self._config = {
            "bootstrap.servers": bootstrap,
            "group.id": "log-ends",
            "isolation.level": spec.consumer.isolation_level.value,
            "log_level": 3,
        }
        self._client = Consumer(self._config)
        self._failures = 0
        self._ends: list[int] | None = None
        self._moved_at = time.monotonic()

    def _read_ends(self) -> list[int] | None:
        ends = []
        for partition in range(self.partitions):
            try:
                _, end = self._client.get_watermark_offsets(
                    TopicPartition(self.topic, partition), timeout=2, cached=False
                )
            except Exception:  # noqa: BLE001 - unknown end: not caught up yet
                self._failures += 1
                if self._failures >= self.FAILURES_BEFORE_RECONNECT:
                    # A client stuck on a broker that froze under it: start afresh.
                    self._client.close()
                    self._client = Consumer(self._config)
                    self._failures = 0
                return None
            ends.append(end)
        self._failures = 0
        return ends

    def caught_up(self, positions: dict[int, int]) -> bool:
        """Whether `positions` (partition -> offset reached) cover every record in the log."""
        ends = self._read_ends()
        if ends is None:
            return False
        if ends != self._ends:
            self._ends, self._moved_at = ends, time.monotonic()
            return False
        if time.monotonic() - self._moved_at < self.STABLE_SECONDS:
            return False
        return all(positions.get(p, 0) >= end for p, end in enumerate(ends))

    def wait_until_settled(self, timeout: float, stable: float = STABLE_SECONDS) -> None:
        """Wait until the ends have not moved for `stable` seconds (or `timeout` passed)."""
        deadline = time.monotonic() + timeout
        self._ends = None
        while time.monotonic() < deadline:
            ends = self._read_ends()
            if ends is not None and ends == self._ends:
                if time.monotonic() - self._moved_at >= stable:
                    return
            elif ends is not None:
                self._ends, self._moved_at = ends, time.monotonic()
            time.sleep(0.25)

    def behind(self, positions: dict[int, int]) -> bool:
        """Whether the log holds records beyond `positions` (False when the ends are unknown:
        a consumer is never called hung on a guess)."""
        ends = self._read_ends()
        return ends is not None and any(positions.get(p, 0) < end for p, end in enumerate(ends))

    def behind_on_owned(self, positions: dict[int, int]) -> bool:
        """Whether the log holds records beyond `positions` in a partition they name (a group
        member's: it reports only the partitions it owns)."""
        ends = self._read_ends()
        return ends is not None and any(
            offset < ends[p] for p, offset in positions.items() if p < len(ends)
        )

    def close(self) -> None:
        self._client.close()
