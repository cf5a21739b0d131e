"""Names of everything one experiment owns in Kafka and on disk: each experiment gets its own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
    def group_id(self) -> str:
        return f"exp-{self.experiment_id}-group"

    @property
    def consumer_instance_id(self) -> str:
        # Static membership: a restarted consumer takes its partitions back at once instead of
        # waiting for the dead one's session to time out.
        return f"exp-{self.experiment_id}-consumer"

    @property
    def producer_transactional_id(self) -> str:
        return f"exp-{self.experiment_id}-producer"

    @property
    def consumer_transactional_id(self) -> str:
        return f"exp-{self.experiment_id}-consumer-txn"

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
    def timeline(self) -> Path:
        return self.root / "timeline.jsonl"

    @property
    def result_file(self) -> Path:
        return self.root / "result.json"

    def worker_log(self, role: str) -> Path:
        return self.root / f"{role}.log"
