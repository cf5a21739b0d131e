"""The lab's consumer-group settings (lab/config.py CONSUMER_GROUPS), as the running cluster applies
them: every session timeout a spec may ask for is accepted under both rebalance protocols, and a
consumer-protocol member heartbeats often enough for a rebalance to take about a second."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from playground.lab.admin import admin_client, create_topic
from playground.lab.config import CONSUMER_GROUPS

# The consumer session timeouts a spec may ask for (consumer.session_timeout_ms).
SPEC_SESSION_TIMEOUTS_MS = (1000, 60000)


def group_config(lab, group: str, **settings: str) -> dict[str, str]:
    """Set a group's own configs (names with dots as underscores), then read them all back."""
    client = admin_client(lab.direct_bootstrap_servers())
    entries = [
        ConfigEntry(name.replace("_", "."), value, incremental_operation=AlterConfigOpType.SET)
        for name, value in settings.items()
    ]
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    client.incremental_alter_configs([resource])[resource].result(timeout=15)
    described = ConfigResource(ResourceType.GROUP, group)
    found = client.describe_configs([described])[described].result(timeout=15)
    return {name: entry.value for name, entry in found.items()}


@pytest.mark.parametrize("session_timeout_ms", SPEC_SESSION_TIMEOUTS_MS)
def test_a_consumer_protocol_group_takes_any_session_timeout_a_spec_allows(lab, session_timeout_ms):
    """The controller checks group configs against its own copy of the bounds: this fails if only
    the brokers have them."""
    configs = group_config(
        lab,
        f"test-group-{uuid.uuid4().hex[:8]}",
        consumer_session_timeout_ms=str(session_timeout_ms),
    )

    assert configs["consumer.session.timeout.ms"] == str(session_timeout_ms)
    # The group heartbeats at the lab's interval, well inside the shortest session.
    assert (
        configs["consumer.heartbeat.interval.ms"]
        == CONSUMER_GROUPS["group.consumer.heartbeat.interval.ms"]
    )


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_a_member_with_the_shortest_session_a_spec_allows_gets_its_partitions(
    lab, topic_name, protocol
):
    """A classic member sends its own session timeout, which the broker refuses below
    group.min.session.timeout.ms; a consumer-protocol member takes its group's."""
    create_topic(lab.direct_bootstrap_servers(), topic_name, partitions=2)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    config = {
        "bootstrap.servers": lab.bootstrap_servers(),
        "group.id": group,
        "group.protocol": protocol,
        "log_level": 3,
    }
    if protocol == "classic":
        config |= {"session.timeout.ms": 1000, "heartbeat.interval.ms": 300}
    else:
        group_config(lab, group, consumer_session_timeout_ms="1000")
    member = Consumer(config)
    try:
        member.subscribe([topic_name])
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.1)
        assert sorted(tp.partition for tp in member.assignment()) == [0, 1]
    finally:
        member.close()
