"""The shape of a managed cluster: which nodes exist, their roles and every port they use.

One dedicated KRaft controller plus three brokers. The controller is its own process so that broker
faults (kill the leader, pause both followers) never cost the controller quorum: with three combined
nodes, pausing two of them would also stop the metadata quorum and no leader could be elected.
"""

from __future__ import annotations

from dataclasses import dataclass

# A node's role, as Kafka's process.roles spells it.
CONTROLLER, BROKER = "controller", "broker"
CONTROLLER_ID = 100
BROKER_IDS = (1, 2, 3)


@dataclass(frozen=True)
class NodeSpec:
    """One node of the cluster: its id, role and ports (0 where the role has no such port)."""

    node_id: int
    role: str  # CONTROLLER or BROKER
    controller_port: int = 0
    internal_port: int = 0  # inter-broker listener, never proxied
    broker_client_port: int = 0  # the broker's own client listener, reached only by the proxy
    proxy_port: int = 0  # what clients are told: the proxy in front of broker_client_port
    direct_port: int = 0  # an unproxied client listener, for the audit and for benchmarks

    @property
    def is_broker(self) -> bool:
        return self.role == BROKER


@dataclass(frozen=True)
class Topology:
    """All nodes of one cluster, laid out from a single base port.

    Ports for base B: controller B; broker n (1..3): internal B+10+n, own client listener B+20+n,
    proxy B+30+n, direct B+40+n. Two labs with bases 100 apart never collide.
    """

    port_base: int

    @property
    def controller(self) -> NodeSpec:
        return NodeSpec(node_id=CONTROLLER_ID, role=CONTROLLER, controller_port=self.port_base)

    @property
    def brokers(self) -> tuple[NodeSpec, ...]:
        b = self.port_base
        return tuple(
            NodeSpec(
                node_id=n,
                role=BROKER,
                internal_port=b + 10 + n,
                broker_client_port=b + 20 + n,
                proxy_port=b + 30 + n,
                direct_port=b + 40 + n,
            )
            for n in BROKER_IDS
        )

    @property
    def nodes(self) -> tuple[NodeSpec, ...]:
        return (self.controller, *self.brokers)

    def node(self, node_id: int) -> NodeSpec:
        for spec in self.nodes:
            if spec.node_id == node_id:
                return spec
        raise KeyError(f"no node {node_id}; nodes are {[n.node_id for n in self.nodes]}")

    @property
    def bootstrap_servers(self) -> str:
        """What clients use: every broker through its fault proxy."""
        return ",".join(f"127.0.0.1:{b.proxy_port}" for b in self.brokers)

    @property
    def direct_bootstrap_servers(self) -> str:
        """Unproxied access, immune to proxy faults: for the audit and for benchmarks."""
        return ",".join(f"127.0.0.1:{b.direct_port}" for b in self.brokers)
