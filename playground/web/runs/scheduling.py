"""Who runs when on the shared cluster: the rule, apart from the database that holds it.

Experiments whose faults touch only their own clients (consumer and producer kills, proxy faults
aimed at their own client ids) run side by side, up to `max_parallel` at once. An experiment that
needs the cluster alone (a fault that stops, pauses or cuts off a broker, which would spoil the
numbers of anyone beside it; or a comparison's cost run, whose timing a neighbour would disturb)
waits until nothing runs, and nothing starts beside it. The rounds of a rebalance comparison run
one after another, the protocols of one round side by side: a round's run waits until the earlier
rounds of its comparison have finished, so a handful of group experiments, not all of them, share
the machine at once. The queue is first come, first served:
nobody overtakes, so an experiment that needs the cluster alone is never starved by a stream of
small ones arriving behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from playground.engine.spec.model import Spec


class Scheduled(Protocol):
    """What the rule needs to know of an experiment."""

    pk: int
    exclusive: bool
    comparison_id: int | None
    comparison_role: str
    comparison_round: int  # read only for a rebalance comparison's runs


REBALANCE_ROUND = "rebalance"  # measurements.REBALANCE: a round of a rebalance comparison


def needs_cluster_alone(spec: Spec, *, measures_cost: bool = False) -> bool:
    """Whether an experiment of `spec` must run with nothing beside it: one whose faults act on
    the brokers, or a comparison's cost run (a neighbour would slow it down)."""
    return measures_cost or any(fault.touches_cluster for fault in spec.faults)


def may_start(head: Scheduled, running: Sequence[Scheduled], max_parallel: int) -> bool:
    """Whether the first queued experiment may start now, beside `running`."""
    if head.exclusive:
        return not running
    return (
        not any(r.exclusive for r in running)
        and len(running) < max_parallel
        and _earlier_round(head, running) is None
    )


def _earlier_round(experiment: Scheduled, running: Sequence[Scheduled]) -> Scheduled | None:
    """A run of an earlier round of `experiment`'s rebalance comparison still running, if any."""
    if experiment.comparison_role != REBALANCE_ROUND:
        return None
    return next(
        (
            r
            for r in running
            if r.comparison_id == experiment.comparison_id
            and r.comparison_role == REBALANCE_ROUND
            and r.comparison_round < experiment.comparison_round
        ),
        None,
    )


@dataclass(frozen=True)
class Place:
    """Where a queued experiment stands: how many start before it, and why it waits."""

    ahead: int
    waits_for: str

    @property
    def summary(self) -> str:
        ahead = "next in line" if not self.ahead else f"{self.ahead} ahead"
        return f"{self.waits_for} ({ahead})" if self.waits_for else ahead


def places(
    running: Sequence[Scheduled], queued: Sequence[Scheduled], max_parallel: int
) -> dict[int, Place]:
    """The place of every queued experiment (in queue order) given the ones running."""
    blocker = next((r for r in running if r.exclusive), None)
    result: dict[int, Place] = {}
    round_ahead: Scheduled | None = None  # a round queued ahead that waits for an earlier one
    for index, experiment in enumerate(queued):
        exclusive_ahead = any(q.exclusive for q in queued[:index])
        earlier = _earlier_round(experiment, running)
        if blocker is not None:
            waits = f"waits for {_alone(blocker)}, which has the cluster to itself"
        elif experiment.exclusive and running:
            count = len(running)
            waits = (
                f"{_needs(experiment)}: waits for the {count} running "
                f"experiment{'s' if count != 1 else ''} to finish"
            )
        elif exclusive_ahead:
            first = next(q for q in queued[:index] if q.exclusive)
            waits = f"waits for {_alone(first)} queued ahead, which will have the cluster to itself"
        elif earlier is not None:
            waits = (
                f"waits for round {earlier.comparison_round} of its comparison to finish: the "
                "rounds run one after another, the protocols of a round side by side"
            )
            round_ahead = round_ahead or experiment
        elif round_ahead is not None:
            waits = "waits for a rebalance comparison's round queued ahead"
        elif experiment.exclusive:
            waits = _needs(experiment)
        elif len(running) >= max_parallel:
            waits = (
                f"waits for a free place: {len(running)} of {max_parallel} experiments "
                "that may run at once are running"
            )
        else:
            waits = ""
        result[experiment.pk] = Place(ahead=index, waits_for=waits)
    return result


def _alone(experiment: Scheduled) -> str:
    return "a comparison's cost run" if _measures_cost(experiment) else "a broker-fault experiment"


def _needs(experiment: Scheduled) -> str:
    if _measures_cost(experiment):
        return "a comparison's cost run, it runs alone so that nothing disturbs its timing"
    return "its faults act on the brokers, so it runs alone"


def _measures_cost(experiment: Scheduled) -> bool:
    return bool(experiment.comparison_id) and experiment.comparison_role == "cost"
