"""What every worker needs first: its experiment's names and spec."""

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
