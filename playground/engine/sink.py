"""The sink of the side-effect pipeline: the ledger of charges, a durable store outside Kafka.

Each handled record is one line of the ledger: the handler run (with the consumer group member
and session that ran it, and the group generation it held), and whether it charged the order.
The consumer prepares the charges of a batch, then performs them: their lines in one write
(journal.py), before the batch's offsets can be committed (an order id that needs the general
path is charged at once). A charge has happened once that write returned, and then survives a
SIGKILL; until then none of the batch's charges has, as if the crash had come before the batch.

Every member of the consumer group writes the ledger at once, each through its own Sink, so the
ledger is a shared journal: each write is made under the ledger's lock. The idempotent consumer's
check ("was this order id charged?") reads an index of the ledger kept in memory: built from the
ledger when the sink starts, and brought up to date, under the lock, with the lines the other
members appended since this sink last looked, before the batch's charges are decided and written
in the same hold of the lock. So the check and the charge are atomic across members: no member
can charge an id between another's check and its charge, because the line that records the
charge is also the index entry, and it is written before the lock is let go. Whether a prepared
charge will charge is therefore only known when it is performed.
"""

from __future__ import annotations

import time
from pathlib import Path

from playground.engine.formats import ledger
from playground.engine.formats.journal import Journal


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch, as the ledger records when a run happened."""
    return time.time_ns() // 1_000_000


class Sink:
    """One consumer session's handle on the ledger. `generation` is the group generation the
    member holds: the consumer loop sets it before each batch (-1: none yet).

    Every charge is prepared as the line of a charge, the fields a session's lines share written
    into the layout once (ledger.template: session and member when the sink starts, the generation
    whenever it is set), not formatted again for every record. The idempotent sink keeps each
    prepared charge's order id beside its line, and turns the line into a deduplicated run's
    (ledger.as_deduplicated) when it performs it, if the id was charged already: the rare case."""

    def __init__(self, path: Path, *, session: int, member: int = 0, idempotent: bool) -> None:
        self.path = path
        self.session = session
        self.member = member
        self.idempotent = idempotent
        self.generation = -1
        self.journal = Journal(path, shared=True)
        # The idempotent sink's index: every order id charged, as lines hold it (ledger.escape).
        self.charged: set[bytes] = set()
        self._prepared: list[bytes] = []  # the lines of charges not yet performed
        self._ids: list[bytes] = []  # the idempotent sink's: their order ids, as lines hold them
        self._seen = 0  # the index holds the charges of the ledger's lines up to this byte
        if idempotent:
            with self.journal.exclusive() as end:
                pass  # the lines before `end` are whole, and never change again: read unlocked
            self._learn(end)

    @property
    def generation(self) -> int:
        return self._generation

    @generation.setter
    def generation(self, generation: int) -> None:
        self._generation = generation
        # % (order id, amount, partition, offset, produced_at_ms, processed_at_ms)
        self._charge_line = ledger.template(
            session=self.session, member=self.member, generation=generation, charged=True
        )

    def _learn(self, end: int) -> None:
        """Add to the index the charges of the ledger's lines from where it last looked to byte
        `end` (the end of a whole line)."""
        for chunk in self.journal.whole_lines(self._seen, end):
            self.charged.update(ledger.charged_ids(chunk))
            self._seen += len(chunk)

    def charge(
        self, order_id: str, amount_cents: int, partition: int, offset: int, produced_at_ms: int
    ) -> bool:
        """Perform the side effect for one record at once (after any prepared before it, in
        order); return False if it was deduplicated. The general path: any order id."""
        escaped = ledger.escape(order_id)
        self._prepared.append(
            self._charge_line % (escaped, amount_cents, partition, offset, produced_at_ms, now_ms())
        )
        if self.idempotent:
            self._ids.append(escaped)
        return self._perform()

    def charge_ascii(
        self, order_id: bytes, amount_cents: int, partition: int, offset: int, produced_at_ms: int
    ) -> None:
        """Prepare the side effect for one record (perform() performs it, and decides then
        whether it charges). The consumer's per-record hot path, for an order id of plain ASCII
        that JSON needs no escape for (see orders.ORDER_VALUE), given as bytes: its own escape."""
        self._prepared.append(
            self._charge_line
            % (order_id, amount_cents, partition, offset, produced_at_ms,
               time.time_ns() // 1_000_000)
        )  # fmt: skip
        if self.idempotent:
            self._ids.append(order_id)

    def perform(self) -> None:
        """Perform the charges prepared since the last call: their lines in one write."""
        if self._prepared:
            self._perform()

    def _perform(self) -> bool:
        """perform(); return whether the last charge performed charged (False: deduplicated)."""
        lines = self._prepared
        if not self.idempotent:
            self.journal.write(b"".join(lines))
            lines.clear()
            return True
        charged = self.charged
        with self.journal.exclusive() as end:
            self._learn(end)  # what the other members charged since this sink last looked
            for position, order_id in enumerate(self._ids):
                fresh = order_id not in charged
                if fresh:
                    charged.add(order_id)
                else:
                    lines[position] = ledger.as_deduplicated(lines[position])
            data = b"".join(lines)
            self.journal.append(data)
            self._seen = end + len(data)
        lines.clear()
        self._ids.clear()
        return fresh

    def close(self) -> None:
        """Perform what was prepared, and close the ledger (a graceful end: a crash skips it)."""
        self.perform()
        self.journal.close()
