"""What the web layer stores: experiments (queued, running, finished) and comparisons."""

from __future__ import annotations

import json
import re
import secrets

from django.db import models
from django.urls import reverse

from playground.web.runs import scheduling

SHARE_ID_BYTES = 12  # 16 url-safe characters: unguessable, short enough to read aloud
CONTROL_TOKEN_BYTES = 24


def new_share_id() -> str:
    return secrets.token_urlsafe(SHARE_ID_BYTES)


def new_control_token() -> str:
    return secrets.token_urlsafe(CONTROL_TOKEN_BYTES)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ShowableTextDecoder(json.JSONDecoder):
    """Reads a stored document with every lone surrogate (which UTF-8 cannot carry, so no page
    could show it) replaced by U+FFFD. The spec refuses such text now; documents stored before
    it did still open."""

    def decode(self, text: str, *args, **kwargs):
        return _showable(super().decode(text, *args, **kwargs))


def _showable(value):
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_showable(item) for item in value]
    if isinstance(value, dict):
        return {_showable(key): _showable(item) for key, item in value.items()}
    return value


class Comparison(models.Model):
    """A trade-off comparison of 2 to 4 specs (see `tradeoffs`): per spec, one guarantee run
    under the shared fault schedule and `rounds` cost runs of `cost_records` records, as fast as
    the producer can send, with no faults. A comparison stored before cost runs existed has
    `cost_records` 0 and guarantee runs only. A rebalance comparison (`kind` REBALANCE) has
    `rounds` runs per protocol instead, and no cost runs."""

    share_id = models.CharField(max_length=32, unique=True, default=new_share_id)
    created_at = models.DateTimeField(auto_now_add=True)
    cost_records = models.PositiveIntegerField(default=0)
    rounds = models.PositiveSmallIntegerField(default=0)
    # The shared fault schedule in words ("a consumer kill at each spec's next commit point...").
    faults_label = models.TextField(blank=True, default="")
    course = models.BooleanField(default=False)  # the one-click comparison of the course's table
    # What it compares: delivery settings (guarantee and cost runs), or rebalance protocols (rounds
    # of one consumer group workload per protocol, see comparisons.rebalances).
    TRADEOFFS, REBALANCE = "tradeoffs", "rebalance"
    kind = models.CharField(
        max_length=16,
        choices=((TRADEOFFS, "delivery settings"), (REBALANCE, "rebalance protocols")),
        default=TRADEOFFS,
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)  # its owner stopped it

    def get_absolute_url(self) -> str:
        return reverse("comparison", args=[self.share_id])


class Experiment(models.Model):
    """One run of one spec. Anyone with `share_id` may watch it; only the owner's session or a
    holder of `control_token` may act on it.

    A teacher may hold an experiment for the class's predictions: HELD is outside the queue (the
    runner never claims it, it has no place) until its controller presses Start, which queues it
    at the back, as if it had just been created (see experiments.release)."""

    HELD, QUEUED, RUNNING, DONE, FAILED = "held", "queued", "running", "done", "failed"
    STATUSES = tuple((s, s) for s in (HELD, QUEUED, RUNNING, DONE, FAILED))

    share_id = models.CharField(max_length=32, unique=True, default=new_share_id)
    control_token = models.CharField(max_length=64, default=new_control_token)
    owner_session = models.CharField(max_length=64, blank=True, default="")
    # Whose it is, for the fair-use limit: "session:<key>" (a browser) or "ip:<address>" (the API).
    client = models.CharField(max_length=80, blank=True, default="", db_index=True)
    # It needs the cluster alone (broker faults, or part of a comparison): see scheduling.
    exclusive = models.BooleanField(default=False)
    # The normalized spec document (Spec.to_json), read back with text every page can show.
    spec = models.JSONField(decoder=ShowableTextDecoder)
    run_id = models.CharField(max_length=32, blank=True, default="")  # names topics and files
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    snapshot = models.JSONField(null=True, blank=True)  # the last progress snapshot
    result = models.JSONField(null=True, blank=True)  # the conductor's result (no per-order detail)
    error = models.TextField(blank=True, default="")
    comparison = models.ForeignKey(
        Comparison, null=True, blank=True, on_delete=models.CASCADE, related_name="experiments"
    )
    # Its part in a comparison: which spec (column, from 0), and whether it measures the cost
    # (with its round, from 1) or the guarantee (tradeoffs.COST or tradeoffs.GUARANTEE).
    comparison_column = models.PositiveSmallIntegerField(default=0)
    comparison_role = models.CharField(max_length=10, blank=True, default="")
    comparison_round = models.PositiveSmallIntegerField(default=0)
    # When it was created; for a held experiment, when Start queued it (the queue is oldest first).
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # the runner is alive
    runner = models.CharField(max_length=120, blank=True, default="")  # host:pid that runs it
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the controller showed the class's prediction tally to everyone (None: only to them).
    tally_revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")

    def __str__(self) -> str:
        return f"{self.share_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("experiment", args=[self.share_id])

    def place(self) -> scheduling.Place | None:
        """Where this queued experiment stands in the queue (None once it is not queued)."""
        return queue_places().get(self.pk)

    @property
    def finished(self) -> bool:
        return self.status in (self.DONE, self.FAILED)

    @property
    def name(self) -> str:
        return self.spec.get("name") or "experiment"


def queue_places() -> dict[int, scheduling.Place]:
    """The place of every queued experiment, by primary key."""
    from django.conf import settings

    running = list(Experiment.objects.filter(status=Experiment.RUNNING))
    queued = list(Experiment.objects.filter(status=Experiment.QUEUED))
    return scheduling.places(running, queued, settings.PLAYGROUND_MAX_PARALLEL)


class QueueLock(models.Model):
    """One row, locked (SELECT ... FOR UPDATE) by whoever changes the queue: a runner claiming
    work, a client queueing or cancelling. It makes the scheduling rule and the fair-use limits
    hold across processes and machines sharing the database (SQLite serializes writers anyway)."""

    touched_at = models.DateTimeField(auto_now=True)

    @classmethod
    def hold(cls) -> QueueLock:
        """Lock the queue until the surrounding transaction ends."""
        lock = cls.objects.select_for_update().filter(pk=1).first()
        if lock is None:  # a database migrated before this row existed
            cls.objects.get_or_create(pk=1)
            lock = cls.objects.select_for_update().get(pk=1)
        return lock


class Action(models.Model):
    """A live action on a running experiment (a crash button), waiting for the runner to apply
    it. Actions travel through the database so that any web process can take one."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="actions")
    action = models.CharField(max_length=40)
    params = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    taken = models.BooleanField(default=False)


class Prediction(models.Model):
    """One viewer's prediction of a shared experiment's outcome (a key of predictions.CHOICES),
    made while it is held or queued. One per browser session: a second one replaces the first."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="predictions")
    session_key = models.CharField(max_length=64)
    choice = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=("experiment", "session_key"), name="one_prediction_per_session"
            ),
        )


class ClusterReport(models.Model):
    """What a runner last saw of the external cluster (KAFKA_BOOTSTRAP_SERVERS): its status as
    `lab.admin.external_status` gives it. The pages show this row instead of asking Kafka, since
    the process that serves them loads no Kafka client. One row, rewritten every few seconds."""

    bootstrap_servers = models.CharField(max_length=500)
    status = models.JSONField()
    reported_at = models.DateTimeField()
