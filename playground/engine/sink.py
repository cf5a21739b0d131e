"""The sink of the side-effect pipeline: charges in a durable store outside Kafka (SQLite).

Each handled record is one store transaction: the handler run, and the charge unless the idempotent
consumer finds the order id already charged. The dedup entry and the charge commit together, so an
idempotent consumer can never charge twice nor skip a charge it did not make. A committed
transaction is in the kernel's page cache and survives a SIGKILL of the consumer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from playground.engine.records import Effect, HandlerRun

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    source_partition INTEGER NOT NULL,
    source_offset INTEGER NOT NULL,
    session INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS handler_runs (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL,
    source_partition INTEGER NOT NULL,
    source_offset INTEGER NOT NULL,
    session INTEGER NOT NULL,
    deduplicated INTEGER NOT NULL
);
-- The idempotent consumer's memory: order ids already charged.
CREATE TABLE IF NOT EXISTS charged_orders (order_id TEXT PRIMARY KEY);
"""


def connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    # A process crash cannot lose a committed transaction with synchronous=OFF (the data is in the
    # kernel); only a machine crash could, which is not a fault this lab injects.
    connection.execute("PRAGMA synchronous=OFF")
    connection.executescript(SCHEMA)
    return connection


class Sink:
    """The consumer's handle on the store."""

    def __init__(self, path: Path, *, session: int, idempotent: bool) -> None:
        self.connection = connect(path)
        self.session = session
        self.idempotent = idempotent

    def charge(self, order_id: str, amount_cents: int, partition: int, offset: int) -> bool:
        """Perform the side effect for one record; return False if it was deduplicated."""
        db = self.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            duplicate = self.idempotent and (
                db.execute(
                    "SELECT 1 FROM charged_orders WHERE order_id = ?", (order_id,)
                ).fetchone()
                is not None
            )
            if not duplicate:
                db.execute(
                    "INSERT INTO charges (order_id, amount_cents, source_partition, source_offset,"
                    " session) VALUES (?, ?, ?, ?, ?)",
                    (order_id, amount_cents, partition, offset, self.session),
                )
                if self.idempotent:
                    db.execute("INSERT INTO charged_orders (order_id) VALUES (?)", (order_id,))
            db.execute(
                "INSERT INTO handler_runs (order_id, source_partition, source_offset, session,"
                " deduplicated) VALUES (?, ?, ?, ?, ?)",
                (order_id, partition, offset, self.session, int(duplicate)),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return not duplicate


def read_effects(path: Path) -> Iterator[Effect]:
    """Every charge in the store."""
    with closing(connect(path)) as db:
        for order_id, partition, offset in db.execute(
            "SELECT order_id, source_partition, source_offset FROM charges ORDER BY id"
        ):
            yield Effect(order_id, partition, offset, committed=True)


def read_handler_runs(path: Path) -> Iterator[HandlerRun]:
    """Every committed run of the consumer's handler."""
    with closing(connect(path)) as db:
        for order_id, partition, offset, deduplicated in db.execute(
            "SELECT order_id, source_partition, source_offset, deduplicated FROM handler_runs"
            " ORDER BY id"
        ):
            yield HandlerRun(order_id, partition, offset, bool(deduplicated))


def counts(path: Path) -> dict[str, int]:
    """Live totals for progress snapshots: charges, distinct orders charged, handler runs."""
    if not path.exists():
        return {"effects": 0, "delivered": 0, "handler_runs": 0}
    with closing(connect(path)) as db:
        effects, delivered = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT order_id) FROM charges"
        ).fetchone()
        (runs,) = db.execute("SELECT COUNT(*) FROM handler_runs").fetchone()
    return {"effects": effects, "delivered": delivered, "handler_runs": runs}
