"""What the consumer does with each record: charge the order (side-effect), or add its amount to
the running total of payments and produce that total to the output topic (kafka-to-kafka)."""

from __future__ import annotations

import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from playground.engine import orders
from playground.engine.formats import output_value
from playground.engine.formats.output_value import OutputValue
from playground.engine.naming import ExperimentNames
from playground.engine.sink import Sink
from playground.engine.spec.model import Pipeline, Spec
from playground.engine.workers.exits import EXIT_GAVE_UP, WorkerExit
from playground.engine.workers.runtime import Runtime

# How long the output records may take to be acknowledged before the consumer gives up (and a new
# process handles the batch again): longer than the client's own retries of a lost response.
OUTPUT_FLUSH_TIMEOUT_SECONDS = 120.0
OUTPUT_FLUSH_STEP_SECONDS = 1.0
RESTORE_WINDOW = 1000  # output records read back to find the last running total
RESTORE_SECONDS = 40.0  # how long a starting transformer keeps trying to read its state back


class Handler:
    """The per-record work of a consumer; hooks let the loop keep it consistent with commits."""

    # The generation (or member epoch) the member holds: what each record it handles names. The
    # consumer loop sets it before each batch.
    generation: int = -1

    def process(self, message) -> None:
        raise NotImplementedError

    def perform(self) -> None:
        """Perform the effects of the records processed since the last call, together (the
        consumer calls it at the end of each batch, and before a crash in the middle of one)."""

    def before_commit(self) -> None:
        """Make the batch's effects durable before its offsets are committed."""

    def assigned(self, partitions: list[int]) -> None:
        """The group gave the member these partitions: pick up their state where the last
        owner left it."""

    def checkpoint(self) -> None:
        """Remember the state to go back to if the coming transaction aborts."""

    def rewind(self) -> None:
        """Go back to the last checkpoint (the transaction aborted)."""

    def close(self) -> None:
        """Finish cleanly (only on a graceful stop: a crash skips this)."""


class ChargeHandler(Handler):
    """Charges each order in the durable store; with an idempotent consumer, at most once per id.
    The charges of a batch are written together (sink.py)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._match = orders.ORDER_VALUE.fullmatch
        self._charge_ascii = sink.charge_ascii

    @property
    def generation(self) -> int:
        return self.sink.generation

    @generation.setter
    def generation(self, generation: int) -> None:
        self.sink.generation = generation

    def process(self, message) -> None:
        value = message.value()
        match = self._match(value)
        if match is not None:  # the order as the producer wrote it: no JSON decoder needed
            self._charge_ascii(
                match[1], int(match[2]), message.partition(), message.offset(),
                message.timestamp()[1],
            )  # fmt: skip
            return
        order = orders.parse_order(value)
        self.sink.charge(
            order["order_id"],
            order["amount_cents"],
            message.partition(),
            message.offset(),
            produced_at_ms=message.timestamp()[1],
        )

    def perform(self) -> None:
        self.sink.perform()

    def close(self) -> None:
        self.sink.close()


class RunningTotalHandler(Handler):
    """Adds each payment to its partition's running total and produces the total downstream.

    Each output record names the input copy it came from and the consumer session that produced
    it, so the audit can tell which session processed a copy (an order's story shows it)."""

    def __init__(
        self,
        names: ExperimentNames,
        producer: Producer,
        bootstrap: str,
        *,
        session: int,
        member: int,
    ) -> None:
        self.names = names
        self.producer = producer
        self.bootstrap = bootstrap
        self.session = session
        self.member = member
        # Per partition it owns, the running total; each is restored as the group assigns it.
        self.totals: dict[int, int] = {}
        self._saved = dict(self.totals)
        self._failed: list[str] = []  # delivery errors of output records not yet acted on
        self._on_delivery = self.on_delivery

    def on_delivery(self, error, message) -> None:
        if error is not None:
            self._failed.append(str(error))

    def process(self, message) -> None:
        order = orders.parse_order(message.value())
        partition = message.partition()
        total = self.totals.get(partition, 0) + order["amount_cents"]
        self.totals[partition] = total
        value = output_value.value(OutputValue(
            order["order_id"], order["amount_cents"], total, partition, message.offset(),
            message.timestamp()[1], self.session, self.member, self.generation,
        ))  # fmt: skip
        while True:
            try:
                self.producer.produce(
                    self.names.output_topic,
                    key=order["order_id"],
                    value=value,
                    partition=partition,
                    on_delivery=self._on_delivery,
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def before_commit(self) -> None:
        """Wait until every output record is acknowledged; if one failed, or they take too long,
        the offsets must not be committed: end the process, and a new one handles them again."""
        deadline = time.monotonic() + OUTPUT_FLUSH_TIMEOUT_SECONDS
        while self.producer.flush(OUTPUT_FLUSH_STEP_SECONDS) != 0:
            if time.monotonic() > deadline:
                raise WorkerExit(EXIT_GAVE_UP, "output records still unacknowledged")
        if self._failed:
            raise WorkerExit(EXIT_GAVE_UP, f"output records failed: {self._failed[0]}")

    def assigned(self, partitions: list[int]) -> None:
        """A partition that comes from another member carries on from the last total that
        member committed (read_committed), not from what this member saw of it before."""
        restored = restore_totals(self.names.output_topic, self.bootstrap, partitions)
        for partition in partitions:
            self.totals.pop(partition, None)
            self._saved.pop(partition, None)
            if partition in restored:
                self.totals[partition] = self._saved[partition] = restored[partition]

    def checkpoint(self) -> None:
        self._saved = dict(self.totals)

    def rewind(self) -> None:
        self.totals = dict(self._saved)
        self._failed.clear()  # they belonged to the aborted transaction

    def close(self) -> None:
        self.producer.flush(OUTPUT_FLUSH_TIMEOUT_SECONDS)


def restore_totals(
    topic: str, bootstrap: str, partitions: list[int] | None = None
) -> dict[int, int]:
    """The last committed running total of each output partition (of `partitions`, or all): a
    restarted transformer, or a member given a partition, continues from there, as a stream
    processor restores its state. A broker failing over while it reads is met as a stream
    processor meets it: the whole read is tried again."""
    deadline = time.monotonic() + RESTORE_SECONDS
    while True:
        try:
            return _read_totals(topic, bootstrap, partitions)
        except KafkaException as failure:
            if failure.args[0].fatal() or time.monotonic() > deadline:
                raise
            print(f"restoring totals, trying again: {failure}", file=sys.stderr, flush=True)
            time.sleep(0.5)


def _read_totals(topic: str, bootstrap: str, only: list[int] | None) -> dict[int, int]:
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"restore-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
            "log_level": 3,
        }
    )
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        totals: dict[int, int] = {}
        for partition in partitions:
            if only is not None and partition not in only:
                continue
            low, high = reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high == 0:
                continue
            start = max(low, high - RESTORE_WINDOW)
            reader.assign([TopicPartition(topic, partition, start)])
            while True:
                message = reader.poll(5.0)
                if message is None:
                    break
                if message.error():
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        raise KafkaException(message.error())
                    break  # end of partition (read_committed: the last stable offset)
                totals[partition] = output_value.decode(message.value()).total_cents
        return totals
    finally:
        reader.close()


def handler_for(
    spec: Spec, names: ExperimentNames, runtime: Runtime, producer: Producer | None
) -> Handler:
    if spec.pipeline == Pipeline.KAFKA_TO_KAFKA:
        assert producer is not None
        orders = runtime.orders
        return RunningTotalHandler(
            names, producer, orders.bootstrap_servers, session=orders.session, member=orders.member
        )
    orders = runtime.orders
    return ChargeHandler(
        Sink(
            names.sink,
            session=orders.session,
            member=orders.member,
            idempotent=spec.consumer.idempotent,
        )
    )
