"""bin/system-packages: what `make run` and `make test` need from the machine, installed as root
or named in one command otherwise.

The script runs with PATH set to a folder of stand-ins (java, mvn, chromium, id, apt-get, ...), so
a test decides what is "installed" and who runs it; the stand-in apt-get only writes down how it
was called. Nothing here installs anything.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from playground.lab.launcher import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bin" / "system-packages"
JAVA_17 = "echo 'openjdk version \"17.0.12\" 2024-07-16' >&2"
JAVA_8 = "echo 'openjdk version \"1.8.0_392\"' >&2"
EVERYTHING = ("mvn", "make", "setpriv", "chromium", "chromedriver", "redis-server", "initdb")


class Machine:
    """A PATH of stand-in commands: the machine as the script sees it."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.apt_log = root / "apt-get.log"
        self.command("java", JAVA_17)
        self.command("python3", "exit 0")  # with the venv module
        self.command("id", "echo 0")  # root
        self.command("apt-get", f'echo "$DEBIAN_FRONTEND $*" >> {self.apt_log}')
        for name in EVERYTHING:
            self.command(name, "exit 0")

    def command(self, name: str, body: str) -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    def remove(self, *names: str) -> None:
        for name in names:
            (self.bin / name).unlink()

    def run(self, purpose: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["/bin/bash", str(SCRIPT), purpose],
            env={"PATH": str(self.bin)},
            capture_output=True,
            text=True,
            timeout=30,
        )

    def apt_calls(self) -> list[str]:
        return self.apt_log.read_text().splitlines() if self.apt_log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


@pytest.mark.browser  # installed, as `make test` sees to; `make check` does not
@pytest.mark.postgres
@pytest.mark.redis
def test_this_machine_has_every_package_so_the_script_does_nothing_quickly():
    started = time.monotonic()

    done = subprocess.run([SCRIPT, "test"], capture_output=True, text=True, timeout=30)

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert time.monotonic() - started < 10


def test_nothing_missing_means_no_apt_get_and_no_output(machine):
    done = machine.run("test")

    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert machine.apt_calls() == []


def test_as_root_the_missing_packages_are_installed_with_apt_get(machine):
    machine.remove("chromium", "chromedriver", "redis-server")

    done = machine.run("test")

    assert done.returncode == 0
    assert machine.apt_calls() == [
        "noninteractive update -qq",
        "noninteractive install -y -qq chromium chromium-driver redis-server",
    ]


def test_as_a_user_it_stops_with_the_one_command_to_run(machine):
    machine.command("id", "echo 1000")
    machine.remove("redis-server", "mvn")

    done = machine.run("test")

    assert done.returncode == 1
    assert "sudo apt-get install -y maven redis-server\n" in done.stderr
    assert machine.apt_calls() == []


def test_make_run_needs_no_browser_redis_or_postgresql(machine):
    machine.command("id", "echo 1000")
    machine.remove("chromium", "chromedriver", "redis-server", "initdb")

    assert machine.run("run").returncode == 0
    assert machine.run("test").returncode == 1


def test_a_java_older_than_17_counts_as_missing(machine):
    machine.command("id", "echo 1000")
    machine.command("java", JAVA_8)

    done = machine.run("run")

    assert done.returncode == 1
    assert "sudo apt-get install -y openjdk-17-jre-headless" in done.stderr


def test_a_python_without_the_venv_module_needs_python3_venv(machine):
    machine.command("id", "echo 1000")
    machine.command("python3", "exit 1")

    done = machine.run("run")

    assert done.returncode == 1
    assert "sudo apt-get install -y python3-venv" in done.stderr


def test_without_apt_get_it_names_the_packages_for_any_package_manager(machine):
    machine.remove("apt-get", "make")

    done = machine.run("run")

    assert done.returncode == 1
    assert "Missing system packages that `make run` needs: make" in done.stderr
    assert "your system's package manager" in done.stderr


def test_an_unknown_purpose_is_a_usage_error(machine):
    done = machine.run("deploy")

    assert done.returncode == 2
    assert "usage: bin/system-packages run|test" in done.stderr


@pytest.mark.parametrize("target", ["test", "run"])
def test_make_checks_the_packages_before_it_builds_the_venv(target):
    # -n prints the commands without running them; -B as on a fresh clone (no venv yet).
    planned = subprocess.run(
        ["make", "-n", "-B", target], cwd=PROJECT_ROOT, capture_output=True, text=True
    ).stdout.splitlines()

    check = planned.index(f"PYTHON=python3 bin/system-packages {target}")
    venv = next(i for i, line in enumerate(planned) if "-m venv" in line)
    assert check < venv
    assert sum("bin/system-packages" in line for line in planned) == 1
