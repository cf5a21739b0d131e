"""The sink of the side-effect pipeline: the ledger of charges, a durable store outside Kafka.

Each handled record is one appended line (one write, see journal.py): the handler run, and whether
it charged the order. The idempotent consumer's check ("was this order id charged?") reads an index
of the ledger kept in memory and rebuilt from the ledger at start; the check and the charge are
atomic because the line that records the charge is also the index entry, and one consumer process
writes the ledger at a time. A charge, once the write returned, survives a SIGKILL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from playground.engine.journal import Follower, Journal, read_lines
from playground.engine.records import Effect, HandlerRun


class Sink:
    """The consumer's handle on the ledger."""

    def __init__(self, path: Path, *, session: int, idempotent: bool) -> None:
        self.path = path
        self.session = session
        self.idempotent = idempotent
        self.charged = (
            {run["order_id"] for run in _runs(path) if run["charged"]} if idempotent else set()
        )
        self.journal = Journal(path)

    def charge(
        self, order_id: str, amount_cents: int, partition: int, offset: int, produced_at_ms: int
    ) -> bool:
        """Perform the side effect for one record; return False if it was deduplicated."""
        duplicate = self.idempotent and order_id in self.charged
        self.journal.append_line(
            f'{{"order_id":"{order_id}","amount_cents":{amount_cents},'
            f'"partition":{partition},"offset":{offset},"session":{self.session},'
            f'"charged":{"false" if duplicate else "true"},'
            f'"produced_at_ms":{produced_at_ms},"processed_at_ms":{int(time.time() * 1000)}}}'
        )
        if self.idempotent:
            self.charged.add(order_id)
        return not duplicate

    def close(self) -> None:
        self.journal.close()


def _runs(path: Path) -> Iterator[dict]:
    for line in read_lines(path):
        yield json.loads(line)


def read_effects(path: Path) -> Iterator[Effect]:
    """Every charge in the ledger."""
    for run in _runs(path):
        if run["charged"]:
            yield Effect(run["order_id"], run["partition"], run["offset"], committed=True)


def read_ledger(path: Path) -> tuple[list[Effect], list[HandlerRun], list[tuple[int, int]]]:
    """The whole ledger in one pass: the charges, the handler runs, and for every run its
    (produced_at_ms, processed_at_ms), for latency and throughput."""
    effects, runs, timings = [], [], []
    for run in _runs(path):
        order_id, partition, offset, charged = (
            run["order_id"], run["partition"], run["offset"], run["charged"],
        )  # fmt: skip
        if charged:
            effects.append(Effect(order_id, partition, offset, committed=True))
        runs.append(HandlerRun(order_id, partition, offset, not charged))
        timings.append((run["produced_at_ms"], run["processed_at_ms"]))
    return effects, runs, timings


class LedgerTally:
    """Live counts of the ledger as it grows: charges, distinct orders charged, handler runs."""

    def __init__(self, path: Path) -> None:
        self.follower = Follower(path)
        self.effects = 0
        self.runs = 0
        self.delivered: set[str] = set()

    def read(self) -> dict[str, int]:
        for line in self.follower.new_lines():
            run = json.loads(line)
            self.runs += 1
            if run["charged"]:
                self.effects += 1
                self.delivered.add(run["order_id"])
        return {
            "effects": self.effects,
            "delivered": len(self.delivered),
            "handler_runs": self.runs,
        }
