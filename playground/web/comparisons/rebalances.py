"""The "rebalance protocols" comparison: one consumer group workload under three rebalance
protocols, and what each one's rounds showed.

The workload is the notification service run as three instances (side effects, commit after
processing), on six partitions. While orders flow, a fourth instance joins (add-consumer), and
later one instance stalls in the middle of a batch for longer than its poll interval
(stall-consumer): the group takes its partitions away, and gives it some again when it wakes.
Members are dynamic (no group.instance.id), so the stalled member really leaves and rejoins: with
static membership the group would only wait for it, and nothing would move.

The same workload runs under the classic protocol with the range assignor (eager: every member
gives up every partition at each rebalance), under the classic protocol with cooperative-sticky,
and under the consumer protocol of KIP-848 with the broker's uniform assignor (both incremental:
only the partitions that move stop). Each protocol runs ROUNDS times, interleaved (round 1 of
every protocol, then round 2, ...). The runs touch only their own clients, so they share the
cluster like any run (see scheduling): the whole table fills in about the time of a round.

The figures of one run, from its audit (docs/result.md, "Consumer groups: causes and
rebalances"): duplicated and lost; the longest pause of a partition that did not move (the largest
`pause_ms` over the run's rebalances of a partition whose member was the same before and after,
leaving out the stalled member's partitions, which stand still because it does; None when no
rebalance left such a partition where it was); and the settle time, the longest `settled_ms` of
any one rebalance of the run (from its first revocation to its last assignment; the joins as the
run starts are rebalances too, but settle faster than the ones the faults make). A protocol's
figure is the median over its valid rounds; a round that failed or was not a valid run gives no
figure and is named instead.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from playground.engine.spec.model import FaultKind, Spec
from playground.engine.spec.presets import NOTIFICATION_GROUP
from playground.web import verdict

# The three protocols, in column order: (name, consumer.group_protocol, consumer.assignor).
PROTOCOLS = (
    ("classic, range (eager)", "classic", "range"),
    ("classic, cooperative-sticky", "classic", "cooperative-sticky"),
    ("consumer (KIP-848), uniform", "consumer", "uniform"),
)
NAME_PREFIX = "Rebalance protocols: "  # of each spec's name, before the protocol's


def protocol_name(spec_name: str) -> str:
    """The protocol a column's spec measures, from its name ("classic, range (eager)")."""
    return spec_name.removeprefix(NAME_PREFIX)


# What each column is, in a sentence for the page.
PROTOCOL_WORDS = {
    "classic, range (eager)": (
        "The classic protocol with the range assignor, which is eager: at every rebalance every "
        "member gives up all its partitions, the leader assigns them all again, and nothing is "
        "processed in between."
    ),
    "classic, cooperative-sticky": (
        "The classic protocol with the cooperative-sticky assignor: incremental. A first round "
        "revokes only the partitions that move, a second gives them to their new owners; the "
        "others never stop."
    ),
    "consumer (KIP-848), uniform": (
        "The consumer protocol of KIP-848 (group.protocol=consumer): the broker computes the "
        "assignment (the uniform assignor) and hands each member its changes in the answers to "
        "its heartbeats; there is no group-wide join round at all."
    ),
}

# The workload, tuned so that a run takes about 30 s here and both faults strike while orders flow.
WORKLOAD = {"records": 1500, "rate": 60, "partitions": 6}
MAX_POLL_INTERVAL_MS = 3000
SESSION_TIMEOUT_MS = 3000
STALL_SECONDS = 5
# Orders flow for 25 s. The add strikes 4 s in; the stall once the group has processed 600 (10 s
# in when the members keep up, later on a loaded machine), and leaves orders to process after it.
ADD_AT_RECORDS = 240  # records the producer has sent
STALL_AT_RECORDS = 600  # records the group has processed
STALLED_MEMBER = 0
FAULTS = [
    {"kind": FaultKind.ADD_CONSUMER.value, "at": {"records": ADD_AT_RECORDS}},
    {
        "kind": FaultKind.STALL_CONSUMER.value,
        "member": STALLED_MEMBER,
        "seconds": STALL_SECONDS,
        "at": {"records": STALL_AT_RECORDS},
    },
]
FAULTS_LABEL = (
    f"Three instances of the notification service on {WORKLOAD['partitions']} partitions, "
    f"{WORKLOAD['records']:,} orders at {WORKLOAD['rate']} a second, commit after each batch's "
    f"emails. Once {ADD_AT_RECORDS} orders are sent a fourth instance joins; once the group has "
    f"processed {STALL_AT_RECORDS}, the first instance stalls {STALL_SECONDS} s in the middle of a "
    f"batch, past its {MAX_POLL_INTERVAL_MS / 1000:g} s poll interval, and rejoins when it wakes."
)


def specs() -> list[Spec]:
    """One spec per protocol: the notification service's group preset under the shared faults."""
    result = []
    for name, protocol, assignor in PROTOCOLS:
        document = copy.deepcopy(NOTIFICATION_GROUP.spec.to_json())
        document["name"] = NAME_PREFIX + name
        document["workload"] = dict(WORKLOAD)
        document["consumer"] |= {
            "members": 3,
            "group_protocol": protocol,
            "assignor": assignor,
            "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
            "session_timeout_ms": SESSION_TIMEOUT_MS,
            "static_membership": False,
            "commit_on_revoke": False,
        }
        document["faults"] = copy.deepcopy(FAULTS)
        result.append(Spec.from_json(document))
    return result


# -- one run ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoundFigures:
    """What one round's run showed: its figures, or why it has none (`problem`)."""

    round: int
    finished: bool
    problem: str | None = None  # it failed or was not a valid run: no figure
    duplicated: int | None = None
    lost: int | None = None
    rebalances: int | None = None
    unmoved_pause_ms: int | None = None  # None: no rebalance left a partition where it was
    settle_ms: int | None = None

    @property
    def measured(self) -> bool:
        return self.finished and self.problem is None


def round_figures(run) -> RoundFigures:
    """`run` (an Experiment of the comparison) as figures."""
    number = run.comparison_round
    if run.status == run.FAILED:
        return RoundFigures(number, True, f"the run failed: {run.error or 'no reason given'}")
    if not run.finished:
        return RoundFigures(number, False)
    result = run.result if isinstance(run.result, dict) else {}
    outcome = verdict.outcome(result, run.spec)
    if not outcome.valid:
        return RoundFigures(number, True, f"not a valid run: {outcome.first_problem}")
    audit = result.get("audit") if isinstance(result.get("audit"), dict) else {}
    rebalances = [r for r in audit.get("rebalances") or [] if isinstance(r, dict)]
    if not rebalances:
        return RoundFigures(number, True, "the group never rebalanced: the faults moved nothing")
    return RoundFigures(
        number,
        True,
        duplicated=_count(audit.get("duplicated")),
        lost=_count(audit.get("lost")),
        rebalances=len(rebalances),
        unmoved_pause_ms=_largest(unmoved_pauses(rebalances, stalled_members(run.spec))),
        settle_ms=_largest(r.get("settled_ms") for r in rebalances),
    )


def stalled_members(spec: object) -> set[int]:
    """The members a spec's stall-consumer faults stall."""
    faults = spec.get("faults") if isinstance(spec, dict) else None
    return {
        fault.get("member", 0)
        for fault in (faults if isinstance(faults, list) else [])
        if isinstance(fault, dict) and fault.get("kind") == FaultKind.STALL_CONSUMER.value
    }


def unmoved_pauses(rebalances: Sequence[dict], stalled: set[int]) -> list[int]:
    """The pause of every partition that kept its member across a rebalance, that member not a
    stalled one: a stalled member's partitions stand still because it does, under any protocol
    (its partitions handed back to it after the stall would otherwise count as not moved, with the
    stall as their pause). A rebalance stored without its partitions gives its
    `longest_pause_unmoved_ms`."""
    pauses = []
    for rebalance in rebalances:
        partitions = rebalance.get("partitions")
        if not isinstance(partitions, list):
            pauses.append(rebalance.get("longest_pause_unmoved_ms"))
            continue
        pauses += [
            p.get("pause_ms")
            for p in partitions
            if isinstance(p, dict)
            and p.get("member_before") is not None
            and p.get("member_before") == p.get("member_after")
            and p.get("member_before") not in stalled
        ]
    return [pause for pause in pauses if _count(pause) is not None]


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _largest(values) -> int | None:
    return max((v for v in values if _count(v) is not None), default=None)


# -- one protocol ----------------------------------------------------------------------------------
FIGURES = ("duplicated", "lost", "unmoved_pause_ms", "settle_ms")


@dataclass(frozen=True)
class Median:
    """One figure over a protocol's measured rounds: each one's value and their median."""

    rounds: list[int | None]  # per measured round; None: the round had no such partition

    @property
    def values(self) -> list[int]:
        return [value for value in self.rounds if value is not None]

    @property
    def median(self) -> float | None:
        """The median of the rounds that have a value; None when none has (for the pause: no
        partition stayed put in any round)."""
        return statistics.median(self.values) if self.values else None

    def to_json(self) -> dict:
        return {"rounds": self.rounds, "median": self.median}


@dataclass(frozen=True)
class ProtocolFigures:
    """A protocol's rounds and the median of each figure over those that measured something."""

    rounds: list[RoundFigures]

    @property
    def measured(self) -> list[RoundFigures]:
        return [r for r in self.rounds if r.measured]

    @property
    def problems(self) -> list[str]:
        """Each round that has no figures, and why ("round 2: not a valid run: ...")."""
        return [f"round {r.round}: {r.problem}" for r in self.rounds if r.problem]

    @property
    def finished(self) -> bool:
        return all(r.finished for r in self.rounds)

    def figure(self, name: str) -> Median:
        return Median([getattr(r, name) for r in self.measured])

    @property
    def medians(self) -> dict[str, Median]:
        return {name: self.figure(name) for name in FIGURES}

    def cell(self, name: str) -> Cell:
        """`name` as the page shows it: the median over the measured rounds, and every round's
        value ("none": no such partition; "invalid": the round measured nothing; "…": not done)."""
        whole = name.endswith("_ms")  # a time, shown to the millisecond
        shown = [
            _shown(getattr(r, name), whole) if r.measured else "invalid" if r.problem else "…"
            for r in self.rounds
        ]
        if not self.measured:
            return Cell(None, shown, "invalid" if self.problems and self.finished else "waiting")
        return Cell(_shown(self.figure(name).median, whole), shown, "measured")

    @property
    def cells(self) -> dict[str, Cell]:
        return {name: self.cell(name) for name in FIGURES}

    def to_json(self) -> dict:
        return {
            "rounds_measured": len(self.measured),
            "problems": self.problems,
            **{name: median.to_json() for name, median in self.medians.items()},
            "rounds": [
                {
                    "round": r.round,
                    "finished": r.finished,
                    "problem": r.problem,
                    "duplicated": r.duplicated,
                    "lost": r.lost,
                    "rebalances": r.rebalances,
                    "unmoved_pause_ms": r.unmoved_pause_ms,
                    "settle_ms": r.settle_ms,
                }
                for r in self.rounds
            ],
        }


@dataclass(frozen=True)
class Cell:
    """One figure of one protocol on the page: `median` (None while no round measured it),
    each round's value in words, and `state`: "measured", "waiting" or "invalid" (every round
    finished and none measured: the problems say why)."""

    median: str | None
    rounds: list[str]
    state: str


def _shown(value: float | None, whole: bool = False) -> str:
    """A figure in words: "none" for no value, with thousands separators, and one decimal only
    for a median between two whole counts (never for a time, `whole`)."""
    if value is None:
        return "none"
    return f"{value:,.0f}" if whole or float(value).is_integer() else f"{value:,.1f}"


def protocol_figures(runs: Sequence) -> ProtocolFigures:
    """A column's round runs (Experiments, in round order) as figures."""
    return ProtocolFigures([round_figures(run) for run in runs])


# The table's rows: (row id, what it shows, the figure).
ROWS = (
    ("row-rebalance-duplicated", "duplicated", "duplicated"),
    ("row-rebalance-lost", "lost", "lost"),
    (
        "row-rebalance-pause",
        "longest pause of a partition that did not move, ms",
        "unmoved_pause_ms",
    ),
    ("row-rebalance-settle", "time until the group settles, ms", "settle_ms"),
)


def rows(figures: Sequence[ProtocolFigures]) -> list[tuple[str, str, list[Cell]]]:
    """The table's figure rows: per row, one cell per protocol, in column order."""
    return [(row_id, label, [f.cell(name) for f in figures]) for row_id, label, name in ROWS]
