"""What every worker needs first: its experiment's names and spec, and a client config."""

from __future__ import annotations

import json
from pathlib import Path

from playground.engine.naming import ExperimentNames
from playground.engine.spec import Spec
from playground.engine.workers.runtime import Orders


def names_of(orders: Orders) -> ExperimentNames:
    return ExperimentNames(orders.experiment_id, Path(orders.experiment_dir))


def load_spec(names: ExperimentNames) -> Spec:
    return Spec.from_json(json.loads(names.spec_file.read_text()))


def worker_config(orders: Orders, settings: dict) -> dict:
    """A client config: the spec's settings plus where the cluster is and a readable client id."""
    return {
        **settings,
        "bootstrap.servers": orders.bootstrap_servers,
        "client.id": f"{orders.role}-{orders.session}",
        # Warnings and errors reach the worker's log file (its stderr); that is where a person
        # looks when an experiment behaves oddly.
        "log_level": 4,
    }
