"""The log strip takes the raw records a read at a time, as arrays, and must end exactly where
taking them one line at a time, by the definitions (log_strip's docstring), ends: per offset the
acknowledging session, the handler runs, the effects and the consumer lane's state, and per
partition the position. Pure logic on journals the real writers write; the strip against real
Kafka and the audit is tests/web/test_log_strip.py."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from playground.engine.formats.journal import Journal
from playground.engine.naming import ExperimentNames
from playground.engine.observe import log_strip, strip_state
from playground.engine.orders import order_id
from playground.engine.sink import Sink
from playground.engine.spec.model import Spec, default_spec
from tests.engine.raw_records import ack_line, attempt_line

PARTITIONS = 3


class OneLineAtATime:
    """The strip's state, kept line by line from its definitions."""

    def __init__(self) -> None:
        self.acked: list[dict[int, int]] = [{} for _ in range(PARTITIONS)]
        self.runs: list[dict[int, int]] = [{} for _ in range(PARTITIONS)]
        self.effects: list[dict[int, int]] = [{} for _ in range(PARTITIONS)]
        self.position = [0] * PARTITIONS
        self.session = 0
        self.session_of = [0] * PARTITIONS  # the newest session that handled each partition
        self.reset: set[int] = set()
        self.handlings = 0
        self.sessions_acked: set[int] = set()

    def ack(self, session: int, partition: int, offset: int) -> None:
        if 0 <= partition < PARTITIONS:
            self.acked[partition][offset] = min(session + 1, 255)
            self.sessions_acked.add(session)

    def consumer_session(self, session: int) -> None:
        if session > self.session:
            self.session, self.reset = session, set(range(PARTITIONS))

    def handled(self, partition: int, offset: int, session: int, charged: bool) -> None:
        if not 0 <= partition < PARTITIONS:
            return
        runs, effects = self.runs[partition], self.effects[partition]
        runs[offset] = min(runs.get(offset, 0) + 1, 255)
        effects[offset] = min(effects.get(offset, 0) + charged, 255)
        self.handlings += 1
        self.consumer_session(session)
        if session < self.session_of[partition]:
            return  # a late line of a session its partition has moved on from
        self.session_of[partition] = session
        self.reset.discard(partition)
        self.position[partition] = offset + 1

    def code(self, partition: int, offset: int) -> int:
        runs = self.runs[partition].get(offset, 0)
        effects = self.effects[partition].get(offset, 0)
        runs = max(runs, effects)
        if effects >= 2:
            return 5
        if runs >= 2:
            return 4
        if runs == 1:
            return 2 if effects == 1 else 3
        return 1 if self.acked[partition].get(offset) else 0


def spec_of(partitions: int) -> Spec:
    document = default_spec().to_json()
    document["workload"]["partitions"] = partitions
    return Spec.from_json(document)


def assert_same(watch: log_strip.LogStripWatch, expected: OneLineAtATime) -> None:
    for partition, strip in enumerate(watch.partitions):
        size = len(strip.codes)
        assert len(strip.acked) == len(strip.runs) == len(strip.effects) == size
        assert size == 1 + max((*expected.acked[partition], *expected.runs[partition]), default=-1)
        assert list(strip.acked) == [expected.acked[partition].get(o, 0) for o in range(size)]
        assert list(strip.runs) == [expected.runs[partition].get(o, 0) for o in range(size)]
        assert list(strip.effects) == [expected.effects[partition].get(o, 0) for o in range(size)]
        assert list(strip.codes) == [expected.code(partition, o) for o in range(size)]
        assert strip.position == expected.position[partition]
    assert watch.handlings == expected.handlings
    assert watch.sessions_acked == expected.sessions_acked
    assert (watch._session, watch._reset) == (expected.session, expected.reset)


@pytest.mark.parametrize("seed", range(4))
def test_reading_in_arrays_ends_where_reading_line_by_line_ends(tmp_path: Path, seed: int):
    rng = random.Random(seed)
    names = ExperimentNames("strip", tmp_path)
    watch = log_strip.LogStripWatch(names, spec_of(PARTITIONS), "")
    expected = OneLineAtATime()
    producer_log = Journal(names.producer_log)
    sinks = {}
    consumer = 0
    for _ in range(40):
        lines = []
        for _ in range(rng.randrange(0, 120)):
            order = order_id(rng.randrange(500))
            # Acks of every session, some for a partition the experiment does not have, some
            # repeating an offset (the last one stands), beside the attempts the strip skips.
            session, partition = rng.randrange(3), rng.randrange(PARTITIONS + 1)
            offset = rng.randrange(300)
            lines += [attempt_line(order, session, 1), ack_line(order, session, partition, offset)]
            expected.ack(session, partition, offset)
        producer_log.write(b"".join(lines))
        if rng.random() < 0.15:  # the conductor starts a new consumer session
            consumer += 1
            watch.consumer_session(consumer)
            expected.consumer_session(consumer)
        for _ in range(rng.randrange(0, 120)):
            # The current session's handlings, and late ones of the sessions it replaced.
            session = consumer if rng.random() < 0.8 else rng.randrange(consumer + 2)
            partition, offset = rng.randrange(PARTITIONS + 1), rng.randrange(300)
            if session not in sinks:
                sinks[session] = Sink(names.sink, session=session, idempotent=session % 2 == 0)
            charged = sinks[session].charge(order_id(offset % 50), 100, partition, offset, 0)
            sinks[session].perform()  # one write a handling: sessions interleave
            expected.handled(partition, offset, session, charged)
            consumer = max(consumer, session)
        watch._follow_acks()
        watch._follow_ledger()
        assert_same(watch, expected)
    view = watch.view(final=True).to_json()
    ranges = [p["ranges"] for p in view["partitions"]]
    assert any(r.get(strip_state.DUPLICATED) for r in ranges)
    assert any(r.get(strip_state.PROCESSED_AGAIN) for r in ranges)


def test_a_strip_holds_four_bytes_an_offset(tmp_path: Path):
    names = ExperimentNames("strip", tmp_path)
    watch = log_strip.LogStripWatch(names, spec_of(12), "")
    Journal(names.producer_log).write(
        b"".join(ack_line(order_id(i), 0, i % 12, i // 12) for i in range(120_000))
    )
    watch._follow_acks()
    sizes = [len(a) for strip in watch.partitions for a in (strip.acked, strip.codes)]
    assert sizes == [10_000] * 24
    held = sum(len(a) for s in watch.partitions for a in (s.acked, s.runs, s.effects, s.codes))
    assert held == 4 * 120_000


def test_only_an_answer_asked_after_a_new_session_started_sends_the_position_back(tmp_path):
    names = ExperimentNames("strip", tmp_path)
    watch = log_strip.LogStripWatch(names, spec_of(1), "")
    sink = Sink(names.sink, session=0, idempotent=False)
    sink.charge(order_id(0), 100, 0, 41, 0)
    sink.perform()
    watch._follow_ledger()
    assert watch.partitions[0].position == 42

    def answer(asked_at: float, committed: int) -> log_strip.Markers:
        return log_strip.Markers(asked_at, asked_at, {0: 50}, {}, {}, {0: committed})

    before = time.monotonic()
    watch.consumer_session(1)
    watch._take_markers(answer(before, 30))  # asked before session 1 started: its commit is old
    strip = watch.partitions[0]
    assert (strip.log_end, strip.committed, strip.position) == (50, 30, 42)
    watch._take_markers(answer(time.monotonic(), 35))  # session 1 reads on from here
    assert (strip.committed, strip.position) == (35, 35)
    assert [offset for _, offset in strip.commits] == [30, 35]


def test_runs_are_the_runs_of_equal_bytes():
    rng = random.Random(3)
    for size in (0, 1, 2, 500):
        array = bytearray(rng.choice(b"\x00\x01\x02") for _ in range(size))
        runs = [
            (m.group()[0], m.start(), m.end())
            for m in re.finditer(rb"(.)\1*", bytes(array), re.DOTALL)
        ]
        assert strip_state._runs(array) == runs
