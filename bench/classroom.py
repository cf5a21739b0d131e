"""Benchmark of a class on one server: 30 students start a preset (or one spec) at the same moment.

`python -m bench.classroom` (or `make bench-classroom`) serves the whole app (AppServer: DEBUG
off, var/bench-classroom, its own cluster at port base 32600) and measures, for each value of
--parallel (PLAYGROUND_MAX_PARALLEL of the app server; by default the app's own default):

1. one preset run alone: from the request to its verdict;
2. a class: --clients browser sessions (each its own cookies and CSRF token, so each is a client
   of its own for the fair-use limit) press a preset's Run button at the same moment, the five
   presets in turn, and poll their experiment through the API: from the first request to the
   last verdict;
3. meanwhile headless Chromium watches one of the class's experiments, and the latency from a
   worker's side effect to the page's DOM is measured as `bench.live` does;
4. every result of the class must be valid and pass the audit's invariants
   (tools/recount.py's invariant_violations);
5. the server must stay up throughout: the serve process alive after every round, every
   student's request answered; how many times serve's runner process died is reported.

`--spec FILE` has every student paste that spec into the builder and press Run instead (one run
alone is the same spec): `--spec bench/classroom-leader-kill.json --rounds 2` is the class of 30
that once brought the server down (300 records, the partition leader killed half-way; those runs
have the cluster alone, so they run one after another).

A verdict's time is the experiment's finished_at in the app's database (when the result was
stored; the clients see it at their next poll, up to POLL_SECONDS later, also reported). The same
database gives how many experiments ran at once, and how long each took beside how many others.
To tell where the time goes it also reports the CPU of each part (the app process serving the
pages, its runner process, the workers, the proxies, the brokers, this benchmark with Chromium,
and other processes on the machine).
Everything goes to var/bench-classroom/result.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.cpu import CpuWatch
from bench.live import (
    CHROMIUM,
    OBSERVER_SCRIPT,
    TARGET_P95_MS,
    _free_port,
    first_shown,
    latencies,
    reached_times,
    record_latencies,
    summary,
)
from bench.sessions import BrowserSession, SessionError
from playground.engine.naming import ExperimentNames
from playground.engine.spec import presets
from playground.lab.launcher import PROJECT_ROOT
from tools.appserver import AppServer
from tools.recount import invariant_violations

VAR_DIR = PROJECT_ROOT / "var" / "bench-classroom"
LAB_DIR = VAR_DIR / "lab"
LAB_PORT_BASE = 32600
CLASS_PRESETS = (
    "metrics",
    "notification-service",
    "payment-service",
    "payments-aggregation",
    "kafka-defaults",
)
ALONE_PRESET = "notification-service"
WARM_UP_PRESET = "metrics"
TARGET_CLASS_SECONDS = 60.0
TARGET_TIMES_ALONE = 6.0
POLL_SECONDS = 1.0  # how often each student asks for its experiment's state
ALONE_POLL_SECONDS = 0.2
CLASS_TIMEOUT_SECONDS = 900.0
FINISHED = ("done", "failed")
SIDE_EFFECT = "side-effect"


# -- what the app's database says ----------------------------------------------------------------
@dataclass(frozen=True)
class Stored:
    """One experiment row: its times in epoch seconds (None until they happen)."""

    share_id: str
    run_id: str
    status: str
    created: float
    started: float | None
    finished: float | None


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def stored_experiments(var_dir: Path) -> dict[str, Stored]:
    """Every experiment of the app's SQLite database, by share id (read-only)."""
    database = sqlite3.connect(f"file:{var_dir / 'db.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        rows = database.execute(
            "SELECT share_id, run_id, status, created_at, started_at, finished_at "
            "FROM web_experiment"
        ).fetchall()
    finally:
        database.close()
    return {
        row[0]: Stored(row[0], row[1], row[2], _epoch(row[3]), _epoch(row[4]), _epoch(row[5]))
        for row in rows
    }


def most_at_once(runs: list[Stored]) -> int:
    """The most experiments that were running at the same moment."""
    edges = sorted(
        [(r.started, 1) for r in runs if r.started]
        + [(r.finished, -1) for r in runs if r.started and r.finished]
    )  # at equal times an end (-1) sorts before a start: back to back is not at once
    running = highest = 0
    for _, step in edges:
        running += step
        highest = max(highest, running)
    return highest


def mean_running(run: Stored, runs: list[Stored]) -> float:
    """How many experiments ran, on average over `run`'s own run time, itself included."""
    if not (run.started and run.finished) or run.finished <= run.started:
        return 1.0
    overlap = sum(
        max(0.0, min(run.finished, other.finished) - max(run.started, other.started))
        for other in runs
        if other.started and other.finished
    )
    return overlap / (run.finished - run.started)


def app_setting(env: dict, name: str) -> str:
    """A setting as the app server sees it (its environment, its defaults)."""
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'playground.settings'); "
        f"from django.conf import settings; print(settings.{name})"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    return found.stdout.strip() or f"? ({found.stderr.strip()[-200:]})"


# -- the students ---------------------------------------------------------------------------------
@dataclass
class Student:
    """One client of the class, and what it saw."""

    index: int
    preset: str  # the preset it runs, or the name of its spec
    session: BrowserSession
    spec: dict | None = None  # the spec it pastes into the builder instead of a preset
    sent: float = 0.0  # time.time() of the Run request
    share_id: str = ""
    answered: float = 0.0
    seen_verdict: float | None = None
    state: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    created: threading.Event = field(default_factory=threading.Event)

    def run(self, barrier: threading.Barrier, deadline: float, poll_seconds: float) -> None:
        barrier.wait()
        self.sent = time.time()
        try:
            if self.spec is None:
                self.share_id = self.session.start_preset(self.preset)
            else:
                self.share_id = self.session.start_spec(self.spec)
        except (SessionError, OSError) as error:
            self.errors.append(str(error))
            return
        finally:
            self.answered = time.time()
            self.created.set()
        while time.time() < deadline:
            time.sleep(poll_seconds)
            try:
                self.state = self.session.experiment(self.share_id)
            except (SessionError, OSError) as error:
                self.errors.append(str(error))
                continue
            if self.state["status"] in FINISHED:
                self.seen_verdict = time.time()
                return
        last = self.state.get("status")
        self.errors.append(f"no verdict within the deadline; last status {last}")


def run_students(
    students: list[Student],
    poll_seconds: float,
    on_first_created=None,
    timeout: float = CLASS_TIMEOUT_SECONDS,
) -> None:
    """Every student presses Run at the same moment (a barrier), then polls until its verdict
    (for `timeout` seconds at most). `on_first_created(student)` is called in this thread with
    the first student in the list once its experiment exists (to open a browser on it)."""
    barrier = threading.Barrier(len(students))
    deadline = time.time() + timeout
    threads = [
        threading.Thread(target=s.run, args=(barrier, deadline, poll_seconds), daemon=True)
        for s in students
    ]
    for thread in threads:
        thread.start()
    if on_first_created is not None:
        students[0].created.wait(timeout)
        if students[0].share_id:
            on_first_created(students[0])
    for thread in threads:
        thread.join()


def new_students(base_url: str, names: list[str], spec: dict | None = None) -> list[Student]:
    """One browser session per name, each having opened the home page (cookies, CSRF token);
    each runs its preset, or `spec` when given."""
    students = []
    for index, name in enumerate(names):
        session = BrowserSession(base_url)
        session.open_home()
        students.append(Student(index, name, session, spec))
    return students


def spec_label(spec: dict) -> str:
    return spec.get("name") or "the spec"


# -- checking the results -------------------------------------------------------------------------
def result_problems(state: dict) -> list[str]:
    """Why a finished experiment's result does not count as a good one (empty if it does)."""
    if state.get("status") != "done":
        return [f"status {state.get('status')}: {state.get('error')}"]
    result = state["result"]
    problems = [f"audit invariant broken: {v}" for v in invariant_violations(result["audit"])]
    if not result["valid"]:
        problems += [f"invalid run: {p.get('summary') or p}" for p in result["problems"]]
    return problems


# -- the browser on one experiment ----------------------------------------------------------------
def browser_latency(seen: dict, sink: Path) -> dict:
    """Worker event (the ledger write) to DOM, as bench_live measures it."""
    reached = reached_times(sink.read_text().splitlines()) if sink.exists() else []
    shown = first_shown(c for c in seen["changes"] if c[2] > 1)  # the catch-up left out
    arrived: dict[int, float] = {}
    for t, k, number in seen["messages"]:
        if number > 1:
            arrived.setdefault(k, t)
    return {
        "delivered": len(reached),
        "browser": summary(latencies(shown, reached)),
        "browser_per_record": summary(record_latencies(shown, reached)),
        "browser_message_to_dom": summary([t - arrived[k] for t, k in shown if k in arrived]),
    }


# -- the measurements -----------------------------------------------------------------------------
def run_alone(base_url: str, preset: str, spec: dict | None = None) -> dict:
    """One preset (or `spec`) with nothing beside it: from the request to its verdict."""
    student = new_students(base_url, [spec_label(spec) if spec else preset], spec)[0]
    run_students([student], ALONE_POLL_SECONDS)
    if student.errors or student.state.get("status") != "done":
        raise RuntimeError(f"the preset {preset} alone did not finish: {student.errors}")
    stored = stored_experiments(VAR_DIR)[student.share_id]
    return {
        "preset": student.preset,
        "share_id": student.share_id,
        "seconds_to_verdict": round(stored.finished - student.sent, 2),
        "seconds_to_verdict_seen": round(student.seen_verdict - student.sent, 2),
        "queued_seconds": round(stored.started - stored.created, 2),
        "run_seconds": round(stored.finished - stored.started, 2),
        "conductor_seconds": student.state["result"]["duration_seconds"],
        "problems": result_problems(student.state),
    }


def watched_index(clients: int, spec: dict | None = None) -> int:
    """The student whose experiment Chromium watches: one in the middle of the class (it runs
    while others run) with a side-effect pipeline (its ledger gives the worker event times)."""
    if spec is not None:
        return clients // 2
    candidates = [
        i
        for i in range(clients)
        if presets.preset(CLASS_PRESETS[i % len(CLASS_PRESETS)]).spec.pipeline == SIDE_EFFECT
    ]
    return min(candidates, key=lambda i: abs(i - clients // 2))


def run_class(
    base_url: str,
    browser,
    clients: int,
    spec: dict | None = None,
    timeout: float = CLASS_TIMEOUT_SECONDS,
) -> dict:
    """`clients` students start a preset each (or `spec`) at the same moment; Chromium watches
    one."""
    if spec is None:
        names = [CLASS_PRESETS[i % len(CLASS_PRESETS)] for i in range(clients)]
    else:
        names = [spec_label(spec)] * clients
    students = new_students(base_url, names, spec)
    watched = watched_index(clients, spec)
    order = [students[watched]] + [s for s in students if s.index != watched]
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(OBSERVER_SCRIPT)
    opened: dict = {}

    def open_page(student: Student) -> None:
        page.goto(f"{base_url}/e/{student.share_id}/", wait_until="load")
        opened["status"] = student.session.experiment(student.share_id)["status"]
        opened["at"] = time.time()

    try:
        run_students(order, POLL_SECONDS, on_first_created=open_page, timeout=timeout)
        seen = page.evaluate("window.__benchLive") if opened else None
    finally:
        context.close()

    stored = stored_experiments(VAR_DIR)
    runs = [stored[s.share_id] for s in students if s.share_id in stored]
    first_request = min(s.sent for s in students)
    finished = [r.finished for r in runs if r.finished]
    per_experiment = []
    for student in students:
        row = stored.get(student.share_id)
        result = student.state.get("result") or {}
        per_experiment.append(
            {
                "client": student.index,
                "preset": student.preset,
                "share_id": student.share_id,
                "status": student.state.get("status"),
                "errors": student.errors,
                "problems": result_problems(student.state) if student.state else ["no state"],
                "promised": result.get("promised_semantic"),
                "observed": result.get("observed_semantic"),
                "request_seconds": round(student.answered - student.sent, 3),
                "queued_at": round(row.created - first_request, 2) if row else None,
                "started_at": (
                    round(row.started - first_request, 2) if row and row.started else None
                ),
                "finished_at": (
                    round(row.finished - first_request, 2) if row and row.finished else None
                ),
                "run_seconds": (
                    round(row.finished - row.started, 2) if row and row.finished else None
                ),
                "conductor_seconds": result.get("duration_seconds"),
                "mean_running": round(mean_running(row, runs), 2) if row else None,
            }
        )
    watch = {"client": watched, "preset": students[watched].preset}
    pipeline = (spec or {}).get("pipeline", SIDE_EFFECT)
    if (
        seen is not None
        and students[watched].state.get("status") == "done"
        and (pipeline == SIDE_EFFECT)
    ):
        run_id = students[watched].state["result"]["experiment_id"]
        sink = ExperimentNames(run_id, VAR_DIR / "experiments" / run_id).sink
        watch |= {"status_when_page_opened": opened.get("status")} | browser_latency(seen, sink)
    return {
        "clients": clients,
        "seconds_to_last_verdict": round(max(finished) - first_request, 2) if finished else None,
        "seconds_to_last_verdict_seen": round(
            max((s.seen_verdict or 0) for s in students) - first_request, 2
        ),
        "request_spread_seconds": round(max(s.sent for s in students) - first_request, 3),
        "slowest_request_seconds": round(max(s.answered - s.sent for s in students), 3),
        "most_running_at_once": most_at_once(runs),
        "http_5xx": sum(1 for s in students for code in s.session.statuses if code >= 500),
        "watched": watch,
        "experiments": per_experiment,
        "by_running_beside": run_time_by_company(per_experiment),
    }


def run_time_by_company(rows: list[dict]) -> list[dict]:
    """Mean run time of an experiment by how many ran at once during it (rounded), per preset
    kind: how much a neighbour slows a run down."""
    groups: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        if row["run_seconds"] is not None:
            groups[round(row["mean_running"])].append(row)
    return [
        {
            "running_at_once": company,
            "experiments": len(group),
            "mean_run_seconds": round(sum(r["run_seconds"] for r in group) / len(group), 1),
            "max_run_seconds": max(r["run_seconds"] for r in group),
        }
        for company, group in sorted(groups.items())
    ]


# -- one app server -------------------------------------------------------------------------------
def fresh_var_dir() -> None:
    """A fresh database and no experiment folders: an interrupted run's queue would run first."""
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"):
        (VAR_DIR / name).unlink(missing_ok=True)
    shutil.rmtree(VAR_DIR / "experiments", ignore_errors=True)


def server_log_problems(log: Path, offset: int) -> list[str]:
    """Lines of the app's log written since `offset` that tell of an error."""
    with log.open("rb") as text:
        text.seek(offset)
        lines = text.read().decode(errors="replace").splitlines()
    marks = ("Traceback", "Internal Server Error", " 500 ", "ERROR", "Exception")
    return [line for line in lines if any(mark in line for mark in marks)][:40]


def folders_without_experiment(run_ids: set[str]) -> list[str]:
    """Experiment folders whose run id no experiment row holds: a claim run twice leaves one."""
    root = VAR_DIR / "experiments"
    folders = {p.name for p in root.iterdir() if p.is_dir()} if root.exists() else set()
    return sorted(folders - run_ids)


def runner_deaths(log: Path, offset: int) -> list[str]:
    """What serve said of each runner process that died, since `offset` of its log."""
    with log.open("rb") as text:
        text.seek(offset)
        lines = text.read().decode(errors="replace").splitlines()
    return [line for line in lines if line.startswith("the runner process ")]


def measure(
    parallel: int | None,
    clients: int,
    rounds: int,
    playwright,
    spec: dict | None = None,
    timeout: float = CLASS_TIMEOUT_SECONDS,
    lab_port_base: int = LAB_PORT_BASE,
) -> dict:
    """Everything, on a fresh app server with PLAYGROUND_MAX_PARALLEL=`parallel`."""
    fresh_var_dir()
    extra_env = {"PLAYGROUND_MAX_PARALLEL": str(parallel)} if parallel else {}
    server = AppServer(
        port=_free_port(),
        var_dir=VAR_DIR,
        lab_dir=LAB_DIR,
        lab_port_base=lab_port_base,
        extra_env=extra_env,
    )
    settings = {
        name: app_setting(server.env, name)
        for name in ("PLAYGROUND_MAX_PARALLEL", "PLAYGROUND_MAX_ACTIVE_PER_CLIENT")
    }
    print(
        f"PLAYGROUND_MAX_PARALLEL={settings['PLAYGROUND_MAX_PARALLEL']}: starting the app and "
        f"the cluster (log: {server.log_path}) ...",
        flush=True,
    )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    log_offset = server.log_path.stat().st_size if server.log_path.exists() else 0
    with server:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        try:
            run_alone(server.url, WARM_UP_PRESET)  # the first run on a new cluster is slower
            alone = run_alone(server.url, ALONE_PRESET, spec)
            print(f"  {alone['preset']} alone: {alone['seconds_to_verdict']} s", flush=True)
            classes = []
            serve_pid = server.process.pid
            for round_number in range(1, rounds + 1):
                cpu = CpuWatch(serve_pid).start()
                measured = run_class(server.url, browser, clients, spec, timeout)
                up = server.process.poll() is None and server.process.pid == serve_pid
                measured |= {"round": round_number, "cpu": cpu.stop(), "server_up": up}
                classes.append(measured)
                print(
                    f"  round {round_number}: {clients} x {alone['preset']}, first request to "
                    f"last verdict {measured['seconds_to_last_verdict']} s; server up: {up}",
                    flush=True,
                )
        finally:
            browser.close()
    stored = stored_experiments(VAR_DIR)
    return {
        "settings": settings,
        "parallel_asked": parallel,
        "alone": alone,
        "classes": classes,
        "stuck": sorted(s.share_id for s in stored.values() if s.status not in FINISHED),
        "folders_without_experiment": folders_without_experiment(
            {s.run_id for s in stored.values()}
        ),
        "server_log_problems": server_log_problems(server.log_path, log_offset),
        "runner_deaths": runner_deaths(server.log_path, log_offset),
    }


# -- the report -----------------------------------------------------------------------------------
def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(config: dict) -> str:
    alone = config["alone"]["seconds_to_verdict"]
    lines = [
        f"PLAYGROUND_MAX_PARALLEL={config['settings']['PLAYGROUND_MAX_PARALLEL']} "
        f"(PLAYGROUND_MAX_ACTIVE_PER_CLIENT={config['settings']['PLAYGROUND_MAX_ACTIVE_PER_CLIENT']}"
        ", each client its own browser session)",
        f"  one alone ({config['alone']['preset']}), request to verdict: {alone:.1f} s",
    ]
    for c in config["classes"]:
        total = c["seconds_to_last_verdict"]
        bad = [e for e in c["experiments"] if e["problems"] or e["errors"]]
        browser = c["watched"].get("browser", {})
        p95 = browser.get("p95_ms")
        cpu = c["cpu"]["percent_of_machine"]
        lines += [
            f"  round {c['round']}:",
            f"    {c['clients']} runs, first request to last verdict: {total} s   "
            f"target <= {TARGET_CLASS_SECONDS:.0f} s: {_mark(total is not None and total <= 60)}",
            f"    ... and <= {TARGET_TIMES_ALONE:.0f} x alone ({TARGET_TIMES_ALONE * alone:.1f} s):"
            f" {total / alone:.1f} x: {_mark(total is not None and total <= 6 * alone)}"
            if total
            else "    no verdict",
            f"    worker event to DOM p95: {p95} ms (n={browser.get('samples')}, client "
            f"{c['watched']['client']}, {c['watched']['preset']})   target <= "
            f"{TARGET_P95_MS:.0f} ms: {_mark(p95 is not None and p95 <= TARGET_P95_MS)}",
            f"    results valid and passing the audit's invariants: "
            f"{c['clients'] - len(bad)}/{c['clients']}   target all: {_mark(not bad)}",
            *(
                f"      client {e['client']} ({e['preset']}, {e['share_id']}): "
                f"{'; '.join(e['problems'] + e['errors'])}"
                for e in bad
            ),
            f"    most experiments running at once: {c['most_running_at_once']}; HTTP 5xx: "
            f"{c['http_5xx']}; slowest Run request: {c['slowest_request_seconds']} s",
            f"    server up throughout: {_mark(c.get('server_up', True) and not c['http_5xx'])}"
            f" (serve alive after the round, no 5xx; failed requests: "
            f"{sum(len(e['errors']) for e in c['experiments'])})",
            "    run time by how many ran at once: "
            + ", ".join(
                f"{g['running_at_once']}: {g['mean_run_seconds']} s (n={g['experiments']})"
                for g in c["by_running_beside"]
            ),
            f"    CPU, % of the {c['cpu']['cores']} cores over {c['cpu']['seconds']} s: "
            + ", ".join(f"{part} {share}" for part, share in cpu.items())
            + f", idle {c['cpu']['idle_percent']}; load average {c['cpu']['load_average_1min']}",
        ]
    lines.append(f"  runner process deaths: {len(config.get('runner_deaths', []))}")
    for name in ("stuck", "folders_without_experiment", "server_log_problems", "runner_deaths"):
        if config[name]:
            lines.append(f"  {name.replace('_', ' ')}: {config[name][:10]}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=30)
    parser.add_argument(
        "--parallel",
        type=int,
        nargs="+",
        default=[0],
        help="PLAYGROUND_MAX_PARALLEL of the app server, one app server per value "
        "(0: the app's default)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="classes per app server")
    parser.add_argument(
        "--spec",
        type=Path,
        default=None,
        help="a spec (JSON) every student pastes into the builder and runs, instead of the presets",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=CLASS_TIMEOUT_SECONDS,
        help="seconds a class may take to its last verdict",
    )
    parser.add_argument(
        "--lab-port-base",
        type=int,
        default=LAB_PORT_BASE,
        help="the ports of the benchmark's own cluster (another benchmark may hold the default)",
    )
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text()) if args.spec else None

    from playwright.sync_api import sync_playwright

    configs = []
    with sync_playwright() as playwright:
        for parallel in args.parallel:
            config = measure(
                parallel or None,
                args.clients,
                args.rounds,
                playwright,
                spec,
                args.timeout,
                args.lab_port_base,
            )
            configs.append(config)
            (VAR_DIR / "result.json").write_text(
                json.dumps({"clients": args.clients, "configs": configs}, indent=1)
            )
            print(report(config), flush=True)
    if len(configs) > 1:
        print("first request to last verdict by PLAYGROUND_MAX_PARALLEL:")
        for config in configs:
            totals = [c["seconds_to_last_verdict"] for c in config["classes"]]
            print(f"  {config['settings']['PLAYGROUND_MAX_PARALLEL']:>3}: {totals} s")
    print(f"written to {VAR_DIR / 'result.json'}")


if __name__ == "__main__":
    main()
