"""`manage.py runner`: run queued experiments without serving pages.

Any number of runners, on this machine or on others sharing the database (PostgreSQL), Redis
(REDIS_URL, for the live pages) and the cluster (KAFKA_BOOTSTRAP_SERVERS, or a managed lab started
with `manage.py serve` or `manage.py cluster up` on this machine), claim work safely: the queue's
lock row decides. SIGTERM or Ctrl-C stops claiming, asks this runner's experiments to stop (each
is audited as far as it ran) and waits for them.
"""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from playground.web import runner

STOP_WAIT_SECONDS = 120.0  # how long a stopping runner waits for its experiments' audits


class Command(BaseCommand):
    help = "Run queued experiments (no web pages). Several runners may share one database."

    def handle(self, *args, **options) -> None:
        stopping = threading.Event()

        def on_signal(number: int, frame) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        cluster = settings.KAFKA_BOOTSTRAP_SERVERS or f"the managed lab in {settings.LAB_DIR}"
        self.stdout.write(
            f"Runner {runner.RUNNER_NAME}: experiments run on {cluster}, up to "
            f"{settings.PLAYGROUND_MAX_PARALLEL} at once across all runners (Ctrl-C stops)."
        )
        self.stdout.flush()
        runner.wake()
        while not stopping.wait(runner.IDLE_WAIT_SECONDS):
            runner.wake()  # restarts the runner thread should it ever have died
        self.stdout.write(f"stopping: {runner.running_here()} experiment(s) to finish ...")
        runner.stop(STOP_WAIT_SECONDS, stop_runs=True)
        self.stdout.write("runner stopped")
