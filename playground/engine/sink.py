"""The sink of the side-effect pipeline: the ledger of charges, a durable store outside Kafka.

Each handled record is one line of the ledger: the handler run, and whether it charged the order.
The consumer prepares the charges of a batch, then performs them: their lines in one write
(journal.py), before the batch's offsets can be committed (an order id that needs the general
path is charged at once). A charge has happened once that write
returned, and then survives a SIGKILL; until then none of the batch's charges has, as if the crash
had come before the batch. The idempotent consumer's check ("was this order id charged?") reads
an index of the ledger kept in memory and rebuilt from the ledger at start; the check and the
charge are atomic because the line that records the charge is also the index entry, and one
consumer process writes the ledger at a time.
"""

from __future__ import annotations

import time
from pathlib import Path

from playground.engine.formats import ledger
from playground.engine.formats.journal import Journal
from playground.engine.formats.ledger import CHARGED, LINE, LedgerLine


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch, as the ledger records when a run happened."""
    return time.time_ns() // 1_000_000


class Sink:
    """The consumer's handle on the ledger."""

    def __init__(self, path: Path, *, session: int, idempotent: bool) -> None:
        self.path = path
        self.session = session
        self.idempotent = idempotent
        self.journal = Journal(path)
        self.charged = (
            {run.order_id for run in ledger.read(path) if run.charged} if idempotent else set()
        )
        self._prepared: list[bytes] = []  # lines of charges not yet performed

    def charge(
        self, order_id: str, amount_cents: int, partition: int, offset: int, produced_at_ms: int
    ) -> bool:
        """Perform the side effect for one record at once (after any prepared before it, in
        order); return False if it was deduplicated. The general path: any order id."""
        duplicate = self.idempotent and order_id in self.charged
        self._prepared.append(ledger.line(LedgerLine(
            order_id, amount_cents, partition, offset, self.session, not duplicate,
            produced_at_ms, now_ms(),
        )))  # fmt: skip
        self.perform()
        if self.idempotent:
            self.charged.add(order_id)
        return not duplicate

    def charge_ascii(
        self, order_id: bytes, amount_cents: int, partition: int, offset: int, produced_at_ms: int
    ) -> bool:
        """Prepare the side effect for one record (perform() performs it); return False if it
        was deduplicated. The consumer's per-record hot path, for an order id of plain ASCII that
        JSON needs no escape for (see orders.ORDER_VALUE), given as bytes: charge()'s line,
        formatted as bytes directly."""
        if self.idempotent:
            key = order_id.decode()
            duplicate = key in self.charged
        else:
            duplicate = False
        self._prepared.append(
            LINE
            % (order_id, amount_cents, partition, offset, self.session,
               CHARGED[not duplicate], produced_at_ms, time.time_ns() // 1_000_000)
        )  # fmt: skip
        if self.idempotent:
            self.charged.add(key)
        return not duplicate

    def perform(self) -> None:
        """Perform the charges prepared since the last call: their lines in one write."""
        if self._prepared:
            self.journal.write(b"".join(self._prepared))
            self._prepared.clear()

    def close(self) -> None:
        """Perform what was prepared, and close the ledger (a graceful end: a crash skips it)."""
        self.perform()
        self.journal.close()
