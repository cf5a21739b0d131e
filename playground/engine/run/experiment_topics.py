"""An experiment's topics and group in the cluster: created before its run, deleted after it.

The conductor creates them (`create_for`); once the audit is stored, the runner deletes them
(`delete_apart`), and retention's sweep deletes what older runs left (`list_apart`, then
`delete_names_apart`). Deleting a group right after a broker fault is where a native abort of
librdkafka once took a whole server down (an assertion in its request bookkeeping): every request
here is waited for until librdkafka resolves it, and the deletions and the sweep's listing run in
a short-lived child process, where an abort costs only that job (the sweep removes later what a
failed deletion left).

    python -m playground.engine.run.experiment_topics delete SERVERS TIMEOUT TOPICS GROUPS WAIT
    python -m playground.engine.run.experiment_topics list SERVERS TIMEOUT
    (TOPICS and GROUPS are JSON lists; each prints its answer as one JSON line)
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from playground.engine.naming import ExperimentNames
from playground.engine.run import apart
from playground.engine.run.apart import ApartError, ask_apart
from playground.engine.spec.model import GroupProtocol, Pipeline, SourcePosition, Spec
from playground.lab.admin import admin_client, create_topic

log = logging.getLogger(__name__)

# How long a deletion asks the cluster again (after a broker fault the group's coordinator may
# move, and the broker a request went to come back), past which it leaves the rest to the sweep.
DELETE_TIMEOUT_SECONDS = 60.0
ATTEMPT_SECONDS = 10.0  # one admin request's own timeout (request_timeout)
MIN_ATTEMPT_SECONDS = 1.0
ANSWER_GRACE_SECONDS = 5.0  # waited beyond a request's timeout for librdkafka to resolve it
RETRY_SECONDS = 0.5  # how soon a request that timed out, or a group with members, is asked again
# Errors that say "not now" rather than "no" (besides those librdkafka itself calls retriable).
ASK_AGAIN = frozenset(
    {
        KafkaError._TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.NOT_CONTROLLER,
        KafkaError.LEADER_NOT_AVAILABLE,
    }
)
# Admin clients with a request still open after its timeout, kept until it resolves (_answers).
_in_flight: list[tuple[object, list[Future]]] = []
_in_flight_lock = threading.Lock()
LIST_SECONDS = 5.0  # how long a listing of the cluster's topics and groups may wait


def create_for(servers: str, names: ExperimentNames, spec: Spec) -> None:
    """Create the topics experiment `names` needs for `spec`, each with a leader on return."""
    partitions = spec.workload.partitions
    create_topic(servers, names.input_topic, partitions=partitions)
    if spec.pipeline == Pipeline.KAFKA_TO_KAFKA:
        create_topic(servers, names.output_topic, partitions=partitions)
    if spec.producer.position == SourcePosition.TRANSACTION:
        create_topic(servers, names.position_topic, partitions=1)
    if spec.consumer.group_protocol == GroupProtocol.CONSUMER:
        configure_group(servers, names.group_id, spec.consumer.session_timeout_ms)


GROUP_CONFIG_SECONDS = 10.0


def configure_group(servers: str, group_id: str, session_timeout_ms: int) -> None:
    """Set the session timeout of a consumer-protocol group (KIP-848) on the broker, where that
    protocol keeps it (a member's own session.timeout.ms means nothing to it), before any member
    joins. Raises KafkaException if the cluster refuses it."""
    entry = ConfigEntry(
        "consumer.session.timeout.ms",
        str(session_timeout_ms),
        incremental_operation=AlterConfigOpType.SET,
    )
    resource = ConfigResource(ResourceType.GROUP, group_id, incremental_configs=[entry])
    client = admin_client(servers)
    futures = client.incremental_alter_configs([resource], request_timeout=GROUP_CONFIG_SECONDS)
    for future in futures.values():
        future.result(timeout=GROUP_CONFIG_SECONDS + ANSWER_GRACE_SECONDS)


# -- deleting --------------------------------------------------------------------------------
def delete_experiment(
    bootstrap_servers: str, run_id: str, *, timeout: float = DELETE_TIMEOUT_SECONDS
) -> list[str]:
    """Delete the topics and the consumer group of experiment `run_id`; return the problems
    (empty when all is gone). A topic or group that is already gone is fine. Never raises, and
    returns within about `timeout` seconds (plus one request's time at most).

    After a broker fault the cluster may not answer at once (the group's coordinator moves, a
    broker comes back): a request that timed out or hit a moving coordinator is asked again,
    until `timeout`. The group is deleted once it is empty: a consumer killed with static
    membership stays a member until its session times out, so this waits for that within the
    time it has. Kafka has no call to delete a transactional id; the broker forgets the
    experiment's ids after transactional.id.expiration.ms."""
    names = ExperimentNames(run_id, Path())
    deletion = delete_names(
        bootstrap_servers,
        topics=list(names.topics),
        groups=[names.group_id],
        timeout=timeout,
        wait_for_empty_groups=True,
    )
    return deletion.problems


@dataclass
class Deletion:
    topics: list[str] = field(default_factory=list)  # deleted now
    groups: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def delete_names(
    servers: str,
    *,
    topics: list[str],
    groups: list[str],
    timeout: float,
    wait_for_empty_groups: bool,
) -> Deletion:
    deadline = time.monotonic() + timeout
    deletion = Deletion()
    try:
        if topics:
            _delete_topics(servers, topics, deadline, deletion)
        if groups:
            _delete_groups(servers, groups, deadline, wait_for_empty_groups, deletion)
    except (KafkaException, ValueError, TypeError, RuntimeError) as error:
        deletion.problems.append(f"the cluster at {servers} refused the deletion: {error}")
    except Exception as error:  # the runner calls this after storing a result: never raise there
        log.exception("deleting %s from %s failed", topics + groups, servers)
        deletion.problems.append(f"deleting from the cluster at {servers} failed: {error!r}")
    return deletion


def _delete_topics(servers: str, topics: list[str], deadline: float, deletion: Deletion) -> None:
    pending = list(topics)
    while pending:
        seconds = _attempt_seconds(deadline)
        # A client of its own for each attempt: after a broker kill, a client may keep waiting for
        # the controller its metadata named, the broker that is gone ("Timed out waiting for
        # controller" for a whole minute); a new client asks the cluster afresh.
        client = admin_client(servers)
        futures = client.delete_topics(pending, operation_timeout=seconds, request_timeout=seconds)
        again = {}
        for topic, error in _answers(client, futures, seconds).items():
            if error is None:
                deletion.topics.append(topic)
            elif error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue  # gone already
            elif _worth_asking_again(error):
                again[topic] = error
            else:
                deletion.problems.append(f"topic {topic} was not deleted: {error.str()}")
        if not _retry(again, deadline, "topic", deletion):
            break
        pending = list(again)
    # A deleted topic leaves each broker's metadata a moment after the controller agrees: wait
    # for that, so that "no problems" means no client sees the topic any more.
    while deletion.topics and time.monotonic() < deadline:
        listed = client.list_topics(timeout=_attempt_seconds(deadline)).topics
        if not listed.keys() & set(deletion.topics):
            return
        time.sleep(RETRY_SECONDS)
    if deletion.topics:
        deletion.problems.append(
            "the cluster still lists deleted topics: " + ", ".join(sorted(deletion.topics))
        )


def _delete_groups(
    servers: str, groups: list[str], deadline: float, wait_for_empty: bool, deletion: Deletion
) -> None:
    pending = list(groups)
    while pending:
        seconds = _attempt_seconds(deadline)
        client = admin_client(servers)  # a client of its own for each attempt (_delete_topics)
        futures = client.delete_consumer_groups(pending, request_timeout=seconds)
        again, still_members = {}, []
        for group, error in _answers(client, futures, seconds).items():
            if error is None:
                deletion.groups.append(group)
            elif error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                continue  # gone already
            elif error.code() == KafkaError.NON_EMPTY_GROUP:
                still_members.append(group)
            elif _worth_asking_again(error):
                again[group] = error
            else:
                deletion.problems.append(f"group {group} was not deleted: {error.str()}")
        if still_members and not wait_for_empty:
            deletion.problems += [_still_members(group) for group in still_members]
            still_members = []
        waiting = again | {group: None for group in still_members}
        if not _retry(waiting, deadline, "group", deletion):
            return
        pending = list(waiting)


def _still_members(group: str) -> str:
    return (
        f"group {group} still has members (a killed consumer's session has not timed out "
        "yet); a later prune deletes it"
    )


def _retry(waiting: dict, deadline: float, what: str, deletion: Deletion) -> bool:
    """Whether to ask again for the names in `waiting` (name -> the error that left it, None for
    a group that still has members): after RETRY_SECONDS if the deadline allows, else each one
    is a problem, named with its last error."""
    if not waiting:
        return False
    if deadline - time.monotonic() > RETRY_SECONDS:
        time.sleep(RETRY_SECONDS)
        return True
    for name, error in waiting.items():
        deletion.problems.append(
            _still_members(name)
            if error is None
            else f"{what} {name} was not deleted: the cluster did not answer in time "
            f"({error.str()}; asked until the deadline)"
        )
    return False


def _worth_asking_again(error: KafkaError) -> bool:
    """A time-out or a moving coordinator or controller: the cluster is busy, not refusing."""
    return error.retriable() or error.code() in ASK_AGAIN


def _answers(client, futures: dict[str, Future], seconds: float) -> dict[str, KafkaError | None]:
    """Each request's outcome: None when it succeeded, else its error (a time-out included).

    Every request was sent with `seconds` as its own timeout, after which librdkafka resolves
    its future with a time-out error, so waiting that long (and a grace) never gives up on a
    request in flight. Should a future still be open then, `client` is kept (_in_flight) until
    it resolves: an admin client destroyed with a request in flight can abort the process in
    librdkafka (rd_kafka_enq_once_del_source_return: Assertion 'eonce->refcnt > 0' failed)."""
    outcomes: dict[str, KafkaError | None] = {}
    wait_until = time.monotonic() + seconds + ANSWER_GRACE_SECONDS
    for name, future in futures.items():
        try:
            future.result(timeout=max(0.0, wait_until - time.monotonic()))
            outcomes[name] = None
        except KafkaException as error:
            outcomes[name] = error.args[0]
        except FutureTimeout:
            outcomes[name] = KafkaError(KafkaError._TIMED_OUT, "the cluster did not answer")
    unanswered = [future for future in futures.values() if not future.done()]
    if unanswered:
        _keep_until_answered(client, unanswered)
    return outcomes


def _keep_until_answered(client, futures: list[Future]) -> None:
    with _in_flight_lock:
        _in_flight[:] = [(c, fs) for c, fs in _in_flight if not all(f.done() for f in fs)]
        _in_flight.append((client, futures))
    log.warning("an admin request is still in flight after its timeout: its client is kept")


def _attempt_seconds(deadline: float) -> float:
    """One request's timeout: ATTEMPT_SECONDS at most, what is left of the deadline, and
    MIN_ATTEMPT_SECONDS at least (every step is asked once, whatever the deadline)."""
    return min(ATTEMPT_SECONDS, max(MIN_ATTEMPT_SECONDS, deadline - time.monotonic()))


def list_names(servers: str, timeout: float = LIST_SECONDS) -> tuple[list[str], list[str]]:
    """The cluster's topics and consumer groups (KafkaException or FutureTimeout when it does
    not answer within `timeout`)."""
    client = admin_client(servers)
    topics = sorted(client.list_topics(timeout=timeout).topics)
    listing = client.list_consumer_groups(request_timeout=timeout)
    try:  # resolved by librdkafka at its request timeout: see _answers
        listed = listing.result(timeout=timeout + ANSWER_GRACE_SECONDS)
    except FutureTimeout:
        _keep_until_answered(client, [listing])
        raise
    return topics, sorted(g.group_id for g in listed.valid)


# -- in a child process --------------------------------------------------------------------------
def delete_apart(
    servers: str, run_id: str, *, timeout: float = DELETE_TIMEOUT_SECONDS
) -> list[str]:
    """delete_experiment in a child process: the problems (empty when all is gone), including a
    child that died or did not answer."""
    names = ExperimentNames(run_id, Path())
    try:
        deletion = delete_names_apart(servers, list(names.topics), [names.group_id], timeout, True)
    except ApartError as error:
        return [f"deleting experiment {run_id}'s topics {error}; the sweep will remove them"]
    return deletion.problems


def delete_names_apart(
    servers: str, topics: list[str], groups: list[str], timeout: float, wait_for_empty: bool
) -> Deletion:
    """delete_names in a child process (ApartError when it gives no answer)."""
    arguments = [
        "delete", servers, str(timeout), json.dumps(topics), json.dumps(groups),
        "wait" if wait_for_empty else "no-wait",
    ]  # fmt: skip
    return Deletion(**ask_apart(__name__, arguments, timeout))


def list_apart(servers: str, timeout: float = LIST_SECONDS) -> tuple[list[str], list[str]]:
    """list_names in a child process: (topics, groups); ApartError when it gives no answer."""
    listed = ask_apart(__name__, ["list", servers, str(timeout)], timeout)
    if "error" in listed:
        raise ApartError(f"failed: {listed['error']}")
    return listed["topics"], listed["groups"]


def main(argv: list[str]) -> int:
    command, servers, timeout, *rest = argv
    if command == "delete":
        topics, groups, wait = rest
        deletion = delete_names(
            servers,
            topics=json.loads(topics),
            groups=json.loads(groups),
            timeout=float(timeout),
            wait_for_empty_groups=wait == "wait",
        )
        answer = asdict(deletion)
    else:
        try:
            topics, groups = list_names(servers, float(timeout))
            answer = {"topics": topics, "groups": groups}
        except (KafkaException, FutureTimeout) as error:
            answer = {"error": str(error) or "the cluster did not answer in time"}
    apart.answer(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
