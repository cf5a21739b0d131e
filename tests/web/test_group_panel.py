"""The live page's cluster panel names the consumer group's members and the partitions each owns,
as the run observer's group watch last described them."""

from __future__ import annotations

from django.template.loader import render_to_string


def panel(group: dict) -> str:
    cluster = {"nodes": [], "partitions": [], "error": "", "managed": True, "group": group}
    return render_to_string("experiment.html#cluster_state", {"cluster": cluster, "live": True})


def described(**changes) -> dict:
    group = {
        "state": "Stable",
        "type": "consumer",
        "assignor": "uniform",
        "coordinator": 2,
        "members": [
            {"member": 0, "session": 0, "client_id": "exp-x-consumer-0", "partitions": [0, 1],
             "target": [0, 1]},
            {"member": 1, "session": 3, "client_id": "exp-x-consumer-3", "partitions": [2],
             "target": [2, 3]},
        ],
        "age_seconds": 0.4,
        "error": "",
    }  # fmt: skip
    return group | changes


def test_each_member_shows_its_session_and_partitions_and_where_they_move():
    html = panel(described())

    assert "Consumer group" in html and "consumer protocol, uniform, stable" in html
    assert "member 0 (session 0): partitions 0, 1</li>" in html
    assert "member 1 (session 3): partitions 2, moving to 2, 3" in html


def test_a_coordinator_that_does_not_answer_leaves_the_last_description_with_its_age():
    html = panel(described(age_seconds=3.2, error="the coordinator does not answer"))

    assert "member 0 (session 0)" in html
    assert "As Kafka described it 3.2 s ago: the coordinator does not answer" in html


def test_a_group_never_described_yet_shows_no_members():
    html = panel(described(members=[], age_seconds=None, state=None, type=None))

    assert "Consumer group" in html and "member 0" not in html


def test_the_verdict_says_each_consumer_duplicate_s_cause_in_place_of_the_total():
    from playground.web import verdict

    audit = {
        "duplicated_by_consumer": 7,
        "duplicated_by_crash": 0,
        "duplicated_by_rebalance": 5,
        "duplicated_by_zombie": 2,
        "duplicated_by_abort": 0,
    }
    findings = verdict.explain({"audit": audit, "promise": {}})

    assert [(f.kind, f.count) for f in findings] == [
        ("duplicated_by_rebalance", 5),
        ("duplicated_by_zombie", 2),
    ]
    assert findings[1].headline == "duplicated by a zombie"


def test_a_result_from_before_the_causes_keeps_the_consumer_total():
    from playground.web import verdict

    findings = verdict.explain({"audit": {"duplicated_by_consumer": 3}, "promise": {}})

    assert [(f.kind, f.count) for f in findings] == [("duplicated_by_consumer", 3)]
