"""One Kafka node as a child process: start, SIGKILL, SIGSTOP and SIGCONT.

Every JVM is launched through `setpriv --pdeathsig KILL`, so the kernel kills it the moment the
lab process that started it dies, however it dies. Start nodes from the lab's main thread only:
the death signal follows the thread that forked the child.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from playground.lab.config import jvm_command, write_node_files
from playground.lab.topology import NodeSpec, Topology

# A node's state, as the lab's status reports it: running, stopped by SIGSTOP, or not running.
UP = "up"
PAUSED = "paused"
DOWN = "down"


def orphan_proof(command: list[str]) -> list[str]:
    """Wrap `command` so that it receives SIGKILL when its parent process dies."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("setpriv (util-linux) is required to tie child processes to the lab")
    return [setpriv, "--pdeathsig", "KILL", "--", *command]


class Node:
    """A broker or controller process with its own folder (config, data, server.log)."""

    def __init__(self, topology: Topology, spec: NodeSpec, node_dir: Path, jars: Path) -> None:
        self.spec = spec
        self.node_dir = node_dir
        self.jars = jars
        self.properties = write_node_files(topology, spec, node_dir)
        self.log_path = node_dir / "server.log"
        self._process: subprocess.Popen | None = None
        self._paused = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def state(self) -> str:
        if self.pid is None:
            return DOWN
        return PAUSED if self._paused else UP

    def format_command(self, cluster_id: str) -> list[str]:
        """The StorageTool invocation that formats this node's log directory."""
        return orphan_proof(
            jvm_command(
                self.jars, self.spec, self.node_dir, "kafka.tools.StorageTool",
                "format", "-t", cluster_id, "-c", str(self.properties), "--ignore-formatted",
            )
        )  # fmt: skip

    def start(self) -> None:
        """Start the node (a no-op when it is already running)."""
        if self.pid is not None:
            return
        command = orphan_proof(
            jvm_command(self.jars, self.spec, self.node_dir, "kafka.Kafka", str(self.properties))
        )
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== lab: starting node {self.spec.node_id} ====\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._paused = False

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, exactly like a machine losing power."""
        if self.pid is None:
            return
        self._process.kill()
        self._process.wait()
        self._paused = False

    def pause(self) -> None:
        """SIGSTOP: the process freezes with its sockets open, like a long GC pause."""
        if self.pid is not None and not self._paused:
            os.kill(self.pid, signal.SIGSTOP)
            self._paused = True

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        if self.pid is not None and self._paused:
            os.kill(self.pid, signal.SIGCONT)
            self._paused = False
