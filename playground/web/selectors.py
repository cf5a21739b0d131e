"""Reads the web layer needs from the layers below it."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from django.conf import settings

from playground.lab.status import cluster_status

LOG_TAIL_LINES = 400


def lab_status() -> dict:
    """The cluster as the page shows it: the managed lab's status or the external cluster's."""
    return cluster_status(settings.LAB_DIR, settings.KAFKA_BOOTSTRAP_SERVERS)


def node_log_tail(node_id: int) -> str | None:
    """The last lines of a managed node's server.log, or None if there is no such node."""
    for node in lab_status()["nodes"]:
        if node["id"] == node_id and node.get("log"):
            path = Path(node["log"])
            if not path.exists():
                return ""
            with path.open(errors="replace") as log:
                return "".join(deque(log, maxlen=LOG_TAIL_LINES))
    return None
