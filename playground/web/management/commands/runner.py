"""`manage.py runner`: run queued experiments without serving pages.

Any number of runners, on this machine or on others sharing the database (PostgreSQL), Redis
(REDIS_URL, for the live pages) and the cluster (KAFKA_BOOTSTRAP_SERVERS, or a managed lab started
with `manage.py serve` or `manage.py cluster up` on this machine), claim work safely: the queue's
lock row decides. SIGTERM or Ctrl-C stops claiming, asks this runner's experiments to stop (each
is audited as far as it ran) and waits for them.

`manage.py serve` starts one as its child with `--link-fd` (runner_process): the live pages'
fragments then go to serve over that link, serve's wake-ups come back over it, and the runner
stops as on SIGTERM when serve closes it.
"""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from playground.web.runs import runner, runner_link
from playground.web.runs.runner_link import ChildEnd

STOP_WAIT_SECONDS = 120.0  # how long a stopping runner waits for its experiments' audits


class Command(BaseCommand):
    help = "Run queued experiments (no web pages). Several runners may share one database."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--link-fd",
            type=int,
            default=None,
            help="the inherited socket of the `serve` process that started this runner",
        )

    def handle(self, *args, link_fd: int | None = None, **options) -> None:
        stopping = threading.Event()

        def on_signal(number: int, frame) -> None:
            stopping.set()

        waking = threading.Lock()  # a wake-up from serve never restarts a stopped runner

        def on_wake() -> None:
            with waking:
                if not stopping.is_set():
                    runner.wake()

        runner_link.wake_with(on_wake)  # (this process queues nothing today; if it ever does)
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        if link_fd is not None:
            ChildEnd.open(link_fd, on_wake=on_wake, on_parent_gone=stopping.set)
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
        with waking:  # a wake-up under way ends before the stop
            pass
        runner.stop(STOP_WAIT_SECONDS, stop_runs=True)
        self.stdout.write("runner stopped")
