"""The consumer loop, shared by the side-effect consumer and the Kafka-to-Kafka transformer.

Records are consumed in batches of up to consumer.batch_size (see next_messages) and committed the
way the spec says:
- before-processing: commit the batch's offsets, then handle its records (at-most-once);
- after-processing: handle the records, then commit (at-least-once);
- auto: librdkafka stores each offset when it hands the record over and commits in the background;
- transactional: handle the records inside a producer transaction that also carries the offsets
  (send_offsets_to_transaction), with the three-branch error handling of the confluent examples;
  an aborted transaction rewinds the consumer to its committed offsets, as the confluent
  exactly-once example does.
Offsets are committed synchronously, so a crash point between handling and committing is exact.
Errors are handled as a production client would: a retriable commit is retried in place; a lost
assignment, a fencing or a fatal error ends the process with its exit code (exits.py), and the
conductor starts a new one, which resumes from the committed offsets.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from playground.engine.run import clients
from playground.engine.spec.model import Commit, KillPoint
from playground.engine.workers.exits import (
    EXIT_DONE,
    EXIT_GAVE_UP,
    EXIT_START_FAILED,
    WorkerExit,
    retrying,
)
from playground.engine.workers.handlers import Handler, handler_for
from playground.engine.workers.runtime import (
    Report,
    Runtime,
)
from playground.engine.workers.setup import load_spec, meet_brokers, names_of

PROGRESS_INTERVAL_SECONDS = 0.1
BATCH_WAIT_SECONDS = 0.2  # how long the consumer waits for a record (or, see next_messages, more)
RETRY_SECONDS = 30.0  # how long a client call waits (committed offsets, init_transactions)
# How long a new assignment waits for its committed offsets before the client looks them up itself.
ASSIGN_SECONDS = 2.0
# Transactions aborted one after another: past this many, a new process starts clean.
MAX_ABORTS_IN_A_ROW = 5


class ConsumerLoop:
    """One consumer session."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.names = names_of(runtime.orders)
        self.spec = load_spec(self.names)
        self.commit_mode = self.spec.consumer.commit
        session, servers = runtime.orders.session, runtime.orders.bootstrap_servers
        config = clients.consumer(self.spec, self.names, session=session, servers=servers)
        own = clients.output_producer(self.spec, self.names, session=session, servers=servers)
        on_error = {"error_cb": runtime.on_client_error}
        try:
            self.consumer = Consumer(config | on_error)
            self.producer = None if own is None else Producer(own | on_error)
        except Exception as error:  # noqa: BLE001 - any refusal of the config is a start failure
            raise WorkerExit(EXIT_START_FAILED, f"a client refused its config: {error}") from None
        if own is not None:
            meet_brokers(self.producer, self.names.output_topic)
        if own is not None and "transactional.id" in own:
            # Fences a crashed predecessor, aborting its open transaction.
            retrying(lambda: self.producer.init_transactions(RETRY_SECONDS))
        self.handler: Handler = handler_for(self.spec, self.names, runtime, self.producer)
        # Per partition, how far the consumer has got: past every record it handled and
        # committed, and up to the end of the log where it last saw one (the conductor compares
        # this with Kafka's own end offsets to decide when the consumer has caught up).
        self.positions: dict[int, int] = {}
        self._last_progress = 0.0
        self._aborts_in_a_row = 0

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.consumer.subscribe([self.names.input_topic], on_assign=self._on_assign)
        self.runtime.report(Report.STARTED)
        while not self.runtime.stop_requested:
            self.runtime.raise_if_fatal()
            messages = self.next_messages()
            batch = [message for message in messages if message.error() is None]
            ends = self._events(messages) if len(batch) < len(messages) else {}
            if batch:
                offsets = next_offsets(batch)
                if self.handle(batch, offsets):
                    for done in offsets:
                        self._advance(done.partition, done.offset)
            for partition, end in ends.items():
                self._advance(partition, end)
            self._report_progress()
        self.consumer.close()  # with auto-commit, this commits the stored offsets
        self.handler.close()
        self._report_progress(force=True)
        return EXIT_DONE

    def next_messages(self) -> list:
        """The next batch, with the client's events: the records that have arrived, up to
        consumer.batch_size, once there is one (waiting up to BATCH_WAIT_SECONDS for it): a
        record waits for Kafka, not for a batch to fill. While a crash is pending, the batch waits
        up to BATCH_WAIT_SECONDS to fill, so that a crash in the middle of a batch finds one even
        when records come one at a time."""
        consume, batch_size = self.consumer.consume, self.spec.consumer.batch_size
        if self.runtime.may_crash:
            return consume(batch_size, BATCH_WAIT_SECONDS)
        messages = consume(batch_size, 0)
        if not messages:
            messages = consume(1, BATCH_WAIT_SECONDS)
            if messages and batch_size > 1:
                messages += consume(batch_size - 1, 0)
        return messages

    @staticmethod
    def _on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each assigned partition at its committed offset, or where there is none at the
        beginning of the log: what auto.offset.reset "earliest" does, without the 100 ms
        librdkafka waits before it looks the beginning up for a partition without a committed
        offset (every partition of a new experiment). If the committed offsets cannot be read at
        once (a fault), the client is left to read them itself, as without this callback."""
        try:
            committed = consumer.committed(partitions, timeout=ASSIGN_SECONDS)
        except KafkaException:
            return
        if any(partition.error is not None for partition in committed):
            return
        for partition in committed:
            if partition.offset < 0:
                partition.offset = OFFSET_BEGINNING
        consumer.assign(committed)

    @staticmethod
    def _events(messages: list) -> dict[int, int]:
        """The events among `messages`: partition -> the end of the log reached there. A fatal
        error raises; any other is logged (the client retries on its own)."""
        ends = {}
        for message in messages:
            error = message.error()
            if error is None:
                continue
            if error.code() == KafkaError._PARTITION_EOF:
                ends[message.partition()] = message.offset()
            elif error.fatal():
                raise KafkaException(error)
            else:
                print(f"consume: {error}", file=sys.stderr, flush=True)
        return ends

    def handle(self, batch: list, offsets: list[TopicPartition]) -> bool:
        """Handle `batch` and commit `offsets` (next_offsets(batch)), in the spec's order; False
        if a transaction aborted and the consumer went back to its committed offsets."""
        if self.commit_mode == Commit.BEFORE_PROCESSING:
            self.commit(offsets)
            self.runtime.crash_point(KillPoint.AFTER_COMMIT_BEFORE_PROCESSING)
            self.process(batch)
        elif self.commit_mode == Commit.AFTER_PROCESSING:
            self.process(batch)
            self.handler.before_commit()
            self.runtime.crash_point(KillPoint.AFTER_PROCESSING_BEFORE_COMMIT)
            self.commit(offsets)
        elif self.commit_mode == Commit.AUTO:
            if self.runtime.due(KillPoint.AFTER_COMMIT_BEFORE_PROCESSING):
                # librdkafka already stored these offsets when it handed the batch over; wait for
                # its background auto-commit to commit them, then die before handling them.
                time.sleep(self.spec.consumer.auto_commit_interval_ms / 1000 * 1.5 + 0.2)
                self.runtime.crash_point(KillPoint.AFTER_COMMIT_BEFORE_PROCESSING)
            self.process(batch)
            self.handler.before_commit()
            self.runtime.crash_point(KillPoint.AFTER_PROCESSING_BEFORE_COMMIT)
        else:
            return self.handle_in_transaction(batch, offsets)
        return True

    def process(self, batch: list, in_transaction: bool = False) -> None:
        handle, runtime, last = self.handler.process, self.runtime, len(batch)
        for position, message in enumerate(batch, start=1):
            handle(message)
            runtime.count += 1
            if runtime.may_crash:
                self._crash_points(position < last, in_transaction)
        self.handler.perform()

    def _crash_points(self, mid_batch: bool, in_transaction: bool) -> None:
        """The crash points right after a record was handled (only if a crash is pending)."""
        if in_transaction and self.runtime.due(KillPoint.MID_TRANSACTION):
            # Die with this transaction's output already written to the log (uncommitted),
            # as a transformer does that is killed between its sends and its commit.
            self.handler.perform()
            self.handler.before_commit()
            self.runtime.crash_point(KillPoint.MID_TRANSACTION)
        if mid_batch and self.runtime.due(KillPoint.MID_BATCH):
            self.handler.perform()  # the records handled so far have had their effects
            self.runtime.crash_point(KillPoint.MID_BATCH)

    def commit(self, offsets: list[TopicPartition]) -> None:
        """Store the batch's offsets, then commit the stored offsets synchronously (the commit
        must have landed before the loop goes on, so that every crash point is exact). A commit
        that meets a retriable error is tried again; any other error ends the process."""
        self.consumer.store_offsets(offsets=offsets)
        try:
            retrying(lambda: self.consumer.commit(asynchronous=False))
        except KafkaException as failure:
            if failure.args[0].code() != KafkaError._NO_OFFSET:  # nothing new to commit
                raise

    def handle_in_transaction(self, batch: list, offsets: list[TopicPartition]) -> bool:
        """Handle `batch` in one transaction with its offsets; on an abortable error, abort and
        rewind to the committed offsets (False). Fenced and fatal errors end the process."""
        producer = self.producer
        self.handler.checkpoint()
        retrying(producer.begin_transaction)
        self.process(batch, in_transaction=True)
        self.runtime.crash_point(KillPoint.AFTER_PROCESSING_BEFORE_COMMIT)
        try:
            metadata = self.consumer.consumer_group_metadata()
            retrying(lambda: producer.send_offsets_to_transaction(offsets, metadata))
            retrying(producer.commit_transaction)
        except KafkaException as failure:
            if not failure.args[0].txn_requires_abort():
                raise
            print(f"transaction aborted: {failure.args[0]}", file=sys.stderr, flush=True)
            self._abort_and_rewind()
            return False
        self._aborts_in_a_row = 0
        return True

    def _abort_and_rewind(self) -> None:
        """Abort the open transaction and go back to the committed offsets, so that what the
        transaction held is handled again (the handler forgets its effects too)."""
        self._aborts_in_a_row += 1
        if self._aborts_in_a_row >= MAX_ABORTS_IN_A_ROW:
            raise WorkerExit(EXIT_GAVE_UP, f"{self._aborts_in_a_row} transactions aborted in a row")
        retrying(self.producer.abort_transaction)
        self.handler.rewind()
        assignment = self.consumer.assignment()
        for committed in self.consumer.committed(assignment, timeout=RETRY_SECONDS):
            offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
            self.consumer.seek(TopicPartition(committed.topic, committed.partition, offset))
            self.positions[committed.partition] = max(committed.offset, 0)

    # -- bookkeeping ------------------------------------------------------------------------
    def _advance(self, partition: int, offset: int) -> None:
        self.positions[partition] = max(self.positions.get(partition, 0), offset)

    def _report_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL_SECONDS:
            self._last_progress = now
            self.runtime.report(Report.PROGRESS, count=self.runtime.count, positions=self.positions)


def next_offsets(batch: list) -> list[TopicPartition]:
    """The offsets to commit after `batch`: one past the last record of each partition (of the
    input topic, the only one the consumer reads)."""
    last = {}
    for message in batch:
        last[message.partition()] = message
    return [
        TopicPartition(message.topic(), partition, message.offset() + 1)
        for partition, message in last.items()
    ]


def main(runtime: Runtime) -> int:
    return ConsumerLoop(runtime).run()
