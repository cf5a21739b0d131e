"""The runner: takes queued experiments one at a time and runs each on the cluster.

One experiment at a time, for everyone: experiments crash brokers, drop acks and pause nodes, and a
fault meant for one experiment would spoil the numbers of any other running beside it. The queue
is the database (experiments with status "queued", oldest first), so every web process sees the
same queue; an flock on VAR_DIR/runner.lock makes exactly one process the runner.

While an experiment runs, its conductor's snapshots go to `live.publish` (the live page), and the
crash buttons' actions arrive as Action rows, taken at every snapshot.
"""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from playground.engine.clusters import Target
from playground.engine.conductor import Conductor, ExperimentError
from playground.engine.spec import Spec
from playground.lab.control import LabClient, LabError
from playground.web import live
from playground.web.models import Action, Experiment

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 2.0  # how often an idle runner looks at the queue without being woken
SNAPSHOT_SAVE_SECONDS = 1.0  # how often the last snapshot is stored for late viewers

_wake = threading.Event()
_start_lock = threading.Lock()
_thread: threading.Thread | None = None
_running: dict[str, Conductor] = {}  # share id -> conductor, in this process


def wake() -> None:
    """Make sure this process's runner thread is alive, and tell it to look at the queue."""
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_serve, name="experiment-runner", daemon=True)
            _thread.start()
    _wake.set()


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
        return Target.managed(client)
    except LabError as error:
        raise ExperimentError(
            f"no cluster to run on ({error}): start one with `make run` or "
            "`python manage.py cluster up`"
        ) from error


# -- the runner thread ----------------------------------------------------------------------------
def _serve() -> None:
    experiments_dir().mkdir(parents=True, exist_ok=True)
    with open(experiments_dir() / "runner.lock", "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # another web process is the runner
                _wake.wait(IDLE_WAIT_SECONDS * 5)
                _wake.clear()
        _fail_abandoned()
        while True:
            _wake.clear()
            experiment = _claim_next()
            if experiment is None:
                close_old_connections()
                _wake.wait(IDLE_WAIT_SECONDS)
                continue
            _run(experiment)


def _fail_abandoned() -> None:
    """Experiments left "running" by a runner that died can never finish: say so."""
    Experiment.objects.filter(status=Experiment.RUNNING).update(
        status=Experiment.FAILED,
        error="the server stopped while this experiment ran",
        finished_at=timezone.now(),
    )


def _claim_next() -> Experiment | None:
    with transaction.atomic():
        experiment = Experiment.objects.filter(status=Experiment.QUEUED).first()
        if experiment is None:
            return None
        experiment.status = Experiment.RUNNING
        experiment.run_id = uuid.uuid4().hex[:12]
        experiment.started_at = timezone.now()
        experiment.save(update_fields=["status", "run_id", "started_at"])
    live.publish_queue()
    return experiment


def _run(experiment: Experiment) -> None:
    share_id = experiment.share_id
    publisher = live.Publisher(experiment)
    saved_at = 0.0

    def on_snapshot(snapshot: dict) -> None:
        nonlocal saved_at
        _take_actions(experiment, conductor)
        publisher.snapshot(snapshot)
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
        _running[share_id] = conductor
        result = conductor.run()
        _write_stories(experiment, conductor)
        experiment.status, experiment.result = Experiment.DONE, result
    except Exception as error:  # whatever broke, the experiment must end, visibly
        log.exception("experiment %s failed", share_id)
        experiment.status, experiment.error = Experiment.FAILED, _describe(error)
    finally:
        _running.pop(share_id, None)
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
        conductor.act(action.action, **action.params)


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
