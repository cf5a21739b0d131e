"""The lab process: runs one managed cluster, its fault proxies and a control socket.

Run as `python -m playground.lab.daemon --dir DIR --port-base N [--lifeline-fd FD]`; `launcher.py`
does that. It answers JSON commands on DIR/control.sock (see control.py) while it starts, so callers
can show its progress. It ends on the `shutdown` command, on SIGTERM/SIGINT, or at once when its
lifeline (a pipe whose write end only the parent holds) reports the parent's death; its JVMs die
with it through their parent-death signal.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from playground.lab import jars
from playground.lab.cluster import Cluster
from playground.lab.control import (
    CONTROL_SOCKET,
    EXIT_PARENT_GONE,
    LOCK_FILE,
    Phase,
)
from playground.lab.node import DOWN
from playground.lab.proxy import ProxyFleet
from playground.lab.topology import Topology

READY_TIMEOUT_SECONDS = 120.0
MAX_CLIENT_PREFIXES = 10  # an experiment aims at its own few clients, not at a long list
log = logging.getLogger("playground.lab")


class LabDaemon:
    """Owns the cluster and the proxies; every cluster operation runs on the loop's thread."""

    def __init__(self, lab_dir: Path, port_base: int) -> None:
        self.lab_dir = lab_dir
        self.topology = Topology(port_base)
        self.cluster: Cluster | None = None
        self.fleet = ProxyFleet(
            {b.node_id: (b.proxy_port, b.broker_client_port) for b in self.topology.brokers}
        )
        self.phase = Phase.STARTING
        self.detail = "starting the lab process"
        self.error = ""
        self.started_at = time.time()
        self.ready_seconds: float | None = None
        self.stopping = asyncio.Event()

    # -- life cycle -------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stopping.set)
        socket_path = self.lab_dir / CONTROL_SOCKET
        socket_path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._serve_client, path=str(socket_path))
        starting = asyncio.create_task(self._start_cluster())
        await self.stopping.wait()
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        self.phase, self.detail = Phase.STOPPING, "stopping brokers and controller"
        if self.cluster is not None:
            self.cluster.kill()
        await self.fleet.close()
        server.close()
        socket_path.unlink(missing_ok=True)

    async def _start_cluster(self) -> None:
        try:
            self.detail = "fetching Kafka jars from Maven Central (first run only)"
            jar_dir = await asyncio.to_thread(jars.ensure_jars)
            self.cluster = Cluster.fresh(self.topology, self.lab_dir / "cluster", jar_dir)
            self.phase, self.detail = Phase.FORMATTING, "formatting storage of 4 nodes"
            await self._format_storage()
            self.phase, self.detail = Phase.STARTING, "starting controller, brokers and proxies"
            try:
                await self.fleet.start()
            except OSError as error:
                raise RuntimeError(
                    f"{error}: is another lab using port base {self.topology.port_base}? "
                    "Set KAFKA_LAB_PORT_BASE to another value."
                ) from error
            self.cluster.start()
            await self._wait_until_ready()
            self.ready_seconds = time.time() - self.started_at
            self.phase, self.detail = Phase.READY, f"ready in {self.ready_seconds:.1f} s"
            log.info("cluster ready in %.1f s", self.ready_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - reported to every caller through `status`
            self.phase, self.error = Phase.FAILED, str(error)
            self.detail = "the cluster could not start; see lab.log and the node logs"
            log.error("cluster failed to start:\n%s", traceback.format_exc())

    async def _format_storage(self) -> None:
        # Started here, on the loop's thread, so their death signal follows the lab process.
        processes = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: ASYNC220
            for command in self.cluster.format_commands()
        ]
        for process in processes:
            output, _ = await asyncio.to_thread(process.communicate)
            if process.returncode != 0:
                raise RuntimeError(f"formatting storage failed:\n{output.decode(errors='replace')}")

    async def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            dead = self.cluster.dead_nodes()
            if dead:
                raise RuntimeError(f"node(s) {dead} exited during start-up; see their server.log")
            missing = await asyncio.to_thread(self.cluster.missing_brokers)
            if not missing:
                return
            self.detail = f"waiting for broker(s) {sorted(missing)} to register"
            await asyncio.sleep(0.2)
        raise TimeoutError(f"brokers not ready after {READY_TIMEOUT_SECONDS:.0f} s")

    # -- control socket ---------------------------------------------------------------------
    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a command is a JSON object")
                reply = {"ok": True, "result": self.handle(request)}
            except (ValueError, KeyError, TypeError, RuntimeError) as error:
                reply = {"ok": False, "error": str(error).strip("'\"")}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        finally:
            writer.close()

    def handle(self, request: dict) -> object:
        """Carry out one control command and return its result."""
        op = request.get("op")
        if op == "status":
            return self.status()
        if op == "shutdown":
            self.stopping.set()
            return "stopping"
        if op == "clear_faults":
            self.fleet.clear()
            return "cleared"
        if op in ("drop_produce_responses", "reset_after_produce"):
            getattr(self.fleet, op)(
                _count(request, "count"), _broker(request, self.fleet), _clients(request)
            )
            return "armed"
        if op == "clear_client_faults":
            return {"disarmed": self.fleet.clear_clients(_clients(request, required=True))}
        if op == "dropped_responses":
            return self.fleet.dropped_responses(_clients(request, required=True))
        if op == "delay_responses":
            seconds = request.get("seconds")
            self.fleet.delay_responses(
                _number(request, "ms"),
                None if seconds is None else _number(request, "seconds"),
                _broker(request, self.fleet),
            )
            return "armed"
        if op == "blackhole":
            self.fleet.blackhole(_number(request, "seconds"), _broker(request, self.fleet))
            return "armed"
        if op in ("kill", "pause", "resume", "restart"):
            return self._node_operation(op, request)
        raise ValueError(
            f"unknown op {op!r}; ops are status, shutdown, kill, pause, resume, restart, "
            "drop_produce_responses, reset_after_produce, delay_responses, blackhole, "
            "clear_faults, clear_client_faults, dropped_responses"
        )

    def _node_operation(self, op: str, request: dict) -> dict:
        if self.phase != Phase.READY:
            raise RuntimeError(f"the cluster is not ready (phase: {self.phase})")
        node = self.cluster.node(_int(request, "node"))
        if op == "restart":
            node.kill()
            node.start()
        else:
            getattr(node, op)()
        return {"node": node.spec.node_id, "state": node.state, "pid": node.pid}

    def status(self) -> dict:
        """Everything a caller needs to know about this lab, as JSON-ready data."""
        nodes = []
        for spec in self.topology.nodes:
            node = self.cluster.nodes[spec.node_id] if self.cluster else None
            nodes.append(
                {
                    "id": spec.node_id,
                    "role": spec.role,
                    "pid": node.pid if node else None,
                    "state": node.state if node else DOWN,
                    "log": str(node.log_path) if node else None,
                    "client_address": f"127.0.0.1:{spec.proxy_port}" if spec.is_broker else None,
                    "direct_address": f"127.0.0.1:{spec.direct_port}" if spec.is_broker else None,
                }
            )
        return {
            "managed": True,
            "faults_available": True,
            "phase": self.phase,
            "detail": self.detail,
            "error": self.error,
            "lab_pid": os.getpid(),
            "lab_dir": str(self.lab_dir),
            "ready_seconds": self.ready_seconds,
            "bootstrap_servers": self.topology.bootstrap_servers,
            "direct_bootstrap_servers": self.topology.direct_bootstrap_servers,
            "nodes": nodes,
            "proxy": self.fleet.status(),
        }


def _int(request: dict, name: str) -> int:
    value = request.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    return value


def _count(request: dict, name: str) -> int:
    value = _int(request, name)
    if not 1 <= value <= 1_000_000:
        raise ValueError(f"{name}: expected 1 to 1000000, got {value}")
    return value


def _number(request: dict, name: str) -> float:
    value = request.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 3600:
        raise ValueError(f"{name}: expected a number from 0 to 3600, got {value!r}")
    return float(value)


def _broker(request: dict, fleet: ProxyFleet) -> int | None:
    if request.get("node") is None:
        return None
    node_id = _int(request, "node")
    if node_id not in fleet.proxies:
        raise ValueError(
            f"node: expected one of the brokers {sorted(fleet.proxies)}, got {node_id}"
        )
    return node_id


def _clients(request: dict, required: bool = False) -> list[str] | None:
    """The client-id prefixes a fault aims at; None (absent or null) means any client."""
    value = request.get("clients")
    if value is None and not required:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_CLIENT_PREFIXES
        or not all(isinstance(prefix, str) and prefix for prefix in value)
    ):
        raise ValueError(
            f"clients: expected a list of 1 to {MAX_CLIENT_PREFIXES} non-empty client-id "
            f"prefixes, got {value!r}"
        )
    return value


def _watch_lifeline(fd: int) -> None:
    """Block until the parent's end of the pipe closes, then die (taking the JVMs along)."""
    while True:
        try:
            if os.read(fd, 1) == b"":
                break
        except InterruptedError:
            continue
    os._exit(EXIT_PARENT_GONE)


def _lock_lab_dir(lab_dir: Path, wait_seconds: float = 15.0):
    """Own `lab_dir` exclusively, waiting a little for a previous lab that is still stopping.

    The kernel releases the lock when the process dies, however it dies."""
    lock = open(lab_dir / LOCK_FILE, "w")  # noqa: SIM115 - held for the life of the process
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            if time.monotonic() > deadline:
                sys.exit(f"another lab process owns {lab_dir}; stop it first")
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--port-base", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int)
    args = parser.parse_args(argv)
    if args.lifeline_fd is not None:
        threading.Thread(target=_watch_lifeline, args=(args.lifeline_fd,), daemon=True).start()
    args.dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_lab_dir(args.dir)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s] %(levelname)s %(message)s", stream=sys.stderr
    )
    asyncio.run(LabDaemon(args.dir, args.port_base).run())
    lock.close()


if __name__ == "__main__":
    main()
