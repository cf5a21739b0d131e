"""Renders each node's server.properties, its log4j2 config and its JVM options.

Tuned for a small machine and for fast, observable failover rather than for production.
"""

from __future__ import annotations

from pathlib import Path

from playground.lab.topology import BROKER, CONTROLLER, NodeSpec, Topology

# Few threads and small heaps: four JVMs share two cores and must stay under 1.5 GB together.
JVM_OPTIONS = {
    CONTROLLER: ["-Xms48m", "-Xmx160m"],
    BROKER: ["-Xms96m", "-Xmx320m"],
}
COMMON_JVM_OPTIONS = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: much faster start-up, plenty for a lab
    "-XX:ReservedCodeCacheSize=48m",
    "-XX:MaxDirectMemorySize=128m",
    "-Xss512k",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
]

# Consumer groups whose rebalances play out in seconds, in front of a class, under both rebalance
# protocols (checked against Kafka 4.1.1's GroupCoordinatorConfig). A spec may ask for a consumer
# session timeout of 1 to 60 s: the bounds below admit that whole range and no more than needed.
CONSUMER_GROUPS = {
    # Classic protocol: the client chooses its session timeout (session.timeout.ms, sent with
    # JoinGroup) and the broker refuses one outside these bounds; the default minimum, 6 s, would
    # refuse a few seconds. The default maximum (30 min) is far above 60 s: left alone.
    "group.min.session.timeout.ms": "1000",
    # A new group's first rebalance starts at once instead of waiting 3 s for more members.
    "group.initial.rebalance.delay.ms": "0",
    # Consumer protocol (KIP-848, group.protocol=consumer): the broker owns the session timeout
    # and the heartbeat interval; librdkafka refuses both as client settings. A group takes its
    # own session timeout from a group config (consumer.session.timeout.ms), which must lie in
    # [min, max]; the defaults (45 s to 60 s) would refuse anything short.
    "group.consumer.min.session.timeout.ms": "1000",
    "group.consumer.max.session.timeout.ms": "60000",
    # A group without a group config of its own: the same 6 s as the experiments' classic
    # consumers (clients.CONSUMER_SESSION_TIMEOUT_MS) instead of 45 s.
    "group.consumer.session.timeout.ms": "6000",
    # A member learns of a new assignment, and acknowledges a revocation, only in a heartbeat: a
    # partition moves in about two intervals (the old owner's revoke, then the new owner's
    # assign). The default 5 s made a second member wait 5 s for its partitions; at 500 ms it
    # waits about 1 s, like a classic group. One member sends two small requests a second, which
    # a lab of a few 4-member experiments bears easily. The minimum is that interval, so that a
    # group config cannot ask for a busier one; a group config's session timeout of 1 s stays
    # above it, as Kafka requires.
    "group.consumer.heartbeat.interval.ms": "500",
    "group.consumer.min.heartbeat.interval.ms": "500",
}

# Settings shared by every node.
COMMON = {
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": (
        "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,CLIENT:PLAINTEXT,DIRECT:PLAINTEXT"
    ),
    "num.network.threads": "2",
    "num.io.threads": "2",
    "background.threads": "2",
    # Brokers coordinate groups with these; the controller checks every group config (the
    # consumer protocol's per-group session timeout) against its own copy of the bounds, and
    # with Kafka's defaults there it refused a group's 1 s session timeout the brokers allow.
    **CONSUMER_GROUPS,
}

BROKER = {
    "inter.broker.listener.name": "INTERNAL",
    # Experiment topics are created explicitly; a typo must not silently make a new topic.
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    # Internal topics: replicated like experiment topics, but with few partitions for fast start-up.
    "offsets.topic.num.partitions": "3",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.num.partitions": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.num.partitions": "1",
    # A follower that stops fetching leaves the ISR after 4 s (default 30 s).
    "replica.lag.time.max.ms": "4000",
    "broker.heartbeat.interval.ms": "500",
    "num.replica.fetchers": "1",
    "log.cleaner.threads": "1",
    "log.cleaner.dedupe.buffer.size": "4194304",
    "unclean.leader.election.enable": "false",
}

CONTROLLER = {
    # A broker that stops heart-beating is fenced after 3 s (default 9 s): quick leader failover.
    "broker.session.timeout.ms": "3000",
}

LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c{1})%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


def server_properties(topology: Topology, node: NodeSpec, data_dir: Path) -> dict[str, str]:
    """All broker/controller properties of `node`, as a dict."""
    controller = topology.controller
    props = {
        **COMMON,
        "node.id": str(node.node_id),
        "process.roles": node.role,
        "controller.quorum.voters": f"{controller.node_id}@127.0.0.1:{controller.controller_port}",
        "log.dirs": str(data_dir),
    }
    if node.is_broker:
        props |= BROKER
        props["listeners"] = (
            f"INTERNAL://127.0.0.1:{node.internal_port},"
            f"CLIENT://127.0.0.1:{node.broker_client_port},"
            f"DIRECT://127.0.0.1:{node.direct_port}"
        )
        # Clients learn the proxy's address for the CLIENT listener, so every request they
        # send after bootstrapping goes through the fault proxy.
        props["advertised.listeners"] = (
            f"INTERNAL://127.0.0.1:{node.internal_port},"
            f"CLIENT://127.0.0.1:{node.proxy_port},"
            f"DIRECT://127.0.0.1:{node.direct_port}"
        )
    else:
        props |= CONTROLLER
        props["listeners"] = f"CONTROLLER://127.0.0.1:{node.controller_port}"
    return props


def write_node_files(topology: Topology, node: NodeSpec, node_dir: Path) -> Path:
    """Write server.properties and log4j2.properties in `node_dir`; return the properties path."""
    node_dir.mkdir(parents=True, exist_ok=True)
    props = server_properties(topology, node, node_dir / "data")
    path = node_dir / "server.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    (node_dir / "log4j2.properties").write_text(LOG4J2)
    return path


def jvm_command(jars: Path, node: NodeSpec, node_dir: Path, main: str, *args: str) -> list[str]:
    """The java command line that runs `main` for `node` with the lab's JVM options."""
    return [
        "java",
        *JVM_OPTIONS[node.role],
        *COMMON_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={node_dir / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={node_dir}",
        "-cp",
        f"{jars}/*",
        main,
        *args,
    ]
