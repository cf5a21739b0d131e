"""The log strip: every partition of an experiment's topics as a row of offsets, live.

For each offset of the input topic it holds what the producer heard (acknowledged, and by which
producer session, or never) and what the consumer did with the record there (processed once,
processed again, a second effect, or not yet / never). Three markers stand on each partition, each
read from Kafka or from the sink, never from a worker's opinion of itself:
- the log end: the partition's high watermark, asked of Kafka;
- the committed offset: the consumer group's committed offset, asked of Kafka (OffsetFetch);
- the position: where the consumer reads next. Kafka does not keep it, so it is taken from what
  the consumer did: one past the last record the current consumer session processed, as the sink
  (the ledger, or the output topic) records it. A new consumer session starts at the committed
  offset, which is where the marker goes back to when the consumer is replaced.

For kafka-to-kafka runs the output topic gets a strip too, in transaction terms: records of
committed transactions, of aborted ones, and of the transaction still open (at or beyond the
last stable offset).

States are kept per offset in bytearrays (one byte each), so a million records cost four
megabytes. The raw records are taken a read at a time, as numpy arrays of partitions, offsets and
sessions (their formats' fast readers, formats/), and a strip is summarised into ranges with
C-speed scans (bytes.find): never a Python loop over every record or every offset.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from playground.engine.formats import ledger, producer_log
from playground.engine.naming import ExperimentNames
from playground.engine.observe import kafka_questions
from playground.engine.observe.kafka_questions import Questions
from playground.engine.observe.strip_state import (
    _OUT_COMMITTED,
    _OUT_SEEN,
    MAX_COMMITS,
    OutputStrip,
    PartitionStrip,
    StripView,
)
from playground.engine.observe.tally import JournalSlices
from playground.engine.spec.model import IsolationLevel, Pipeline, Spec

# Kafka is asked for the markers at most this often (a request per partition each time, for every
# running experiment), while the raw records are followed at every read.
MARKERS_SECONDS = 0.2
# The markers' thread stops asking when nobody took an answer for this long (a publisher that
# ended without closing its watch); the next read starts it again.
MARKERS_IDLE_SECONDS = 10.0
OUTPUT_WAIT_SECONDS = 30.0  # the longest one batch of the output topic is waited for
FINAL_READ_SECONDS = 15.0  # how long the last read may wait for the output topic's end


@dataclass
class Markers:
    """One answer from Kafka: partition -> offset for each marker it gave (a partition it could
    not answer for this time is missing), and the group's committed offsets, partition -> offset
    (below 0: none; None: no answer)."""

    asked_at: float  # time.monotonic() when the questions went out
    answered_at: float
    log_ends: dict[int, int]
    output_ends: dict[int, int]
    output_stable: dict[int, int]
    committed: dict[int, int] | None
    answered: bool = True  # False: the child gave no answer at all


class MarkerReader:
    """Asks Kafka for an experiment's markers (through its kafka_questions child) in a thread of
    its own, MARKERS_SECONDS apart, so that a read of the strip does not wait on Kafka: a busy or
    paused broker makes the markers late, not the picture. ask() answers at once, for the moments
    that cannot wait."""

    def __init__(self, questions: Questions, partitions: int) -> None:
        self.questions = questions
        # The longest a full answer can take: a bounded request per partition and topic.
        self.wait_seconds = kafka_questions.KAFKA_TIMEOUT_SECONDS * (3 * partitions + 1) + 5
        self._latest: Markers | None = None
        self._latest_lock = threading.Lock()
        self._asking = threading.Lock()  # one question at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._taken_at = time.monotonic()

    def start(self) -> None:
        """Start asking, unless it already does (or has been stopped)."""
        self._taken_at = time.monotonic()
        running = self._thread is not None and self._thread.is_alive()
        if not running and not self._stop.is_set():
            self._thread = threading.Thread(target=self._ask_all_along, daemon=True)
            self._thread.start()

    def take(self) -> Markers | None:
        """The newest answer not taken yet."""
        with self._latest_lock:
            latest, self._latest = self._latest, None
        return latest

    def stop(self) -> None:
        """Stop the thread (a question under way is answered first). ask() still answers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _ask_all_along(self) -> None:
        while not self._stop.is_set() and time.monotonic() - self._taken_at < MARKERS_IDLE_SECONDS:
            markers = self.ask()
            with self._latest_lock:
                self._latest = markers
            took = markers.answered_at - markers.asked_at
            self._stop.wait(max(MARKERS_SECONDS - took, 0.0 if markers.answered else 0.5))

    def ask(self) -> Markers:
        """Ask Kafka now: the log ends, the output topic's ends, the group's committed offsets
        (no marker at all when the child did not answer: they stay where they were)."""
        with self._asking:
            asked_at = time.monotonic()
            answer = self.questions.ask({"ask": kafka_questions.MARKERS}, self.wait_seconds)
            answer = answer or {}
            committed = answer.get("committed")
            return Markers(
                asked_at,
                time.monotonic(),
                dict(answer.get("log_ends", [])),
                dict(answer.get("output_ends", [])),
                dict(answer.get("output_stable", [])),
                None if committed is None else dict(committed),
                answered=bool(answer),
            )

    def close(self) -> None:
        self.stop()


def questions_for(names: ExperimentNames, spec: Spec, bootstrap: str) -> Questions:
    """The child that asks Kafka what experiment `names`'s strip and cluster panel show."""
    outputs = names.output_topic if spec.pipeline == Pipeline.KAFKA_TO_KAFKA else ""
    return Questions(
        bootstrap, names.group_id, names.input_topic, outputs, spec.workload.partitions
    )


class LogStripWatch:
    """Follows one experiment's raw records and asks Kafka for its markers. `read()` is called
    from one thread (the live page's watcher); `consumer_session()` and `sync_clock()` from
    another (the snapshot callback)."""

    def __init__(
        self,
        names: ExperimentNames,
        spec: Spec,
        bootstrap: str,
        questions: Questions | None = None,
    ) -> None:
        self.names = names
        self.spec = spec
        self.bootstrap = bootstrap
        self.kafka_to_kafka = spec.pipeline == Pipeline.KAFKA_TO_KAFKA
        # Records never acknowledged count as lost only when a consumer could have seen them:
        # a transactional producer's unacknowledged records are aborted ones, or markers.
        self.hidden_unacked = (
            spec.producer.transactional
            and spec.consumer.isolation_level == IsolationLevel.READ_COMMITTED
        )
        partitions = spec.workload.partitions
        self.partitions = [PartitionStrip(p) for p in range(partitions)]
        self.outputs = [OutputStrip(p) for p in range(partitions)] if self.kafka_to_kafka else []
        self._producer_log = JournalSlices(names.producer_log)
        self._ledger = JournalSlices(names.sink)
        self._lock = threading.Lock()
        self._session = 0  # the newest consumer session the sink or the conductor has shown
        # Per partition, the newest consumer session that handled it: with several members in
        # the group, sessions run side by side, each on partitions of its own; a line of an
        # older session than its partition's newest (a zombie's, a replaced session's) leaves
        # the position alone.
        self._session_of = [0] * partitions
        # Partitions a new consumer session has processed nothing of yet: it reads them on from
        # the group's committed offset, where their position marker goes back to.
        self._reset: set[int] = set()
        self.handlings = 0  # handlings seen, over every partition
        self.sessions_acked: set[int] = set()  # producer sessions that had acknowledgements
        self._reset_at = 0.0  # when the newest session started: older answers cannot reset
        self._markers_asked_at = 0.0  # when the answer the markers show was asked
        self._started = time.monotonic()
        # Kafka is asked by a child process (kafka_questions), never by this one.
        self.questions = questions or questions_for(names, spec, bootstrap)
        self._markers = MarkerReader(self.questions, partitions)
        # Each output reader's next offset per partition, from the answers taken: a new child
        # (the last one died) reads on from there.
        self._output_next: list[dict[int, int]] = [{}, {}]
        self._output_positions: list[dict[int, int] | None] = [None, None]

    # -- told by the snapshots ----------------------------------------------------------------
    def consumer_session(self, session: int) -> None:
        """The conductor started consumer session `session`: it reads from the committed offset."""
        with self._lock:
            if session > self._session:
                self._new_session(session)

    def sync_clock(self, elapsed: float) -> None:
        """Align the commit times with the run's clock (`elapsed` seconds since its start)."""
        self._started = time.monotonic() - elapsed

    # -- reading ------------------------------------------------------------------------------
    def read(self, final: bool = False) -> None:
        """Catch up with the raw records and take the newest markers Kafka gave (asked in a
        thread of their own; asked now when a new consumer session started). With `final` (the
        run is over), read the output topic to its end first, and ask Kafka then and there."""
        self._follow_acks()
        if self.kafka_to_kafka:
            self._follow_output(final)
        else:
            self._follow_ledger()
        if final:
            self._markers.stop()
            self._take_markers(self._markers.ask())
            return
        self._markers.start()
        markers = self._markers.take()
        if markers is not None:
            self._take_markers(markers)
        if self._reset:
            # A new consumer session: where it reads from is asked now, before its first
            # records move the position on (a session change is rare; Kafka is waited on then).
            self._take_markers(self._markers.ask())

    def _follow_acks(self) -> None:
        for data in self._producer_log.slices():
            self._take_acks(data)

    def _take_acks(self, data: bytes) -> None:
        sessions, partitions, offsets = producer_log.acks(data)
        # (Offsets and sessions below 0 come only from a decoded line: no place in the strip.)
        kept = (partitions >= 0) & (partitions < len(self.partitions))
        kept &= (offsets >= 0) & (sessions >= 0)
        partitions, offsets, sessions = partitions[kept], offsets[kept], sessions[kept]
        for partition in np.unique(partitions).tolist():
            mine = partitions == partition
            self.partitions[partition].ack(offsets[mine], sessions[mine])
        self.sessions_acked.update(np.unique(sessions).tolist())

    def _follow_ledger(self) -> None:
        for data in self._ledger.slices():
            self._take_runs(data)

    def _take_runs(self, data: bytes) -> None:
        partitions, offsets, sessions, members, _generations, charged = ledger.runs(data)
        self._handled(
            partitions, offsets, sessions, np.ones_like(offsets), charged, members=members
        )

    def _handled(self, partitions, offsets, sessions, runs, effects, members=None) -> None:
        """Handlings in the order the sink has them (arrays, one entry each): the partition and
        offset handled, the consumer session (-1: not known), handler runs and effects, and the
        group member that handled it (None: not read here)."""
        kept = (partitions >= 0) & (partitions < len(self.partitions)) & (offsets >= 0)
        partitions, offsets, sessions = partitions[kept], offsets[kept], sessions[kept]
        runs, effects = runs[kept], effects[kept]
        members = None if members is None else members[kept]
        for partition in np.unique(partitions).tolist():
            mine = partitions == partition
            by = None if members is None else members[mine]
            self.partitions[partition].handled(offsets[mine], runs[mine], effects[mine], by)
        ran = runs > 0  # a handling; an effect alone (the committed output) moves nothing
        partitions, offsets, sessions = partitions[ran], offsets[ran], sessions[ran]
        self.handlings += int(runs[ran].sum())
        with self._lock:
            # The newest session of the whole group: a line of a session newer than any before
            # means a session started (every partition's position goes back to the committed
            # offset until its own processing shows where it reads).
            newest = np.maximum.accumulate(np.concatenate(([self._session], sessions)))
            started = np.flatnonzero(sessions > newest[:-1])
            since = 0
            if len(started):
                self._new_session(int(newest[-1]))
                since = int(started[-1])
            after = np.arange(len(partitions)) >= since
            for partition in np.unique(partitions).tolist():
                mine = partitions == partition
                theirs = sessions[mine]
                known = theirs >= 0
                newest_here = np.maximum.accumulate(
                    np.concatenate(([self._session_of[partition]], np.where(known, theirs, -1)))
                )
                # A late line of a session its partition has moved on from (a replaced
                # session's, a zombie's) leaves the position alone.
                moves = ~known | (theirs >= newest_here[:-1])
                self._session_of[partition] = int(newest_here[-1])
                if moves.any():
                    self.partitions[partition].position = int(offsets[mine][moves][-1]) + 1
                if (moves & after[mine]).any():
                    self._reset.discard(partition)  # its processing shows where it reads

    def _new_session(self, session: int) -> None:
        self._session = session
        self._reset = set(range(len(self.partitions)))
        self._reset_at = time.monotonic()

    def _follow_output(self, final: bool) -> None:
        deadline = time.monotonic() + (FINAL_READ_SECONDS if final else 0)
        while True:
            taken = self._take_output()
            if not final or time.monotonic() > deadline:
                return
            if not taken and self._output_read_to_end():
                return

    def _take_output(self) -> int:
        """One batch of each output reader (in the child): the records read, and the handlings
        they stand for. Returns how many records were read."""
        starts = [
            [reader, partition, offset]
            for reader, nexts in enumerate(self._output_next)
            for partition, offset in nexts.items()
        ]
        question = {"ask": kafka_questions.OUTPUT, "from": starts}
        answer = self.questions.ask(question, OUTPUT_WAIT_SECONDS)
        if answer is None:
            return 0
        taken = 0
        for reader, code in enumerate((_OUT_SEEN, _OUT_COMMITTED)):
            read = answer["readers"][reader]
            positions = read["positions"]
            self._output_positions[reader] = None if positions is None else dict(positions)
            outputs = np.array(read["outputs"], np.int64).reshape(-1, 2)
            taken += len(outputs)
            if len(outputs):
                partitions, offsets = outputs.T
                kept = (partitions >= 0) & (partitions < len(self.outputs))
                partitions, offsets = partitions[kept], offsets[kept]
                nexts = self._output_next[reader]
                for partition in np.unique(partitions).tolist():
                    mine = offsets[partitions == partition]
                    self.outputs[partition].seen(mine, code)
                    nexts[partition] = max(nexts.get(partition, 0), int(mine.max()) + 1)
            sources = np.array(read["sources"], np.int64).reshape(-1, 4)
            if len(sources):
                partitions, offsets, sessions, members = sources.T
                ones = np.ones_like(offsets)
                handled = (ones, 0 * ones) if code == _OUT_SEEN else (0 * ones, ones)
                # The members of the handlings: the read_uncommitted reader's, one per handling.
                by = members if code == _OUT_SEEN else None
                self._handled(partitions, offsets, sessions, *handled, members=by)
        return taken

    def _output_read_to_end(self) -> bool:
        for reader, positions in enumerate(self._output_positions):
            if positions is None:
                return False  # not known yet: not at the end
            for partition, offset in positions.items():
                end = self.outputs[partition]
                limit = end.log_end if reader == 0 else end.last_stable
                if offset < limit:
                    return False
        return True

    def _take_markers(self, markers: Markers) -> None:
        if markers.asked_at < self._markers_asked_at:
            return  # older than the answer the strip already shows
        self._markers_asked_at = markers.asked_at
        for partition, end in markers.log_ends.items():
            self.partitions[partition].log_end = end
        for partition, end in markers.output_ends.items():
            self.outputs[partition].log_end = end
        for partition, stable in markers.output_stable.items():
            self.outputs[partition].last_stable = stable
        if markers.committed is None:
            return
        now = round(markers.answered_at - self._started, 3)
        with self._lock:
            # Only an answer to a question asked after the newest session started says where
            # that session reads from.
            reset = set()
            if markers.asked_at >= self._reset_at:
                reset, self._reset = self._reset, set()
        for partition, offset in markers.committed.items():
            if not 0 <= partition < len(self.partitions):
                continue
            strip = self.partitions[partition]
            committed = offset if offset >= 0 else None
            changed = committed is not None and committed != strip.committed
            if changed and len(strip.commits) < MAX_COMMITS:
                strip.commits.append([now, committed])
            strip.committed = committed
            if partition in reset:  # a new consumer session reads on from the commit
                strip.position = committed or 0

    def close(self) -> None:
        self._markers.close()
        self.questions.close()

    # -- what it shows ------------------------------------------------------------------------
    def view(self, final: bool = False) -> StripView:
        """Everything the picture and the API need, as of the last read()."""
        return StripView(
            self.partitions,
            self.outputs,
            hidden_unacked=self.hidden_unacked,
            handled=self.handlings,
            sessions_acked=self.sessions_acked,
            final=final,
        )
