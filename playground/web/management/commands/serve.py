"""`manage.py serve`: the whole playground in one command: the managed cluster, Daphne serving
the pages, and a runner process running the experiments.

This process loads no Kafka client: a native abort in librdkafka cannot be caught in Python, and
must never take the pages down. The experiments run in a child process (runner_process: a
`manage.py runner`, restarted if it dies). The lab process and the runner are tied to this one:
however this process ends (Ctrl-C, SIGTERM, SIGKILL), no JVM, proxy, runner or worker outlives
it. A lab already started with `manage.py cluster up` is used as it is.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from playground.lab.control import LabClient, LabError
from playground.lab.launcher import LabProcess, launch
from playground.web.runs import runner_link
from playground.web.runs.runner_process import RunnerProcess
from playground.web.security import refusal_to_serve


class Command(BaseCommand):
    help = "Run the playground: start the managed Kafka cluster and serve the app with Daphne."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-runner",
            action="store_true",
            help="serve pages only; experiments are run by `manage.py runner` processes",
        )

    def handle(self, *args, host: str, port: int, no_runner: bool = False, **options) -> None:
        if refusal := refusal_to_serve(host):
            raise CommandError(refusal)
        # `kill -USR1 <pid>` prints every thread's stack to stderr: what a stuck server is doing.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        # Ctrl-C stops everything, even when this process was started with SIGINT ignored (as a
        # shell starts background jobs): Twisted only takes over SIGINT when it is at its default,
        # and would otherwise leave the server running.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if not settings.DEBUG:  # WhiteNoise serves the hashed files: they must be collected
            call_command("collectstatic", interactive=False, verbosity=0)
        lab = self._start_lab()
        runner: RunnerProcess | None = None
        try:
            self.stdout.write(f"Playground at http://{host}:{port}/ (Ctrl-C stops everything)")
            from playground.asgi import application

            if no_runner:  # runners of their own poll the queue
                runner_link.wake_with(None)
            else:  # it takes the experiments left queued by an earlier run first
                runner = RunnerProcess().start()
                runner_link.wake_with(runner.wake)

            endpoints = build_endpoint_description_strings(host=host, port=port)
            Server(application=application, endpoints=endpoints).run()
        finally:
            if runner is not None:
                self.stdout.write("stopping the runner (running experiments are audited) ...")
                runner.stop()
            if lab is not None:
                self.stdout.write("stopping the cluster ...")
                lab.stop()
        # Served and stopped: end here. Daemon threads (request threads, the runner link) may
        # still wait on a socket; nothing is left that needs an orderly exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    def _start_lab(self) -> LabProcess | None:
        if settings.KAFKA_BOOTSTRAP_SERVERS:
            self.stdout.write(
                f"Using the external cluster {settings.KAFKA_BOOTSTRAP_SERVERS}: "
                "broker faults are unavailable."
            )
            return None
        if LabClient(settings.LAB_DIR).is_running():
            self.stdout.write(f"Using the cluster already running in {settings.LAB_DIR}.")
            return None
        lab = launch(settings.LAB_DIR, settings.LAB_PORT_BASE)
        threading.Thread(target=self._report_progress, args=(lab,), daemon=True).start()
        return lab

    def _report_progress(self, lab: LabProcess) -> None:
        try:
            lab.client.wait_ready(
                on_progress=lambda s: self.stdout.write(f"  cluster: {s['detail']}")
            )
        except LabError as error:
            self.stderr.write(f"  cluster: {error} (logs in {settings.LAB_DIR})")
