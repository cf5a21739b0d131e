"""Two web processes behind one database and one Redis: a viewer on either process watches the
experiment live, whichever process runs it (channels_redis carries the fragments between them).
One serves pages only (`serve --no-runner`); the other's runner process runs the experiment."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets

from playground.lab.launcher import PROJECT_ROOT
from tests.conftest import TEST_LAB_DIR, TEST_PORT_BASE
from tools.appserver import AppServer

VAR = PROJECT_ROOT / "var" / "test-redis"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_url():
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: .ci/run installs it (apt-get install redis-server)"
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


async def watch(url: str, origin: str) -> list[int]:
    """The delivered counts a websocket viewer sees, until the experiment's verdict."""
    seen = []
    async with websockets.connect(url, origin=origin, open_timeout=10) as viewer:
        while True:
            html = await asyncio.wait_for(viewer.recv(), timeout=60)
            if 'id="experiment-body"' in html and seen:  # the page reloads into the verdict
                return seen
            if found := re.search(r'id="count-delivered">(\d+)<', html):
                seen.append(int(found.group(1)))


def test_viewers_on_two_processes_see_the_same_experiment_live(lab, redis_url):
    shutil.rmtree(VAR, ignore_errors=True)
    VAR.mkdir(parents=True)
    shared = {"REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{VAR / 'db.sqlite3'}"}
    servers = [
        AppServer(
            port=free_port(),
            var_dir=VAR / name,
            lab_dir=TEST_LAB_DIR,
            lab_port_base=TEST_PORT_BASE,
            extra_env=shared,
            serve_options=options,
        )
        for name, options in (("a", ()), ("b", ("--no-runner",)))
    ]
    try:
        for server in servers:
            server.start()
        # DEBUG is off: WhiteNoise serves the collected, hashed static files.
        home = urllib.request.urlopen(f"{servers[0].url}/").read().decode()
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', home)
        assert any(a.endswith(".css") for a in assets) and any(a.endswith(".js") for a in assets)
        for asset in assets:
            assert urllib.request.urlopen(f"{servers[0].url}{asset}").status == 200
        spec = {"workload": {"records": 200, "rate": 80}, "consumer": {"batch_size": 10}}
        request = urllib.request.Request(  # queued on the pages-only process: a's runner runs it
            f"{servers[1].url}/api/experiments",
            data=json.dumps(spec).encode(),
            headers={"Content-Type": "application/json"},
        )
        created = json.loads(urllib.request.urlopen(request).read())

        async def both() -> list[list[int]]:
            return await asyncio.gather(
                *(
                    watch(
                        f"ws://127.0.0.1:{s.port}/ws/e/{created['id']}/",
                        f"http://127.0.0.1:{s.port}",
                    )
                    for s in servers
                )
            )

        # A thread of its own: another test's event loop may still be running in this one.
        with ThreadPoolExecutor(1) as pool:
            views = pool.submit(asyncio.run, both()).result()
        for seen in views:
            assert seen and seen == sorted(seen) and seen[-1] == 200, seen
            assert len(seen) >= 5  # live updates, not just the final page
        state = json.loads(
            urllib.request.urlopen(f"{servers[1].url}/api/experiments/{created['id']}").read()
        )
        assert state["status"] == "done" and state["result"]["audit"]["delivered"] == 200
    finally:
        for server in servers:
            server.stop()
