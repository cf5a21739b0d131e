"""Raw records for tests: lines written through their format's one writer (formats/), and a whole
ledger read back as the audit's record objects."""

from __future__ import annotations

from pathlib import Path

from playground.engine.audit.records import ACK, ATTEMPT, Effect, HandlerRun, ProducerEvent
from playground.engine.formats import ledger, producer_log


def attempt_line(order_id: str, session: int, at_ms: int) -> bytes:
    """An attempt's line, newline included, as the producer writes it."""
    return producer_log.line(ProducerEvent(ATTEMPT, order_id, session, at_ms=at_ms))


def ack_line(order_id: str, session: int, partition: int, offset: int) -> bytes:
    """An acknowledgement's line, newline included, as the producer writes it."""
    return producer_log.line(ProducerEvent(ACK, order_id, session, partition=partition,
                                           offset=offset))  # fmt: skip


def read_ledger(path: Path) -> tuple[list[Effect], list[HandlerRun], list[tuple[int, int]]]:
    """The whole ledger in one pass, as record objects: the charges, the handler runs (each with
    the consumer session that ran it), and for every run its (produced_at_ms, processed_at_ms).
    For a look at a small ledger; the audit reads it as a table (record_tables.load_ledger)."""
    effects, runs, timings = [], [], []
    for run in ledger.read(path):
        if run.charged:
            effects.append(Effect(run.order_id, run.partition, run.offset, True, run.session))
        runs.append(HandlerRun(run.order_id, run.partition, run.offset, not run.charged,
                               run.session))  # fmt: skip
        timings.append((run.produced_at_ms, run.processed_at_ms))
    return effects, runs, timings
