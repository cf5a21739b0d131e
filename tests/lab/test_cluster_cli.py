"""`manage.py cluster up | down | status --json` describe and control the managed cluster."""

from __future__ import annotations

import json
import socket
import subprocess

import psutil
import pytest

from playground.lab.control import LabClient
from playground.lab.launcher import PROJECT_ROOT
from tests.conftest import TEST_LAB_DIR, TEST_PORT_BASE
from tests.lab.processes import lab_pids, manage_py, wait_until_gone

CLI_PORT_BASE = 29200
CLI_LAB_DIR = PROJECT_ROOT / "var" / "lab-cli-test"


def run_cli(*args: str, lab_dir, port_base, timeout: float = 180) -> subprocess.CompletedProcess:
    process = manage_py(
        "cluster", *args, lab_dir=lab_dir, port_base=port_base,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_status_json_describes_the_running_cluster(lab):
    result = run_cli("status", "--json", lab_dir=TEST_LAB_DIR, port_base=TEST_PORT_BASE)

    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    actual = lab.status()
    assert described["phase"] == "ready"
    assert described["bootstrap_servers"] == actual["bootstrap_servers"]
    assert described["bootstrap_servers"] == ",".join(
        f"127.0.0.1:{TEST_PORT_BASE + 30 + n}" for n in (1, 2, 3)
    )
    nodes = {node["id"]: node for node in described["nodes"]}
    assert sorted(nodes) == [1, 2, 3, 100]
    assert {nodes[n]["role"] for n in (1, 2, 3)} == {"broker"}
    assert nodes[100]["role"] == "controller"
    for node in described["nodes"]:
        assert node["state"] == "up"
        assert node["pid"] == next(n["pid"] for n in actual["nodes"] if n["id"] == node["id"])


@pytest.mark.kafka
def test_cluster_up_starts_a_cluster_that_cluster_down_stops():
    up = run_cli("up", lab_dir=CLI_LAB_DIR, port_base=CLI_PORT_BASE)
    assert up.returncode == 0, up.stderr
    assert "ready" in up.stdout
    status = json.loads(
        run_cli("status", "--json", lab_dir=CLI_LAB_DIR, port_base=CLI_PORT_BASE).stdout
    )
    pids = lab_pids(status)
    try:
        assert status["phase"] == "ready"
        assert [n["state"] for n in status["nodes"]] == ["up"] * 4
    finally:
        down = run_cli("down", lab_dir=CLI_LAB_DIR, port_base=CLI_PORT_BASE)
    assert down.returncode == 0, down.stderr
    assert wait_until_gone(pids, timeout=10) == []
    after = json.loads(
        run_cli("status", "--json", lab_dir=CLI_LAB_DIR, port_base=CLI_PORT_BASE).stdout
    )
    assert after["phase"] == "absent"


@pytest.mark.kafka  # the cluster starts before the taken port stops it
def test_cluster_up_that_fails_leaves_no_lab_process_behind(tmp_path):
    lab_dir = tmp_path / "lab"
    with socket.socket() as squatter:  # something else already holds broker 1's client port
        squatter.bind(("127.0.0.1", CLI_PORT_BASE + 31))
        squatter.listen()
        up = run_cli("up", lab_dir=lab_dir, port_base=CLI_PORT_BASE)

    assert up.returncode != 0
    assert "another lab using port base" in up.stderr
    assert not LabClient(lab_dir).is_running()
    leftovers = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(lab_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert wait_until_gone(leftovers, timeout=10) == []
