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
from playground.engine.producer_log import ACK_LINE, ATTEMPT_LINE, read_producer_log
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
        self._checkpoints = bool(runtime.orders.checkpoints)  # any: check after every record

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
        session = self.session
        self.log.write(b"".join([ATTEMPT_LINE % (key, session) for key in self._keys]))

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
        """Commit the open transaction; False if it was aborted (its records must be sent again)."""
        self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        while True:
            try:
                self.producer.commit_transaction()
                if self.uncommitted:
                    self.log.write(b"".join(self.uncommitted))
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
        runtime, transactional, checkpoints = self.runtime, self.transactional, self._checkpoints
        produce, topic, on_delivery = self._produce, self._topic, self._on_delivery
        poll = self.producer.poll
        index = position
        while index < records and not runtime.stop_requested:
            if transactional and transaction_start is None:
                self.producer.begin_transaction()
                transaction_start = index
            # A run of records: their attempts logged in one write, then each handed to the
            # client. The run ends where something is scheduled (see chunk_end), so a
            # transaction ends with a run.
            self.serve_reports()
            self.log_attempts(index, self.chunk_end(index, transaction_start))
            for key, value in zip(self._keys, self._values, strict=True):
                if runtime.stop_requested:
                    break
                if rate:
                    ahead = started + sent_this_session / rate - time.monotonic()
                    if ahead > 0:
                        self.serve_reports(ahead)
                try:
                    produce(topic, key=key, value=value, on_delivery=on_delivery)
                except BufferError:
                    self.send_when_room(key, value)
                index += 1
                sent_this_session += 1
                runtime.count = index
                if runtime.may_crash and runtime.due(AFTER_SEND):
                    self.producer.flush(FLUSH_TIMEOUT_SECONDS)  # acks arrive, and die unrecorded
                    runtime.crash_point(AFTER_SEND)
                if checkpoints:
                    runtime.checkpoint()
                poll(0)
            if transactional and (
                index - transaction_start >= RECORDS_PER_TRANSACTION or index == records
            ):
                if not self.commit_transaction():
                    index = transaction_start  # aborted: send them again
                    runtime.count = index
                transaction_start = None
        if self.transactional and transaction_start is not None:
            self.commit_transaction()
        remaining = self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        self.runtime.report("finished", position=index, unflushed=remaining)
        return EXIT_DONE if remaining == 0 else EXIT_FAILED


def main(runtime: Runtime) -> None:
    sys.exit(SourceProducer(runtime).run())
