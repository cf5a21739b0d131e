"""The live page's consumer group, asked of the real cluster: the run observer describes the
experiment's group (through its kafka_questions child) and names every member, the partitions it
owns, and the experiment's session and member it is, under both rebalance protocols; and when the
group's coordinator is killed or frozen, the child lives on and describes the group again."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer

from playground.engine.naming import CONSUMER, ExperimentNames, member_name
from playground.engine.observe.run_observer import RunObserver
from playground.engine.run import coordinators
from playground.engine.run.clusters import Target
from playground.engine.spec.model import Spec
from playground.lab.admin import create_topic

PARTITIONS = 4
SETTLE_SECONDS = 30.0
# Per protocol: the members' own settings, and whether they are static (then the describe names
# their member by its instance id; otherwise the snapshots name it by its session).
PROTOCOLS = {
    "classic": ({"partition.assignment.strategy": "cooperative-sticky"}, True),
    "consumer": ({"group.protocol": "consumer", "group.remote.assignor": "uniform"}, False),
}


class Members:
    """Consumers of the experiment's group, named as its workers name theirs, each polling in a
    thread of its own."""

    def __init__(self, lab, names: ExperimentNames, settings: dict, static: bool) -> None:
        self.lab, self.names, self.settings, self.static = lab, names, settings, static
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def join(self, member: int, session: int) -> None:
        config = self.settings | {
            "bootstrap.servers": self.lab.bootstrap_servers(),
            "group.id": self.names.group_id,
            "client.id": self.names.client_id(CONSUMER, session),
            "log_level": 3,
        }
        if self.static:
            config["group.instance.id"] = self.names.consumer_instance_id(member)
        consumer = Consumer(config)
        consumer.subscribe([self.names.input_topic])
        thread = threading.Thread(target=self._poll, args=(consumer,), daemon=True)
        thread.start()
        self.threads.append(thread)

    def _poll(self, consumer: Consumer) -> None:
        while not self.stop.is_set():
            consumer.poll(0.1)
        consumer.close()

    def leave(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


class View:
    """The web's publisher, as the observer sees it: what it was handed."""

    def __init__(self) -> None:
        self.clusters: list[dict] = []

    def snapshot(self, snapshot: dict) -> None:
        pass

    def strip(self, view) -> None:
        pass

    def cluster(self, state: dict) -> None:
        self.clusters.append(state)


def wait_for(found, what: str):
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} in {SETTLE_SECONDS} s")


def wait_for_group(observer: RunObserver, settled, what: str) -> dict:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        group = observer.group()
        if settled(group):
            return group
        time.sleep(0.2)
    raise AssertionError(f"the group was not {what} in {SETTLE_SECONDS} s: {observer.group()}")


def two_members_own_every_partition(group: dict) -> bool:
    owned = [p for m in group["members"] for p in m["partitions"]]
    return (
        len(group["members"]) == 2
        and all(m["partitions"] for m in group["members"])
        and sorted(owned) == list(range(PARTITIONS))
    )


@pytest.fixture
def watched(lab, tmp_path, topic_name):
    """An experiment's names, its input topic, and a run observer following it."""
    names = ExperimentNames(topic_name, tmp_path)
    create_topic(lab.direct_bootstrap_servers(), names.input_topic, partitions=PARTITIONS)
    spec = Spec.from_json({"workload": {"partitions": PARTITIONS}})
    view = View()
    observer = RunObserver(names, spec, Target.managed(lab), view)
    observer.start()
    yield names, observer, view
    observer.final()


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_the_observer_names_each_member_and_the_partitions_it_owns(lab, watched, protocol):
    names, observer, view = watched
    settings, static = PROTOCOLS[protocol]
    members = Members(lab, names, settings, static)
    # Member 1 runs session 2 (its worker's snapshot says so), member 0 session 0.
    observer.snapshot(
        {
            "elapsed": 0.0,
            "workers": {member_name(0): {"session": 0}, member_name(1): {"session": 2}},
        }
    )
    try:
        members.join(member=0, session=0)
        members.join(member=1, session=2)

        group = wait_for_group(observer, two_members_own_every_partition, "shared by two members")
        # The cluster panel's state carries the group too.
        wait_for(
            lambda: any(two_members_own_every_partition(c["group"]) for c in view.clusters),
            "group in the view's cluster state",
        )
    finally:
        members.leave()

    assert group["type"] == protocol
    assert group["assignor"] == ("cooperative-sticky" if protocol == "classic" else "uniform")
    assert group["state"] == "stable"
    assert group["coordinator"] in (1, 2, 3)
    assert group["error"] == ""
    described = {(m["member"], m["session"], m["client_id"]) for m in group["members"]}
    assert described == {
        (0, 0, names.client_id(CONSUMER, 0)),
        (1, 2, names.client_id(CONSUMER, 2)),
    }
    for member in group["members"]:
        expected_instance = names.consumer_instance_id(member["member"]) if static else None
        assert member["instance_id"] == expected_instance
        assert member["member_id"]
        if protocol == "consumer":
            assert member["target"] == member["partitions"]
        else:
            assert member["target"] is None


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_the_group_is_described_again_after_its_coordinator_dies_or_freezes(
    healthy_lab, watched, fault
):
    """A describe aimed at a coordinator that dies or freezes can abort librdkafka's process: the
    child that asks must live on (coordinators' and kafka_questions' docstrings)."""
    lab = healthy_lab
    names, observer, _ = watched
    members = Members(lab, names, PROTOCOLS["classic"][0], static=False)
    try:
        members.join(member=0, session=0)
        members.join(member=1, session=1)
        wait_for_group(observer, two_members_own_every_partition, "shared by two members")
        child = observer.questions.pid
        coordinator = coordinators.coordinator(
            lab.direct_bootstrap_servers(), "group", names.group_id
        )

        getattr(lab, fault)(coordinator)
        wait_for_group(observer, lambda g: g["error"], "left undescribed")
        if fault == "pause":
            time.sleep(3)  # frozen a while, then back
            lab.resume(coordinator)
        described = wait_for_group(
            observer, lambda g: g["error"] == "" and g["age_seconds"] < 1.5, "described again"
        )
    finally:
        members.leave()

    assert observer.questions.pid == child, observer.questions.failure
    if fault == "kill":
        assert described["coordinator"] != coordinator
