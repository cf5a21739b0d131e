"""What every worker needs first: its experiment's names and spec, and brokers for its producers."""

from __future__ import annotations

import json
import time
from pathlib import Path

from confluent_kafka import KafkaException, Producer

from playground.engine.naming import ExperimentNames
from playground.engine.spec.model import Spec
from playground.engine.workers.runtime import Orders


def names_of(orders: Orders) -> ExperimentNames:
    return ExperimentNames(orders.experiment_id, Path(orders.experiment_dir))


def load_spec(names: ExperimentNames) -> Spec:
    return Spec.from_json(json.loads(names.spec_file.read_text()))


# How long a starting producer waits for a broker it learned from the cluster's metadata.
MEET_BROKERS_SECONDS = 2.0


def meet_brokers(producer: Producer, topic: str) -> None:
    """Have a new producer fetch `topic`'s metadata from a broker it learned (not the bootstrap
    connection), so that an idempotent producer gets its producer id at once.

    librdkafka asks for a producer id after each metadata response, if some broker is up by
    then, and otherwise only 500 ms later; a new client's first response comes over its bootstrap
    connection, before any broker it names is up, so an idempotent producer would send nothing
    for half a second. A second request waits for a named broker to be up. Past
    MEET_BROKERS_SECONDS (brokers paused or cut off by a fault) the producer goes on without:
    this only saves time."""
    deadline = time.monotonic() + MEET_BROKERS_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            if producer.list_topics(topic, timeout=left).orig_broker_id >= 0:
                return
        except KafkaException:
            return
