"""What a running experiment's live page asks of Kafka, asked by a child process of its own.

The log strip's markers (log ends, the output topic's last stable offsets, the group's committed
offsets), its reading of the output topic, the cluster panel's partition leaders and the consumer
group's members (who owns which partition) all need Kafka clients. A native abort in librdkafka
cannot be caught in Python: asked in the runner's process, it would end every experiment the
runner holds. Asked here, it costs one experiment's picture a beat: `Questions` starts a new child
on the next question, and the output topic is read on from where the last answer left it.

The parent writes one question per line on the child's stdin, the child one answer per line on
its stdout, both JSON, matched by "id". Each kind of question has a thread of its own in the
child, so that a metadata request a paused broker holds up does not hold up the markers.

    python -m playground.engine.observe.kafka_questions \
        SERVERS GROUP INPUT_TOPIC OUTPUT_TOPIC PARTITIONS
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

from playground.engine.formats import output_value
from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof

log = logging.getLogger(__name__)

MARKERS, OUTPUT, CLUSTER, GROUP = "markers", "output", "cluster", "group"
KINDS = (MARKERS, OUTPUT, CLUSTER, GROUP)
KAFKA_TIMEOUT_SECONDS = 2.0  # one request's bound
# librdkafka resolves a request's future with a time-out error at its own timeout; this much later,
# the request is taken for hung.
ANSWER_GRACE_SECONDS = 1.0
# How long the group's coordinator has to answer the probe (each of connect and answer) before
# the group is described: a live broker answers in milliseconds.
PROBE_SECONDS = 0.5
# The longest a group answer can take: the metadata, the probe, then the describe.
GROUP_ANSWER_SECONDS = 2 * KAFKA_TIMEOUT_SECONDS + 2 * PROBE_SECONDS + ANSWER_GRACE_SECONDS
READ_BATCH = 5000  # output records taken per consume() call
RESTART_SECONDS = 1.0  # a child that died is started again no sooner than this after the last
# The output topic's readers, in the order of their answers: every record, and committed ones.
OUTPUT_ISOLATIONS = ("read_uncommitted", "read_committed")


class Questions:
    """The parent's side: ask() a question of one experiment's child, started when needed."""

    def __init__(
        self, bootstrap: str, group: str, input_topic: str, output_topic: str, partitions: int
    ) -> None:
        self.command = [
            sys.executable, "-m", __name__,
            bootstrap, group, input_topic, output_topic, str(partitions),
        ]  # fmt: skip
        self.failure = ""  # how the last child ended, when it ended on its own
        self._process: subprocess.Popen | None = None
        self._started_at = -RESTART_SECONDS
        self._ids = itertools.count(1)
        self._waiting: dict[int, list] = {}  # id -> [Event, answer]
        self._lock = threading.Lock()  # the process, its stdin, and the waiting table
        self._closed = False
        self._stopped: subprocess.Popen | None = None  # a child killed for not answering

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def ask(self, question: dict, timeout: float) -> dict | None:
        """The child's answer to `question` (a dict with "ask": one of KINDS), or None when it
        did not come within `timeout` seconds. `timeout` is the most an answer can take, every
        Kafka request in it bounded: a child that has not answered by then is stuck (a client
        hung in librdkafka), and is killed, so that questions never pile up behind it and the
        next one is asked of a new child."""
        done = threading.Event()
        slot: list = [done, None]
        with self._lock:
            if not self._running():
                return None
            process, number = self._process, next(self._ids)
            self._waiting[number] = slot
            try:
                process.stdin.write(json.dumps(question | {"id": number}) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._waiting.pop(number, None)
                return None
        answered = done.wait(timeout)
        with self._lock:
            self._waiting.pop(number, None)
            if not answered and process is self._process and process.poll() is None:
                self.failure = (
                    f"the Kafka client process gave no answer in {timeout:.0f} s and was "
                    "stopped; a new one answers next"
                )
                log.warning("%s (%s)", self.failure, " ".join(self.command[3:]))
                self._stopped = process
                process.kill()
        return slot[1]

    def _running(self) -> bool:
        """Is a child there to ask (started now if not, at most once per RESTART_SECONDS)?"""
        if self._closed:
            return False
        if self._process is not None and self._process.poll() is None:
            return True
        if self._process is not None:
            self._ended(self._process)
        if time.monotonic() - self._started_at < RESTART_SECONDS:
            return False
        self._started_at = time.monotonic()
        try:
            self._process = subprocess.Popen(
                orphan_proof(self.command),
                cwd=PROJECT_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as error:
            self.failure = f"the Kafka client process could not start: {error}"
            self._process = None
            return False
        threading.Thread(target=self._answers, args=(self._process,), daemon=True).start()
        return True

    def _ended(self, process: subprocess.Popen) -> None:
        code = process.returncode
        if code is None or self._closed:
            return
        self._process = None
        if process is self._stopped:  # stopped here, and self.failure says why
            return
        how = signal.Signals(-code).name if code < 0 else f"exit status {code}"
        self.failure = f"the Kafka client process ended on {how}; a new one answers next"
        log.warning("%s (%s)", self.failure, " ".join(self.command[3:]))

    def _answers(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                slot = self._waiting.pop(answer.pop("id", None), None)
            if slot is not None:
                slot[1] = None if "failed" in answer else answer
                slot[0].set()
        process.wait()
        with self._lock:  # whoever waits on this child waits in vain: tell them now
            for slot in self._waiting.values():
                slot[0].set()
            self._waiting.clear()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()  # the child ends at the end of its input
            process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


# -- the child ---------------------------------------------------------------------------------
class _Asker:
    """The child's Kafka clients, made on first use, and its answer to each kind of question."""

    def __init__(self, bootstrap: str, group: str, inputs: str, outputs: str, partitions: int):
        self.bootstrap, self.group_id, self.partitions = bootstrap, group, partitions
        self.input_topic, self.output_topic = inputs, outputs
        self._clients: dict[str, object] = {}
        self._readers: list = []
        # Admin clients replaced while a describe of theirs was in flight, kept until it ends:
        # one destroyed with a request in flight can abort the process in librdkafka.
        self._retired: list[tuple[object, object]] = []

    def _consumer(self, isolation: str, group: str):
        from confluent_kafka import Consumer

        return Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,  # only asked for offsets: never joins the group
                "enable.auto.commit": False,
                "isolation.level": isolation,
                "log_level": 3,
            }
        )

    def _client(self, name: str, make):
        if name not in self._clients:
            self._clients[name] = make()
        return self._clients[name]

    def markers(self, question: dict) -> dict:
        """The log ends, the output topic's ends and last stable offsets, and the committed
        offsets (None: no answer), as [partition, offset] pairs."""
        from confluent_kafka import TopicPartition

        ends = self._client("ends", lambda: self._consumer("read_uncommitted", "log-strip"))
        answer: dict = {"log_ends": self._highs(ends, self.input_topic)}
        if self.output_topic:
            stable = self._client("stable", lambda: self._consumer("read_committed", "log-strip"))
            answer["output_ends"] = self._highs(ends, self.output_topic)
            answer["output_stable"] = self._highs(stable, self.output_topic)
        group = self._client("group", lambda: self._consumer("read_uncommitted", self.group_id))
        asked = [TopicPartition(self.input_topic, p) for p in range(self.partitions)]
        try:
            committed = group.committed(asked, timeout=KAFKA_TIMEOUT_SECONDS)
            answer["committed"] = [
                [tp.partition, tp.offset] for tp in committed if tp.error is None
            ]
        except Exception:  # noqa: BLE001 - a paused broker: the markers stay where they were
            answer["committed"] = None
        return answer

    def _highs(self, client, topic: str) -> list[list[int]]:
        from confluent_kafka import TopicPartition

        highs = []
        for partition in range(self.partitions):
            try:
                _, high = client.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=KAFKA_TIMEOUT_SECONDS, cached=False
                )
            except Exception:  # noqa: BLE001 - unknown this time; the last value stands
                continue
            if high >= 0:
                highs.append([partition, high])
        return highs

    def output(self, question: dict) -> dict:
        """One batch of each reader of the output topic: per reader, the output records it read
        ([partition, offset, ...] flat), where they came from ([partition, offset, session, ...]
        flat, session -1 when not known), and its positions. Readers start where the question's
        "from" ([reader, partition, offset] each) says, the first time (after a restart: where the
        last child's answers ended)."""
        if not self._readers:
            self._readers = [self._reader(i, question.get("from", [])) for i in range(2)]
        answer = []
        for reader in self._readers:
            outputs: list[int] = []
            sources: list[int] = []
            for message in reader.consume(READ_BATCH, timeout=0.05):
                if message.error() is not None:
                    continue
                outputs += (message.partition(), message.offset())
                source = output_value.source(message.value() or b"")
                if source is not None:
                    sources += source
            try:
                assigned = reader.position(reader.assignment())
                positions = [[tp.partition, tp.offset] for tp in assigned]
            except Exception:  # noqa: BLE001 - not known yet
                positions = None
            answer.append({"outputs": outputs, "sources": sources, "positions": positions})
        return {"readers": answer}

    def _reader(self, index: int, starts: list):
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        reader = self._consumer(OUTPUT_ISOLATIONS[index], f"log-strip-{uuid.uuid4().hex[:8]}")
        start = {partition: offset for i, partition, offset in starts if i == index}
        reader.assign(
            [
                TopicPartition(self.output_topic, p, start.get(p, OFFSET_BEGINNING))
                for p in range(self.partitions)
            ]
        )
        return reader

    def cluster(self, question: dict) -> dict:
        """The leader and in-sync replicas of each input partition, or what went wrong."""
        from playground.lab.admin import admin_client

        admin = self._client("admin", lambda: admin_client(self.bootstrap))
        try:
            found = admin.list_topics(self.input_topic, timeout=2).topics.get(self.input_topic)
        except Exception as failure:  # noqa: BLE001 - the panel says so
            return {"partitions": [], "error": f"metadata unavailable: {failure}"}
        if found is None or found.error is not None:
            return {"partitions": [], "error": ""}
        partitions = [
            {"partition": p.id, "leader": p.leader, "isr": list(p.isrs)}
            for p in sorted(found.partitions.values(), key=lambda p: p.id)
        ]
        return {"partitions": partitions, "error": ""}

    def group(self, question: dict) -> dict:
        """The experiment's consumer group as its coordinator describes it: "state" (e.g.
        "stable", "preparing_rebalancing", "empty"), "type" ("classic" or "consumer"), "assignor"
        (the classic group's protocol, or the consumer protocol's server-side assignor),
        "coordinator" (a broker id), and "members", each with "member_id", "client_id",
        "instance_id" (None unless static), "host", "partitions" (the input partitions it is
        assigned) and "target" (consumer protocol: those the coordinator means it to have, which
        differ while partitions move; None for a classic group). The admin API gives no group
        generation or member epoch.

        Or, when the group is not described, "error" (and "coordinator" if known). A describe
        is aimed at the coordinator, and librdkafka can abort the process when the coordinator
        dies or freezes under such a request (coordinators' docstring): so the coordinator is
        first found in the metadata and probed, and not asked while it does not answer; and a
        client whose request failed is replaced, as one that keeps a dead coordinator in its
        cache aborted here where a fresh one did not (no abort in 16 kills and pauses of the
        coordinator while it was asked every second, against 5 in 5 kills with one client asked
        throughout, and 3 in 4 pauses with a probe that only connected)."""
        from playground.engine.run import coordinators  # Kafka clients: only in the child
        from playground.lab.admin import admin_client

        admin = self._client("describer", lambda: admin_client(self.bootstrap))
        state_topic = coordinators.STATE_TOPICS[coordinators.GROUP]
        try:
            metadata = admin.list_topics(state_topic, timeout=KAFKA_TIMEOUT_SECONDS)
        except Exception as failure:  # noqa: BLE001 - the panel says so
            self._retire_describer(None)
            return {"error": f"metadata unavailable: {failure}", "coordinator": None}
        leader = coordinators.leader_in(metadata, coordinators.GROUP, self.group_id)
        broker = metadata.brokers.get(leader) if leader is not None else None
        if broker is None:
            return {"error": "the group has no coordinator now", "coordinator": None}
        if not coordinators.answers(broker.host, broker.port, PROBE_SECONDS):
            return {
                "error": f"its coordinator, broker {leader}, does not answer",
                "coordinator": leader,
            }
        future = admin.describe_consumer_groups(
            [self.group_id],
            include_authorized_operations=False,
            request_timeout=KAFKA_TIMEOUT_SECONDS,
        )[self.group_id]
        try:
            described = future.result(timeout=KAFKA_TIMEOUT_SECONDS + ANSWER_GRACE_SECONDS)
        except Exception as failure:  # noqa: BLE001 - a time-out, a coordinator moving
            self._retire_describer(future)
            return {"error": f"the group's describe failed: {failure}", "coordinator": leader}
        return _group_answer(described, self.input_topic)

    def _retire_describer(self, future) -> None:
        """Make the next group question use a new admin client; keep this one while `future`
        (its describe, if any) is in flight."""
        admin = self._clients.pop("describer", None)
        self._retired = [(c, f) for c, f in self._retired if not f.done()]
        if admin is not None and future is not None and not future.done():
            self._retired.append((admin, future))


def _group_answer(described, input_topic: str) -> dict:
    """A ConsumerGroupDescription as the group question's answer (see _Asker.group)."""

    def partitions(assignment) -> list[int] | None:
        if assignment is None:
            return None
        return sorted(tp.partition for tp in assignment.topic_partitions if tp.topic == input_topic)

    members = [
        {
            "member_id": member.member_id,
            "client_id": member.client_id,
            "instance_id": member.group_instance_id,
            "host": member.host,
            "partitions": partitions(member.assignment) or [],
            "target": partitions(member.target_assignment),
        }
        for member in described.members
    ]
    return {
        "state": described.state.name.lower(),
        "type": described.type.name.lower(),
        "assignor": described.partition_assignor,
        "coordinator": described.coordinator.id if described.coordinator is not None else None,
        "members": sorted(members, key=lambda m: m["client_id"]),
        "error": "",
    }


def main(argv: list[str]) -> int:
    bootstrap, group, input_topic, output_topic, partitions = argv
    asker = _Asker(bootstrap, group, input_topic, output_topic, int(partitions))
    writing = threading.Lock()
    queues = {kind: queue.Queue() for kind in KINDS}

    def answer_all(kind: str) -> None:
        while (question := queues[kind].get()) is not None:
            try:
                answer = getattr(asker, kind)(question)
            except Exception as error:  # noqa: BLE001 - no answer; the next question may have one
                answer = {"failed": repr(error)}  # the parent's ask() gives None
            answer["id"] = question["id"]
            with writing:
                sys.stdout.write(json.dumps(answer) + "\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=answer_all, args=(k,), daemon=True) for k in KINDS]
    for thread in threads:
        thread.start()
    for line in sys.stdin:  # until the parent closes it, or dies (and its death signal ends us)
        try:
            question = json.loads(line)
            queues[question["ask"]].put(question)
        except (ValueError, KeyError, TypeError):
            continue
    for kind in KINDS:
        queues[kind].put(None)
    for thread in threads:
        thread.join(timeout=KAFKA_TIMEOUT_SECONDS * 3)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
