"""Running real experiments from tests: a spec built from overrides, run on the session cluster."""

from __future__ import annotations

import copy
import uuid

from playground.engine.run.clusters import Target
from playground.engine.run.conductor import Conductor
from playground.engine.spec.model import Spec
from playground.lab.launcher import PROJECT_ROOT

EXPERIMENTS_DIR = PROJECT_ROOT / "var" / "test-experiments"


def merged(base: dict, overrides: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def build_spec(**sections) -> Spec:
    """A spec: small, fast defaults for tests, with `sections` merged over them."""
    base = {
        "workload": {"records": 200, "rate": 0, "partitions": 1},
        "consumer": {"batch_size": 10},
        "restarts": {"consumer": {"delay_ms": 500}, "producer": {"delay_ms": 500}},
    }
    return Spec.from_json(merged(base, sections))


def conductor_for(lab, spec: Spec) -> Conductor:
    """A conductor for `spec` on the lab, in a fresh experiment folder (not started)."""
    experiment_id = uuid.uuid4().hex[:12]
    target = Target.managed(lab)
    return Conductor(
        spec,
        experiment_id=experiment_id,
        root=EXPERIMENTS_DIR / experiment_id,
        bootstrap_servers=target.bootstrap_servers,
        direct_bootstrap_servers=target.direct_bootstrap_servers,
        lab=lab,
    )


def run_experiment(lab, spec: Spec) -> tuple[dict, Conductor]:
    """Run `spec` to its end against the lab; return the result and the conductor (for details).
    The run must be valid: a test of semantics never reads an invalid run."""
    conductor = conductor_for(lab, spec)
    result = conductor.run()
    assert result["valid"], result["problems"]
    return result, conductor
