"""What a fault can cost the source producer: how long a record may wait for its acknowledgement,
and how many of its attempts may fail, because of it.

The producer's retries are bounded twice: by producer.retries (attempts) and by
producer.message_timeout_ms (time since the record was handed to the client). A fault that costs
one record more than either makes the producer give up on it, acks=all or not. These are
worst cases for one record, from the settings and the lab's own timing, so that a promise that
relies on them errs towards naming a risk: a record retried after each of N lost answers waits N
request timeouts; a broker cut off or frozen for S seconds holds the requests sent to it for S
seconds and one more request timeout; a leader that dies leaves its partitions without one until
the cluster notices (broker.session.timeout.ms in lab/config.py) and elects another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from playground.engine.spec.model import DropTarget, Fault, FaultKind, Spec

# The lab's leader failover, from a leader's death to a new leader taking writes: the controller
# notices after broker.session.timeout.ms (3 s), elects a new leader, and clients find it after a
# metadata refresh. Measured at 4-6 s on the lab; a generous bound.
LEADER_FAILOVER_SECONDS = 10.0
# Failed attempts a leader change can cost one batch: librdkafka retries after retry.backoff.ms
# (100 ms) doubling up to retry.backoff.max.ms (1 s), so about a dozen over a failover.
LEADER_FAILOVER_ATTEMPTS = 20
# pause-followers-kill-leader: the leader takes writes alone this long before it dies (faults.py).
LONE_LEADER_SECONDS = 1.0
# Time a record may spend waiting in the client's own queue besides what a fault costs it (a
# full queue at full speed, linger, a batch ahead of it): a margin under the message timeout.
QUEUE_SECONDS = 5.0


@dataclass(frozen=True)
class Cost:
    """What one fault, or a schedule, can cost one record of the source producer; None: no
    bound (a broker paused until the end of the run)."""

    seconds: float | None = 0.0
    attempts: int | None = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(_plus(self.seconds, other.seconds), _plus(self.attempts, other.attempts))

    @property
    def none(self) -> bool:
        return self.seconds == 0 and self.attempts == 0

    def describe(self) -> str:
        """In words: "up to 90 s and 3 failed attempts", "no bound"."""
        if self.seconds is None:
            return "a wait with no bound"
        attempts = "" if self.attempts is None else f" and {self.attempts} failed attempts"
        if self.attempts is None:
            attempts = " and any number of failed attempts"
        return f"up to {self.seconds:g} s{attempts}"


def _plus(a: float | None, b: float | None):
    return None if a is None or b is None else a + b


def fault_cost(fault: Fault, spec: Spec) -> Cost:
    """What `fault` can cost one record of the source producer (0 for faults that never stand
    between it and the brokers: kills, another client's acks, a resume)."""
    timeout = spec.producer.request_timeout_ms / 1000
    kind = fault.kind
    if kind == FaultKind.DROP_ACKS:
        if fault.target == DropTarget.OUTPUT_PRODUCER:
            return Cost()
        # Each lost answer is a request timeout, then a retry, whose answer may be lost too.
        return Cost(fault.count * timeout, fault.count)
    if kind in (FaultKind.BLACKHOLE_BROKER, FaultKind.PAUSE_BROKER):
        if fault.seconds is None:
            return Cost(None, None)
        # The requests it holds time out one after another until it answers again.
        return Cost(fault.seconds + timeout, math.ceil(fault.seconds / timeout) + 1)
    if kind in (FaultKind.KILL_LEADER, FaultKind.KILL_COORDINATOR):
        # A coordinator is a broker, and on three brokers most likely a leader of the orders'
        # partitions too: its death costs the producer a leader failover like kill-leader's.
        return Cost(LEADER_FAILOVER_SECONDS + timeout, LEADER_FAILOVER_ATTEMPTS)
    if kind == FaultKind.PAUSE_FOLLOWERS_KILL_LEADER:
        seconds = LONE_LEADER_SECONDS + LEADER_FAILOVER_SECONDS + timeout
        return Cost(seconds, LEADER_FAILOVER_ATTEMPTS)
    return Cost()


def schedule_cost(spec: Spec) -> Cost:
    """What the spec's whole fault schedule can cost one record: the faults' costs added up, as
    if they struck one after another on the same record (the worst case)."""
    total = Cost()
    for fault in spec.faults:
        total = total + fault_cost(fault, spec)
    return total


def outlasts_message_timeout(cost: Cost, spec: Spec) -> bool:
    """Whether a record may still be unacknowledged when the producer gives up on it."""
    if cost.seconds is None:
        return True
    return cost.seconds + QUEUE_SECONDS >= spec.producer.message_timeout_ms / 1000


def outlasts_retries(cost: Cost, spec: Spec) -> bool:
    """Whether a record may fail more often than producer.retries allows."""
    return cost.attempts is None or cost.attempts > spec.producer.retries
