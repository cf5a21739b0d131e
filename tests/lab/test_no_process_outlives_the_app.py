"""However the app ends, none of its JVMs or proxies outlive it."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest

from playground.lab.control import LabClient
from playground.lab.launcher import PROJECT_ROOT
from tests.lab.processes import kafka_jvms_under, lab_pids, manage_py, wait_until_gone

pytestmark = pytest.mark.kafka  # each test's `manage.py serve` starts a cluster of its own

APP_PORT_BASE = 29100
APP_LAB_DIR = PROJECT_ROOT / "var" / "lab-app-test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proxy_ports_open(status: dict) -> list[str]:
    open_ports = []
    for node in status["nodes"]:
        if node.get("client_address"):
            host, port = node["client_address"].split(":")
            with socket.socket() as probe:
                if probe.connect_ex((host, int(port))) == 0:
                    open_ports.append(node["client_address"])
    return open_ports


def ports_closed_within(status: dict, timeout: float) -> list[str]:
    """Wait for every proxy port to stop accepting connections; return those still open."""
    deadline = time.monotonic() + timeout
    while (still_open := proxy_ports_open(status)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return still_open


@pytest.mark.parametrize(
    "ending", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["sigkill", "sigterm", "ctrl-c"]
)
def test_app_leaves_no_jvm_or_proxy_behind(ending):
    APP_LAB_DIR.mkdir(parents=True, exist_ok=True)
    output = open(APP_LAB_DIR / f"serve-{ending.name}.log", "wb")  # noqa: SIM115 - kept for diagnosis
    app = manage_py(
        "serve", "--port", str(free_port()),
        lab_dir=APP_LAB_DIR, port_base=APP_PORT_BASE,
        stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        status = LabClient(APP_LAB_DIR).wait_ready(timeout=120)
        pids = lab_pids(status)
        assert len(pids) == 5  # the lab process with its proxies, a controller, three brokers
        assert proxy_ports_open(status)

        app.send_signal(ending)
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.send_signal(signal.SIGUSR1)  # serve prints every thread's stack to its log
            time.sleep(2)
            output.flush()
            stacks = (APP_LAB_DIR / f"serve-{ending.name}.log").read_text(errors="replace")
            message = f"serve did not exit within 30 s; its threads:\n{stacks}"
            raise AssertionError(message) from None

        assert wait_until_gone(pids, timeout=10) == []
        assert kafka_jvms_under(APP_LAB_DIR) == []
        # A dying process shows as a zombie while its last threads still hold its sockets for a
        # few milliseconds: the ports are checked until they close, within the same few seconds.
        assert ports_closed_within(status, timeout=10) == []
    finally:
        app.kill()
        app.wait()
        output.close()
