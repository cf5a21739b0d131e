"""The crash buttons: which live actions exist, and the one validation of an action request.

Every button but "stop" is a spec fault whose time is "now" (spec.read_live_fault reads it, the
conductor applies it like any scheduled fault), so a button and a fault are one vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.http import QueryDict

from playground.engine.spec.model import (
    CLUSTER_FAULTS,
    FaultKind,
    KillPoint,
    Spec,
    SpecError,
    read_live_fault,
)
from playground.web.models import Action, Experiment, QueueLock

STOP = "stop"
MISSING = object()  # a field left blank: the fault kind's default applies


class ActionError(ValueError):
    """An action request that cannot be taken; the message names the field."""


@dataclass(frozen=True)
class LiveAction:
    name: str  # the button's name
    label: str
    explanation: str
    # The fault document it asks for, from the request's fields (None: "stop").
    fault: Callable[[QueryDict], dict] | None = None
    broker_fault: bool = False  # needs the managed cluster
    # Shown only when the experiment's producer is transactional (a kill at one of its commit's
    # points); posted anyway, the spec's reader refuses the point.
    transactional_producer: bool = False
    # The fields the button's form shows before it (INPUTS), in order.
    inputs: tuple[str, ...] = ()


# The fields a button may show: what each asks, for the page.
INPUTS = {
    "broker": "broker",
    "count": "how many acks",
    "member": "member",
    "seconds": "seconds",
    "coordinator": "coordinator",
}


def _field(name: str) -> Callable[[QueryDict], object]:
    """A request field as the fault document takes it: a whole number if it reads as one (the
    spec's reader names the field and its range when it is not), MISSING when blank."""

    def read(data: QueryDict) -> object:
        raw = data.get(name, "").strip()
        if raw == "":
            return MISSING
        try:
            return int(raw)
        except ValueError:
            return raw

    return read


_broker, _partition, _count = _field("broker"), _field("partition"), _field("count")
_member, _coordinator = _field("member"), _field("coordinator")


def _seconds(data: QueryDict) -> object:
    """The seconds field as a number (the spec's reader names its range when it is not)."""
    raw = data.get("seconds", "").strip()
    if raw == "":
        return MISSING
    try:
        return float(raw)
    except ValueError:
        return raw


ACTIONS = (
    LiveAction(
        "kill-consumer",
        "Kill consumer now",
        "SIGKILL the consumer (the chosen member of the group) wherever it is.",
        lambda d: {
            "kind": FaultKind.KILL_CONSUMER,
            "point": KillPoint.ANYWHERE,
            "member": _member(d),
        },
        inputs=("member",),
    ),
    LiveAction(
        "kill-consumer-at-point",
        "Kill consumer at its next commit point",
        "The consumer dies at its next point between processing and committing: the moment "
        "its commit mode is most exposed.",
        lambda d: {
            "kind": FaultKind.KILL_CONSUMER,
            "point": KillPoint.NEXT_COMMIT_POINT,
            "member": _member(d),
        },
        inputs=("member",),
    ),
    LiveAction(
        "add-consumer",
        "Add a consumer",
        "A new member joins the group: a rebalance shares the partitions again.",
        lambda d: {"kind": FaultKind.ADD_CONSUMER},
    ),
    LiveAction(
        "remove-consumer",
        "Remove a consumer",
        "The member leaves cleanly; its partitions go to the others (a static member's only "
        "once its session times out).",
        lambda d: {"kind": FaultKind.REMOVE_CONSUMER, "member": _member(d)},
        inputs=("member",),
    ),
    LiveAction(
        "stall-consumer",
        "Stall a consumer",
        "The member's handler stalls in the middle of its batch, effects made and commit not; "
        "past the max poll interval the group moves its partitions, and the member wakes up "
        "as a zombie.",
        lambda d: {"kind": FaultKind.STALL_CONSUMER, "member": _member(d), "seconds": _seconds(d)},
        inputs=("member", "seconds"),
    ),
    LiveAction(
        "pause-consumer",
        "Pause a consumer",
        "The member's process is frozen (SIGSTOP) for the seconds given, then carries on; past "
        "the session timeout its partitions move meanwhile.",
        lambda d: {"kind": FaultKind.PAUSE_CONSUMER, "member": _member(d), "seconds": _seconds(d)},
        inputs=("member", "seconds"),
    ),
    LiveAction(
        "kill-producer",
        "Kill producer",
        "SIGKILL the producer wherever it is; it restarts and resumes from its position: after "
        "its last logged acknowledgement, or its last committed transaction (producer.position).",
        lambda d: {"kind": FaultKind.KILL_PRODUCER},
    ),
    LiveAction(
        "kill-producer-after-commit",
        "Kill producer after its next commit",
        "The producer dies right after its next transaction commits, before it records that "
        "commit: with its position in its log it resumes before that transaction and sends it "
        "again; with its position in the transaction it does not.",
        lambda d: {"kind": FaultKind.KILL_PRODUCER, "point": KillPoint.AFTER_COMMIT_BEFORE_LOG},
        transactional_producer=True,
    ),
    LiveAction(
        "kill-leader",
        "Kill leader broker",
        "SIGKILL the broker leading the partition; a follower takes over.",
        lambda d: {"kind": FaultKind.KILL_LEADER, "partition": _partition(d)},
        broker_fault=True,
    ),
    LiveAction(
        "pause-broker",
        "Pause broker",
        "SIGSTOP one broker until you resume it.",
        lambda d: {"kind": FaultKind.PAUSE_BROKER, "broker": _broker(d), "seconds": None},
        broker_fault=True,
        inputs=("broker",),
    ),
    LiveAction(
        "resume-broker",
        "Resume broker",
        "SIGCONT a paused broker.",
        lambda d: {"kind": FaultKind.RESUME_BROKER, "broker": _broker(d)},
        broker_fault=True,
        inputs=("broker",),
    ),
    LiveAction(
        "kill-coordinator",
        "Kill coordinator broker",
        "SIGKILL the broker coordinating the group (or the transactions); another takes over.",
        lambda d: {"kind": FaultKind.KILL_COORDINATOR, "coordinator": _coordinator(d)},
        broker_fault=True,
        inputs=("coordinator",),
    ),
    LiveAction(
        "drop-acks",
        "Drop the next acks",
        "The fault proxy swallows the responses to the next N Produce requests of this "
        "experiment's producer: the broker wrote the records, the producer never hears so.",
        lambda d: {"kind": FaultKind.DROP_ACKS, "count": _count(d)},
        broker_fault=True,
        inputs=("count",),
    ),
    LiveAction(
        STOP,
        "Stop",
        "The producer stops; the consumer finishes what is in the log, then the audit. Press "
        "again to stop the consumer where it is.",
    ),
)
BY_NAME = {action.name: action for action in ACTIONS}


def faults_available() -> bool:
    return not settings.KAFKA_BOOTSTRAP_SERVERS


def available(experiment: Experiment) -> list[LiveAction]:
    """The buttons `experiment`'s page shows: broker faults only on the managed cluster, a kill
    at the producer's commit only when its producer is transactional."""
    transactional = _transactional_producer(experiment)
    return [
        action
        for action in ACTIONS
        if (faults_available() or not action.broker_fault)
        and (transactional or not action.transactional_producer)
    ]


def _transactional_producer(experiment: Experiment) -> bool:
    try:
        return Spec.from_json(experiment.spec).producer.transactional
    except SpecError:  # a spec stored by an older version: no button that depends on it
        return False


def live_action_queue(experiment: Experiment, data: QueryDict) -> str:
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
    if action.fault is None:
        Action.objects.create(experiment=experiment, action=name, params={})
        return f"{action.label}: sent"
    document = {key: value for key, value in action.fault(data).items() if value is not MISSING}
    fault = live_fault(experiment, document)
    if FaultKind(fault["kind"]) in CLUSTER_FAULTS:
        _take_the_cluster(experiment, action)
    Action.objects.create(experiment=experiment, action=name, params={"fault": fault})
    details = {k: v for k, v in fault.items() if k not in ("kind", "at", "point")}
    detail = ", ".join(f"{key} {value}" for key, value in details.items() if value is not None)
    return f"{action.label}{f' ({detail})' if detail else ''}: sent"


def _take_the_cluster(experiment: Experiment, action: LiveAction) -> None:
    """A broker fault would spoil the numbers of every experiment running beside this one: it
    is allowed only while this one runs alone, and from then on nothing starts beside it."""
    with transaction.atomic():
        QueueLock.hold()
        others = Experiment.objects.filter(status=Experiment.RUNNING).exclude(pk=experiment.pk)
        count = others.count()
        if count:
            raise ActionError(
                f"action: {action.label.lower()} acts on the brokers, which {count} other "
                f"experiment{'s' if count != 1 else ''} running beside this one share"
                f"{'' if count != 1 else 's'}; put the fault in the spec (the builder's faults) "
                "and the experiment will wait to run with the cluster to itself"
            )
        Experiment.objects.filter(pk=experiment.pk).update(exclusive=True)


def live_fault(experiment: Experiment, document: dict) -> dict:
    """The fault document, read by the spec's own reader against the experiment's settings."""
    try:
        fault = read_live_fault(document, Spec.from_json(experiment.spec))
    except SpecError as error:
        messages = [f"{e.path.removeprefix('fault.')}: {e.message}" for e in error.errors]
        raise ActionError("; ".join(messages)) from None
    return fault.to_json()
