"""With DATABASE_URL set, the app runs on PostgreSQL: a real server, started here."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import subprocess
import time
import urllib.request

import pytest

from playground.lab.launcher import PROJECT_ROOT
from tests.conftest import TEST_LAB_DIR, TEST_PORT_BASE
from tests.web.test_redis_processes import free_port
from tools.appserver import AppServer

VAR = PROJECT_ROOT / "var" / "test-postgres"


def _as_user(user: str) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]


@pytest.fixture
def postgres_url():
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    assert binaries, "PostgreSQL is missing: .ci/run installs it (apt-get install postgresql)"
    bin_dir = binaries[-1]
    user = "postgres" if _user_exists("postgres") else "nobody"
    shutil.rmtree(VAR, ignore_errors=True)
    data = VAR / "data"
    data.mkdir(parents=True)
    uid = pwd.getpwnam(user)
    for path in (VAR, data):
        os.chown(path, uid.pw_uid, uid.pw_gid)
    subprocess.run(
        [*_as_user(user), f"{bin_dir}/initdb", "-D", str(data), "-U", "playground", "-A", "trust"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *_as_user(user),
            f"{bin_dir}/postgres",
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(VAR),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while subprocess.run(
        [f"{bin_dir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
    ).returncode:
        assert time.monotonic() < deadline, "PostgreSQL did not start"
        time.sleep(0.2)
    yield f"postgres://playground@127.0.0.1:{port}/postgres"
    server.terminate()
    server.wait(timeout=30)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_experiments_run_and_queue_on_postgres(lab, postgres_url):
    app = AppServer(
        port=free_port(),
        var_dir=VAR / "app",
        lab_dir=TEST_LAB_DIR,
        lab_port_base=TEST_PORT_BASE,
        extra_env={"DATABASE_URL": postgres_url},
    )
    with app:
        spec = {"workload": {"records": 100, "rate": 0}, "consumer": {"batch_size": 10}}
        created = []
        for _ in range(2):  # both run on PostgreSQL, claimed through its queue lock row
            request = urllib.request.Request(
                f"{app.url}/api/experiments",
                data=json.dumps(spec).encode(),
                headers={"Content-Type": "application/json"},
            )
            created.append(json.loads(urllib.request.urlopen(request).read()))
        deadline = time.monotonic() + 120
        states = []
        while time.monotonic() < deadline:
            states = [json.loads(urllib.request.urlopen(c["api_url"]).read()) for c in created]
            if all(s["status"] in ("done", "failed") for s in states):
                break
            time.sleep(0.5)
        assert [s["status"] for s in states] == ["done", "done"], [s["error"] for s in states]
        assert all(s["result"]["audit"]["delivered"] == 100 for s in states)
