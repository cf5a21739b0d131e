"""The runner: claims queued experiments and runs each on the cluster, several at once.

The queue is the database (experiments with status "queued", oldest first), so every process
sees the same queue; the rule of who may run beside whom is in `scheduling`, and a runner claims
an experiment only while holding the queue's lock row (QueueLock), so the rule holds across
processes and machines sharing the database. This module runs in `manage.py runner` processes
(serve starts one as its child, runner_process) and never in a process that serves pages: it
loads the Kafka client, whose native aborts Python cannot catch. Each claimed experiment runs in
a thread of its own; its runner beats a heartbeat, and an experiment whose heartbeat stopped (its
process died, and no supervisor said so at once) is marked failed by whichever runner looks next,
so the queue never sticks.

While an experiment runs, its conductor's snapshots go to `live` (the live page), and the crash
buttons' actions arrive as Action rows, which a thread of the run polls on its own timer and hands
to the conductor (a live fault, or "stop"). Once its result is stored, its topics are deleted;
every so often, old experiment folders are pruned (`retention`). With an external cluster, the
runner reports what it sees of it every few seconds (ClusterReport), for the pages to show.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from playground.engine.observe.run_observer import RunObserver
from playground.engine.run import experiment_topics
from playground.engine.run.clusters import Target, external_status
from playground.engine.run.conductor import Conductor, ExperimentError
from playground.engine.spec.model import Spec
from playground.engine.workers.spares import SPARES
from playground.lab.control import LabClient, LabError, Phase
from playground.lab.node import UP
from playground.web.models import Action, ClusterReport, Experiment, QueueLock
from playground.web.runs import actions, experiments, fanout, retention, scheduling
from playground.web.runs.folders import experiment_dir, experiments_dir
from playground.web.runs.publisher import Publisher
from playground.web.runs.runner_link import runner_name

log = logging.getLogger(__name__)

IDLE_WAIT_SECONDS = 1.0  # how often an idle runner looks at the queue without being woken
SNAPSHOT_SAVE_SECONDS = 1.0  # how often the last snapshot is stored for late viewers
ACTION_POLL_SECONDS = 0.1  # how often a running experiment looks for crash-button actions
PRUNE_EVERY_SECONDS = 600.0  # how often a runner prunes old experiment folders
CLUSTER_REPORT_SECONDS = 5.0  # how often a runner reports an external cluster (ClusterReport)

RUNNER_NAME = runner_name(os.getpid())

_wake = threading.Event()
_stop = threading.Event()
_start_lock = threading.Lock()
_thread: threading.Thread | None = None
_runs: dict[int, _Run] = {}  # this process's running experiments, by primary key
_runs_lock = threading.Lock()


@dataclass
class _Run:
    thread: threading.Thread
    conductor: Conductor | None = None


def wake() -> None:
    """Make sure this process's runner thread is alive, and tell it to look at the queue."""
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _stop.clear()
            _thread = threading.Thread(target=_serve, name="experiment-runner", daemon=True)
            _thread.start()
    _wake.set()


def stop(timeout: float = 30.0, *, stop_runs: bool = False) -> None:
    """Stop claiming work, and wait for this process's running experiments to end. With
    `stop_runs`, ask each to stop first: it is audited as far as it ran."""
    with _start_lock:
        _stop.set()
        _wake.set()
        if _thread is not None:
            _thread.join(timeout)
    deadline = time.monotonic() + timeout
    with _runs_lock:
        runs = list(_runs.values())
    for run in runs:
        if stop_runs and run.conductor is not None:
            run.conductor.request_stop()
    for run in runs:
        run.thread.join(max(deadline - time.monotonic(), 0))


def running_here() -> int:
    """How many experiments this process is running now."""
    with _runs_lock:
        return len(_runs)


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
    SPARES.stock()  # the first experiment's workers find the client already imported
    threading.Thread(target=_poll_actions, name="experiment-actions", daemon=True).start()
    if settings.KAFKA_BOOTSTRAP_SERVERS:
        threading.Thread(target=_report_cluster, name="cluster-report", daemon=True).start()
    else:
        _restore_idle_cluster()
    while not _stop.is_set():
        _wake.clear()
        _housekeeping()
        try:
            experiment = _claim_next()
        except Exception:  # a database hiccup must not end the runner
            log.exception("claiming the next experiment failed")
            experiment = None
        if experiment is None:
            close_old_connections()
            _wake.wait(IDLE_WAIT_SECONDS)
            continue
        thread = threading.Thread(
            target=_run_here, args=(experiment,), name=f"experiment-{experiment.share_id}"
        )
        thread.daemon = True
        with _runs_lock:
            _runs[experiment.pk] = _Run(thread)
        thread.start()
    connections.close_all()


def _restore_idle_cluster() -> None:
    """A runner that died mid-run may have left a broker killed or paused by its experiment's
    fault (its conductor restores the cluster at the end of a run it lives to see): when nothing
    runs, bring every node of the managed lab back before the next experiment."""
    lab = LabClient(Path(settings.LAB_DIR))
    try:
        status = lab.status()
        if status["phase"] != Phase.READY:
            return  # starting: every node comes up anyway
        if all(node["state"] == UP for node in status["nodes"]):
            return
        if Experiment.objects.filter(status=Experiment.RUNNING).exists():
            return  # a broker fault of a running experiment, meant as it is
        log.warning("nodes left down or paused by an earlier runner: restoring the cluster")
        lab.restore_nodes(timeout=90)
    except LabError as error:  # no lab here (yet), or one that cannot be restored
        log.info("the cluster was not restored: %s", error)
    except Exception:  # a database hiccup must not end the runner
        log.exception("restoring the cluster failed")


_pruned_at = -PRUNE_EVERY_SECONDS  # monotonic time of this runner's last prune


def _housekeeping() -> None:
    """Remove held experiments nobody started in time (`experiments.expire_holds`) and, every
    PRUNE_EVERY_SECONDS, prune old experiment folders (see `retention`)."""
    global _pruned_at
    try:
        experiments.expire_holds()
    except Exception:  # housekeeping must never end the runner
        log.exception("expiring held experiments failed")
    if time.monotonic() - _pruned_at < PRUNE_EVERY_SECONDS:
        return
    _pruned_at = time.monotonic()
    try:
        report = retention.prune()
    except Exception:  # housekeeping must never end the runner
        log.exception("pruning failed")
        return
    if report.folders:
        log.info("pruned: %s", "; ".join(report.lines()))


def _run_here(experiment: Experiment) -> None:
    try:
        _run(experiment)
    finally:
        with _runs_lock:
            _runs.pop(experiment.pk, None)
        connections.close_all()  # this thread's own database connections
        _wake.set()  # a place is free: look at the queue now


def _claim_next() -> Experiment | None:
    """The first queued experiment, now running here, if the scheduling rule lets it start."""
    stale_seconds = settings.PLAYGROUND_HEARTBEAT_STALE_SECONDS
    stale = timezone.now() - timedelta(seconds=stale_seconds)
    with transaction.atomic():
        QueueLock.hold()
        active = list(Experiment.objects.filter(status__in=(Experiment.RUNNING, Experiment.QUEUED)))
        running, abandoned = [], []
        for experiment in (e for e in active if e.status == Experiment.RUNNING):
            alive = (experiment.heartbeat_at or experiment.started_at or stale) > stale
            (running if alive else abandoned).append(experiment)
        experiments.lose(
            abandoned,
            f"the run was lost: its runner stopped beating its heartbeat for {stale_seconds:g} "
            "s before the run finished (its process died or hung), so it has no audit; run "
            "it again",
        )
        queued = sorted(
            (e for e in active if e.status == Experiment.QUEUED), key=lambda e: (e.created_at, e.pk)
        )
        if not queued or not scheduling.may_start(
            queued[0], running, settings.PLAYGROUND_MAX_PARALLEL
        ):
            return None
        experiment = queued[0]
        experiment.status = Experiment.RUNNING
        experiment.run_id = uuid.uuid4().hex[:12]
        experiment.runner = RUNNER_NAME
        experiment.started_at = experiment.heartbeat_at = timezone.now()
        experiment.save(update_fields=["status", "run_id", "runner", "started_at", "heartbeat_at"])
    fanout.publish_queue()
    return experiment


def _keep(experiment: Experiment, latest: dict, stop: threading.Event) -> None:
    """Beat the heartbeat and store the latest snapshot (for late viewers), every
    SNAPSHOT_SAVE_SECONDS, in a thread of its own: the conductor never waits for the database,
    which many runs and requests share."""
    saved = None
    while not stop.wait(SNAPSHOT_SAVE_SECONDS):
        snapshot = latest.get("snapshot")
        fields = {"heartbeat_at": timezone.now()}
        if snapshot is not saved:
            fields["snapshot"] = saved = snapshot
        try:
            Experiment.objects.filter(pk=experiment.pk).update(**fields)
        except Exception:  # a busy database: the next beat tries again
            log.exception("saving the heartbeat of %s failed", experiment.share_id)
    connections.close_all()


def report_cluster() -> dict:
    """Store what this process sees of the external cluster now (ClusterReport), for the pages
    (selectors.lab_status), which ask Kafka nothing themselves; return it."""
    servers = settings.KAFKA_BOOTSTRAP_SERVERS
    status = external_status(servers)
    ClusterReport.objects.update_or_create(
        pk=1,
        defaults={"bootstrap_servers": servers, "status": status, "reported_at": timezone.now()},
    )
    return status


def _report_cluster() -> None:
    while not _stop.is_set():
        try:
            report_cluster()
        except Exception:  # a busy database: the next report tries again
            log.exception("reporting the cluster failed")
        _stop.wait(CLUSTER_REPORT_SECONDS)
    connections.close_all()


def _poll_actions() -> None:
    """One thread per runner process hands the crash buttons' actions to the running
    conductors, every ACTION_POLL_SECONDS, with one query for all of them."""
    while not _stop.is_set() or running_here():
        time.sleep(ACTION_POLL_SECONDS)
        with _runs_lock:
            conductors = {pk: run.conductor for pk, run in _runs.items() if run.conductor}
        if not conductors:
            continue
        try:
            _take_actions(conductors)
        except Exception:  # a database hiccup must not end the polling
            log.exception("taking actions failed")
    connections.close_all()  # this thread's own connections, if it ever opened one


def _run(experiment: Experiment) -> None:
    share_id = experiment.share_id
    publisher = Publisher(experiment)
    observer: RunObserver | None = None
    latest: dict = {}
    beating = threading.Event()
    keeper = threading.Thread(target=_keep, args=(experiment, latest, beating), daemon=True)
    keeper.start()

    def on_snapshot(snapshot: dict) -> None:
        observer.snapshot(snapshot)  # and, through it, the publisher
        latest["snapshot"] = snapshot | publisher.strip_data  # the API's partitions, too

    cluster: Target | None = None
    try:
        cluster = target()
        spec = Spec.from_json(experiment.spec)
        conductor = Conductor(
            spec,
            experiment_id=experiment.run_id,
            root=experiment_dir(experiment.run_id),
            bootstrap_servers=cluster.bootstrap_servers,
            direct_bootstrap_servers=cluster.direct_bootstrap_servers,
            lab=cluster.lab,
            on_snapshot=on_snapshot,
            time_limit=settings.PLAYGROUND_MAX_RUN_SECONDS,
        )
        observer = RunObserver(conductor.names, spec, cluster, publisher)
        with _runs_lock:
            if experiment.pk in _runs:
                _runs[experiment.pk].conductor = conductor
        observer.start()
        result = conductor.run()
        experiment.status, experiment.result = Experiment.DONE, result
    except Exception as error:  # whatever broke, the experiment must end, visibly
        log.exception("experiment %s failed", share_id)
        experiment.status, experiment.error = Experiment.FAILED, _describe(error)
    finally:
        beating.set()
        if observer is not None:
            observer.close()
    keeper.join(timeout=10)  # its last save must not land after the final snapshot
    experiment.finished_at = timezone.now()
    final_strip = observer.final() if observer is not None else None
    Experiment.objects.filter(pk=experiment.pk).update(  # a row gone meanwhile is no crash
        snapshot=publisher.final_snapshot(latest.get("snapshot"), final_strip),
        status=experiment.status,
        result=experiment.result,
        error=experiment.error,
        finished_at=experiment.finished_at,
    )
    Action.objects.filter(experiment=experiment, taken=False).update(taken=True)
    publisher.finished()
    fanout.publish_queue()
    if cluster is not None:  # the audit is stored: the topics have served their purpose
        servers = cluster.direct_bootstrap_servers
        for problem in experiment_topics.delete_apart(servers, experiment.run_id):
            log.warning("experiment %s: %s", share_id, problem)


def _take_actions(conductors: dict[int, Conductor]) -> None:
    """Hand the crash buttons' pending actions to the conductors of their experiments, oldest
    first."""
    pending = list(
        Action.objects.filter(experiment_id__in=list(conductors), taken=False).order_by("id")
    )
    for action in pending:
        if not Action.objects.filter(pk=action.pk, taken=False).update(taken=True):
            continue  # another poller (of a runner restarted a moment ago) took it
        conductor = conductors[action.experiment_id]
        if action.action == actions.STOP:
            conductor.request_stop()
        else:
            conductor.request_fault(action.params["fault"])


def _describe(error: Exception) -> str:
    if isinstance(error, ExperimentError):
        return str(error)
    return f"{type(error).__name__}: {error}"
