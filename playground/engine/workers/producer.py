"""The source producer: sends the workload's orders and writes the producer log.

It logs each attempt before handing the record to the client, and each delivery report as it
arrives. A transactional producer logs acks only once their transaction committed. Restarted, it
resumes, as a real service would, after its last acknowledged record: the end of the longest run of
acknowledged orders from the start of the workload (it keeps no other checkpoint).
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import KafkaException, Producer

from playground.engine import orders
from playground.engine.journal import Journal
from playground.engine.naming import ExperimentNames
from playground.engine.producer_log import ack_line, attempt_line, read_producer_log
from playground.engine.records import ACK, FAIL, SENT, ProducerEvent
from playground.engine.spec import Acks, producer_config
from playground.engine.workers.runtime import AFTER_SEND, EXIT_DONE, EXIT_FAILED, Runtime
from playground.engine.workers.setup import load_spec, names_of, worker_config

RECORDS_PER_TRANSACTION = 50
ATTEMPTS_PER_WRITE = 200  # unthrottled, attempts are logged in runs of up to this many
FLUSH_TIMEOUT_SECONDS = 120.0


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
        config = worker_config(runtime.orders, producer_config(self.spec))
        if self.transactional:
            config["transactional.id"] = (
                f"exp-{self.names.experiment_id}-{config['transactional.id']}"
            )
        self.producer = Producer(config)
        self.acks_zero = self.spec.producer.acks == Acks.NONE
        self.reports: list[str] = []  # log lines of delivery reports not yet written
        self.uncommitted: list[str] = []  # ack lines of the open transaction

    def on_delivery(self, error, message) -> None:
        order_id = message.key().decode()
        if error is not None:
            event = ProducerEvent(FAIL, order_id, self.session, error=str(error))
            self.reports.append(event.to_json())
        elif self.acks_zero:
            self.reports.append(ProducerEvent(SENT, order_id, self.session).to_json())
        else:
            line = ack_line(order_id, self.session, message.partition(), message.offset())
            (self.uncommitted if self.transactional else self.reports).append(line)

    def serve_reports(self, timeout: float = 0) -> None:
        self.producer.poll(timeout)
        if self.reports:
            self.log.append(self.reports)
            self.reports.clear()

    def log_attempts(self, start: int, stop: int) -> None:
        """Log the attempts of orders start..stop-1, before any of them is handed to the client."""
        self.log.append(attempt_line(orders.order_id(i), self.session) for i in range(start, stop))

    def send(self, index: int) -> None:
        order_id = orders.order_id(index)
        while True:
            try:
                self.producer.produce(
                    self.names.input_topic,
                    key=order_id,
                    value=orders.order_value(index),
                    on_delivery=self.on_delivery,
                )
                return
            except BufferError:
                self.serve_reports(0.05)  # the client's queue is full: let deliveries drain it

    def commit_transaction(self) -> bool:
        """Commit the open transaction; False if it was aborted (its records must be sent again)."""
        self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        while True:
            try:
                self.producer.commit_transaction()
                self.log.append(self.uncommitted)
                self.uncommitted.clear()
                return True
            except KafkaException as failure:
                error = failure.args[0]
                if error.retriable():
                    continue
                if error.txn_requires_abort():
                    self.producer.abort_transaction()
                    self.uncommitted.clear()
                    return False
                raise

    def chunk_end(self, index: int, transaction_start: int | None) -> int:
        """Where the next run of attempts to log at once ends: never past a record at which
        something is scheduled (a crash, a checkpoint, a transaction's end), one at a time when
        throttled."""
        if self.spec.workload.rate:
            return index + 1
        stops = [self.spec.workload.records, index + ATTEMPTS_PER_WRITE]
        stops += [c.after_records for c in self.runtime.orders.crashes if c.after_records]
        stops += self.runtime.orders.checkpoints
        if transaction_start is not None:
            stops.append(transaction_start + RECORDS_PER_TRANSACTION)
        return min(stop for stop in stops if stop > index)

    def run(self) -> int:
        records = self.spec.workload.records
        rate = self.spec.workload.rate
        position = resume_position(self.names)
        self.runtime.count = position
        self.runtime.report("started", position=position)
        if self.transactional:
            self.producer.init_transactions()
        started, sent_this_session = time.monotonic(), 0
        transaction_start = None
        index = logged_until = position
        while index < records and not self.runtime.stop_requested:
            if self.transactional and transaction_start is None:
                self.producer.begin_transaction()
                transaction_start = index
            if index >= logged_until:
                self.serve_reports()
                logged_until = self.chunk_end(index, transaction_start)
                self.log_attempts(index, logged_until)
            if rate:
                ahead = started + sent_this_session / rate - time.monotonic()
                if ahead > 0:
                    self.serve_reports(ahead)
            self.send(index)
            index += 1
            sent_this_session += 1
            self.runtime.count = index
            if self.runtime.due(AFTER_SEND):
                self.producer.flush(FLUSH_TIMEOUT_SECONDS)  # acks arrive, and die unrecorded
                self.runtime.crash_point(AFTER_SEND)
            self.runtime.checkpoint()
            self.producer.poll(0)
            if self.transactional and (
                index - transaction_start >= RECORDS_PER_TRANSACTION or index == records
            ):
                if not self.commit_transaction():
                    index = logged_until = transaction_start  # aborted: send them again
                    self.runtime.count = index
                transaction_start = None
        if self.transactional and transaction_start is not None:
            self.commit_transaction()
        remaining = self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        self.runtime.report("finished", position=index, unflushed=remaining)
        return EXIT_DONE if remaining == 0 else EXIT_FAILED


def main(runtime: Runtime) -> None:
    sys.exit(SourceProducer(runtime).run())
