"""The runner: takes queued experiments one at a time and runs each on the cluster.

One experiment at a time, for everyone: experiments crash brokers, drop acks and pause nodes, and a
fault meant for one experiment would spoil the numbers of any other running beside it. The queue
is the database (experiments with status "queued", oldest first), so every web process sees the
same queue, and every web process runs a runner: a runner claims the next experiment only when no
experiment is running, inside one write transaction, so two runners never run two at once. A
running experiment's runner beats a heartbeat; an experiment whose heartbeat stopped (its process
died) is marked failed, so the queue never sticks.

While an experiment runs, its conductor's snapshots go to `live` (the live page), and the crash
buttons' actions arrive as Action rows, which a thread of the run polls on its own timer and hands
to the conductor (a live fault, or "stop").
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from playground.engine.clusters import Target
from playground.engine.conductor import Conductor, ExperimentError
from playground.engine.spec import Spec
from playground.lab.control import LabClient, LabError
from playground.web import actions, live
from playground.web.models import Action, Experiment

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 1.0  # how often an idle runner looks at the queue without being woken
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_STALE_SECONDS = 30.0  # a running experiment without a heartbeat this long is abandoned
SNAPSHOT_SAVE_SECONDS = 1.0  # how often the last snapshot is stored for late viewers
ACTION_POLL_SECONDS = 0.1  # how often a running experiment looks for crash-button actions

_wake = threading.Event()
_stop = threading.Event()
_start_lock = threading.Lock()
_thread: threading.Thread | None = None


def wake() -> None:
    """Make sure this process's runner thread is alive, and tell it to look at the queue."""
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _stop.clear()
            _thread = threading.Thread(target=_serve, name="experiment-runner", daemon=True)
            _thread.start()
    _wake.set()


def stop(timeout: float = 30.0) -> None:
    """Stop this process's runner once its current experiment (if any) is over (for tests)."""
    with _start_lock:
        _stop.set()
        _wake.set()
        if _thread is not None:
            _thread.join(timeout)


def experiments_dir() -> Path:
    return Path(settings.VAR_DIR) / "experiments"


def stories_file(experiment: Experiment) -> Path:
    """Where the per-order stories of a finished experiment are kept (one JSON line each)."""
    return experiments_dir() / experiment.run_id / "stories.jsonl"


def target() -> Target:
    """The cluster experiments run on: the external one if configured, else the managed lab."""
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        return Target.external(settings.KAFKA_BOOTSTRAP_SERVERS)
    client = LabClient(Path(settings.LAB_DIR))
    try:
        client.wait_ready(timeout=180)  # `make run` may still be starting it
        return Target.managed(client)
    except LabError as error:
        raise ExperimentError(
            f"no cluster to run on ({error}): start one with `make run` or "
            "`python manage.py cluster up`"
        ) from error


# -- the runner thread ----------------------------------------------------------------------------
def _serve() -> None:
    experiments_dir().mkdir(parents=True, exist_ok=True)
    while not _stop.is_set():
        _wake.clear()
        try:
            experiment = _claim_next()
        except Exception:  # a database hiccup must not end the runner
            log.exception("claiming the next experiment failed")
            experiment = None
        if experiment is None:
            close_old_connections()
            _wake.wait(IDLE_WAIT_SECONDS)
            continue
        _run(experiment)
    close_old_connections()


def _claim_next() -> Experiment | None:
    """The oldest queued experiment, now running here; None while another one runs."""
    stale = timezone.now() - timedelta(seconds=HEARTBEAT_STALE_SECONDS)
    with transaction.atomic():
        active = list(
            Experiment.objects.select_for_update().filter(
                status__in=(Experiment.RUNNING, Experiment.QUEUED)
            )
        )
        for running in (e for e in active if e.status == Experiment.RUNNING):
            if (running.heartbeat_at or running.started_at or stale) > stale:
                return None
            running.status, running.finished_at = Experiment.FAILED, timezone.now()
            running.error = "the server running this experiment stopped before it finished"
            running.save(update_fields=["status", "error", "finished_at"])
        queued = [e for e in active if e.status == Experiment.QUEUED]
        if not queued:
            return None
        experiment = min(queued, key=lambda e: (e.created_at, e.pk))
        experiment.status = Experiment.RUNNING
        experiment.run_id = uuid.uuid4().hex[:12]
        experiment.started_at = experiment.heartbeat_at = timezone.now()
        experiment.save(update_fields=["status", "run_id", "started_at", "heartbeat_at"])
    live.publish_queue()
    return experiment


def _beat(experiment: Experiment, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        Experiment.objects.filter(pk=experiment.pk).update(heartbeat_at=timezone.now())
    close_old_connections()


def _poll_actions(experiment: Experiment, conductor: Conductor, stop: threading.Event) -> None:
    while not stop.wait(ACTION_POLL_SECONDS):
        try:
            _take_actions(experiment, conductor)
        except Exception:  # a database hiccup must not end the polling
            log.exception("taking actions of %s failed", experiment.share_id)
    close_old_connections()


def _run(experiment: Experiment) -> None:
    share_id = experiment.share_id
    publisher = live.Publisher(experiment)
    saved_at = 0.0
    beating = threading.Event()
    threading.Thread(target=_beat, args=(experiment, beating), daemon=True).start()

    def on_snapshot(snapshot: dict) -> None:
        nonlocal saved_at
        publisher.snapshot(snapshot)  # first: the viewers' latency does not wait for the database
        now = time.monotonic()
        if now - saved_at >= SNAPSHOT_SAVE_SECONDS:
            saved_at = now
            Experiment.objects.filter(pk=experiment.pk).update(snapshot=snapshot)

    try:
        cluster = target()
        conductor = Conductor(
            Spec.from_json(experiment.spec),
            experiment_id=experiment.run_id,
            root=experiments_dir() / experiment.run_id,
            bootstrap_servers=cluster.bootstrap_servers,
            direct_bootstrap_servers=cluster.direct_bootstrap_servers,
            lab=cluster.lab,
            on_snapshot=on_snapshot,
        )
        publisher.watch_cluster(cluster)
        threading.Thread(
            target=_poll_actions, args=(experiment, conductor, beating), daemon=True
        ).start()
        result = conductor.run()
        _write_stories(experiment, conductor)
        experiment.status, experiment.result = Experiment.DONE, result
    except Exception as error:  # whatever broke, the experiment must end, visibly
        log.exception("experiment %s failed", share_id)
        experiment.status, experiment.error = Experiment.FAILED, _describe(error)
    finally:
        beating.set()
        publisher.close()
    experiment.finished_at = timezone.now()
    experiment.save(update_fields=["status", "result", "error", "finished_at"])
    Action.objects.filter(experiment=experiment, taken=False).update(taken=True)
    publisher.finished()
    live.publish_queue()


def _take_actions(experiment: Experiment, conductor: Conductor) -> None:
    """Hand the crash buttons' pending actions to the conductor, oldest first."""
    pending = list(Action.objects.filter(experiment=experiment, taken=False).order_by("id"))
    if not pending:
        return
    Action.objects.filter(pk__in=[a.pk for a in pending]).update(taken=True)
    for action in pending:
        if action.action == actions.STOP:
            conductor.request_stop()
        else:
            conductor.request_fault(action.params["fault"])


def _write_stories(experiment: Experiment, conductor: Conductor) -> None:
    """Keep every order's story (sorted by order id) for the verdict's audit table."""
    stories = conductor.audit_result.orders
    with stories_file(experiment).open("w") as out:
        for order_id in sorted(stories):
            story = stories[order_id]
            out.write(json.dumps(story.to_json() | {"kinds": list(story.anomaly_kinds)}) + "\n")


def _describe(error: Exception) -> str:
    if isinstance(error, ExperimentError):
        return str(error)
    return f"{type(error).__name__}: {error}"
