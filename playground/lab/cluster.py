"""A managed KRaft cluster: one controller and three brokers as child processes of the lab.

Call every method from the lab's main thread (see node.py on why). Readiness is what a client
sees: the AdminClient listing all brokers, never a line in a log.
"""

from __future__ import annotations

import base64
import shutil
import uuid
from pathlib import Path

from playground.lab import admin
from playground.lab.node import Node
from playground.lab.topology import BROKER_IDS, Topology


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own Uuid.randomUuid, it never starts with "-": the storage tool's argument parser
    would take such an id for an option (one start in 64 failed that way)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class Cluster:
    """The nodes of one cluster, under `root` (one sub-folder per node)."""

    def __init__(self, topology: Topology, root: Path, jars: Path) -> None:
        self.topology = topology
        self.root = root
        self.nodes = {
            spec.node_id: Node(topology, spec, root / f"node-{spec.node_id}", jars)
            for spec in topology.nodes
        }

    @classmethod
    def fresh(cls, topology: Topology, root: Path, jars: Path) -> Cluster:
        """A cluster with empty data folders (any previous run's data is deleted)."""
        if root.exists():
            shutil.rmtree(root)
        return cls(topology, root, jars)

    def node(self, node_id: int) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise KeyError(f"no node {node_id}; nodes are {sorted(self.nodes)}") from None

    def format_commands(self) -> list[list[str]]:
        """One StorageTool command per node, all with the same new cluster id."""
        cluster_id = new_cluster_id()
        return [node.format_command(cluster_id) for node in self.nodes.values()]

    def start(self) -> None:
        """Start every node that is not running."""
        for node in self.nodes.values():
            node.start()

    def missing_brokers(self) -> set[int]:
        """Brokers that the cluster's metadata does not list (all of them if it cannot answer)."""
        try:
            visible = admin.visible_broker_ids(self.topology.direct_bootstrap_servers, timeout=1.0)
        except Exception:  # noqa: BLE001 - any client error means "not ready yet"
            return set(BROKER_IDS)
        return set(BROKER_IDS) - visible

    def dead_nodes(self) -> list[int]:
        return [node_id for node_id, node in self.nodes.items() if node.pid is None]

    def kill(self) -> None:
        """SIGKILL every node. The lab's clusters are disposable (each start formats anew), so
        there is nothing a graceful shutdown would keep, and this takes milliseconds."""
        for node in self.nodes.values():
            node.kill()
