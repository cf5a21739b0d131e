"""Names of everything one experiment owns in Kafka and on disk: each experiment gets its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The workers of an experiment, each an OS process (supervision.py): a worker's log and arm file
# are named by its role, and so are an order story's lanes.
PRODUCER = "producer"
CONSUMER = "consumer"
WORKER_ROLES = (PRODUCER, CONSUMER)
MAX_MEMBERS = 8  # consumer.members (at most 4) plus the members add-consumer may add
# The clients of an experiment, as their client ids name them (the fault proxy aims at these):
# the producer's, the consumer's, and the consumer's own producer.
SOURCE_PRODUCER = "source-producer"
OUTPUT_PRODUCER = "output-producer"
CLIENT_ROLES = (SOURCE_PRODUCER, CONSUMER, OUTPUT_PRODUCER)
STORIES_FILE_NAME = "stories"  # a folder: story_book.py


def member_name(member: int) -> str:
    """The worker name of consumer group member `member`: "consumer" for member 0 (the one
    consumer of a one-member experiment keeps the name it always had), "consumer-1" and on for
    the others. A worker's log, its arm file and its timeline entries carry this name."""
    return CONSUMER if member == 0 else f"{CONSUMER}-{member}"


def member_of(name: str) -> int | None:
    """The member a worker name (member_name) stands for; None for the producer's."""
    if name == CONSUMER:
        return 0
    prefix = f"{CONSUMER}-"
    if name.startswith(prefix) and name[len(prefix) :].isdigit():
        return int(name[len(prefix) :])
    return None


@dataclass(frozen=True)
class ExperimentNames:
    """Topics, group, transactional ids and files of experiment `experiment_id`."""

    experiment_id: str
    root: Path  # the experiment's folder

    @property
    def input_topic(self) -> str:
        return f"exp-{self.experiment_id}-orders"

    @property
    def output_topic(self) -> str:
        return f"exp-{self.experiment_id}-totals"

    @property
    def position_topic(self) -> str:
        """Where a producer with producer.position "transaction" commits its position in the
        workload, in the same transaction as the records it covers."""
        return f"exp-{self.experiment_id}-producer-position"

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic the experiment may own (those its spec does not use are never made)."""
        return (self.input_topic, self.output_topic, self.position_topic)

    @property
    def group_id(self) -> str:
        return f"exp-{self.experiment_id}-group"

    def consumer_instance_id(self, member: int) -> str:
        """Static membership (consumer.static_membership): a restarted member takes its
        partitions back at once instead of waiting for the dead one's session to time out."""
        return f"exp-{self.experiment_id}-{member_name(member)}"

    def transactional_id(self, chosen: str) -> str:
        """The transactional id a client of this experiment uses for the spec's id `chosen`:
        unique to the experiment, so no two experiments ever fence each other."""
        return f"exp-{self.experiment_id}-{chosen}"

    def client_id(self, role: str, session: int) -> str:
        """The client id of session `session` of a client (one of CLIENT_ROLES)."""
        return f"{self.client_prefix(role)}{session}"

    def client_prefix(self, role: str | None = None) -> str:
        """The start of the client ids of a client in every session (of every client of the
        experiment when `role` is None): what a fault aimed at it matches."""
        if role is None:
            return f"exp-{self.experiment_id}-"
        return f"exp-{self.experiment_id}-{role}-"

    @property
    def spec_file(self) -> Path:
        return self.root / "spec.json"

    @property
    def producer_log(self) -> Path:
        return self.root / "producer-log.jsonl"

    @property
    def sink(self) -> Path:
        return self.root / "ledger.jsonl"

    @property
    def group_log(self) -> Path:
        """What the consumer group's members were given and lost, and when (formats/group_log)."""
        return self.root / "group-log.jsonl"

    @property
    def timeline(self) -> Path:
        return self.root / "timeline.jsonl"

    @property
    def result_file(self) -> Path:
        return self.root / "result.json"

    @property
    def stories(self) -> Path:
        """Every order's story, as the audit wrote it (a folder: story_book.py)."""
        return self.root / STORIES_FILE_NAME

    def worker_log(self, role: str) -> Path:
        return self.root / f"{role}.log"
