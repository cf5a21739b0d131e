"""One description of the cluster, whether the lab manages it or it is an external cluster."""

from __future__ import annotations

from pathlib import Path

from playground.lab import admin
from playground.lab.control import LabClient, LabError

ABSENT = "absent"
EXTERNAL = "external"


def cluster_status(lab_dir: Path, external_bootstrap: str = "") -> dict:
    """The status the UI and the CLI show: the lab's own, an external cluster's, or "absent"."""
    if external_bootstrap:
        return external_status(external_bootstrap)
    try:
        return LabClient(lab_dir).status()
    except LabError as error:
        return {
            "managed": True,
            "faults_available": False,
            "phase": ABSENT,
            "detail": "no lab is running: start one with `make run` or `manage.py cluster up`",
            "error": str(error),
            "bootstrap_servers": "",
            "nodes": [],
        }


def external_status(bootstrap_servers: str) -> dict:
    """What an unmanaged cluster shows to a client. Broker faults need the managed lab."""
    try:
        brokers = sorted(admin.visible_broker_ids(bootstrap_servers, timeout=3.0))
        phase, error = EXTERNAL, ""
    except Exception as failure:  # noqa: BLE001 - any client error: the cluster is unreachable
        brokers, phase, error = [], EXTERNAL, f"cannot reach {bootstrap_servers}: {failure}"
    return {
        "managed": False,
        "faults_available": False,
        "phase": phase,
        "detail": (
            "external cluster: experiments run against it, but broker faults (kill, pause, "
            "lost acks) are unavailable because the playground does not manage its brokers"
        ),
        "error": error,
        "bootstrap_servers": bootstrap_servers,
        "nodes": [
            {"id": b, "role": "broker", "pid": None, "state": "up", "log": None} for b in brokers
        ],
    }
