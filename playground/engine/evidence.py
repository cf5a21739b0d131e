"""The three raw records of a finished experiment, gathered for the audit: the producer log, the
Kafka log (read back from the cluster) and the sink (the ledger, or the output topic)."""

from __future__ import annotations

from dataclasses import dataclass

from playground.engine import kafka_log, sink
from playground.engine.audit import COMMITTED_VIEW, UNCOMMITTED_VIEW, AuditResult, audit
from playground.engine.naming import ExperimentNames
from playground.engine.producer_log import read_producer_log
from playground.engine.records import ACK, Effect, HandlerRun, LogCopy, ProducerEvent
from playground.engine.semantics import promise
from playground.engine.spec import Pipeline, Spec


@dataclass(frozen=True)
class Evidence:
    spec: Spec
    producer_log: list[ProducerEvent]
    log_copies: list[LogCopy]
    effects: list[Effect]
    handler_runs: list[HandlerRun]
    timings: list[tuple[int, int]]  # (produced_at_ms, effect_at_ms) of each counted effect

    def acked_beyond_the_log(self) -> int:
        """How many acknowledged records lie past the end of their partition as read. Right
        after a broker fault the high watermark may still trail what the leader acknowledged
        (acks=1), so such records are not yet visible rather than lost: read again later."""
        ends: dict[int, int] = {}
        for copy in self.log_copies:
            ends[copy.partition] = max(ends.get(copy.partition, 0), copy.offset + 1)
        return sum(
            1
            for event in self.producer_log
            if event.kind == ACK and event.offset >= ends.get(event.partition, 0)
        )

    def audit(self, effects_view: str = COMMITTED_VIEW) -> AuditResult:
        """The audit, as the consumer's isolation level sees the input, in one view of effects."""
        return audit(
            self.producer_log,
            self.log_copies,
            self.effects,
            self.handler_runs,
            consumer_isolation=self.spec.consumer.isolation_level.value,
            effects_view=effects_view,
            planned=self.spec.workload.records,
        )

    def uncommitted_view(self) -> dict | None:
        """Kafka-to-Kafka: the counts for a read_uncommitted reader of the output."""
        if self.spec.pipeline != Pipeline.KAFKA_TO_KAFKA:
            return None
        return self.audit(UNCOMMITTED_VIEW).to_json()


def gather_evidence(spec: Spec, names: ExperimentNames, bootstrap: str) -> Evidence:
    """Read the three raw records of the experiment `names` from disk and from the cluster."""
    if spec.pipeline == Pipeline.KAFKA_TO_KAFKA:
        effects, timings = kafka_log.read_output(bootstrap, names.output_topic)
        handler_runs: list[HandlerRun] = []
    else:
        effects, handler_runs, timings = sink.read_ledger(names.sink)
    return Evidence(
        spec,
        list(read_producer_log(names.producer_log)),
        kafka_log.read_log_copies(bootstrap, names.input_topic),
        effects,
        handler_runs,
        timings,
    )


def promise_json(spec: Spec) -> dict:
    """The promise of `spec` as the result carries it."""
    promised = promise(spec)
    return {
        "promised_semantic": promised.semantic.value,
        "promise": {
            "summary": promised.summary,
            "loss_risks": [risk._asdict() for risk in promised.loss_risks],
            "duplicate_risks": [risk._asdict() for risk in promised.duplicate_risks],
        },
    }
