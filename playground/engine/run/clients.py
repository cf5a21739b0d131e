"""The full librdkafka configuration of every client an experiment runs.

The spec gives the settings a person chooses (spec.producer_config and friends); a run adds what
it fills in: the servers, a client id per client (the fault proxy tells clients apart by it), the
consumer group, and transactional ids made unique to the experiment. Workers build their clients
from these functions and the builder shows them, so the configuration on the page is the one that
runs; `shown()` gives it with placeholders where the run fills something in.
"""

from __future__ import annotations

from pathlib import Path

from playground.engine.naming import (
    CONSUMER,
    OUTPUT_PRODUCER,
    SOURCE_PRODUCER,
    ExperimentNames,
)
from playground.engine.spec.model import (
    KillPoint,
    Spec,
    consumer_config,
    consumer_producer_config,
    producer_config,
)

Config = dict[str, str | int | bool]

# Shown on the page where the run fills in a value.
EXPERIMENT_PLACEHOLDER = "<experiment>"
SERVERS_PLACEHOLDER = "<cluster>"

# A fetch sent to a broker that then froze (paused) gets no answer; the consumer gives up on it
# and asks the new leader after this long (librdkafka's default is 60 s).
CONSUMER_SOCKET_TIMEOUT_MS = 10_000
# The consumer's own producer retries a request whose response is lost after this long (the
# librdkafka default is 60 s, far longer than a watchable experiment); it is idempotent, so a
# retry never writes twice.
OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS = 5_000
# Warnings and errors reach the worker's log file (its stderr): where a person looks when an
# experiment behaves oddly, and where the result's problems quote from.
WORKER_LOG_LEVEL = 4
# A producer that is to die during a commit (kill-producer at "during-commit") must know when its
# commit request has left: librdkafka's protocol debug log says "Sent EndTxnRequest" as it sends
# it, from its own thread, while the application waits in commit_transaction.
COMMIT_WATCH_CONFIG: Config = {"debug": "protocol", "log_level": 7}


def _run_config(names: ExperimentNames, role: str, session: int, servers: str) -> Config:
    return {
        "bootstrap.servers": servers,
        "client.id": names.client_id(role, session),
        "log_level": WORKER_LOG_LEVEL,
    }


def source_producer(spec: Spec, names: ExperimentNames, *, session: int, servers: str) -> Config:
    """The source producer: the spec's producer settings, its client id, and a transactional id
    unique to the experiment (the spec's id is its suffix)."""
    config = producer_config(spec) | _run_config(names, SOURCE_PRODUCER, session, servers)
    if "transactional.id" in config:
        config["transactional.id"] = names.transactional_id(str(config["transactional.id"]))
    if any(fault.point == KillPoint.DURING_COMMIT for fault in spec.faults):
        config |= COMMIT_WATCH_CONFIG
    return config


def position_reader(names: ExperimentNames, *, session: int, servers: str) -> Config:
    """The source producer's reader of its committed position (producer.position
    "transaction"): only what committed transactions wrote. It is assigned its partition and
    never commits, so the group id names no group the cluster keeps."""
    return _run_config(names, SOURCE_PRODUCER, session, servers) | {
        "group.id": f"{names.client_prefix(SOURCE_PRODUCER)}position",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }


def consumer(
    spec: Spec, names: ExperimentNames, *, session: int, servers: str, member: int = 0
) -> Config:
    """Member `member` of the consumer group: the spec's consumer settings in the experiment's
    own group, with a static instance id of its own when membership is static."""
    config = (
        consumer_config(spec)
        | _run_config(names, CONSUMER, session, servers)
        | {
            "group.id": names.group_id,
            "socket.timeout.ms": CONSUMER_SOCKET_TIMEOUT_MS,
            # Tells the conductor when the consumer has caught up with the log.
            "enable.partition.eof": True,
        }
    )
    if spec.consumer.static_membership:
        config["group.instance.id"] = names.consumer_instance_id(member)
    return config


def output_producer(
    spec: Spec, names: ExperimentNames, *, session: int, servers: str, member: int = 0
) -> Config | None:
    """The consumer's own producer (kafka-to-kafka output, transactional commits), or None.
    Each member has a transactional id of its own (the spec's id, then the member): a restarted
    member fences its own predecessor, never another member; a member that lost its partitions
    is fenced by the group instead (its group metadata goes with its offsets, KIP-447)."""
    settings = consumer_producer_config(spec)
    if settings is None:
        return None
    config = (
        settings
        | _run_config(names, OUTPUT_PRODUCER, session, servers)
        | {
            "socket.timeout.ms": OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS,
            "request.timeout.ms": OUTPUT_PRODUCER_SOCKET_TIMEOUT_MS,
        }
    )
    if "transactional.id" in config:
        chosen = str(config["transactional.id"])
        if member:
            chosen = f"{chosen}-{member}"
        config["transactional.id"] = names.transactional_id(chosen)
    return config


def shown(spec: Spec) -> dict[str, Config]:
    """Every client's configuration as the builder shows it, by client: what the workers use,
    with EXPERIMENT_PLACEHOLDER and SERVERS_PLACEHOLDER where the run fills a value in (and
    session 0 in client ids: a restarted worker counts up)."""
    names = ExperimentNames(EXPERIMENT_PLACEHOLDER, Path())
    options = {"session": 0, "servers": SERVERS_PLACEHOLDER}
    configs = {
        SOURCE_PRODUCER: source_producer(spec, names, **options),
        CONSUMER: consumer(spec, names, **options),
    }
    own = output_producer(spec, names, **options)
    if own is not None:
        configs[OUTPUT_PRODUCER] = own
    return configs
