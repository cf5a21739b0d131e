"""Helpers to start the app or the CLI as real subprocesses and to check what they leave behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from playground.lab.launcher import PROJECT_ROOT


def manage_py_env(lab_dir: Path, port_base: int) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    env |= {"KAFKA_LAB_DIR": str(lab_dir), "KAFKA_LAB_PORT_BASE": str(port_base)}
    return env


def manage_py(*args: str, lab_dir: Path, port_base: int, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=manage_py_env(lab_dir, port_base),
        **popen,
    )


def lab_pids(status: dict) -> list[int]:
    """The lab process (which runs the proxies) and every JVM it started."""
    return [status["lab_pid"], *(node["pid"] for node in status["nodes"] if node["pid"])]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait for every pid to die; return those still alive after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        survivors = [pid for pid in pids if alive(pid)]
        if not survivors:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def kafka_jvms_under(lab_dir: Path) -> list[int]:
    """Every running kafka.Kafka JVM whose config lives under `lab_dir`."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "kafka.Kafka" in cmdline and any(str(lab_dir) in part for part in cmdline):
            found.append(process.pid)
    return [pid for pid in found if alive(pid)]
