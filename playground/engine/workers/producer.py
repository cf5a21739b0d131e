"""The source producer: sends the workload's orders and writes the producer log.

It logs each attempt before handing the record to the client, and each delivery report as it
arrives. A transactional producer commits a transaction every producer.transaction_records records
(and at the end of the workload), and logs acks only once their transaction committed.

Restarted, it resumes where its position says, as a real service reading from outside Kafka would:
- producer.position "log": after its last acknowledged record, the end of the longest run of
  acknowledged orders from the start of the workload in the producer log. The log is written after
  a commit returns, so a session that dies while its commit is in flight, or right after it, has
  committed records it never logged: the next one sends them again (a duplicate, transactions or
  not);
- producer.position "transaction": the position each transaction writes to the experiment's
  position topic, in the same transaction as the records it covers (as Kafka Connect's
  exactly-once sources do, KIP-618). A new session first fences the old one (init_transactions
  completes or aborts whatever it left in flight), then reads the last committed position with
  read_committed: what committed is never sent again, what aborted is.
"""

from __future__ import annotations

import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from playground.engine import orders
from playground.engine.audit.records import ACK, FAIL, SENT, ProducerEvent
from playground.engine.formats import producer_log
from playground.engine.formats.journal import Journal
from playground.engine.formats.producer_log import ACK_LINE
from playground.engine.naming import ExperimentNames
from playground.engine.run import clients
from playground.engine.spec.model import Acks, KillPoint, SourcePosition
from playground.engine.workers.exits import (
    EXIT_DONE,
    EXIT_GAVE_UP,
    EXIT_START_FAILED,
    WorkerExit,
    retrying,
)
from playground.engine.workers.runtime import (
    Crash,
    Report,
    Runtime,
)
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
POSITION_KEY = b"position"
POSITION_READ_SECONDS = 30.0  # reading the committed position back, before the session gives up
POSITION_WINDOW = 64  # offsets read back from the end at first (each transaction adds two)
# During-commit: how long the producer waits for librdkafka to say it sent the commit request,
# and how often it looks (the answer comes a few milliseconds after the request).
COMMIT_SENT_WAIT_SECONDS = 30.0
COMMIT_SENT_POLL_SECONDS = 0.0002
COMMIT_SENT = b"Sent EndTxnRequest"
COMMIT_ANSWERED = b"Received EndTxnResponse"


def resume_position(names: ExperimentNames) -> int:
    """How many orders from the start of the workload have an acknowledgement."""
    acked = {orders.order_index(e.order_id) for e in producer_log.read(names.producer_log)
             if e.kind in (ACK, SENT)}  # fmt: skip
    position = 0
    while position in acked:
        position += 1
    return position


def committed_position(config: dict, topic: str) -> int:
    """The position the last committed transaction wrote to `topic` (0 before any): read with
    read_committed from the end backwards, a window at a time, so a long run costs one window."""
    reader = Consumer(config)
    try:
        partition = TopicPartition(topic, 0)
        low, high = reader.get_watermark_offsets(partition, timeout=POSITION_READ_SECONDS)
        window, deadline = POSITION_WINDOW, time.monotonic() + POSITION_READ_SECONDS
        while high > low:
            start = max(low, high - window)
            position = _last_position(reader, TopicPartition(topic, 0, start), deadline)
            if position is not None:
                return position
            if start == low:
                break
            window *= 4
        return 0
    finally:
        reader.close()


def _last_position(reader: Consumer, start: TopicPartition, deadline: float) -> int | None:
    """The last committed position from `start` to the end of the partition, or None."""
    reader.assign([start])
    position = None
    while time.monotonic() < deadline:
        message = reader.poll(0.5)
        if message is None:
            continue
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                return position
            raise KafkaException(error)
        position = int(message.value())
    raise WorkerExit(EXIT_GAVE_UP, f"the committed position was not read back within "
                     f"{POSITION_READ_SECONDS:.0f} s")  # fmt: skip


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
        self.position_in_transaction = self.spec.producer.position == SourcePosition.TRANSACTION
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
        self.reports.append(producer_log.line(event))

    def serve_reports(self, timeout: float = 0) -> None:
        self.producer.poll(timeout)
        if self.reports:
            self.log.write(b"".join(self.reports))
            self.reports.clear()

    def log_attempts(self, start: int, stop: int) -> None:
        """Log the attempts of orders start..stop-1, before any of them is handed to the client."""
        self._keys, self._values = orders.order_records(start, stop)
        session, at_ms = self.session, time.time_ns() // 1_000_000
        self.log.write(producer_log.attempt_lines(self._keys, session, at_ms))

    def send_when_room(self, key: bytes, value: bytes) -> None:
        """Hand a record to the client once its queue has room (the client refused it: full)."""
        while True:
            self.serve_reports(0.05)  # let deliveries drain the queue
            try:
                self._produce(self._topic, key=key, value=value, on_delivery=self._on_delivery)
                return
            except BufferError:
                continue

    def commit_transaction(self, position: int) -> bool:
        """Commit the open transaction, which covers the workload up to `position`; False if it
        was aborted (its records must be sent again).

        confluent-kafka's three branches: a retriable error calls again, an abortable one aborts,
        anything else (fenced, fatal) ends the worker."""
        if self.position_in_transaction:
            self.producer.produce(
                self.names.position_topic, key=POSITION_KEY, value=b"%d" % position
            )
        self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        runtime = self.runtime
        try:
            if runtime.may_crash and (crash := runtime.due(KillPoint.DURING_COMMIT)) is not None:
                self.die_during_commit(crash)
            retrying(self.producer.commit_transaction)
        except KafkaException as failure:
            if not failure.args[0].txn_requires_abort():
                raise
            print(f"transaction aborted: {failure.args[0]}", file=sys.stderr, flush=True)
            retrying(self.producer.abort_transaction)
            self.uncommitted.clear()
            return False
        if runtime.may_crash:  # committed; the log never hears of it
            runtime.crash_point(KillPoint.AFTER_COMMIT_BEFORE_LOG)
        if self.uncommitted:
            self.log.write(b"".join(self.uncommitted))
            self.uncommitted.clear()
        return True

    def die_during_commit(self, crash: Crash) -> None:
        """Ask for the commit in a thread of its own and die (SIGKILL) as soon as librdkafka
        says the request has left (clients.COMMIT_WATCH_CONFIG): the coordinator decides the
        transaction's outcome, and this session never learns it. The report says whether the
        answer had arrived first after all (the request's round trip takes milliseconds)."""
        log = self.names.worker_log(self.runtime.orders.role)
        with log.open("rb") as watched:
            watched.seek(0, 2)  # only what is written from here on
            committing = threading.Thread(target=self._commit_quietly, daemon=True)
            committing.start()
            seen, deadline = b"", time.monotonic() + COMMIT_SENT_WAIT_SECONDS
            while COMMIT_SENT not in seen and committing.is_alive():
                if time.monotonic() > deadline:
                    break
                seen = seen[-len(COMMIT_ANSWERED) :] + watched.read()
                time.sleep(COMMIT_SENT_POLL_SECONDS)
            seen += watched.read()
        answered = COMMIT_ANSWERED in seen or not committing.is_alive()
        self.runtime.crash(crash, answered=answered)

    def _commit_quietly(self) -> None:
        try:
            self.producer.commit_transaction()
        except KafkaException as failure:
            print(f"commit failed as the producer died: {failure}", file=sys.stderr, flush=True)

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

    def resume(self) -> int:
        """Where this session starts: its position (see the module's docstring). Called after
        init_transactions, which settles whatever an earlier session left in flight."""
        if not self.position_in_transaction:
            return resume_position(self.names)
        config = clients.position_reader(
            self.names, session=self.session, servers=self.runtime.orders.bootstrap_servers
        )
        return committed_position(config | {"error_cb": self.runtime.on_client_error},
                                  self.names.position_topic)  # fmt: skip

    def run(self) -> int:
        records = self.spec.workload.records
        rate = self.spec.workload.rate
        meet_brokers(self.producer, self._topic)
        if self.transactional:
            init = self.producer.init_transactions
            retrying(lambda: init(INIT_TRANSACTIONS_TIMEOUT_SECONDS))
        position = self.resume()
        self.runtime.count = position
        self.runtime.report(Report.STARTED, position=position)
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
                if runtime.may_crash and runtime.due(KillPoint.AFTER_SEND):
                    self.producer.flush(FLUSH_TIMEOUT_SECONDS)  # acks arrive, and die unrecorded
                    runtime.crash_point(KillPoint.AFTER_SEND)
                if strikes and index in strikes:
                    runtime.report(Report.REACHED, count=index)  # the conductor strikes; we go on
                poll(0)
            if transactional and (
                index - transaction_start >= self.transaction_records or index == records
            ):
                if self.commit_transaction(index):
                    aborts = 0
                else:
                    aborts += 1
                    if aborts >= MAX_ABORTS_IN_A_ROW:
                        raise WorkerExit(EXIT_GAVE_UP, f"{aborts} transactions aborted in a row")
                    index = transaction_start  # aborted: send them again
                    runtime.count = index
                transaction_start = None
        if self.transactional and transaction_start is not None:
            self.commit_transaction(index)
        remaining = self.producer.flush(FLUSH_TIMEOUT_SECONDS)
        self.serve_reports()
        self.runtime.raise_if_fatal()
        if remaining:
            raise WorkerExit(
                EXIT_GAVE_UP,
                f"{remaining} records still unacknowledged after {FLUSH_TIMEOUT_SECONDS:.0f} s",
            )
        self.runtime.report(Report.FINISHED, position=index, stopped=runtime.stop_requested)
        return EXIT_DONE


def main(runtime: Runtime) -> int:
    return SourceProducer(runtime).run()
