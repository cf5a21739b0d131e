"""Live tallies for progress snapshots, read from the raw records as they grow, never from a
worker's opinion: the producer log (followed from where the last read stopped), and the sink or
the output topic's high watermarks."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from playground.engine.journal import Follower
from playground.engine.naming import ExperimentNames
from playground.engine.producer_log import kinds_and_ids
from playground.engine.records import ACK, ATTEMPT, FAIL, SENT
from playground.engine.sink import LedgerTally
from playground.engine.spec import Pipeline, Spec


class LiveTally:
    """Counts so far: attempted, acked, sent (acks=0), failed, and what reached the sink."""

    def __init__(self, names: ExperimentNames, spec: Spec, bootstrap: str = "") -> None:
        self.names = names
        self.spec = spec
        self.bootstrap = bootstrap
        self._producer_log = Follower(names.producer_log)
        self._ledger = LedgerTally(names.sink)
        # Order ids (encoded) by the kinds of event the producer log has for them.
        kinds = (ATTEMPT, ACK, SENT, FAIL)
        self._by_kind: dict[str, set[bytes]] = {kind: set() for kind in kinds}
        self._watermarks: Consumer | None = None

    def read(self) -> dict:
        self._follow_producer_log()
        attempted = len(self._by_kind[ATTEMPT])
        tally = {
            "attempted": attempted,
            "acked": len(self._by_kind[ACK]),
            "sent_unacked": len(self._by_kind[SENT] - self._by_kind[ACK]),
            "failed": len(self._by_kind[FAIL] - self._by_kind[ACK] - self._by_kind[SENT]),
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
        self._follow_producer_log()
        return len(self._by_kind[ATTEMPT])

    def _follow_producer_log(self) -> None:
        by_kind = self._by_kind
        for kind, order_id in kinds_and_ids(self._producer_log.new_data()):
            by_kind[kind].add(order_id)

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

    def close(self) -> None:
        self._client.close()
