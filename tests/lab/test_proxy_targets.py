"""Produce faults aimed at named clients: only producers whose client id starts with a target prefix
are hit, faults aimed at any client behave as before, and one experiment can disarm its own faults
without touching another's."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from confluent_kafka import Producer

from playground.lab.admin import create_topic
from playground.lab.control import LabClient, LabError
from tests.kafka_reading import read_partition

AAA = "exp-aaa-source-producer-0"
BBB = "exp-bbb-source-producer-0"
# socket.timeout.ms: how long a producer waits for a response before it resends the request.
RETRY_AFTER_SECONDS = 2.0


def producer(lab: LabClient, client_id: str) -> Producer:
    """A non-idempotent acks=all producer through the proxies, quick to retry a lost response."""
    timeout_ms = int(RETRY_AFTER_SECONDS * 1000)
    return Producer(
        {
            "bootstrap.servers": lab.bootstrap_servers(),
            "client.id": client_id,
            "acks": "all",
            "request.timeout.ms": timeout_ms,
            "socket.timeout.ms": timeout_ms,
            "retry.backoff.ms": 100,
            "linger.ms": 0,
        }
    )


def produce_and_flush(producer: Producer, topic: str, value: bytes) -> float:
    """Produce one record and wait for its acknowledgement; return how long that took."""
    errors = []
    started = time.monotonic()
    producer.produce(topic, value, on_delivery=lambda error, _m: errors.append(error))
    assert producer.flush(30) == 0
    assert errors == [None]
    return time.monotonic() - started


def warmed_up_producers(lab: LabClient, topic: str) -> tuple[Producer, Producer]:
    """aaa's and bbb's producers, each with its metadata and connection to the leader in place."""
    create_topic(lab.bootstrap_servers(), topic)
    producers = producer(lab, AAA), producer(lab, BBB)
    for each in producers:
        produce_and_flush(each, topic, b"warm-up")
    return producers


def proxy_total(lab: LabClient, counter: str) -> int:
    """A proxy counter summed over all brokers."""
    return sum(broker[counter] for broker in lab.status()["proxy"]["brokers"].values())


def any_broker_budgets(lab: LabClient, fault: str) -> list[dict]:
    return lab.status()["proxy"]["any_broker"][f"{fault}_budgets"]


def copies_in_log(lab: LabClient, topic: str) -> Counter:
    return Counter(value for _, value in read_partition(lab.direct_bootstrap_servers(), topic))


def test_drop_aimed_at_a_prefix_hits_only_that_clients_produce_requests(healthy_lab, topic_name):
    lab = healthy_lab
    aaa, bbb = warmed_up_producers(lab, topic_name)
    dropped = proxy_total(lab, "dropped_produce_responses")
    lab.drop_produce_responses(2, clients=["exp-aaa-"])
    aimed_at_aaa = [{"clients": ["exp-aaa-"], "remaining": 2}]
    assert any_broker_budgets(lab, "drop_produce_responses") == aimed_at_aaa

    bbb_seconds = produce_and_flush(bbb, topic_name, b"bbb-1")

    assert bbb_seconds < RETRY_AFTER_SECONDS  # answered at once: no retry
    assert proxy_total(lab, "dropped_produce_responses") == dropped
    assert any_broker_budgets(lab, "drop_produce_responses") == aimed_at_aaa

    aaa_seconds = produce_and_flush(aaa, topic_name, b"aaa-1")

    assert aaa_seconds > RETRY_AFTER_SECONDS  # the request and its first retry went unanswered
    assert proxy_total(lab, "dropped_produce_responses") == dropped + 2
    assert any_broker_budgets(lab, "drop_produce_responses") == []
    assert lab.status()["proxy"]["any_broker"]["drop_produce_responses"] == 0
    copies = copies_in_log(lab, topic_name)
    assert (copies[b"aaa-1"], copies[b"bbb-1"]) == (3, 1)  # aaa wrote it with each retry


def test_the_lab_tells_whose_responses_it_dropped_and_forgets_them_with_their_faults(
    healthy_lab, topic_name
):
    lab = healthy_lab
    aaa, bbb = warmed_up_producers(lab, topic_name)
    lab.drop_produce_responses(2, clients=["exp-aaa-"])
    lab.drop_produce_responses(1, clients=["exp-bbb-"])

    produce_and_flush(aaa, topic_name, b"aaa-1")  # the request and its first retry unanswered
    produce_and_flush(bbb, topic_name, b"bbb-1")

    dropped = lab.dropped_responses(["exp-aaa-", "exp-bbb-"])
    assert {client: d["count"] for client, d in dropped.items()} == {AAA: 2, BBB: 1}
    # aaa's last drop was its retry, before bbb's request was even sent.
    assert dropped[AAA]["seconds_ago"] > dropped[BBB]["seconds_ago"] >= 0
    assert set(lab.dropped_responses(["exp-bbb-"])) == {BBB}

    lab.clear_client_faults(["exp-aaa-"])

    assert set(lab.dropped_responses(["exp-"])) == {BBB}


def test_a_budget_for_any_client_still_hits_whoever_produces_next(healthy_lab, topic_name):
    lab = healthy_lab
    aaa, bbb = warmed_up_producers(lab, topic_name)
    dropped = proxy_total(lab, "dropped_produce_responses")
    lab.drop_produce_responses(1, clients=["exp-aaa-"])
    lab.drop_produce_responses(1)
    assert any_broker_budgets(lab, "drop_produce_responses") == [
        {"clients": ["exp-aaa-"], "remaining": 1},
        {"clients": None, "remaining": 1},
    ]
    assert lab.status()["proxy"]["any_broker"]["drop_produce_responses"] == 2

    # bbb passes the budget aimed at aaa and takes the one aimed at any client.
    assert produce_and_flush(bbb, topic_name, b"bbb-1") > RETRY_AFTER_SECONDS
    assert any_broker_budgets(lab, "drop_produce_responses") == [
        {"clients": ["exp-aaa-"], "remaining": 1}
    ]
    # aaa takes its own, and its retry finds nothing left.
    assert produce_and_flush(aaa, topic_name, b"aaa-1") > RETRY_AFTER_SECONDS
    assert any_broker_budgets(lab, "drop_produce_responses") == []
    assert produce_and_flush(bbb, topic_name, b"bbb-2") < RETRY_AFTER_SECONDS

    assert proxy_total(lab, "dropped_produce_responses") == dropped + 2
    copies = copies_in_log(lab, topic_name)
    assert (copies[b"bbb-1"], copies[b"aaa-1"], copies[b"bbb-2"]) == (2, 2, 1)


def test_reset_aimed_at_a_prefix_on_one_broker_spares_other_clients(healthy_lab, topic_name):
    lab = healthy_lab
    aaa, bbb = warmed_up_producers(lab, topic_name)
    leader = str(lab.leadership(topic_name).leader)
    resets = proxy_total(lab, "resets")
    lab.reset_after_produce(1, node=int(leader), clients=["exp-aaa-"])

    def leader_budgets() -> list[dict]:
        return lab.status()["proxy"]["brokers"][leader]["reset_after_produce_budgets"]

    produce_and_flush(bbb, topic_name, b"bbb-1")
    assert proxy_total(lab, "resets") == resets
    assert leader_budgets() == [{"clients": ["exp-aaa-"], "remaining": 1}]

    produce_and_flush(aaa, topic_name, b"aaa-1")
    assert proxy_total(lab, "resets") == resets + 1
    assert leader_budgets() == []


def test_clearing_one_experiments_faults_leaves_the_others_armed(healthy_lab):
    lab = healthy_lab
    lab.drop_produce_responses(5, clients=["exp-aaa-"])
    lab.drop_produce_responses(4, clients=["exp-bbb-"])
    lab.drop_produce_responses(3)
    lab.drop_produce_responses(2, clients=("exp-bbb-",))  # adds to bbb's budget
    lab.reset_after_produce(2, node=1, clients=["exp-ccc-", "exp-aaa-source-"])
    lab.reset_after_produce(1, node=1, clients=["exp-aaa-"])

    assert lab.clear_client_faults(["exp-aaa-"]) == 5 + 1

    proxy = lab.status()["proxy"]
    assert proxy["any_broker"]["drop_produce_responses_budgets"] == [
        {"clients": ["exp-bbb-"], "remaining": 6},
        {"clients": None, "remaining": 3},
    ]
    assert proxy["any_broker"]["drop_produce_responses"] == 9
    # The budget aimed at aaa's sources and at ccc keeps aiming at ccc.
    assert proxy["brokers"]["1"]["reset_after_produce_budgets"] == [
        {"clients": ["exp-ccc-"], "remaining": 2}
    ]
    assert proxy["brokers"]["1"]["reset_after_produce"] == 2
    assert lab.clear_client_faults(["exp-aaa-"]) == 0


@pytest.mark.parametrize(
    ("op", "arguments"),
    [
        ("drop_produce_responses", {"count": 1, "clients": "exp-aaa-"}),
        ("drop_produce_responses", {"count": 1, "clients": []}),
        ("drop_produce_responses", {"count": 1, "clients": [""]}),
        ("drop_produce_responses", {"count": 1, "clients": ["exp-aaa-", 7]}),
        ("reset_after_produce", {"count": 1, "clients": [f"exp-{i}-" for i in range(11)]}),
        ("reset_after_produce", {"count": 1, "clients": {"exp-aaa-": 1}}),
        ("clear_client_faults", {}),
        ("clear_client_faults", {"clients": None}),
        ("dropped_responses", {}),
    ],
)
def test_bad_client_prefixes_name_the_field_and_arm_nothing(lab, op, arguments):
    with pytest.raises(LabError, match="clients: expected a list of 1 to 10 non-empty"):
        lab.call(op, **arguments)
    any_broker = lab.status()["proxy"]["any_broker"]
    assert any_broker["drop_produce_responses_budgets"] == []
    assert any_broker["reset_after_produce_budgets"] == []


def test_unknown_op_lists_clear_client_faults(lab):
    with pytest.raises(LabError, match="clear_client_faults"):
        lab.call("explode")
