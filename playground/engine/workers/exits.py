"""Why a worker ended: named exit codes, the words for each, and the mapping from Kafka's errors.

A worker ends on purpose only in the ways named here, so the conductor can tell a clean finish
from a failure it should restart, and say why in the timeline. The mapping follows what a
production client does with each kind of error (confluent-kafka's idioms): a retriable error is
retried where it happens and never ends the worker; a fenced client, a lost assignment or a fatal
error ends the process, and a new process starts clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException

T = TypeVar("T")
RETRY_SECONDS = 30.0  # a call still failing with retriable errors after this long gives up
RETRY_BACKOFF_SECONDS = 0.05

EXIT_DONE = 0
EXIT_UNEXPECTED = 1  # Python's own code for an uncaught exception: a bug or an unforeseen error
EXIT_FAILED = 2  # a Kafka error with no more specific name
EXIT_START_FAILED = 3  # the client could not be created: a configuration it refuses
EXIT_FENCED = 4  # a newer instance with the same transactional id or group.instance.id took over
EXIT_ASSIGNMENT_LOST = 5  # the group took the consumer's partitions away
EXIT_FATAL = 6  # the client raised a fatal error: this client instance can do nothing more
EXIT_GAVE_UP = 7  # retried for too long: records or transactions that never completed
EXIT_CONDUCTOR_GONE = 8  # the conductor's pipe closed
# A static member of a consumer-protocol group (KIP-848) whose instance id its dead predecessor
# still holds: the broker refuses it (UNRELEASED_INSTANCE_ID, fatal to the client) until that
# member's session times out. Not a failure of the run: the group's own timeout playing out.
EXIT_INSTANCE_HELD = 9

REASONS = {
    EXIT_UNEXPECTED: "crashed on an unexpected error",
    EXIT_FAILED: "ended on a Kafka error",
    EXIT_START_FAILED: "had a client configuration Kafka refused",
    EXIT_FENCED: "was fenced by a newer instance",
    EXIT_ASSIGNMENT_LOST: "lost its partition assignment",
    EXIT_FATAL: "hit a fatal Kafka error",
    EXIT_GAVE_UP: "gave up after retrying too long",
    EXIT_CONDUCTOR_GONE: "lost its conductor",
    EXIT_INSTANCE_HELD: "found its static instance id still held by its dead predecessor, "
    "until the group's session timeout",
}
# How a fatal UNRELEASED_INSTANCE_ID reads: librdkafka reports it as _FATAL, with the broker's
# words for the underlying error in its message (Python has no call for the original code).
INSTANCE_HELD_WORDS = ("UNRELEASED_INSTANCE_ID", "instance ID is still used by another member")

FENCED_CODES = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.FENCED_INSTANCE_ID,
    }
)
# Fencings that end the worker even when a client does not flag them fatal. An old producer epoch
# is not one: an idempotent producer recovers from it by bumping its epoch.
ENDING_CODES = FENCED_CODES - {KafkaError.INVALID_PRODUCER_EPOCH}
ASSIGNMENT_LOST_CODES = frozenset(
    {
        KafkaError._ASSIGNMENT_LOST,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._STATE,  # an offset stored or sought for a partition no longer assigned
    }
)
# Errors a commit or a coordinator request may meet while brokers fail over; retried in place.
RETRIABLE_CODES = frozenset(
    {
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.UNSTABLE_OFFSET_COMMIT,
        KafkaError.CONCURRENT_TRANSACTIONS,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._WAIT_COORD,
        KafkaError._PREV_IN_PROGRESS,
    }
)


class WorkerExit(Exception):
    """End the worker with `code`, saying why (raised by a loop, turned into the exit status)."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


def is_retriable(error: KafkaError) -> bool:
    """Whether a production client would simply try the same call again."""
    return not error.fatal() and (error.retriable() or error.code() in RETRIABLE_CODES)


def retrying(call: Callable[[], T], *, final: frozenset[int] = frozenset()) -> T:
    """Call a client API, again while it fails with a retriable error (as a production client
    does); any other error, or one whose code is in `final` (an answer the caller acts on, even
    if the client calls it retriable), is raised, and one that lasts past RETRY_SECONDS ends the
    worker."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return call()
        except KafkaException as failure:
            error = failure.args[0]
            if not is_retriable(error) or error.txn_requires_abort() or error.code() in final:
                raise
            if time.monotonic() > deadline:
                raise WorkerExit(EXIT_GAVE_UP, f"still failing after retries: {error}") from None
            print(f"retrying: {error}", file=sys.stderr, flush=True)
            time.sleep(RETRY_BACKOFF_SECONDS)


def ends_the_worker(error: KafkaError) -> bool:
    """Whether a client that reports `error` can do nothing more: a fatal error or a fencing."""
    return error.fatal() or error.code() in ENDING_CODES


def exit_code_of(failure: BaseException) -> int:
    """The exit code a failure ends the worker with."""
    if isinstance(failure, WorkerExit):
        return failure.code
    if isinstance(failure, KafkaException) and isinstance(failure.args[0], KafkaError):
        error = failure.args[0]
        if error.code() in FENCED_CODES:
            return EXIT_FENCED
        if error.code() == KafkaError.UNRELEASED_INSTANCE_ID or (
            error.fatal() and any(words in error.str() for words in INSTANCE_HELD_WORDS)
        ):
            return EXIT_INSTANCE_HELD
        if error.fatal():
            return EXIT_FATAL
        if error.code() in ASSIGNMENT_LOST_CODES:
            return EXIT_ASSIGNMENT_LOST
        return EXIT_FAILED
    return EXIT_UNEXPECTED


def describe(code: int) -> str:
    """Words for an exit code, for the timeline ("failed (exit code 9)" for one not named)."""
    return REASONS.get(code, f"failed (exit code {code})")
