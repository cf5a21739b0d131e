"""A trade-off comparison: which runs measure what, and what they showed, as the course's table.

For each spec a comparison makes two kinds of measured run, so that every number means one thing:
- cost runs: no faults, as fast as the producer can send (rate 0), `cost_records` records, with
  every commit covering COMMIT_RECORDS records (the consumer's batch and a transactional
  producer's transaction), the same in every column. They give records/s and end-to-end latency,
  as the median of `rounds` rounds, interleaved (round 1 of every spec, then round 2, ...), so a
  slow moment of the machine falls on every column alike;
- one guarantee run: the spec as chosen, under the shared fault schedule, at its own pace. It
  gives lost and duplicated, with where each came from, as the verdict does.

Guarantee runs queue first (a person watches them), then the cost rounds, each alone on the
cluster (see scheduling), so nothing beside it disturbs its timing.

A comparison of another kind, "rebalance protocols" (see rebalances), makes a third kind of run:
rounds of the same group workload under each protocol, interleaved, sharing the cluster. Its
columns hold those `round_runs` and their figures (`Column.rebalance`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from playground.engine.audit.outcomes import COUNT_FIELDS
from playground.engine.spec.client_defaults import Changed, beyond_defaults
from playground.engine.spec.model import MAX_NAME_LENGTH, FaultKind, KillPoint, Pipeline, Spec
from playground.engine.spec.presets import preset
from playground.engine.spec.semantics import Semantic, promise
from playground.web import verdict
from playground.web.comparisons import rebalances
from playground.web.models import Comparison, Experiment

COST, GUARANTEE, REBALANCE = "cost", "guarantee", "rebalance"
ROUNDS = 3
COST_RECORDS = 50_000  # enough for records/s to settle on this machine
MIN_COST_RECORDS, MAX_COST_RECORDS = 1_000, 200_000
# Every commit in a cost run covers this many records, whatever the spec's batch: how often a
# spec commits is a choice of pace (presets commit every 10 records to be watched), and a cost
# measured at different commit sizes would compare the sizes, not the guarantees.
COMMIT_RECORDS = 500
COST_FIGURES = ("records_per_second", "latency_ms_p50", "latency_ms_p99")


@dataclass(frozen=True)
class PlannedRun:
    spec: Spec
    column: int  # which spec of the comparison, from 0
    role: str  # COST, GUARANTEE or REBALANCE
    round: int = 0  # a cost or rebalance run's round, from 1


def plan(specs: Sequence[Spec], cost_records: int, rounds: int = ROUNDS) -> list[PlannedRun]:
    """The runs of a comparison of `specs` (each already under the shared faults), in the order
    they queue: every guarantee run, then the cost rounds, interleaved."""
    runs = [
        PlannedRun(_named(spec, "guarantee"), column, GUARANTEE)
        for column, spec in enumerate(specs)
    ]
    for number in range(1, rounds + 1):
        runs += [
            PlannedRun(cost_spec(spec, cost_records, number), column, COST, number)
            for column, spec in enumerate(specs)
        ]
    return runs


def plan_rounds(specs: Sequence[Spec], rounds: int = ROUNDS) -> list[PlannedRun]:
    """The runs of a rebalance comparison of `specs`: `rounds` rounds of each, interleaved (round
    1 of every spec, then round 2, ...), in the order they queue."""
    return [
        PlannedRun(_named(spec, f"round {number}"), column, REBALANCE, number)
        for number in range(1, rounds + 1)
        for column, spec in enumerate(specs)
    ]


def cost_spec(spec: Spec, records: int, round_number: int) -> Spec:
    """`spec` as a cost run measures it: its own settings, no faults, `records` records as fast
    as the producer can send, every commit covering COMMIT_RECORDS records."""
    document = spec.to_json()
    document["workload"] |= {"records": records, "rate": 0}
    document["faults"] = []
    document["consumer"]["batch_size"] = COMMIT_RECORDS
    document["producer"]["transaction_records"] = COMMIT_RECORDS
    return _named(Spec.from_json(document), f"cost, round {round_number}")


def _named(spec: Spec, part: str) -> Spec:
    suffix = f" · {part}"
    name = (spec.name or "experiment")[: MAX_NAME_LENGTH - len(suffix)]
    return Spec.from_json(spec.to_json() | {"name": name + suffix})


# -- what a comparison showed ----------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """One cost figure over the rounds: each round's value, the median, and the range."""

    rounds: list[float | None]

    @property
    def values(self) -> list[float]:
        return [value for value in self.rounds if value is not None]

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    @property
    def low(self) -> float | None:
        return min(self.values, default=None)

    @property
    def high(self) -> float | None:
        return max(self.values, default=None)

    @property
    def spread(self) -> float:
        """How far apart the rounds were (0 with fewer than two)."""
        values = self.values
        return max(values) - min(values) if len(values) >= 2 else 0.0

    def to_json(self) -> dict:
        return {"rounds": self.rounds, "median": self.median, "low": self.low, "high": self.high}


@dataclass
class Column:
    """One spec of a comparison: its runs, and what they measured once they are done."""

    number: int  # from 1, as the page counts
    name: str
    spec: dict  # the guarantee run's spec (the spec as chosen, under the shared faults)
    guarantee: Experiment | None
    cost_runs: list[Experiment]
    round_runs: list[Experiment] = field(default_factory=list)  # a rebalance comparison's rounds
    settings: list[Changed] = field(default_factory=list)
    typical_use: str = ""
    # Against the best column, by figure (records_per_second, latency_ms_p50); absent for the
    # best column itself and before two columns have figures.
    notes: dict[str, Difference] = field(default_factory=dict)

    @property
    def runs(self) -> list[Experiment]:
        return [run for run in (self.guarantee, *self.cost_runs, *self.round_runs) if run]

    @property
    def finished(self) -> bool:
        return all(run.finished for run in self.runs)

    @property
    def protocol(self) -> str:
        """A rebalance comparison's column: the protocol it measures."""
        return rebalances.protocol_name(self.name)

    @property
    def rebalance(self) -> rebalances.ProtocolFigures:
        """A rebalance comparison's figures for this column, from its round runs."""
        return rebalances.protocol_figures(self.round_runs)

    @property
    def guarantee_result(self) -> dict | None:
        run = self.guarantee
        return run.result if run is not None and isinstance(run.result, dict) else None

    @property
    def outcome(self) -> verdict.Outcome | None:
        result = self.guarantee_result
        return verdict.outcome(result, self.spec) if result is not None else None

    @property
    def promised(self) -> str | None:
        result = self.guarantee_result
        promised = result.get("promised_semantic") if result else None
        return str(promised) if promised else None

    @property
    def audit(self) -> dict:
        result = self.guarantee_result or {}
        audit = result.get("audit")
        return audit if isinstance(audit, dict) else {}

    @property
    def findings(self) -> list[verdict.Finding]:
        return verdict.explain(self.guarantee_result)

    @property
    def faults_fired(self) -> list[str]:
        """What the shared fault schedule did in this column's guarantee run, in words."""
        timeline = (self.guarantee_result or {}).get("timeline")
        return [
            str(event.get("detail"))
            for event in (timeline if isinstance(timeline, list) else [])
            if isinstance(event, dict) and event.get("fault") is not None
        ]

    @property
    def undisturbed(self) -> dict | None:
        """The guarantee run's latency before its first disturbance (records, latency_ms_p50,
        latency_ms_p99): the spec's latency at its own pace, with no restart to wait for. None
        until the run is done, for a result too old to have it, or for a run that was not valid."""
        result = self.guarantee_result
        outcome = self.outcome
        if result is None or outcome is None or not outcome.valid:
            return None
        timing = result.get("timing")
        found = timing.get("undisturbed") if isinstance(timing, dict) else None
        if not isinstance(found, dict) or not isinstance(found.get("latency_ms_p50"), int | float):
            return None
        return found

    @property
    def cost_problem(self) -> str | None:
        """Why the cost figures are not a measurement (a cost run that failed or was not a
        valid run), or None."""
        for run in self.cost_runs:
            if run.status == Experiment.FAILED:
                return f"cost round {run.comparison_round} failed: {run.error or 'no reason given'}"
            if isinstance(run.result, dict):
                outcome = verdict.outcome(run.result, run.spec)
                if not outcome.valid:
                    return f"cost round {run.comparison_round}: {outcome.first_problem}"
        return None

    def cost(self, figure: str) -> Spread:
        """`figure` (one of COST_FIGURES) over the cost rounds: None for a round not done, and
        for one that failed or was not a valid run (its timing measures something else)."""
        return Spread([_timing(run, figure) for run in self.cost_runs])

    @property
    def costs(self) -> dict[str, Spread]:
        return {figure: self.cost(figure) for figure in COST_FIGURES}


def _timing(run: Experiment, figure: str) -> float | None:
    result = run.result if run.status == Experiment.DONE else None
    if not isinstance(result, dict) or not verdict.outcome(result, run.spec).valid:
        return None
    timing = result.get("timing")
    value = timing.get(figure) if isinstance(timing, dict) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def columns(runs: Iterable[Experiment]) -> list[Column]:
    """A comparison's columns, in order, from its runs."""
    by_column: dict[int, Column] = {}
    for run in sorted(runs, key=lambda r: (r.comparison_column, r.comparison_round, r.pk)):
        column = by_column.get(run.comparison_column)
        if column is None:
            column = by_column[run.comparison_column] = Column(
                run.comparison_column + 1, "", {}, None, []
            )
        if run.comparison_role in (COST, REBALANCE):
            (column.cost_runs if run.comparison_role == COST else column.round_runs).append(run)
            if column.guarantee is None and not column.spec:  # until the guarantee run is seen
                column.spec = run.spec if isinstance(run.spec, dict) else {}
                column.name = _spec_name(column.spec) or run.name
        else:
            column.guarantee = run
            column.spec = run.spec if isinstance(run.spec, dict) else {}
            column.name = _spec_name(column.spec) or run.name
    for column in by_column.values():
        spec = _readable(column.spec)
        if spec is not None:
            column.settings = beyond_defaults(spec)
            column.typical_use = typical_use(spec)
    ordered = [by_column[key] for key in sorted(by_column)]
    by_number = {column.number: column for column in ordered}
    for figure in ("records_per_second", "latency_ms_p50"):
        for number, difference in differences(ordered, figure).items():
            by_number[number].notes[figure] = difference
    return ordered


def _spec_name(spec: dict) -> str:
    """The chosen spec's name, from any of its runs' names ("<name> · guarantee", "<name> · cost,
    round 2")."""
    name = str(spec.get("name") or "")
    return name.rsplit(" · ", 1)[0] if " · " in name else name


def _readable(document: dict) -> Spec | None:
    """The stored spec read back, or None for a document this version no longer reads."""
    try:
        return Spec.from_json(document)
    except (ValueError, TypeError):
        return None


def typical_use(spec: Spec) -> str:
    """Where a service of the course's scenario would use `spec`'s guarantee, in one sentence."""
    semantic = promise(spec).semantic
    if semantic == Semantic.AT_MOST_ONCE:
        return (
            "High-volume metrics, where a gap is acceptable: the order counters of the dashboard."
        )
    if semantic == Semantic.AT_LEAST_ONCE:
        return (
            "Most business events, the default: the notification service, where a second email "
            "is a shrug and a missing one a support ticket."
        )
    if semantic == Semantic.EXACTLY_ONCE and spec.pipeline == Pipeline.KAFKA_TO_KAFKA:
        return (
            "Read-process-write inside Kafka: the payments aggregation writing a running total "
            "back to Kafka."
        )
    if semantic == Semantic.EXACTLY_ONCE:
        return (
            "A side effect outside Kafka, such as charging a card: the payment service, "
            "deduplicating on the order id."
        )
    return "No service of the scenario: these settings can both lose and repeat an order."


# -- honest differences ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """One column's cost figure against the best column's, or the plain statement that the
    difference is within the spread of the rounds."""

    figure: str  # one of COST_FIGURES
    against: int  # the best column's number
    measurable: bool
    percent: float  # how much worse than the best, in percent of the best

    @property
    def sentence(self) -> str:
        what = "throughput" if self.figure == "records_per_second" else "latency"
        if not self.measurable:
            return (
                f"no measurable {what} cost against spec {self.against} on this cluster: "
                "the difference is within the spread of the rounds"
            )
        worse = "lower" if what == "throughput" else "higher"
        return f"{self.percent:.0f}% {worse} {what} than spec {self.against}"


def differences(cols: Sequence[Column], figure: str) -> dict[int, Difference]:
    """Each column's `figure` against the best column's (the highest throughput, the lowest
    latency), by column number. A difference no larger than the spread of either column's rounds
    is not measurable here, and says so."""
    higher_is_better = figure == "records_per_second"
    measured = [(c, c.cost(figure)) for c in cols if c.cost(figure).median is not None]
    if len(measured) < 2:
        return {}
    pick = max if higher_is_better else min
    best, best_spread = pick(measured, key=lambda pair: pair[1].median)
    result = {}
    for column, spread in measured:
        if column is best:
            continue
        gap = abs(best_spread.median - spread.median)
        measurable = gap > max(best_spread.spread, spread.spread)
        percent = 100 * gap / best_spread.median if best_spread.median else 0.0
        result[column.number] = Difference(figure, best.number, measurable, percent)
    return result


# -- the course's table, in one click --------------------------------------------------------------
# The three semantics of the course's table, plus the payment service for a side effect outside
# Kafka, under one fault schedule: a consumer crash at each one's next commit point.
COURSE_PRESETS = ("metrics", "notification-service", "payments-aggregation", "payment-service")
COURSE_FAULT = {
    "kind": FaultKind.KILL_CONSUMER.value,
    "point": KillPoint.NEXT_COMMIT_POINT.value,
    "at": {"records": 120},
}
COURSE_FAULTS_LABEL = (
    "One consumer crash (SIGKILL) after 120 records, at each spec's next commit point: between "
    "commit and processing when it commits first, between processing and commit when it commits "
    "after, inside the transaction when it commits in one."
)


def course_specs() -> list[Spec]:
    """The course's comparison: each preset as it is, with the shared fault schedule."""
    return [
        Spec.from_json(preset(name).spec.to_json() | {"faults": [COURSE_FAULT]})
        for name in COURSE_PRESETS
    ]


# -- as data ---------------------------------------------------------------------------------------
def to_json(comparison: Comparison, cols: Sequence[Column]) -> dict:
    """The comparison for the API: per spec its cost figures (per round and median) and its
    guarantee figures; for a rebalance comparison, per protocol its rounds and median figures."""
    rebalance = comparison.kind == Comparison.REBALANCE
    return {
        "id": comparison.share_id,
        "finished": all(column.finished for column in cols),
        "kind": comparison.kind,
        "course": comparison.course,
        "faults": comparison.faults_label,
        "cost_records": comparison.cost_records,
        "rounds": comparison.rounds,
        "commit_records": COMMIT_RECORDS,
        "specs": [
            _rebalance_json(column) if rebalance else _column_json(column) for column in cols
        ],
    }


def _rebalance_json(column: Column) -> dict:
    """A rebalance comparison's column: its protocol, its rounds and the median figures."""
    consumer = column.spec.get("consumer") if isinstance(column.spec.get("consumer"), dict) else {}
    return {
        "number": column.number,
        "name": column.protocol,
        "group_protocol": consumer.get("group_protocol"),
        "assignor": consumer.get("assignor"),
        "spec": column.spec,
        "runs": [run.share_id for run in column.round_runs],
        "rebalance": column.rebalance.to_json(),
    }


def _column_json(column: Column) -> dict:
    outcome = column.outcome
    audit = column.audit
    return {
        "number": column.number,
        "name": column.name,
        "spec": column.spec,
        "cost": {
            **{figure: column.cost(figure).to_json() for figure in COST_FIGURES},
            "runs": [run.share_id for run in column.cost_runs],
            "problem": column.cost_problem,
        },
        "guarantee": {
            "run": column.guarantee.share_id if column.guarantee else None,
            "status": column.guarantee.status if column.guarantee else None,
            "valid": outcome.valid if outcome else None,
            "problems": [p.message for p in outcome.problems] if outcome else [],
            "promised_semantic": column.promised,
            "observed_semantic": outcome.observed_semantic if outcome else None,
            "audit": {key: audit[key] for key in AUDIT_COUNTS if key in audit},
            "faults_fired": column.faults_fired,
            # Latency at the spec's own pace, over the records handled before the first fault.
            "undisturbed_latency": column.undisturbed,
        },
        "settings_beyond_defaults": [changed.to_json() for changed in column.settings],
        "typical_use": column.typical_use,
    }


# The audit counts the API gives per guarantee run (docs/result.md defines each).
AUDIT_COUNTS = ("planned", "never_sent", *COUNT_FIELDS)
