"""The consumer loop, shared by the side-effect consumer and the Kafka-to-Kafka transformer.

Records are consumed in batches of consumer.batch_size and committed the way the spec says:
- before-processing: commit the batch's offsets, then handle its records (at-most-once);
- after-processing: handle the records, then commit (at-least-once);
- auto: librdkafka stores each offset when it hands the record over and commits in the background;
- transactional: handle the records inside a producer transaction that also carries the offsets
  (send_offsets_to_transaction), with the three-branch error handling of the confluent examples.
Offsets are committed synchronously, so a crash point between handling and committing is exact.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from playground.engine.spec import Commit, consumer_config, consumer_producer_config
from playground.engine.workers.handlers import Handler, handler_for
from playground.engine.workers.runtime import (
    AFTER_COMMIT_BEFORE_PROCESSING,
    AFTER_PROCESSING_BEFORE_COMMIT,
    EXIT_DONE,
    MID_BATCH,
    MID_TRANSACTION,
    Runtime,
)
from playground.engine.workers.setup import load_spec, names_of, worker_config

PROGRESS_INTERVAL_SECONDS = 0.1


class ConsumerLoop:
    """One consumer session."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.names = names_of(runtime.orders)
        self.spec = load_spec(self.names)
        self.commit_mode = self.spec.consumer.commit
        config = worker_config(runtime.orders, consumer_config(self.spec))
        config |= {
            "group.id": self.names.group_id,
            "group.instance.id": self.names.consumer_instance_id,
            "session.timeout.ms": 6000,
            "enable.partition.eof": True,  # tells the conductor when the consumer has caught up
        }
        self.consumer = Consumer(config)
        self.producer = self._own_producer()
        self.handler: Handler = handler_for(self.spec, self.names, runtime, self.producer)
        # Per partition, how far the consumer has got: past every record it handled, and up to
        # the end of the log where it last saw one (the conductor compares this with Kafka's own
        # end offsets to decide when the consumer has caught up).
        self.positions: dict[int, int] = {}
        self._last_progress = 0.0

    def _own_producer(self) -> Producer | None:
        settings = consumer_producer_config(self.spec)
        if settings is None:
            return None
        config = worker_config(self.runtime.orders, settings)
        if "transactional.id" in config:
            config["transactional.id"] = self.names.consumer_transactional_id
        producer = Producer(config)
        if "transactional.id" in config:
            producer.init_transactions()  # fences a crashed predecessor, aborting its transaction
        return producer

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.consumer.subscribe([self.names.input_topic])
        consume, batch_size = self.consumer.consume, self.spec.consumer.batch_size
        while not self.runtime.stop_requested:
            messages = consume(num_messages=batch_size, timeout=0.2)
            batch = [message for message in messages if message.error() is None]
            ends = self._events(messages) if len(batch) < len(messages) else {}
            if batch:
                offsets = next_offsets(batch)
                self.handle(batch, offsets)
                for done in offsets:
                    self._advance(done.partition, done.offset)
            for partition, end in ends.items():
                self._advance(partition, end)
            self._report_progress()
        self.consumer.close()  # with auto-commit, this commits the stored offsets
        self.handler.close()
        self._report_progress(force=True)
        return EXIT_DONE

    @staticmethod
    def _events(messages: list) -> dict[int, int]:
        """The events among `messages`: partition -> the end of the log reached there; a fatal
        error raises."""
        ends = {}
        for message in messages:
            error = message.error()
            if error is None:
                continue
            if error.code() == KafkaError._PARTITION_EOF:
                ends[message.partition()] = message.offset()
            elif error.fatal():
                raise KafkaException(error)
        return ends

    def handle(self, batch: list, offsets: list[TopicPartition]) -> None:
        """Handle `batch` and commit `offsets` (next_offsets(batch)), in the spec's order."""
        if self.commit_mode == Commit.BEFORE_PROCESSING:
            self.commit(offsets)
            self.runtime.crash_point(AFTER_COMMIT_BEFORE_PROCESSING)
            self.process(batch)
        elif self.commit_mode == Commit.AFTER_PROCESSING:
            self.process(batch)
            self.handler.before_commit()
            self.runtime.crash_point(AFTER_PROCESSING_BEFORE_COMMIT)
            self.commit(offsets)
        elif self.commit_mode == Commit.AUTO:
            if self.runtime.due(AFTER_COMMIT_BEFORE_PROCESSING):
                # librdkafka already stored these offsets when it handed the batch over; wait for
                # its background auto-commit to commit them, then die before handling them.
                time.sleep(self.spec.consumer.auto_commit_interval_ms / 1000 * 1.5 + 0.2)
                self.runtime.crash_point(AFTER_COMMIT_BEFORE_PROCESSING)
            self.process(batch)
            self.handler.before_commit()
            self.runtime.crash_point(AFTER_PROCESSING_BEFORE_COMMIT)
        else:
            self.handle_in_transaction(batch, offsets)

    def process(self, batch: list, in_transaction: bool = False) -> None:
        handle, runtime, last = self.handler.process, self.runtime, len(batch)
        for position, message in enumerate(batch, start=1):
            handle(message)
            runtime.count += 1
            if runtime.may_crash:
                self._crash_points(position < last, in_transaction)

    def _crash_points(self, mid_batch: bool, in_transaction: bool) -> None:
        """The crash points right after a record was handled (only if a crash is pending)."""
        if in_transaction and self.runtime.due(MID_TRANSACTION):
            # Die with this transaction's output already written to the log (uncommitted),
            # as a transformer does that is killed between its sends and its commit.
            self.handler.before_commit()
            self.runtime.crash_point(MID_TRANSACTION)
        if mid_batch:
            self.runtime.crash_point(MID_BATCH)

    def commit(self, offsets: list[TopicPartition]) -> None:
        """Store the batch's offsets, then commit the stored offsets synchronously (the commit
        must have landed before the loop goes on, so that every crash point is exact)."""
        self.consumer.store_offsets(offsets=offsets)
        self.consumer.commit(asynchronous=False)

    def handle_in_transaction(self, batch: list, offsets: list[TopicPartition]) -> None:
        producer = self.producer
        while True:
            self.handler.checkpoint()
            producer.begin_transaction()
            self.process(batch, in_transaction=True)
            self.runtime.crash_point(AFTER_PROCESSING_BEFORE_COMMIT)
            try:
                producer.send_offsets_to_transaction(
                    offsets, self.consumer.consumer_group_metadata()
                )
                self._commit_transaction()
                return
            except KafkaException as failure:
                if not failure.args[0].txn_requires_abort():
                    raise
                print(f"transaction aborted: {failure.args[0]}", file=sys.stderr, flush=True)
                producer.abort_transaction()
                self.handler.rewind()
                # Handle the same batch again in a new transaction (the consumer's position
                # is not used: the batch is still in hand).

    def _commit_transaction(self) -> None:
        while True:
            try:
                self.producer.commit_transaction()
                return
            except KafkaException as failure:
                if failure.args[0].retriable():
                    continue
                raise

    # -- bookkeeping ------------------------------------------------------------------------
    def _advance(self, partition: int, offset: int) -> None:
        self.positions[partition] = max(self.positions.get(partition, 0), offset)

    def _report_progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL_SECONDS:
            self._last_progress = now
            self.runtime.report("progress", count=self.runtime.count, positions=self.positions)


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


def main(runtime: Runtime) -> None:
    sys.exit(ConsumerLoop(runtime).run())
