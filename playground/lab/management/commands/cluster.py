"""`manage.py cluster up | down | status [--json]`: the managed cluster from the command line."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from playground.lab.admin import external_status
from playground.lab.control import LabClient, LabError
from playground.lab.launcher import launch
from playground.lab.status import managed_status


class Command(BaseCommand):
    help = "Start, stop or describe the managed Kafka cluster (3 brokers, 1 controller, proxies)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["up", "down", "status"])
        parser.add_argument("--json", dest="as_json", action="store_true", help="status as JSON")
        parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait")

    def handle(self, *args, action: str, as_json: bool, timeout: float, **options) -> None:
        if settings.KAFKA_BOOTSTRAP_SERVERS and action != "status":
            raise CommandError(
                "KAFKA_BOOTSTRAP_SERVERS is set: the cluster is external and not managed here"
            )
        getattr(self, f"cluster_{action}")(as_json=as_json, timeout=timeout)

    def cluster_up(self, *, timeout: float, **_) -> None:
        client = LabClient(settings.LAB_DIR)
        if client.is_running():
            self.stdout.write(f"already running: {client.status()['bootstrap_servers']}")
            return
        lab = launch(settings.LAB_DIR, settings.LAB_PORT_BASE, tied_to_parent=False)
        try:
            status = client.wait_ready(timeout=timeout, on_progress=self._progress)
        except LabError as error:
            lab.stop()  # a lab that could not start must not linger on its own
            raise CommandError(f"{error}; logs are in {settings.LAB_DIR}") from error
        self.stdout.write(self.style.SUCCESS(f"ready: {status['bootstrap_servers']}"))

    def cluster_down(self, *, timeout: float, **_) -> None:
        client = LabClient(settings.LAB_DIR)
        try:
            client.shutdown()
        except LabError:
            self.stdout.write("no cluster is running")
            return
        deadline = time.monotonic() + timeout
        while client.is_running():
            if time.monotonic() > deadline:
                raise CommandError(f"the lab did not stop within {timeout:.0f} s")
            time.sleep(0.2)
        self.stdout.write(self.style.SUCCESS("stopped"))

    def cluster_status(self, *, as_json: bool, **_) -> None:
        external = settings.KAFKA_BOOTSTRAP_SERVERS
        status = external_status(external) if external else managed_status(settings.LAB_DIR)
        if as_json:
            self.stdout.write(json_dumps(status))
            return
        self.stdout.write(f"{status['phase']}: {status['detail']}")
        if status["bootstrap_servers"]:
            self.stdout.write(f"bootstrap servers: {status['bootstrap_servers']}")
        for node in status["nodes"]:
            self.stdout.write(
                f"  node {node['id']:>3}  {node['role']:<10}  {node['state']:<6}  "
                f"pid {node['pid'] or '-'}"
            )

    def _progress(self, status: dict) -> None:
        self.stdout.write(f"  {status['phase']}: {status['detail']}")


def json_dumps(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
