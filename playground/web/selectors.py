"""Reads the web layer needs from the layers below it."""

from __future__ import annotations

from collections import deque
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from playground.lab.status import external_cluster, managed_status
from playground.web.models import ClusterReport

LOG_TAIL_LINES = 400
# A runner reports the external cluster every few seconds (runner.CLUSTER_REPORT_SECONDS); a
# report older than this is no report: no runner is looking.
CLUSTER_REPORT_STALE = timedelta(seconds=30)


def lab_status() -> dict:
    """The cluster as the page shows it: the managed lab's status (from its control socket) or
    the external cluster's, as a runner last saw it (this process asks Kafka nothing)."""
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        return external_report(settings.KAFKA_BOOTSTRAP_SERVERS)
    return managed_status(settings.LAB_DIR)


def external_report(bootstrap_servers: str) -> dict:
    """The latest runner's report of the external cluster, if it is recent."""
    fresh = timezone.now() - CLUSTER_REPORT_STALE
    report = ClusterReport.objects.filter(
        bootstrap_servers=bootstrap_servers, reported_at__gte=fresh
    ).first()
    if report is not None:
        return report.status
    return external_cluster(
        bootstrap_servers,
        [],
        f"no runner has looked at the cluster in the last {CLUSTER_REPORT_STALE.seconds} s: "
        "experiments wait until one runs (`manage.py runner`, or `manage.py serve` without "
        "--no-runner)",
    )


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
