"""One description of the cluster, whether the lab manages it or it is an external cluster.

Loads no Kafka client: the pages show this. The brokers an external cluster lists are asked of it
by `admin.external_status`, in a process where a Kafka client may run (a runner, the CLI).
"""

from __future__ import annotations

from pathlib import Path

from playground.lab.control import LabClient, LabError
from playground.lab.node import UP
from playground.lab.topology import BROKER

ABSENT = "absent"
EXTERNAL = "external"


def managed_status(lab_dir: Path) -> dict:
    """The status of the lab of `lab_dir`, or "absent" when none answers."""
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


def external_cluster(bootstrap_servers: str, brokers: list[int], error: str = "") -> dict:
    """What an unmanaged cluster shows, given the brokers a client saw in it (`error`: why it saw
    none). Broker faults need the managed lab."""
    return {
        "managed": False,
        "faults_available": False,
        "phase": EXTERNAL,
        "detail": (
            "external cluster: experiments run against it, but broker faults (kill, pause, "
            "lost acks) are unavailable because the playground does not manage its brokers"
        ),
        "error": error,
        "bootstrap_servers": bootstrap_servers,
        "nodes": [
            {"id": b, "role": BROKER, "pid": None, "state": UP, "log": None}
            for b in sorted(brokers)
        ],
    }
