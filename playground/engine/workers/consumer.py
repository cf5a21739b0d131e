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
Errors are handled as a production client would: a retriable commit is retried in place; a commit
the group refuses because the member no longer owns the partitions (a rebalance went on while it
handled the batch: it was stalled, frozen, or slow past max.poll.interval.ms) is written down and
the member goes on, as a service's consumer does; a fencing or a fatal error ends the process with
its exit code (exits.py), and the conductor starts a new one, which resumes from the committed
offsets.

The process is one member of the experiment's consumer group. What the group gives it and takes
away (the rebalance callbacks) goes into the group log (formats/group_log.py), with the generation
(classic) or member epoch (consumer protocol) the member held; every record it handles names its
member, session and generation too, so the audit can tell a crash from a rebalance from a zombie.
"""

from __future__ import annotations

import struct
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

from playground.engine.formats import group_log
from playground.engine.run import clients
from playground.engine.spec.model import Assignor, Commit, GroupProtocol, KillPoint
from playground.engine.spec.model import Consumer as SpecConsumer
from playground.engine.workers.exits import (
    EXIT_DONE,
    EXIT_GAVE_UP,
    EXIT_START_FAILED,
    WorkerExit,
    retrying,
)
from playground.engine.workers.handlers import Handler, handler_for
from playground.engine.workers.runtime import (
    STALL_POINT,
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
# A commit the group refuses: the member no longer owns what it commits (the partitions moved on
# while it handled the batch), or holds a generation (member epoch) the group has moved past, as
# in every incremental rebalance until the member's next poll brings it the new one. The member
# goes on: its next batch's commit covers this one's offsets if it still owns them; if not, the
# new owner starts from the last commit.
REFUSED_BY_THE_GROUP = frozenset(
    {
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.STALE_MEMBER_EPOCH,
        KafkaError.FENCED_MEMBER_EPOCH,
        KafkaError._ASSIGNMENT_LOST,
        KafkaError._STATE,  # an offset stored for a partition no longer assigned
    }
)
METADATA_MAGIC = b"CGMDv2:"  # librdkafka's serialised consumer group metadata begins so


def incremental(consumer: SpecConsumer) -> bool:
    """Whether the group's rebalances are incremental: the consumer protocol (KIP-848) always
    is; with the classic protocol, only the cooperative-sticky assignor."""
    return (
        consumer.group_protocol == GroupProtocol.CONSUMER
        or consumer.assignor == Assignor.COOPERATIVE_STICKY
    )


def generation_of(metadata: bytes) -> int:
    """The generation (classic) or member epoch (consumer protocol) in librdkafka's serialised
    consumer group metadata (what consumer_group_metadata() returns): an int32 right after its
    magic, in the machine's byte order; -1 when there is none (not in a group yet)."""
    if not metadata.startswith(METADATA_MAGIC) or len(metadata) < len(METADATA_MAGIC) + 4:
        return -1
    return struct.unpack_from("=i", metadata, len(METADATA_MAGIC))[0]


class ConsumerLoop:
    """One consumer session."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.names = names_of(runtime.orders)
        self.spec = load_spec(self.names)
        self.commit_mode = self.spec.consumer.commit
        orders = runtime.orders
        session, servers, member = orders.session, orders.bootstrap_servers, orders.member
        config = clients.consumer(
            self.spec, self.names, session=session, servers=servers, member=member
        )
        own = clients.output_producer(
            self.spec, self.names, session=session, servers=servers, member=member
        )
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
        self.group_log = group_log.GroupLog(self.names.group_log, member=member, session=session)
        self.generation = -1  # the newest generation (or member epoch) the member held
        # Whether the group hands partitions over one by one (the callbacks name only those
        # that move, and assignments add to what the member has) rather than all at once.
        self.incremental = incremental(self.spec.consumer)
        # Per partition it owns, how far the consumer has got: past every record it handled and
        # committed, and up to the end of the log where it last saw one (the conductor compares
        # this with Kafka's own end offsets to decide when the group has caught up).
        self.positions: dict[int, int] = {}
        self._last_progress = 0.0
        self._aborts_in_a_row = 0

    # -- the loop ---------------------------------------------------------------------------
    def run(self) -> int:
        self.consumer.subscribe(
            [self.names.input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.runtime.report(Report.STARTED)
        while not self.runtime.stop_requested:
            self.runtime.raise_if_fatal()
            messages = self.next_messages()
            batch = [message for message in messages if message.error() is None]
            ends = self._events(messages) if len(batch) < len(messages) else {}
            if batch:
                self._note_generation()
                offsets = next_offsets(batch)
                if self.handle(batch, offsets):
                    for done in offsets:
                        self._advance(done.partition, done.offset)
            for partition, end in ends.items():
                self._advance(partition, end)
            self._report_progress()
        self.consumer.close()  # with auto-commit, this commits the stored offsets
        self.handler.close()
        self.group_log.write(group_log.LEFT, sorted(self.positions), generation=self.generation)
        self.positions.clear()
        self._report_progress(force=True)
        return EXIT_DONE

    def _note_generation(self) -> None:
        """Remember the generation (or member epoch) the member holds as it takes a batch: what
        its records and group log lines name."""
        self.generation = generation_of(self.consumer.consumer_group_metadata())
        self.handler.generation = self.generation

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

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The group gave the member `partitions` (all of its assignment with an eager assignor,
        the new ones with an incremental one): write it down, let the handler pick up their
        state, and start each at its committed offset."""
        self._note_generation()
        numbers = sorted(partition.partition for partition in partitions)
        self.group_log.write(group_log.ASSIGNED, numbers, generation=self.generation)
        if numbers:
            self.handler.assigned(numbers)
        self._start_at_committed(consumer, partitions)

    def _start_at_committed(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each assigned partition at its committed offset, or where there is none at the
        beginning of the log: what auto.offset.reset "earliest" does, without the 100 ms
        librdkafka waits before it looks the beginning up for a partition without a committed
        offset (every partition of a new experiment). If the committed offsets cannot be read at
        once (a fault), the client is left to read them itself, as without this callback."""
        assign = consumer.incremental_assign if self.incremental else consumer.assign
        try:
            committed = consumer.committed(partitions, timeout=ASSIGN_SECONDS) if partitions else []
        except KafkaException:
            committed = None
        if committed is None or any(partition.error is not None for partition in committed):
            assign(partitions)  # from where the client finds by itself
            return
        for partition in committed:
            if partition.offset < 0:
                partition.offset = OFFSET_BEGINNING
        assign(committed)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The group takes `partitions` back (a rebalance): with consumer.commit_on_revoke, commit
        what was processed of them first; write it down; forget how far it got in them. The
        client unassigns them once this returns."""
        numbers = sorted(partition.partition for partition in partitions)
        if self.spec.consumer.commit_on_revoke and numbers:
            self._commit_on_revoke()
        self.group_log.write(group_log.REVOKED, numbers, generation=self.generation)
        self._forget(numbers)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The member finds its partitions already gone (its session or its poll interval ran
        out): nothing can be committed for them any more."""
        numbers = sorted(partition.partition for partition in partitions)
        self.group_log.write(group_log.LOST, numbers, generation=self.generation)
        self._forget(numbers)

    def _commit_on_revoke(self) -> None:
        """Commit the offsets stored so far (auto-commit stores them as records are handed over;
        after-processing commits each batch itself, so nothing is left), refused or not."""
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as failure:
            error = failure.args[0]
            if error.code() != KafkaError._NO_OFFSET:
                print(f"commit on revoke: {error}", file=sys.stderr, flush=True)

    def _forget(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.positions.pop(partition, None)

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
            if not self.commit(offsets):
                return False  # not the member's to process any more: the new owner will
            self.runtime.crash_point(KillPoint.AFTER_COMMIT_BEFORE_PROCESSING)
            self.process(batch)
        elif self.commit_mode == Commit.AFTER_PROCESSING:
            self.process(batch)
            self.handler.before_commit()
            self.runtime.crash_point(KillPoint.AFTER_PROCESSING_BEFORE_COMMIT)
            return self.commit(offsets)
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
        """The crash points right after a record was handled (only if a crash is pending); and
        a stall: the effects so far performed, the batch's commit not made."""
        stall = self.runtime.due(STALL_POINT)
        if stall is not None:
            self.handler.perform()
            self.runtime.stall(stall)
        if in_transaction and self.runtime.due(KillPoint.MID_TRANSACTION):
            # Die with this transaction's output already written to the log (uncommitted),
            # as a transformer does that is killed between its sends and its commit.
            self.handler.perform()
            self.handler.before_commit()
            self.runtime.crash_point(KillPoint.MID_TRANSACTION)
        if mid_batch and self.runtime.due(KillPoint.MID_BATCH):
            self.handler.perform()  # the records handled so far have had their effects
            self.runtime.crash_point(KillPoint.MID_BATCH)

    def commit(self, offsets: list[TopicPartition]) -> bool:
        """Store the batch's offsets, then commit the stored offsets synchronously (the commit
        must have landed before the loop goes on, so that every crash point is exact); False if
        the group refused it because the member no longer owns those partitions (written in the
        group log). A commit that meets a retriable error is tried again; any other error ends
        the process."""
        try:
            self.consumer.store_offsets(offsets=offsets)
            # A refusal is the group's answer, not a failure to retry: while a rebalance is in
            # progress the member must poll to take part in it (the Java client throws
            # RebalanceInProgressException from commitSync for that reason), and a retry in
            # place would hold the rebalance up for as long as it went on.
            retrying(lambda: self.consumer.commit(asynchronous=False), final=REFUSED_BY_THE_GROUP)
        except KafkaException as failure:
            error = failure.args[0]
            if error.code() == KafkaError._NO_OFFSET:  # nothing new to commit
                return True
            if error.code() not in REFUSED_BY_THE_GROUP or error.fatal():
                raise
            print(f"commit refused by the group: {error}", file=sys.stderr, flush=True)
            partitions = sorted(offset.partition for offset in offsets)
            self.group_log.write(group_log.COMMIT_REFUSED, partitions, generation=self.generation)
            return False
        return True

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
            error = failure.args[0]
            if not error.txn_requires_abort():
                raise
            print(f"transaction aborted: {error}", file=sys.stderr, flush=True)
            if error.code() in REFUSED_BY_THE_GROUP:
                # The member's group metadata is stale: the group moved its partitions on, and
                # the broker fences the transaction that carries them (KIP-447).
                partitions = sorted(offset.partition for offset in offsets)
                self.group_log.write(
                    group_log.COMMIT_REFUSED, partitions, generation=self.generation
                )
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
        assignment = self.consumer.assignment()  # what the member still owns
        for committed in self.consumer.committed(assignment, timeout=RETRY_SECONDS):
            offset = committed.offset if committed.offset >= 0 else OFFSET_BEGINNING
            try:
                self.consumer.seek(TopicPartition(committed.topic, committed.partition, offset))
            except KafkaException as failure:
                if failure.args[0].code() != KafkaError._STATE:
                    raise
                continue  # taken away meanwhile: its new owner starts from the committed offset
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
