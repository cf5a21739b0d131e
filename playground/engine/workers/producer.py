"""The source producer: sends the workload's orders and writes the producer log.

It logs each attempt before handing the record to the client, and each delivery report as it
arrives. A transactional producer commits a transaction every producer.transaction_records records
(and at the end of the workload), and logs acks only once their transaction committed. Restarted, it
resumes, as a real service would, after its last acknowledged record: the end of the longest run of
acknowledged orders from the start of the workload (it keeps no other checkpoint).
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import KafkaException, Producer

from playground.engine import clients, orders
from playground.engine.journal import Journal
from playground.engine.naming import ExperimentNames
from playground.engine.producer_log import ACK_LINE, ATTEMPT_LINE, read_producer_log
from playground.engine.records import ACK, FAIL, SENT, ProducerEvent
from playground.engine.spec import Acks
from playground.engine.workers.exits import (
    EXIT_DONE,
    EXIT_GAVE_UP,
    EXIT_START_FAILED,
    WorkerExit,
    retrying,
)
from playground.engine.workers.runtime import AFTER_SEND, Runtime
from playground.engine.workers.setup import load_spec, meet_brokers, names_of

ATTEMPTS_PER_WRITE = 200  # unthrottled, attempts are logged in runs of up to this many
FLUSH_TIMEOUT_SECONDS = 120.0
INIT_TRANSACTIONS_TIMEOUT_SECONDS = 30.0
# At a set rate, a producer that fell behind (a full queue, a transaction's commit) catches up by
# at most this much: it never sends a burst that would break the rate over a second.
RATE_CATCH_UP_SECONDS = 0.05
# Transactions aborted one after another: past this many, a new producer session starts clean
# (no loop sends the same records without end).
MAX_ABORTS_IN_A_ROW = 5


def resume_position(names: ExperimentNames) -> int:
    """How many orders from the start of the workload have an acknowledgement."""
    acked = {orders.order_index(e.order_id) for e in read_producer_log(names.producer_log)
             if e.kind in (ACK, SENT)}  # fmt: skip
    position = 0
    while position in acked:
        position += 1
    return position


class SourceProducer:
    """One producer session."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.names = names_of(runtime.orders)
        self.spec = load_spec(self.names)
        self.session = runtime.orders.session
        self.log = Journal(self.names.producer_log)
        self.transactional = self.spec.producer.transactional
        self.transaction_records = self.spec.producer.transaction_records
        config = clients.source_producer(
            self.spec, self.names, session=self.session, servers=runtime.orders.bootstrap_servers
        )
        try:
            self.producer = Producer(config | {"error_cb": runtime.on_client_error})
        except Exception as error:  # noqa: BLE001 - any refusal of the config is a start failure
            raise WorkerExit(EXIT_START_FAILED, f"the client refused its config: {error}") from None
        self.acks_zero = self.spec.producer.acks == Acks.NONE
        # Log lines (newline included) of delivery reports not yet written, and the ack lines of
        # the open transaction (written once it committed).
        self.reports: list[bytes] = []
        self.uncommitted: list[bytes] = []
        # The keys and values of the run of orders whose attempts were logged last.
        self._keys: list[bytes] = []
        self._values: list[bytes] = []
        self._topic = self.names.input_topic
        self._produce = self.producer.produce
        self._on_delivery = self.on_delivery
        self._strikes = set(runtime.orders.strikes)  # records at which the conductor strikes

    def on_delivery(self, error, message) -> None:
        if error is None and not self.acks_zero:
            line = ACK_LINE % (message.key(), self.session, message.partition(), message.offset())
            (self.uncommitted if self.transactional else self.reports).append(line)
            return
        order_id = message.key().decode()
        if error is not None:
            event = ProducerEvent(FAIL, order_id, self.session, error=str(error))
        else:
            event = ProducerEvent(SENT, order_id, self.session)
        self.reports.append((event.to_json() + "\n").encode())

    def serve_reports(self, timeout: float = 0) -> None:
        self.producer.poll(timeout)
        if self.reports:
            self.log.write(b"".join(self.reports))
            self.reports.clear()

    def log_attempts(self, start: int, stop: int) -> None:
        """Log the attempts of orders start..stop-1, before any of them is handed to the client."""
        self._keys, self._values = orders.order_records(start, stop)
        session, at_ms = self.session, time.time_ns() // 1_000_000
        self.log.write(b"".join([ATTEMPT_LINE % (key, session, at_ms) for key in self._keys]))

    def send_when_room(self, key: bytes, value: bytes) -> None:
        """Hand a record to the client once its queue has room (the client refused it: full)."""
        while True:
            self.serve_reports(0.05)  # let deliveries drain the queue
            try:
                self._produce(self._topic, key=key, value=value, on_delivery=self._on_delivery)
                return
            except BufferError:
                continue

    def commit_transaction(self) -> bool:
        """Commit the open transaction; False if it was aborted (its records must be sent again).

        confluent-kafka's three branches: a retriable error calls again, an abortable one aborts,
        anything else (fenced, fatal) ends the worker."""
        self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        try:
            retrying(self.producer.commit_transaction)
        except KafkaException as failure:
            if not failure.args[0].txn_requires_abort():
                raise
            print(f"transaction aborted: {failure.args[0]}", file=sys.stderr, flush=True)
            retrying(self.producer.abort_transaction)
            self.uncommitted.clear()
            return False
        if self.uncommitted:
            self.log.write(b"".join(self.uncommitted))
            self.uncommitted.clear()
        return True

    def chunk_end(self, index: int, transaction_start: int | None) -> int:
        """Where the next run of attempts to log at once ends: never past a record at which
        something is scheduled (a crash, a strike, a transaction's end), one at a time when
        throttled."""
        if self.spec.workload.rate:
            return index + 1
        stops = [self.spec.workload.records, index + ATTEMPTS_PER_WRITE]
        stops += [c.after_records for c in self.runtime.orders.crashes if c.after_records]
        stops += self.runtime.orders.strikes
        if transaction_start is not None:
            stops.append(transaction_start + self.transaction_records)
        return min(stop for stop in stops if stop > index)

    def run(self) -> int:
        records = self.spec.workload.records
        rate = self.spec.workload.rate
        position = resume_position(self.names)
        self.runtime.count = position
        meet_brokers(self.producer, self._topic)
        if self.transactional:
            init = self.producer.init_transactions
            retrying(lambda: init(INIT_TRANSACTIONS_TIMEOUT_SECONDS))
        self.runtime.report("started", position=position)
        interval = 1 / rate if rate else 0.0
        next_send = time.monotonic()
        transaction_start, aborts = None, 0
        runtime, transactional, strikes = self.runtime, self.transactional, self._strikes
        produce, topic, on_delivery = self._produce, self._topic, self._on_delivery
        poll = self.producer.poll
        index = position
        while index < records and not runtime.stop_requested:
            self.runtime.raise_if_fatal()
            if transactional and transaction_start is None:
                self.producer.begin_transaction()
                transaction_start = index
            # A run of records: their attempts logged in one write, then each handed to the
            # client. The run ends where something is scheduled (see chunk_end), so a
            # transaction ends with a run.
            self.serve_reports()
            if runtime.stop_requested:
                break
            # From here the run is sent whole, even if a stop comes meanwhile: an attempt in the
            # log is a record handed to the client, or the audit would count it lost.
            self.log_attempts(index, self.chunk_end(index, transaction_start))
            for key, value in zip(self._keys, self._values, strict=True):
                if rate:
                    # Wait out the whole interval: poll() returns at the first delivery report.
                    while (ahead := next_send - time.monotonic()) > 0:
                        self.serve_reports(ahead)
                    next_send = max(next_send, time.monotonic() - RATE_CATCH_UP_SECONDS) + interval
                try:
                    produce(topic, key=key, value=value, on_delivery=on_delivery)
                except BufferError:
                    self.send_when_room(key, value)
                index += 1
                runtime.count = index
                if runtime.may_crash and runtime.due(AFTER_SEND):
                    self.producer.flush(FLUSH_TIMEOUT_SECONDS)  # acks arrive, and die unrecorded
                    runtime.crash_point(AFTER_SEND)
                if strikes and index in strikes:
                    runtime.report("reached", count=index)  # the conductor strikes; we go on
                poll(0)
            if transactional and (
                index - transaction_start >= self.transaction_records or index == records
            ):
                if self.commit_transaction():
                    aborts = 0
                else:
                    aborts += 1
                    if aborts >= MAX_ABORTS_IN_A_ROW:
                        raise WorkerExit(EXIT_GAVE_UP, f"{aborts} transactions aborted in a row")
                    index = transaction_start  # aborted: send them again
                    runtime.count = index
                transaction_start = None
        if self.transactional and transaction_start is not None:
            self.commit_transaction()
        remaining = self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        self.runtime.raise_if_fatal()
        if remaining:
            raise WorkerExit(
                EXIT_GAVE_UP,
                f"{remaining} records still unacknowledged after {FLUSH_TIMEOUT_SECONDS:.0f} s",
            )
        self.runtime.report("finished", position=index, stopped=runtime.stop_requested)
        return EXIT_DONE


def main(runtime: Runtime) -> int:
    return SourceProducer(runtime).run()
