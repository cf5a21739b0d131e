"""The soak: many random experiments against a real cluster, each checked against a recount.

    python -m tests.soak --runs N --seed S [--lab-dir DIR --port-base P] [--timeout SECONDS]
    python -m tests.soak --seed S --only INDEX      # replay one schedule of that seed

Schedule INDEX of seed S is always the same spec (its own random generator), so a failure is
replayed from the two numbers the soak prints. Each run is a subprocess (`--one`) with a wall-clock
timeout: a run still going then is HUNG and its process group is killed (the workers die with it,
they carry a parent-death signal). After every run the cluster is made whole again. A run is
checked for:
- mismatches: the recount (tests/recount.py) differs from the result's audit, or the audit breaks
  its own invariants;
- promise violations: a valid run whose settings promise at-least-once or exactly-once lost an
  order, or an exactly-once one that duplicated one;
- invalid runs (result["valid"] false), listed with the result's problems;
- hung runs, and crashed ones (no result at all).
Exit status 1 when any run has a mismatch or a promise violation, hung or crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from playground.engine.clusters import Target
from playground.engine.conductor import Conductor
from playground.engine.semantics import promise
from playground.engine.spec import Spec, SpecError
from playground.lab.control import LabClient, LabError
from playground.lab.launcher import PROJECT_ROOT, LabProcess, launch
from tests.recount import (
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
)
KILL_POINTS = (
    "after-processing-before-commit",
    "after-commit-before-processing",
    "mid-batch",
    "mid-transaction",
    "next-commit-point",
    "anywhere",
)
DROP_ACKS_TARGETS = ("source-producer", "output-producer", "all")
BROKERS = ("leader", 1, 2, 3)

# Outcomes of a run; the first four fail the soak.
MISMATCH, PROMISE, HUNG, CRASHED, INVALID, OK = (
    "mismatch", "promise", "hung", "crashed", "invalid", "ok",
)  # fmt: skip
FAILING = (MISMATCH, PROMISE, HUNG, CRASHED)


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
            "transactional": idempotence and rng.random() < 0.5,
            # Small, so that a lost ack is retried quickly.
            "request_timeout_ms": rng.randint(2000, 5000),
        },
        "consumer": {
            "commit": commit,
            "auto_commit_interval_ms": rng.choice([200, 500, 1000]),
            "batch_size": rng.randint(1, 20),
            "isolation_level": "read_committed" if strong else rng.choice(ISOLATIONS),
            "idempotent": pipeline == "side-effect" and rng.random() < (0.5 if strong else 0.2),
        },
        "faults": [],
        "restarts": {
            role: {"enabled": restarts_on or rng.random() < 0.5, "delay_ms": rng.randint(200, 1000)}
            for role in ("consumer", "producer")
        },
    }
    for _ in range(rng.randint(0, 3)):
        document["faults"] += random_faults(rng, document)
    return document


def random_faults(rng: random.Random, document: dict) -> list[dict]:
    """One random fault for `document` (two for a pause-broker that a resume-broker ends)."""
    records = document["workload"]["records"]
    kinds = [k for k in FAULT_KINDS if k != "drop-acks" or document["producer"]["acks"] != "0"]
    kind = rng.choice(kinds)
    fault: dict = {"kind": kind, "at": random_at(rng, document)}
    if kind == "kill-consumer":
        fault["point"] = random_kill_point(rng, document["consumer"])
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
        "txn" if producer.transactional else "no-txn",
        f"commit={consumer.commit}",
        f"batch={consumer.batch_size}",
        "rc" if consumer.isolation_level == "read_committed" else "ru",
        *(["idem-consumer"] if consumer.idempotent else []),
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
    duration: float = 0.0
    outcomes: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    promise_violations: list[str] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    crash: str = ""
    semantics: str = ""  # "[promised -> observed: lost N, duplicated M]"
    audit: dict | None = None
    recount: dict | None = None

    def line(self) -> str:
        """The run's one line, printed as it ends."""
        words = [o.upper() for o in self.outcomes] or [OK]
        details = self.mismatches + self.promise_violations
        details += [p["message"] for p in self.problems] + [self.crash] * bool(self.crash)
        details += [f"error: {e}" for e in self.errors if INVALID not in self.outcomes]
        detail = f" ({'; '.join(details)})" if details else ""
        semantics = f" {self.semantics}" if self.semantics else ""
        return (
            f"seed {self.seed} #{self.index:<3} {summary(self.spec)}"
            f"  -> {' '.join(words)}{detail}{semantics}  {self.duration:.1f} s"
        )

    def to_json(self) -> dict:
        return {
            "seed": self.seed,
            "index": self.index,
            "experiment_id": self.experiment_id,
            "folder": self.folder,
            "summary": summary(self.spec),
            "spec": self.spec.to_json(),
            "outcomes": self.outcomes or [OK],
            "duration_seconds": round(self.duration, 1),
            "mismatches": self.mismatches,
            "promise_violations": self.promise_violations,
            "problems": self.problems,
            "errors": self.errors,
            "crash": self.crash,
            "semantics": self.semantics,
            "audit": self.audit,
            "recount": self.recount,
        }


def run_schedule(
    seed: int, index: int, spec: Spec, lab_dir: Path, timeout: float, soak_dir: Path = SOAK_DIR
) -> Run:
    """Run one schedule in a subprocess (`--one`) with a wall-clock timeout, and judge it."""
    run = Run(seed, index, spec, experiment_id=f"soak{seed}-{index}-{uuid.uuid4().hex[:6]}")
    folder = soak_dir / f"seed-{seed}" / str(index)
    shutil.rmtree(folder, ignore_errors=True)  # an earlier soak of the same seed
    folder.mkdir(parents=True)
    run.folder = str(folder)
    (folder / "spec.json").write_text(json.dumps(spec.to_json(), indent=1))
    command = [
        sys.executable, "-m", "tests.soak", "--one", str(folder / "spec.json"),
        "--experiment-dir", str(folder / run.experiment_id),
        "--lab-dir", str(Path(lab_dir).resolve()), "--outcome", str(folder / "outcome.json"),
    ]  # fmt: skip
    started = time.monotonic()
    with open(folder / "soak.log", "wb") as log:
        child = subprocess.Popen(
            command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            if child.poll() is None:  # hung, or the soak itself is interrupted (Ctrl-C)
                os.killpg(child.pid, signal.SIGKILL)  # the conductor and its workers: one group
                child.wait()
    run.duration = time.monotonic() - started
    if code is None:
        run.outcomes.append(HUNG)
        run.crash = f"no result within {timeout:.0f} s"
    elif code != 0 or not (folder / "outcome.json").exists():
        run.outcomes.append(CRASHED)
        run.crash = _last_line(folder / "soak.log") or f"exit code {code}"
    else:
        judge(run, json.loads((folder / "outcome.json").read_text()))
    return run


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
    never_sent = (run.recount or run.audit).get("never_sent")
    if promised in ("at-least-once", "exactly-once"):
        if run.audit["lost"]:
            run.promise_violations.append(f"{promised} lost {run.audit['lost']}")
        if never_sent:
            run.promise_violations.append(f"{promised} never sent {never_sent} planned orders")
    if promised == "exactly-once" and run.audit["duplicated"]:
        run.promise_violations.append(f"exactly-once duplicated {run.audit['duplicated']}")
    if run.promise_violations:
        run.outcomes.append(PROMISE)


def run_one(spec_file: Path, experiment_dir: Path, lab_dir: Path, outcome_file: Path) -> None:
    """The child's side (`--one`): run the experiment, recount it, write both to outcome_file."""
    spec = Spec.from_json(json.loads(spec_file.read_text()))
    target = Target.managed(LabClient(lab_dir))
    conductor = Conductor(
        spec,
        experiment_id=experiment_dir.name,
        root=experiment_dir,
        bootstrap_servers=target.bootstrap_servers,
        direct_bootstrap_servers=target.direct_bootstrap_servers,
        lab=target.lab,
        on_snapshot=None,
    )
    outcome: dict = {"result": conductor.run()}
    try:
        raw = read_raw_records(experiment_dir, target.direct_bootstrap_servers)
        outcome["recount"] = count(raw)
        outcome["recount_uncommitted"] = count(raw, UNCOMMITTED_VIEW)
    except Exception:  # noqa: BLE001 - any failure to recount is reported, not hidden
        outcome["recount_error"] = traceback.format_exc(limit=3).strip().splitlines()[-1]
        traceback.print_exc()
    outcome_file.write_text(json.dumps(outcome, indent=1))


def restore_cluster(lab: LabClient) -> None:
    """Every node up, no fault armed, every partition fully replicated (as tests' healthy_lab)."""
    lab.clear_faults()
    lab.restore_nodes(timeout=RESTORE_TIMEOUT_SECONDS)


def _last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")


# -- the soak -------------------------------------------------------------------------------
def soak(
    lab: LabClient,
    seed: int,
    indexes: list[int],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    *,
    soak_dir: Path = SOAK_DIR,
    report: Path | None = None,
    out=sys.stdout,
) -> list[Run]:
    """Run the schedules `indexes` of `seed` one after another, restoring the cluster after each;
    print a line per run and write the report (if given) after each."""
    refused: Counter = Counter()
    specs = {index: schedule(seed, index, refused) for index in indexes}
    runs: list[Run] = []
    restore_cluster(lab)
    for index in indexes:
        run = run_schedule(seed, index, specs[index], lab.lab_dir, timeout, soak_dir)
        runs.append(run)
        print(run.line(), file=out, flush=True)
        if report is not None:
            write_report(report, seed, runs, refused, len(indexes))
        try:
            restore_cluster(lab)
        except LabError as error:  # the next runs would only measure a broken cluster
            print(f"the cluster could not be restored after #{index}: {error}", file=out)
            run.outcomes.append(CRASHED)
            run.crash = f"cluster not restored afterwards: {error}"
            break
    if report is not None:
        write_report(report, seed, runs, refused, len(indexes))
    print_summary(seed, runs, refused, len(indexes), out)
    return runs


def totals(runs: list[Run]) -> dict[str, int]:
    found = Counter(outcome for run in runs for outcome in run.outcomes or [OK])
    return {name: found[name] for name in (MISMATCH, PROMISE, HUNG, CRASHED, INVALID, OK)}


def write_report(path: Path, seed: int, runs: list[Run], refused: Counter, schedules: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "seed": seed,
        "schedules": schedules,
        "totals": totals(runs),
        "refused_drafts": dict(refused.most_common()),
        "runs": [run.to_json() for run in runs],
    }
    path.write_text(json.dumps(document, indent=1))


def print_summary(seed: int, runs: list[Run], refused: Counter, schedules: int, out) -> None:
    found = totals(runs)
    rows = [
        ("mismatches (recount or invariants)", found[MISMATCH], "0"),
        ("promise violations", found[PROMISE], "0"),
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
    for run in runs:
        if INVALID in run.outcomes:
            causes = "; ".join(p["message"] for p in run.problems)
            print(f"  invalid #{run.index}: {causes}", file=out)
    failing = [run.index for run in runs if set(run.outcomes) & set(FAILING)]
    if failing:
        print(f"  failing schedules: {failing} (replay: --seed {seed} --only INDEX)", file=out)
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=200, help="schedules to run (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="the schedules' seed (default 1)")
    parser.add_argument("--only", type=int, metavar="INDEX", help="run only this schedule")
    parser.add_argument("--lab-dir", type=Path, default=DEFAULT_LAB_DIR)
    parser.add_argument("--port-base", type=int, default=DEFAULT_PORT_BASE)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds a run may take before it counts as hung (default 300)",
    )
    parser.add_argument("--report", type=Path, help="default var/soak/report-SEED.json")
    # The child's side of one run (see run_schedule).
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--experiment-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--outcome", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        run_one(args.one, args.experiment_dir, args.lab_dir, args.outcome)
        return 0

    indexes = [args.only] if args.only is not None else list(range(args.runs))
    name = f"report-{args.seed}" + (f"-only-{args.only}" if args.only is not None else "")
    report = args.report or SOAK_DIR / f"{name}.json"
    lab_process = start_lab(args.lab_dir, args.port_base)
    try:
        runs = soak(LabClient(args.lab_dir), args.seed, indexes, args.timeout, report=report)
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
