"""The crash buttons: which live actions exist, and the one validation of an action request."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.http import QueryDict

from playground.lab.topology import BROKER_IDS
from playground.web.models import Action, Experiment

MAX_DROPPED_ACKS = 100


class ActionError(ValueError):
    """An action request that cannot be taken; the message names the field."""


@dataclass(frozen=True)
class LiveAction:
    name: str  # the conductor's action name
    label: str
    explanation: str
    broker_fault: bool = False  # needs the managed cluster


ACTIONS = (
    LiveAction("kill-consumer", "Kill consumer now", "SIGKILL the consumer wherever it is."),
    LiveAction(
        "kill-consumer-at-point",
        "Kill consumer at its next commit point",
        "The consumer dies at its next point between processing and committing: the moment "
        "its commit mode is most exposed.",
    ),
    LiveAction(
        "kill-producer",
        "Kill producer",
        "SIGKILL the producer; it restarts and re-sends after its last acknowledged record.",
    ),
    LiveAction(
        "kill-leader",
        "Kill leader broker",
        "SIGKILL the broker leading the partition; a follower takes over.",
        broker_fault=True,
    ),
    LiveAction("pause-broker", "Pause broker", "SIGSTOP one broker.", broker_fault=True),
    LiveAction("resume-broker", "Resume broker", "SIGCONT a paused broker.", broker_fault=True),
    LiveAction(
        "drop-acks",
        "Drop the next acks",
        "The fault proxy swallows the responses to the next N Produce requests: the broker "
        "wrote the records, the producer never hears so.",
        broker_fault=True,
    ),
    LiveAction("stop", "Stop", "End the experiment now and audit what happened so far."),
)
BY_NAME = {action.name: action for action in ACTIONS}


def faults_available() -> bool:
    return not settings.KAFKA_BOOTSTRAP_SERVERS


def available(experiment: Experiment) -> list[LiveAction]:
    return [a for a in ACTIONS if faults_available() or not a.broker_fault]


def request(experiment: Experiment, data: QueryDict) -> str:
    """Queue the action `data` asks for; return what will happen. ActionError if it cannot."""
    name = data.get("action", "")
    action = BY_NAME.get(name)
    if action is None:
        raise ActionError(f"action: {name!r} is not an action; allowed: {', '.join(BY_NAME)}")
    if action.broker_fault and not faults_available():
        raise ActionError(
            f"action: {name} needs the managed cluster; this app uses an external one"
        )
    if experiment.status != Experiment.RUNNING:
        raise ActionError(f"action: the experiment is {experiment.status}, not running")
    params: dict[str, int] = {}
    if name in ("pause-broker", "resume-broker"):
        params["broker"] = _integer(data, "broker", min(BROKER_IDS), max(BROKER_IDS))
    elif name == "kill-leader":
        partitions = experiment.spec["workload"]["partitions"]
        params["partition"] = _integer(data, "partition", 0, partitions - 1, default=0)
    elif name == "drop-acks":
        params["count"] = _integer(data, "count", 1, MAX_DROPPED_ACKS, default=3)
    Action.objects.create(experiment=experiment, action=name, params=params)
    detail = ", ".join(f"{key} {value}" for key, value in params.items())
    return f"{action.label}{f' ({detail})' if detail else ''}: sent"


def _integer(data: QueryDict, field: str, low: int, high: int, default: int | None = None) -> int:
    raw = data.get(field, "")
    if raw == "" and default is not None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ActionError(f"{field}: {raw!r} is not a whole number ({low} to {high})") from None
    if not low <= value <= high:
        raise ActionError(f"{field}: {value} is out of range ({low} to {high})")
    return value
