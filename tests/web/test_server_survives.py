"""The server survives its Kafka clients: the process that serves the pages loads none, and the
runner process that `serve` starts, if it dies (a native abort in librdkafka, which Python cannot
catch), costs its running experiment, never the pages or the queue."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import websockets
from django.conf import settings
from django.utils import timezone

from playground.engine.spec.presets import preset
from playground.lab.launcher import PROJECT_ROOT
from playground.web.models import Experiment
from playground.web.runs import fanout, runner, runner_link
from tests.conftest import TEST_LAB_DIR, TEST_PORT_BASE
from tools.appserver import AppServer

VAR = PROJECT_ROOT / "var" / "test-server-survives"

# Imports the ASGI application as `serve` does, resolves every URL, renders the pages (a queued
# and a failed experiment's included), queues an experiment through the API and connects a
# websocket viewer; then prints which Kafka client modules it loaded.
PAGES_SCRIPT = r"""
import asyncio, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from playground.web.runs import runner_link
runner_link.wake_with(lambda: None)  # as `serve` does: its runner is another process
from playground.asgi import application
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import get_resolver
from playground.web.models import Experiment

get_resolver().check()
client = Client(HTTP_HOST="localhost")
for path in ("/", "/guide", "/lessons/", "/lessons/1/", "/builder/", "/compare/",
             "/lab/cluster", "/experiments/queue", "/api/presets"):
    assert client.get(path).status_code == 200, path
created = client.post("/api/experiments", {"workload": {"records": 50}},
                      content_type="application/json").json()
assert client.get(created["url"]).status_code == 200
assert client.get(created["api_url"]).status_code == 200
failed = Experiment.objects.create(spec={}, status=Experiment.FAILED, error="lost")
assert client.get(failed.get_absolute_url()).status_code == 200

async def view():
    viewer = WebsocketCommunicator(application, f"/ws/e/{created['id']}/",
                                   headers=[(b"origin", b"http://localhost")])
    connected, _ = await viewer.connect()
    assert connected
    await viewer.disconnect()

asyncio.run(view())
with open(f"/proc/{os.getpid()}/maps") as maps:
    mapped = [line.split()[-1] for line in maps if "rdkafka" in line]
print(sorted(name for name in sys.modules if name.startswith("confluent_kafka")), mapped)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_pages_load_no_kafka_client(tmp_path):
    env = os.environ | {
        "PLAYGROUND_VAR_DIR": str(tmp_path),
        "KAFKA_LAB_DIR": str(tmp_path / "no-lab"),
        "DJANGO_DEBUG": "1",  # plain static names: nothing collected here
        "DJANGO_SECRET_KEY": "pages-load-no-kafka-client",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PAGES_SCRIPT],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[] []"


# -- the runner process under `serve` -------------------------------------------------------------
def _api(server: AppServer, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{server.url}/api/experiments{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait(what: str, condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def _column_of(server: AppServer, share_id: str, column: str = "runner") -> str:
    """An experiment's column as the app's database holds it: `runner` ("host:pid", "" until
    claimed) or `run_id`."""
    database = sqlite3.connect(f"file:{server.var_dir / 'db.sqlite3'}?mode=ro", uri=True)
    try:
        row = database.execute(
            f"SELECT {column} FROM web_experiment WHERE share_id = ?", (share_id,)
        ).fetchone()
    finally:
        database.close()
    return row[0] if row else ""


def _kafka_client_mapped(pid: int) -> list[str]:
    with open(f"/proc/{pid}/maps") as maps:
        return sorted({line.split()[-1] for line in maps if "kafka" in line.split()[-1]})


class PagesWatch:
    """Asks for the home page every 0.2 s in a thread of its own, and keeps every failure."""

    def __init__(self, url: str) -> None:
        self.url, self.answers, self.failures = url, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PagesWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.2):
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=10) as response:
                    assert response.status == 200
                self.answers += 1
            except (OSError, AssertionError, urllib.error.URLError) as error:
                self.failures.append(repr(error))


async def _page_messages(url: str, origin: str, until) -> list[str]:
    """What a live page's websocket receives, until `until(message)` is true of one (within a
    minute)."""
    seen = []
    async with asyncio.timeout(60), websockets.connect(url, origin=origin) as viewer:
        while not seen or not until(seen[-1]):
            seen.append(await viewer.recv())
    return seen


def test_an_aborted_runner_costs_its_run_but_never_the_pages_and_the_queue_moves_on(lab):
    shutil.rmtree(VAR, ignore_errors=True)
    server = AppServer(
        port=free_port(),
        var_dir=VAR,
        lab_dir=TEST_LAB_DIR,
        lab_port_base=TEST_PORT_BASE,
        extra_env={"PLAYGROUND_MAX_PARALLEL": "1"},  # the second run waits in the queue
    )
    with server:
        serve_pid = server.process.pid
        long = _api(server, "", {"workload": {"records": 3000, "rate": 100}})
        queued = _api(server, "", {"workload": {"records": 200, "rate": 100}})
        _wait(
            "the first run delivering",
            lambda: (_api(server, f"/{long['id']}")["snapshot"] or {}).get("delivered", 0) >= 30,
            timeout=120,
        )
        runner_pid = int(_column_of(server, long["id"]).rsplit(":", 1)[1])
        viewer_url = f"ws://127.0.0.1:{server.port}/ws/e/{long['id']}/"

        with PagesWatch(server.url) as pages, ThreadPoolExecutor(1) as pool:
            reload = 'id="experiment-body" hx-get'  # the live page fetches the experiment again
            watching = pool.submit(
                asyncio.run, _page_messages(viewer_url, server.url, lambda m: reload in m)
            )
            _wait("the viewer's first update", lambda: pages.answers >= 2, timeout=30)
            os.kill(runner_pid, signal.SIGABRT)
            aborted = time.monotonic()
            lost = _wait(
                "the aborted run marked failed",
                lambda: (state := _api(server, f"/{long['id']}"))["status"] == "failed" and state,
                timeout=settings.PLAYGROUND_HEARTBEAT_STALE_SECONDS,
            )
            marked_after = time.monotonic() - aborted
            watching.result(timeout=60)  # the live page was told
            finished = _wait(
                "the queued run finished",
                lambda: (
                    (state := _api(server, f"/{queued['id']}"))["status"] in ("done", "failed")
                    and state
                ),
                timeout=180,
            )
            page = urllib.request.urlopen(f"{server.url}/e/{long['id']}/").read().decode()
            verdict = urllib.request.urlopen(f"{server.url}/e/{queued['id']}/").read().decode()

        assert "the run was lost" in lost["error"] and "SIGABRT" in lost["error"], lost["error"]
        assert marked_after < settings.PLAYGROUND_HEARTBEAT_STALE_SECONDS
        assert "the run was lost" in page and "SIGABRT" in page
        assert pages.failures == [] and pages.answers > 0
        assert finished["status"] == "done", finished["error"]
        assert finished["result"]["valid"], finished["result"]["problems"]
        assert 'id="verdict"' in verdict and 'id="verdict-observed"' in verdict
        new_runner = _column_of(server, queued["id"])
        assert new_runner and not new_runner.endswith(f":{runner_pid}")
        assert server.process.poll() is None and server.process.pid == serve_pid
        assert _kafka_client_mapped(serve_pid) == []  # after a run: no librdkafka in the pages
        assert _kafka_client_mapped(int(new_runner.rsplit(":", 1)[1]))  # it is in the runner


# -- the pieces -----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_run_whose_runner_stopped_beating_is_failed_saying_it_was_lost(settings):
    settings.PLAYGROUND_HEARTBEAT_STALE_SECONDS = 5
    long_ago = timezone.now() - timedelta(seconds=6)
    abandoned = Experiment.objects.create(
        spec={}, status=Experiment.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    beating = Experiment.objects.create(
        spec={}, status=Experiment.RUNNING, started_at=long_ago, heartbeat_at=timezone.now()
    )

    assert runner._claim_next() is None  # nothing queued

    abandoned.refresh_from_db()
    beating.refresh_from_db()
    assert abandoned.status == Experiment.FAILED and abandoned.finished_at is not None
    assert "the run was lost" in abandoned.error and "5 s" in abandoned.error
    assert beating.status == Experiment.RUNNING


def test_the_link_carries_fragments_up_and_wake_ups_down(monkeypatch):
    delivered, woken, gone = [], threading.Event(), threading.Event()
    monkeypatch.setattr(
        fanout, "deliver", lambda group, message: delivered.append((group, message))
    )
    kept = {}
    monkeypatch.setattr(fanout, "keep", lambda share_id, kind, html: kept.update({kind: html}))
    monkeypatch.setattr(fanout, "drop", lambda share_id: kept.clear())
    parent, theirs = runner_link.ParentEnd.pair()
    runner_link.ChildEnd.open(os.dup(theirs.fileno()), on_wake=woken.set, on_parent_gone=gone.set)
    theirs.close()
    try:
        # Both ends live in this process here, so what serve would keep is caught apart.
        fanout.send("abc", "<p>42</p>", fanout.COUNTERS)  # as a Publisher does in the runner
        fanout.remember("abc", fanout.COUNTERS, "<p>42</p>")
        parent.wake()
        assert woken.wait(5)
        _wait("the fragment delivered and kept", lambda: delivered and kept, timeout=5)
        assert delivered == [
            (
                fanout.group_name("abc"),
                {"type": fanout.MESSAGE_TYPE, "html": "<p>42</p>", "kind": fanout.COUNTERS},
            )
        ]
        assert kept == {fanout.COUNTERS: "<p>42</p>"}
        fanout.forget("abc")
        _wait("the fragment forgotten", lambda: not kept, timeout=5)
    finally:
        parent.close()
        assert gone.wait(5)  # serve closed the link: the runner stops, and stops forwarding
        fanout.forward_to(None)


@pytest.mark.django_db
def test_a_new_runner_brings_back_a_broker_that_a_lost_run_left_down(healthy_lab, settings):
    settings.LAB_DIR, settings.KAFKA_BOOTSTRAP_SERVERS = TEST_LAB_DIR, ""
    healthy_lab.kill(2)  # as a leader kill whose runner died before the broker's restart

    runner._restore_idle_cluster()

    assert {node["state"] for node in healthy_lab.status()["nodes"]} == {"up"}


def _questions_children(runner_pid: int) -> dict[str, int]:
    """The runner's kafka_questions children: experiment run id -> pid."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                words = cmdline.read().decode().split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == runner_pid and "playground.engine.observe.kafka_questions" in words:
            group = words[words.index("playground.engine.observe.kafka_questions") + 2]
            children[group.removeprefix("exp-").removesuffix("-group")] = int(entry)
    return children


def test_an_abort_in_a_live_pages_kafka_client_costs_no_experiment(lab):
    """The strip's markers and output reads and the cluster panel ask Kafka from a child process
    of each experiment: aborting one costs its picture a beat, and no experiment, no runner."""
    shutil.rmtree(VAR, ignore_errors=True)
    server = AppServer(
        port=free_port(),
        var_dir=VAR,
        lab_dir=TEST_LAB_DIR,
        lab_port_base=TEST_PORT_BASE,
        extra_env={"PLAYGROUND_MAX_PARALLEL": "2"},
    )
    with server:
        aggregation = preset("payments-aggregation").spec.to_json()
        aggregation["workload"] = {"records": 1500, "rate": 100, "partitions": 2}
        aggregation["faults"] = []  # nothing but the abort: one effect per record, read once
        runs = [
            _api(server, "", aggregation),  # its output topic is read by the child, too
            _api(server, "", {"workload": {"records": 1500, "rate": 100}}),
        ]
        queued = _api(server, "", {"workload": {"records": 200, "rate": 100}})
        _wait(
            "both runs delivering",
            lambda: all(
                (_api(server, f"/{run['id']}")["snapshot"] or {}).get("delivered", 0) >= 30
                for run in runs
            ),
            timeout=120,
        )
        runner_pid = int(_column_of(server, runs[0]["id"]).rsplit(":", 1)[1])
        victim = _column_of(server, runs[0]["id"], "run_id")
        children = _wait(
            "both runs' Kafka client children",
            lambda: (found := _questions_children(runner_pid)) and len(found) == 2 and found,
            timeout=30,
        )
        os.kill(children[victim], signal.SIGABRT)
        _wait(
            "a new child for the aborted one",
            lambda: _questions_children(runner_pid).get(victim) not in (None, children[victim]),
            timeout=30,
        )
        ended = [
            _wait(
                "a run finished",
                lambda run=run: (
                    (state := _api(server, f"/{run['id']}"))["status"] in ("done", "failed")
                    and state
                ),
                timeout=180,
            )
            for run in [*runs, queued]
        ]
        assert all(state["status"] == "done" for state in ended), [s["error"] for s in ended]
        assert all(state["result"]["valid"] for state in ended)
        strip = ended[0]  # the victim's final strip, drawn by its new child
        assert strip["partitions"] and strip["output_partitions"]
        for partition in strip["partitions"]:  # no output record was read twice
            # (invisible: the transactions' markers, the last one's included)
            assert partition["ranges"].keys() == {"processed_once", "invisible"}, partition
        assert _column_of(server, queued["id"]).endswith(f":{runner_pid}")  # the same runner
        _wait("no Kafka client child left", lambda: not _questions_children(runner_pid), 30)
