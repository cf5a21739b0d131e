"""Talking to a running lab process: the control socket's protocol, the client, and constants.

A command is one JSON object on one line, e.g. {"op": "kill", "node": 2}; the reply is one line,
{"ok": true, "result": ...} or {"ok": false, "error": "..."}.

Importing this module loads no Kafka client: the process that serves the pages talks to the lab
through it, and a native abort in librdkafka cannot be caught in Python (see
web/runs/runner_link.py).
The few methods that ask the cluster's metadata (leadership, kill_leader, wait_healthy) load the
admin client when they are first called, in the runner's process.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from playground.lab.node import DOWN, PAUSED, UP
from playground.lab.topology import BROKER_IDS

if TYPE_CHECKING:
    from playground.lab.admin import Leadership

CONTROL_SOCKET = "control.sock"
LOCK_FILE = "lab.lock"
EXIT_PARENT_GONE = 3  # the lab's exit code when its parent died first


class Phase(StrEnum):
    STARTING = "starting"
    FORMATTING = "formatting"
    READY = "ready"
    FAILED = "failed"
    STOPPING = "stopping"


class LabError(RuntimeError):
    """The lab refused a command or could not be reached."""


class LabClient:
    """Client of the lab process that owns `lab_dir`."""

    def __init__(self, lab_dir: Path) -> None:
        self.lab_dir = Path(lab_dir)
        self.socket_path = self.lab_dir / CONTROL_SOCKET

    def call(self, op: str, timeout: float = 30.0, **arguments: object) -> object:
        """Send one command and return its result; raise LabError with the lab's message."""
        request = json.dumps({"op": op, **arguments}).encode() + b"\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.settimeout(timeout)
                connection.connect(str(self.socket_path))
                connection.sendall(request)
                reply = connection.makefile("rb").readline()
        except OSError as error:
            raise LabError(f"no lab is answering at {self.socket_path}: {error}") from error
        if not reply:
            raise LabError(f"the lab at {self.socket_path} closed the connection")
        decoded = json.loads(reply)
        if not decoded["ok"]:
            raise LabError(decoded["error"])
        return decoded["result"]

    def is_running(self) -> bool:
        try:
            self.status()
        except LabError:
            return False
        return True

    def status(self) -> dict:
        """Phase, bootstrap servers, and per node: id, role, pid, state and log file."""
        return self.call("status")

    def wait_ready(
        self, timeout: float = 180.0, on_progress: Callable[[dict], None] | None = None
    ) -> dict:
        """Block until the cluster is ready; report each new status detail to `on_progress`."""
        deadline = time.monotonic() + timeout
        last_detail = None
        while time.monotonic() < deadline:
            try:
                status = self.status()
            except LabError:
                time.sleep(0.1)  # the lab process may not have opened its socket yet
                continue
            if on_progress and status["detail"] != last_detail:
                on_progress(status)
                last_detail = status["detail"]
            if status["phase"] == Phase.READY:
                return status
            if status["phase"] == Phase.FAILED:
                raise LabError(f"the cluster failed to start: {status['error']}")
            time.sleep(0.1)
        raise LabError(f"the cluster was not ready within {timeout:.0f} s")

    # -- node faults ------------------------------------------------------------------------
    def kill(self, node: int) -> dict:
        """SIGKILL a node."""
        return self.call("kill", node=node)

    def pause(self, node: int) -> dict:
        """SIGSTOP a node."""
        return self.call("pause", node=node)

    def resume(self, node: int) -> dict:
        """SIGCONT a paused node."""
        return self.call("resume", node=node)

    def restart(self, node: int) -> dict:
        """Start a node again (SIGKILL first if it runs), keeping its data."""
        return self.call("restart", node=node)

    # -- proxy faults -----------------------------------------------------------------------
    def drop_produce_responses(
        self, count: int, node: int | None = None, clients: Sequence[str] | None = None
    ) -> None:
        """Let the next `count` Produce requests reach the broker but drop their responses.

        `clients` aims the fault at clients whose client.id starts with one of these prefixes
        (None: any client); each Produce request is hit by one armed fault at most."""
        self.call("drop_produce_responses", count=count, node=node, clients=clients)

    def reset_after_produce(
        self, count: int, node: int | None = None, clients: Sequence[str] | None = None
    ) -> None:
        """Reset the client's connection right after forwarding each of the next `count`
        Produce requests (of the `clients` prefixes only, if given)."""
        self.call("reset_after_produce", count=count, node=node, clients=clients)

    def delay_responses(self, ms: float, seconds: float | None = None, node: int | None = None):
        """Delay every response by `ms` for `seconds` (None: until `clear_faults`)."""
        self.call("delay_responses", ms=ms, seconds=seconds, node=node)

    def blackhole(self, seconds: float, node: int | None = None) -> None:
        """Make a broker (or all) unreachable for clients for `seconds`."""
        self.call("blackhole", seconds=seconds, node=node)

    def clear_faults(self) -> None:
        self.call("clear_faults")

    def clear_client_faults(self, clients: Sequence[str]) -> int:
        """Disarm the Produce faults aimed at clients within the `clients` prefixes, leaving the
        faults of other clients (and those aimed at any client) armed; return how many Produce
        requests they would still have hit."""
        return self.call("clear_client_faults", clients=clients)["disarmed"]

    def dropped_responses(self, clients: Sequence[str]) -> dict[str, dict]:
        """Whose Produce responses the proxies dropped, among clients within the `clients`
        prefixes: per client id, {"count": n, "seconds_ago": s} (s since the last one). Forgotten
        when those clients' faults are cleared (clear_client_faults, clear_faults)."""
        return self.call("dropped_responses", clients=clients)

    def shutdown(self) -> None:
        """Ask the lab to stop its cluster and exit."""
        self.call("shutdown")

    # -- what clients see -------------------------------------------------------------------
    def bootstrap_servers(self) -> str:
        return self.status()["bootstrap_servers"]

    def direct_bootstrap_servers(self) -> str:
        return self.status()["direct_bootstrap_servers"]

    def leadership(self, topic: str, partition: int = 0) -> Leadership:
        """Leader and followers of a partition, as the cluster's metadata says now."""
        from playground.lab import admin  # the Kafka client: see the module's docstring

        return admin.leadership(self.direct_bootstrap_servers(), topic, partition)

    def kill_leader(self, topic: str, partition: int = 0) -> int:
        """SIGKILL the current leader of a partition; return its node id."""
        leader = self.leadership(topic, partition).leader
        if leader < 0:
            raise LabError(f"{topic}-{partition} has no leader to kill")
        self.kill(leader)
        return leader

    def restore_nodes(self, timeout: float = 90.0) -> None:
        """Resume every paused node, restart every stopped one, then wait_healthy: the cluster
        whole again after broker faults."""
        for node in self.status()["nodes"]:
            if node["state"] == PAUSED:
                self.resume(node["id"])
            elif node["state"] == DOWN:
                self.restart(node["id"])
        self.wait_healthy(timeout=timeout)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Block until every node runs, every broker is listed and no partition is under-replicated.

        Used to restore a clean cluster between experiments and tests."""
        from playground.lab import admin  # the Kafka client: see the module's docstring

        deadline = time.monotonic() + timeout
        problem = "unknown"
        while time.monotonic() < deadline:
            status = self.status()
            stopped = [n["id"] for n in status["nodes"] if n["state"] != UP]
            if stopped:
                problem = f"nodes not up: {stopped}"
            else:
                bootstrap = status["direct_bootstrap_servers"]
                try:
                    missing = set(BROKER_IDS) - admin.visible_broker_ids(bootstrap, timeout=2.0)
                    lagging = [
                        f"{p.topic}-{p.partition}"
                        for p in admin.partition_leaderships(bootstrap)
                        if p.leader < 0 or set(p.isr) != set(p.replicas)
                    ]
                except Exception as error:  # noqa: BLE001 - any client error means "not yet"
                    missing, lagging = set(BROKER_IDS), [str(error)]
                if not missing and not lagging:
                    return
                problem = f"brokers missing: {sorted(missing)}; under-replicated: {lagging[:5]}"
            time.sleep(0.25)
        raise LabError(f"the cluster did not become healthy within {timeout:.0f} s ({problem})")
