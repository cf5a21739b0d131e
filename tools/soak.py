"""The soak: many random experiments against a real cluster, each checked against a recount.

    python -m tools.soak --runs N --seed S [--parallel N] [--lab-dir DIR --port-base P]
                         [--timeout SECONDS]
    python -m tools.soak --seed S --only INDEX [--only INDEX ...]   # replay schedules of that seed
    python -m tools.soak --runs N --seed S --parallel N --beside-only  # only runs that share

Schedule INDEX of seed S is always the same spec (its own random generator), so a failure is
replayed from the numbers the soak prints. Each run's conductor runs in a thread of the soak's own
process, as the web runner runs it, and up to `--parallel` of them at once on the one lab, by the
runner's rule: runs whose faults touch only their own clients (consumer and producer kills, proxy
faults aimed at their client ids) side by side; a run with a fault that touches the cluster (a
broker killed, paused or cut off) waits until nothing runs, and nothing starts beside it. Runs
start in index order, so the same seed draws the same schedules whatever `--parallel` is. A run
still going after its wall-clock timeout is asked to stop (producer, then consumer); one that still
does not end is HUNG and its workers are killed. After a run that had the cluster alone, the
cluster is made whole again before anything else starts. A run is checked for:
- mismatches: the recount (tools/recount.py) differs from the result's audit, or the audit breaks
  its own invariants;
- broken promises: a valid run whose observed semantic is weaker than its promise (exactly-once
  above at-least-once and at-most-once, which are incomparable, and both above none; `weaker`):
  a loss under at-least-once or exactly-once, a duplicate under at-most-once or exactly-once,
  and a planned order never sent under at-least-once or exactly-once;
- what it left behind for the next run, checked before the soak restores anything: proxy faults
  still armed for its clients (a disarm that missed), a broker not up, a proxy still blackholed
  or delaying (a run that had the cluster alone must hand it back whole, or the runs that start
  beside each other next would meet its fault);
- invalid runs (result["valid"] false), listed with the result's problems;
- hung runs, and crashed ones (no result at all).
Exit status 1 when any run has a mismatch or a promise violation, left something behind, hung
or crashed. The summary says how many ran at once, and the wall time next to the sum of run times.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from playground.engine.audit.reckoning import observed_semantic
from playground.engine.run.clusters import Target
from playground.engine.run.conductor import Conductor
from playground.engine.spec.model import (
    COMMIT_KILL_POINTS,
    Producer,
    SourcePosition,
    Spec,
    SpecError,
    producer_kill_points,
)
from playground.engine.spec.semantics import Semantic, promise
from playground.lab.control import LabClient, LabError
from playground.lab.launcher import PROJECT_ROOT, LabProcess, launch
from tools.recount import (
    UNCOMMITTED_VIEW,
    compare,
    count,
    invariant_violations,
    read_raw_records,
)

SOAK_DIR = PROJECT_ROOT / "var" / "soak"
DEFAULT_LAB_DIR = PROJECT_ROOT / "var" / "lab-soak"
DEFAULT_PORT_BASE = 29500
DEFAULT_TIMEOUT_SECONDS = 300.0
# A run past its timeout has been asked to stop; this long later it is hung, and its workers die.
STOP_GRACE_SECONDS = 90.0
RESTORE_TIMEOUT_SECONDS = 120.0
MAX_DRAWS_PER_SCHEDULE = 1000  # a generator refused this often is broken, not unlucky

# What the generator mixes. Some kinds, points and fields may not be in the spec yet: the spec's
# own rules decide (a refused draft is drawn again), so the generator needs no change once they are.
PIPELINES = ("side-effect", "kafka-to-kafka")
COMMITS = ("before-processing", "after-processing", "auto", "transactional")
STRONG_COMMITS = ("after-processing", "transactional")  # no loss risk
ISOLATIONS = ("read_committed", "read_committed", "read_uncommitted")
FAULT_KINDS = (
    "kill-consumer",
    "kill-producer",
    "kill-leader",
    "pause-followers-kill-leader",
    "drop-acks",
    "blackhole-broker",
    "pause-broker",
    "resume-broker",
    "add-consumer",
    "remove-consumer",
    "stall-consumer",
    "pause-consumer",
    "kill-coordinator",
)
PROTOCOLS = {
    "classic": ("range", "roundrobin", "cooperative-sticky"),
    "consumer": ("uniform", "range"),
}
KILL_POINTS = (
    "after-processing-before-commit",
    "after-commit-before-processing",
    "mid-batch",
    "mid-transaction",
    "next-commit-point",
    "anywhere",
)
# Every point a kill-producer may name with some producer (the spec's own rule narrows them).
PRODUCER_KILL_POINTS = tuple(
    point.value for point in producer_kill_points(Producer(transactional=True))
)
POSITIONS = tuple(position.value for position in SourcePosition)
DROP_ACKS_TARGETS = ("source-producer", "output-producer", "all")
BROKERS = ("leader", 1, 2, 3)

# Outcomes of a run; the first five fail the soak.
MISMATCH, PROMISE, LEFT_BEHIND, HUNG, CRASHED, INVALID, OK = (
    "mismatch", "promise", "left-behind", "hung", "crashed", "invalid", "ok",
)  # fmt: skip
FAILING = (MISMATCH, PROMISE, LEFT_BEHIND, HUNG, CRASHED)


# -- the generator --------------------------------------------------------------------------
def random_document(rng: random.Random) -> dict:
    """A random spec draft: every setting, every fault kind, every crash point. Half the drafts
    seek a guarantee (acks all, commits after processing or in a transaction, restarts on), so
    that at-least-once and exactly-once promises are put to the test often enough."""
    strong = rng.random() < 0.5
    records = rng.randint(100, 600)
    pipeline = rng.choice(PIPELINES)
    acks = "all" if strong else rng.choice(["0", "1", "all", "all"])
    idempotence = acks == "all" and rng.random() < (0.9 if strong else 0.6)
    commit = rng.choice(STRONG_COMMITS if strong else COMMITS)
    restarts_on = strong or rng.random() < 0.7
    transactional = idempotence and rng.random() < 0.6
    document = {
        "workload": {
            "records": records,
            "rate": rng.choice([0, rng.randint(100, 800)]),
            "partitions": rng.randint(1, 3),
        },
        "pipeline": pipeline,
        "producer": {
            "acks": acks,
            "enable_idempotence": idempotence,
            "transactional": transactional,
            # Small, so that a lost ack is retried quickly.
            "request_timeout_ms": rng.randint(2000, 5000),
            **random_transactions(rng, transactional),
            **random_retry_bounds(rng),
        },
        "consumer": {
            "commit": commit,
            "auto_commit_interval_ms": rng.choice([200, 500, 1000]),
            "batch_size": rng.randint(1, 20),
            "isolation_level": "read_committed" if strong else rng.choice(ISOLATIONS),
            "idempotent": pipeline == "side-effect" and rng.random() < (0.5 if strong else 0.2),
            **random_group(rng, commit),
        },
        "faults": [],
        "restarts": {
            role: {"enabled": restarts_on or rng.random() < 0.5, "delay_ms": rng.randint(200, 1000)}
            for role in ("consumer", "producer")
        },
    }
    for _ in range(rng.randint(0, 3)):
        document["faults"] += random_faults(rng, document)
    if transactional and rng.random() < 0.5:
        # A kill in the commit window, on purpose: the soak would seldom hit it by luck.
        point = rng.choice([point.value for point in COMMIT_KILL_POINTS])
        kill = {"kind": "kill-producer", "at": random_at(rng, document), "point": point}
        document["faults"].append(kill)
    return document


def random_group(rng: random.Random, commit: str) -> dict:
    """The consumer group: mostly one member, often two or three; either protocol with one of
    its assignors; a session and poll interval short enough for a stall or a pause to move
    partitions within a run; static membership or not; now and then a commit on revoke."""
    protocol = rng.choice(list(PROTOCOLS))
    session = rng.choice([2000, 3000, 6000])
    group = {
        "members": rng.choice([1, 1, 2, 3]),
        "group_protocol": protocol,
        "assignor": rng.choice(PROTOCOLS[protocol]),
        "session_timeout_ms": session,
        "max_poll_interval_ms": rng.choice([session, session + 2000, 300_000]),
        "static_membership": rng.random() < 0.5,
    }
    if commit in ("after-processing", "auto") and rng.random() < 0.3:
        group["commit_on_revoke"] = True
    return group


def random_transactions(rng: random.Random, transactional: bool) -> dict:
    """A transactional producer's transaction size, mostly small (a commit every few records, so
    that a kill at a time often lands in or next to a commit), and where it keeps its position:
    in its log or in the transaction. Now and then a non-transactional producer asks for the
    position in a transaction, so that the spec's refusal is exercised too."""
    if not transactional:
        return {"position": "transaction"} if rng.random() < 0.05 else {}
    size = rng.randint(1, 20) if rng.random() < 0.8 else rng.randint(21, 200)
    return {"transaction_records": size, "position": rng.choice(POSITIONS)}


def random_retry_bounds(rng: random.Random) -> dict:
    """Now and then a bound on the producer's retries (a short message timeout, a few retries),
    so that the promise's bounded-retry risks (fault_cost) are put to the test; mostly none."""
    bounds = {}
    if rng.random() < 0.1:
        bounds["message_timeout_ms"] = rng.randint(10_000, 60_000)
    if rng.random() < 0.1:
        bounds["retries"] = rng.randint(0, 5)
    return bounds


def random_faults(rng: random.Random, document: dict) -> list[dict]:
    """One random fault for `document` (two for a pause-broker that a resume-broker ends)."""
    records = document["workload"]["records"]
    kinds = [k for k in FAULT_KINDS if k != "drop-acks" or document["producer"]["acks"] != "0"]
    kind = rng.choice(kinds)
    fault: dict = {"kind": kind, "at": random_at(rng, document)}
    members = document["consumer"]["members"]
    if kind == "kill-consumer":
        fault["point"] = random_kill_point(rng, document["consumer"])
        fault["member"] = rng.randrange(members)
    elif kind in ("remove-consumer", "stall-consumer", "pause-consumer"):
        fault["member"] = rng.randrange(members)
        if kind != "remove-consumer":
            fault["seconds"] = random_seconds(rng)
    elif kind == "kill-coordinator":
        fault["coordinator"] = rng.choice(("group", "group", "transaction"))
    elif kind == "kill-producer":
        point = random_producer_kill_point(rng, document["producer"])
        if point is not None:
            fault["point"] = point
    elif kind in ("kill-leader", "pause-followers-kill-leader"):
        fault["partition"] = rng.randrange(document["workload"]["partitions"])
    elif kind == "drop-acks":
        fault["count"] = rng.randint(1, 20)
        consumer_produces = (
            document["pipeline"] == "kafka-to-kafka"
            or document["consumer"]["commit"] == "transactional"
        )
        targets = DROP_ACKS_TARGETS if consumer_produces else ("source-producer", "all")
        fault["target"] = rng.choice(targets)
    elif kind == "blackhole-broker":
        fault |= {"seconds": random_seconds(rng), "broker": rng.choice(BROKERS)}
    elif kind == "pause-broker":
        fault["broker"] = rng.choice(BROKERS)
        if rng.random() < 0.7:
            fault["seconds"] = random_seconds(rng)
        else:  # paused until a resume-broker (or the end of the run)
            fault["seconds"] = None
            broker = fault["broker"] if fault["broker"] != "leader" else "all"
            resume = {"kind": "resume-broker", "broker": broker}
            return [fault, resume | {"at": later_at(rng, fault["at"], records)}]
    elif kind == "resume-broker":
        fault["broker"] = rng.choice(("all", 1, 2, 3))
    return [fault]


def random_kill_point(rng: random.Random, consumer: dict) -> str:
    """Mostly a point the consumer's loop passes with its commit mode; now and then any point,
    so that the spec's own rule is exercised too."""
    if rng.random() < 0.1:
        return rng.choice(KILL_POINTS)
    commit, points = consumer["commit"], ["next-commit-point", "anywhere"]
    if commit in ("before-processing", "auto"):
        points.append("after-commit-before-processing")
    if commit != "before-processing":
        points.append("after-processing-before-commit")
    if commit == "transactional":
        points.append("mid-transaction")
    if consumer["batch_size"] >= 2:
        points.append("mid-batch")
    return rng.choice(points)


def random_producer_kill_point(rng: random.Random, producer: dict) -> str | None:
    """A point the producer passes (producer_kill_points), the commit's two points more often
    for a transactional one; now and then none (the spec's default for the "at") or any point,
    so that the spec's own rule is exercised too."""
    draw = rng.random()
    if draw < 0.1:
        return None
    if draw < 0.15:
        return rng.choice(PRODUCER_KILL_POINTS)
    allowed = producer_kill_points(Producer(transactional=producer["transactional"]))
    points = [point.value for point in allowed]
    commits = [point for point in points if point in COMMIT_KILL_POINTS]
    if commits and rng.random() < 0.5:
        return rng.choice(commits)
    return rng.choice(points)


def random_at(rng: random.Random, document: dict) -> dict:
    """When a fault fires: after a number of records, or after 0.5 to 8 seconds, rarely later
    than the producer's sending (a fault due after the run ended never fires, and an unfired
    fault makes the run invalid)."""
    records, rate = document["workload"]["records"], document["workload"]["rate"]
    if rng.random() < (0.5 if rate else 0.15):
        sending = records / rate if rate else 1.0
        return {"seconds": round(rng.uniform(0.5, max(0.6, min(8.0, sending))), 1)}
    return {"records": rng.randint(1, records)}


def later_at(rng: random.Random, at: dict, records: int) -> dict:
    if "records" in at:
        return {"records": rng.randint(at["records"], records)}
    return {"seconds": round(at["seconds"] + rng.uniform(1.0, 8.0), 1)}


def random_seconds(rng: random.Random) -> float:
    return round(rng.uniform(1.0, 8.0), 1)


def schedule(seed: int, index: int, refused: Counter | None = None) -> Spec:
    """Schedule `index` of `seed`: the first draft of its own generator that the spec accepts.
    Each refused draft is counted in `refused` under its first error's path (indexes as [*])."""
    rng = random.Random(f"soak-{seed}-{index}")
    for _ in range(MAX_DRAWS_PER_SCHEDULE):
        try:
            return Spec.from_json(random_document(rng))
        except SpecError as error:
            if refused is not None:
                first = error.errors[0]
                refused[re.sub(r"\[\d+\]", "[*]", first.path)] += 1
    raise RuntimeError(f"seed {seed} schedule {index}: {MAX_DRAWS_PER_SCHEDULE} drafts refused")


def summary(spec: Spec) -> str:
    """The spec in one short line: pipeline, producer, consumer, faults, restarts."""
    producer, consumer, restarts = spec.producer, spec.consumer, spec.restarts
    parts = [
        "k2k" if spec.pipeline == "kafka-to-kafka" else "side",
        f"acks={producer.acks}",
        "idem" if producer.enable_idempotence else "no-idem",
        (
            f"txn={producer.transaction_records}/pos={producer.position}"
            if producer.transactional
            else "no-txn"
        ),
        *(
            [f"mto={producer.message_timeout_ms}"]
            if producer.message_timeout_ms != DEFAULT_MTO
            else []
        ),
        *([f"retries={producer.retries}"] if producer.retries != DEFAULT_RETRIES else []),
        f"commit={consumer.commit}",
        f"batch={consumer.batch_size}",
        "rc" if consumer.isolation_level == "read_committed" else "ru",
        *(["idem-consumer"] if consumer.idempotent else []),
        *(
            [f"members={consumer.members}/{consumer.group_protocol}/{consumer.assignor}"]
            if consumer.members > 1 or any(f.member for f in spec.faults)
            else []
        ),
        f"p={spec.workload.partitions}",
        f"n={spec.workload.records}",
        f"rate={spec.workload.rate}",
    ]
    faults = ",".join(_fault_summary(fault.to_json()) for fault in spec.faults) or "no faults"
    restart = "/".join(
        f"{role[0]}:{'on' if getattr(restarts, role).enabled else 'off'}"
        for role in ("consumer", "producer")
    )
    return f"{' '.join(parts)} | {faults} | restarts {restart}"


DEFAULT_MTO, DEFAULT_RETRIES = Producer().message_timeout_ms, Producer().retries


def _fault_summary(fault: dict) -> str:
    at = fault["at"]
    when = f"@{at['records']}r" if "records" in at else f"@{at['seconds']}s"
    extra = [str(v) for k, v in fault.items() if k not in ("kind", "at")]
    return fault["kind"] + (f"({','.join(extra)})" if extra else "") + when


# -- one run --------------------------------------------------------------------------------
@dataclass
class Run:
    """What the soak learned from one schedule."""

    seed: int
    index: int
    spec: Spec
    experiment_id: str = ""
    folder: str = ""
    started_at: float = 0.0  # seconds after the first run started
    duration: float = 0.0
    beside: set[int] = field(default_factory=set)  # indexes of the runs that overlapped it
    outcomes: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    promise_violations: list[str] = field(default_factory=list)
    left_behind: list[str] = field(default_factory=list)  # faults the next run would meet
    problems: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crash: str = ""
    semantics: str = ""  # "[promised -> observed: lost N, duplicated M]"
    audit: dict | None = None
    recount: dict | None = None

    @property
    def alone(self) -> bool:
        """Whether a fault of it touches the cluster: then it runs with nothing beside it."""
        return any(fault.touches_cluster for fault in self.spec.faults)

    def line(self) -> str:
        """The run's one line, printed as it ends."""
        words = [o.upper() for o in self.outcomes] or [OK]
        details = self.mismatches + self.promise_violations
        details += [f"left behind: {what}" for what in self.left_behind]
        details += [p["message"] for p in self.problems] + [self.crash] * bool(self.crash)
        details += [f"error: {e}" for e in self.errors if INVALID not in self.outcomes]
        detail = f" ({'; '.join(details)})" if details else ""
        semantics = f" {self.semantics}" if self.semantics else ""
        return (
            f"seed {self.seed} #{self.index:<3} {summary(self.spec)}"
            f"  -> {' '.join(words)}{detail}{semantics}  {self.duration:.1f} s {self.company()}"
        )

    def company(self) -> str:
        """Whom it ran beside: "[alone]", "[beside #3 #5]", or "" (nothing ran beside it)."""
        if self.alone:
            return "[alone]"
        return f"[beside {' '.join(f'#{i}' for i in sorted(self.beside))}]" if self.beside else ""

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "index": self.index,
            "experiment_id": self.experiment_id,
            "folder": self.folder,
            "summary": summary(self.spec),
            "spec": self.spec.to_json(),
            "outcomes": self.outcomes or [OK],
            "started_at_seconds": round(self.started_at, 1),
            "duration_seconds": round(self.duration, 1),
            "alone": self.alone,
            "beside": sorted(self.beside),
            "mismatches": self.mismatches,
            "promise_violations": self.promise_violations,
            "left_behind": self.left_behind,
            "problems": self.problems,
            "errors": self.errors,
            "crash": self.crash,
            "semantics": self.semantics,
            "audit": self.audit,
            "recount": self.recount,
        }


def run_schedule(run: Run, lab: LabClient, timeout: float, soak_dir: Path = SOAK_DIR) -> Run:
    """Run one schedule's conductor in a thread of its own (as the web runner does) with a
    wall-clock timeout, recount it, and judge it; return `run`, filled in."""
    run.experiment_id = f"soak{run.seed}-{run.index}-{uuid.uuid4().hex[:6]}"
    folder = soak_dir / f"seed-{run.seed}" / str(run.index)
    shutil.rmtree(folder, ignore_errors=True)  # an earlier soak of the same seed
    folder.mkdir(parents=True)
    run.folder = str(folder)
    (folder / "spec.json").write_text(json.dumps(run.spec.to_json(), indent=1))
    experiment_dir = folder / run.experiment_id
    started = time.monotonic()
    outcome: dict = {}
    try:
        target = Target.managed(lab)
        conductor = Conductor(
            run.spec,
            experiment_id=run.experiment_id,
            root=experiment_dir,
            bootstrap_servers=target.bootstrap_servers,
            direct_bootstrap_servers=target.direct_bootstrap_servers,
            lab=target.lab,
            on_snapshot=None,
        )
    except Exception:  # noqa: BLE001 - a run that cannot even start is a crashed run
        outcome["crash"] = traceback.format_exc()
    else:
        conducting = threading.Thread(
            target=_conduct,
            args=(conductor, target.direct_bootstrap_servers, outcome),
            name=f"conductor-{run.experiment_id}",
            daemon=True,  # a hung one must not keep the soak alive
        )
        conducting.start()
        conducting.join(timeout)
        if conducting.is_alive():
            outcome["hung"] = _stop_hung(conductor, conducting, timeout)
    run.duration = time.monotonic() - started
    if "hung" in outcome:
        run.outcomes.append(HUNG)
        run.crash = outcome["hung"]
    elif "crash" in outcome:
        (folder / "soak.log").write_text(outcome["crash"])
        run.outcomes.append(CRASHED)
        run.crash = outcome["crash"].strip().splitlines()[-1]
    else:
        (folder / "outcome.json").write_text(json.dumps(outcome, indent=1))
        judge(run, outcome)
        _check_left_behind(run, lab)
    return run


def _conduct(conductor: Conductor, bootstrap: str, outcome: dict) -> None:
    """The conductor's thread: run the experiment, then recount it from its raw records."""
    try:
        outcome["result"] = conductor.run()
    except BaseException:  # noqa: BLE001 - whatever ends the thread is the run's crash
        outcome["crash"] = traceback.format_exc()
        return
    try:
        raw = read_raw_records(conductor.names.root, bootstrap)
        outcome["recount"] = count(raw)
        outcome["recount_uncommitted"] = count(raw, UNCOMMITTED_VIEW)
    except Exception:  # noqa: BLE001 - any failure to recount is reported, not hidden
        outcome["recount_error"] = traceback.format_exc(limit=3).strip().splitlines()[-1]


def _stop_hung(conductor: Conductor, conducting: threading.Thread, timeout: float) -> str:
    """Ask a run past its timeout to stop, as a person would press stop twice (the producer,
    then the consumer); if it still has not ended after STOP_GRACE_SECONDS, kill its workers (its
    thread cannot be killed: it is left behind, a daemon). Return the reason it is hung."""
    conductor.request_stop()
    conductor.request_stop()
    conducting.join(STOP_GRACE_SECONDS)
    if conducting.is_alive():
        for worker in list(conductor.supervisor.workers.values()):
            worker.process.kill()
        return f"no result within {timeout:.0f} s, nor {STOP_GRACE_SECONDS:.0f} s after a stop"
    return f"no result within {timeout:.0f} s (it ended when asked to stop)"


def judge(run: Run, outcome: dict) -> None:
    """Check one run's result against its recount and its promise."""
    result = outcome["result"]
    run.audit, run.recount = result["audit"], outcome.get("recount")
    run.errors = list(result.get("errors", []))
    run.semantics = (
        f"[{promise(run.spec).semantic} -> {result.get('observed_semantic')}: "
        f"lost {run.audit['lost']}, duplicated {run.audit['duplicated']}]"
    )
    if "recount_error" in outcome:
        run.mismatches.append(f"recount failed: {outcome['recount_error']}")
    else:
        run.mismatches += compare(run.recount, run.audit)
        if result.get("uncommitted_view") is not None:
            run.mismatches += [
                f"uncommitted view {m}"
                for m in compare(outcome["recount_uncommitted"], result["uncommitted_view"])
            ]
    run.mismatches += [f"audit invariant: {v}" for v in invariant_violations(run.audit)]
    if run.mismatches:
        run.outcomes.append(MISMATCH)
    if result.get("valid", True) is False:
        run.outcomes.append(INVALID)
        run.problems = list(result.get("problems") or [])
        if not run.problems:
            run.problems = [{"message": e, "log": ""} for e in run.errors] or [
                {"message": "invalid, with no problem given", "log": ""}
            ]
        return
    promised = promise(run.spec).semantic
    lost, duplicated = run.audit["lost"], run.audit["duplicated"]
    # A planned order the producer never got to send is lost too, though the audit counts as lost
    # only the orders it attempted.
    never_sent = (run.recount or run.audit).get("never_sent") or 0
    observed = observed_semantic(lost + never_sent, duplicated)
    if weaker(observed, promised):
        unsent = f" (and never sent {never_sent} planned orders)" if never_sent else ""
        run.promise_violations.append(
            f"promised {promised}, observed {observed}: lost {lost}{unsent}, "
            f"duplicated {duplicated}"
        )
        run.outcomes.append(PROMISE)


def weaker(observed: Semantic, promised: Semantic) -> bool:
    """Whether a run that showed `observed` broke a promise of `promised`: the semantics are
    ordered by what they rule out, exactly-once above at-least-once and at-most-once, which are
    incomparable (one rules out loss, the other repetition), and both above none. A run keeps
    its promise when it showed the promised semantic or a stronger one."""
    return not (
        observed == promised or observed == Semantic.EXACTLY_ONCE or promised == Semantic.NONE
    )


PRODUCE_FAULT_BUDGETS = ("drop_produce_responses_budgets", "reset_after_produce_budgets")


def left_behind(lab: LabClient, prefix: str) -> list[str]:
    """What the next run would meet of a run that ended: Produce faults still aimed within
    `prefix` (its clients), nodes not up, proxies still blackholed or delaying responses."""
    status = lab.status()
    proxy = status["proxy"]
    armed = sum(
        budget["remaining"]
        for faults in (proxy["any_broker"], *proxy["brokers"].values())
        for kind in PRODUCE_FAULT_BUDGETS
        for budget in faults[kind]
        if any(aimed.startswith(prefix) for aimed in budget["clients"] or ())
    )
    found = [f"{armed} Produce faults still armed for its clients"] if armed else []
    stopped = [f"{node['id']} {node['state']}" for node in status["nodes"] if node["state"] != "up"]
    found += [f"nodes not up: {', '.join(stopped)}"] if stopped else []
    brokers = proxy["brokers"]
    cut_off = [node for node, faults in brokers.items() if faults["blackholed"]]
    found += [f"brokers {', '.join(cut_off)} still blackholed"] if cut_off else []
    delaying = [node for node, faults in brokers.items() if faults["delay_ms"]]
    found += [f"brokers {', '.join(delaying)} still delay responses"] if delaying else []
    return found


def _check_left_behind(run: Run, lab: LabClient) -> None:
    """An ended run hands the lab back as the next run must find it (before any restore)."""
    try:
        run.left_behind = left_behind(lab, f"exp-{run.experiment_id}-")
    except LabError as error:
        run.errors.append(f"the lab's state could not be read: {error}")
        return
    if run.left_behind:
        run.outcomes.append(LEFT_BEHIND)


def restore_cluster(lab: LabClient) -> None:
    """Every node up, no fault armed, every partition fully replicated (as tests' healthy_lab).
    Only while no run is going: it disarms every experiment's proxy faults."""
    lab.clear_faults()
    lab.restore_nodes(timeout=RESTORE_TIMEOUT_SECONDS)


# -- runs side by side ----------------------------------------------------------------------
class Turns:
    """Who may run on the lab now, by the rule the web runner holds: up to `parallel` runs whose
    faults touch only their own clients side by side, or one run with a fault that touches the
    cluster, alone. The soak asks for its runs one after another, in index order, so a run that
    waits to be alone is never overtaken: nothing starts beside it while it waits."""

    def __init__(self, parallel: int) -> None:
        if parallel < 1:
            raise ValueError(f"parallel is {parallel}; allowed: 1 or more")
        self.parallel = parallel
        self.running: dict[int, Run] = {}
        self.peak = 0  # the most runs that ran at once
        self.waiting: set[int] = set()  # the runs refused so far, waiting for their turn
        self._changed = threading.Condition()

    def enter(self, run: Run) -> None:
        """Wait until `run` may start, and count it in."""
        with self._changed:
            if not self._may_start(run):
                self.waiting.add(run.index)
                self._changed.wait_for(lambda: self._may_start(run))
                self.waiting.discard(run.index)
            for other in self.running.values():
                other.beside.add(run.index)
                run.beside.add(other.index)
            self.running[run.index] = run
            self.peak = max(self.peak, len(self.running))

    def leave(self, run: Run) -> None:
        with self._changed:
            del self.running[run.index]
            self._changed.notify_all()

    def _may_start(self, run: Run) -> bool:
        if run.alone:
            return not self.running
        alone = any(other.alone for other in self.running.values())
        return not alone and len(self.running) < self.parallel


@dataclass
class Together:
    """How a set of runs shared the lab: at most `parallel` at once, `peak` of them did."""

    parallel: int
    peak: int = 0
    wall_seconds: float = 0.0  # from the first run's start to the last run's end

    def line(self, runs: list[Run]) -> str:
        busy = sum(run.duration for run in runs)
        alone = sum(run.alone for run in runs)
        speedup = f" ({busy / self.wall_seconds:.2f}x)" if self.wall_seconds else ""
        return (
            f"up to {self.peak} at once (parallel {self.parallel}); {alone} of {len(runs)} had "
            f"the cluster alone; wall {self.wall_seconds:.0f} s, sum of run times "
            f"{busy:.0f} s{speedup}"
        )

    def to_json(self, runs: list[Run]) -> dict:
        return {
            "parallel": self.parallel,
            "peak_at_once": self.peak,
            "alone": sum(run.alone for run in runs),
            "wall_seconds": round(self.wall_seconds, 1),
            "sum_of_run_seconds": round(sum(run.duration for run in runs), 1),
        }


def run_together(
    lab: LabClient,
    runs: list[Run],
    *,
    parallel: int,
    timeout: float,
    soak_dir: Path = SOAK_DIR,
    on_end: Callable[[Run, Together], None] = lambda run, together: None,
) -> Together:
    """Play `runs` in their order on the lab, each in a thread of its own, as many at once as
    Turns allow; after a run that had the cluster alone, make the cluster whole again before
    anything else starts (a cluster that cannot be restored ends the soak there: the runs after it
    would only measure a broken cluster). `on_end` is called for each run as it ends, one at a
    time. Return how they shared the lab."""
    turns, together = Turns(parallel), Together(parallel)
    ending = threading.Lock()
    broken = threading.Event()
    first_start = time.monotonic()

    def play(run: Run) -> None:
        try:
            run_schedule(run, lab, timeout, soak_dir)
            if run.alone:
                _restore_after(run, lab, broken)
        finally:
            turns.leave(run)
        with ending:
            together.peak = turns.peak
            together.wall_seconds = time.monotonic() - first_start
            on_end(run, together)

    threads = []
    for run in runs:
        turns.enter(run)
        if broken.is_set():
            turns.leave(run)
            break
        run.started_at = time.monotonic() - first_start
        # A daemon: Ctrl-C ends the soak at once (the workers die with their conductor's thread).
        thread = threading.Thread(
            target=play, args=(run,), name=f"soak-run-{run.index}", daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    together.peak = turns.peak
    together.wall_seconds = time.monotonic() - first_start
    return together


def _restore_after(run: Run, lab: LabClient, broken: threading.Event) -> None:
    try:
        restore_cluster(lab)
    except LabError as error:
        run.outcomes.append(CRASHED)
        run.crash = f"cluster not restored afterwards: {error}"
        broken.set()


# -- the soak -------------------------------------------------------------------------------
def soak(
    lab: LabClient,
    seed: int,
    indexes: list[int],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    *,
    parallel: int = 1,
    soak_dir: Path = SOAK_DIR,
    report: Path | None = None,
    out=sys.stdout,
) -> list[Run]:
    """Run the schedules `indexes` of `seed`, up to `parallel` at once (run_together); print a
    line per run as it ends and write the report (if given) after each."""
    refused: Counter = Counter()
    planned = [Run(seed, index, schedule(seed, index, refused)) for index in indexes]
    ended: list[Run] = []

    def on_end(run: Run, together: Together) -> None:
        ended.append(run)
        print(run.line(), file=out, flush=True)
        if report is not None:
            write_report(report, seed, ended, refused, len(indexes), together)

    restore_cluster(lab)
    together = run_together(
        lab, planned, parallel=parallel, timeout=timeout, soak_dir=soak_dir, on_end=on_end
    )
    if report is not None:
        write_report(report, seed, ended, refused, len(indexes), together)
    print_summary(seed, ended, refused, len(indexes), together, out)
    return ended


def totals(runs: list[Run]) -> dict[str, int]:
    found = Counter(outcome for run in runs for outcome in run.outcomes or [OK])
    return {name: found[name] for name in (*FAILING, INVALID, OK)}


def write_report(
    path: Path, seed: int, runs: list[Run], refused: Counter, schedules: int, together: Together
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "seed": seed,
        "schedules": schedules,
        "totals": totals(runs),
        "together": together.to_json(runs),
        "refused_drafts": dict(refused.most_common()),
        "runs": [run.to_json() for run in sorted(runs, key=lambda run: run.index)],
    }
    path.write_text(json.dumps(document, indent=1))


def print_summary(
    seed: int, runs: list[Run], refused: Counter, schedules: int, together: Together, out
) -> None:
    found = totals(runs)
    rows = [
        ("mismatches (recount or invariants)", found[MISMATCH], "0"),
        ("promise violations", found[PROMISE], "0"),
        ("left faults behind for the next run", found[LEFT_BEHIND], "0"),
        ("hung runs", found[HUNG], "0"),
        ("crashed runs (no result)", found[CRASHED], "0"),
        ("invalid runs", found[INVALID], "listed"),
        ("clean runs", found[OK], ""),
    ]
    print(f"\nsoak seed {seed}: {len(runs)} run{'s' * (len(runs) != 1)}", file=out)
    print(f"  {'':<36} {'found':>6}  target", file=out)
    for name, number, target in rows:
        print(f"  {name:<36} {number:>6}  {target}", file=out)
    drafts = sum(refused.values())
    by_path = ", ".join(f"{path} {n}" for path, n in refused.most_common())
    print(
        f"  drafts refused by Spec.from_json: {drafts} of {drafts + schedules}"
        + (f" (first error at: {by_path})" if by_path else ""),
        file=out,
    )
    print(f"  together: {together.line(runs)}", file=out)
    for run in sorted(runs, key=lambda run: run.index):
        if INVALID in run.outcomes:
            causes = "; ".join(p["message"] for p in run.problems)
            print(f"  invalid #{run.index} {run.company()}: {causes}", file=out)
    failing = sorted(run.index for run in runs if set(run.outcomes) & set(FAILING))
    if failing:
        print(f"  failing schedules: {failing} (replay: --seed {seed} --only INDEX)", file=out)
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=200, help="schedules to run (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="the schedules' seed (default 1)")
    parser.add_argument(
        "--only",
        type=int,
        action="append",
        metavar="INDEX",
        help="run only this schedule (repeat it to replay several, e.g. side by side)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="runs at once on the lab, for those whose faults touch only their own clients "
        "(default 1: one after another)",
    )
    parser.add_argument(
        "--beside-only",
        action="store_true",
        help="of the schedules drawn, run only those that may run beside others (no fault "
        "touches the cluster): the same specs, more of them at once",
    )
    parser.add_argument("--lab-dir", type=Path, default=DEFAULT_LAB_DIR)
    parser.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds a run may take before it is stopped and counts as hung (default 300)",
    )
    parser.add_argument("--report", type=Path, help="default var/soak/report-SEED.json")
    args = parser.parse_args(argv)
    if args.parallel < 1:
        parser.error(f"--parallel is {args.parallel}; allowed: 1 or more")

    indexes = args.only if args.only else list(range(args.runs))
    name = f"report-{args.seed}" + (f"-only-{'-'.join(map(str, args.only))}" if args.only else "")
    if args.beside_only:
        indexes = [i for i in indexes if not Run(args.seed, i, schedule(args.seed, i)).alone]
        name += "-beside-only"
    report = args.report or SOAK_DIR / f"{name}.json"
    lab_process = start_lab(args.lab_dir, args.port_base)
    try:
        runs = soak(
            LabClient(args.lab_dir),
            args.seed,
            indexes,
            args.timeout,
            parallel=args.parallel,
            report=report,
        )
    finally:
        if lab_process is not None:
            lab_process.stop()
    print(f"  report: {report}")
    return 1 if any(set(run.outcomes) & set(FAILING) for run in runs) else 0


def start_lab(lab_dir: Path, port_base: int) -> LabProcess | None:
    """Start a lab for the soak, or None when one is already running in `lab_dir`."""
    if LabClient(lab_dir).is_running():
        print(f"using the lab running in {lab_dir}", flush=True)
        return None
    print(f"starting a lab in {lab_dir} (port base {port_base})", flush=True)
    process = launch(lab_dir, port_base)
    try:
        process.client.wait_ready(timeout=180)
    except LabError:
        process.stop()
        raise
    return process


if __name__ == "__main__":
    sys.exit(main())
