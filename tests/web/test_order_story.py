"""An order's story: the sentence for each kind of anomaly, the commit that covered a copy, the
picture, and the page's answers to bad links. Pure logic over hand-made stories and snapshots."""

from __future__ import annotations

import json

import pytest

from playground.engine.spec.model import Spec
from playground.web.models import Experiment
from playground.web.stories import order_sequence, picture
from playground.web.stories.sentence import sentence


def story(**fields) -> dict:
    """A delivered order's story as stories.jsonl keeps it, with `fields` changed."""
    return {
        "order_id": "order-0000041",
        "attempts": 1,
        "sessions": [0],
        "acked_at": [[0, 41, 0]],
        "producer_outcome": "acked",
        "log_copies": [[0, 41, True]],
        "visible_copies": 1,
        "effects": 1,
        "effect_sources": [[0, 41, 1]],
        "handler_runs": 1,
        "deduplicated": 0,
        "aborted_reads": 0,
        "outcome": "delivered",
        "processings": [[0, 41, 0, "counted"]],
        "kinds": [],
    } | fields


def spec(**document) -> Spec:
    return Spec.from_json(document)


REDELIVERED = story(
    outcome="duplicated",
    effects=2,
    effect_sources=[[0, 41, 2]],
    handler_runs=2,
    processings=[[0, 41, 0, "counted"], [0, 41, 1, "counted"]],
)


def test_a_consumer_duplicate_names_the_commit_timing_and_both_sessions():
    said = sentence(REDELIVERED, spec(consumer={"commit": "after-processing"}))
    assert said.startswith("consumer.commit = after-processing with consumer.idempotent off")
    assert "restarted consumer (session 1) process p0@41 again" in said
    assert "session 0 had processed it" in said


def test_a_consumer_duplicate_under_transactions_says_the_charge_is_outside_them():
    transactional = spec(
        producer={"transactional": True, "enable_idempotence": True},
        consumer={"commit": "transactional"},
    )
    said = sentence(REDELIVERED, transactional)
    assert said.startswith("consumer.commit = transactional commits the offsets but not")


def test_a_producer_duplicate_from_a_restart_names_the_restart_and_transactions():
    resent = story(
        outcome="duplicated",
        attempts=2,
        sessions=[0, 1],
        acked_at=[[0, 9, 1]],
        log_copies=[[0, 3, True], [0, 9, True]],
        effects=2,
        effect_sources=[[0, 3, 1], [0, 9, 1]],
        processings=[[0, 3, 0, "counted"], [0, 9, 0, "counted"]],
    )
    said = sentence(resent, spec())
    assert "restarts.producer.enabled on, producer.transactional off" in said
    assert "session 1 send order-0000041 again" in said and "p0@3, p0@9" in said


def test_a_transactional_producer_duplicate_names_where_it_keeps_its_position():
    resent = story(
        outcome="duplicated",
        attempts=2,
        sessions=[0, 1],
        log_copies=[[0, 3, True], [0, 25, True]],
        effects=2,
        effect_sources=[[0, 3, 1], [0, 25, 1]],
    )
    transactional = {"transactional": True, "enable_idempotence": True, "position": "log"}
    said = sentence(resent, spec(producer=transactional))
    assert "keeps its position in its own log (producer.position = log)" in said
    assert "session 1 send order-0000041 again: session 0 died as the transaction" in said


def test_a_record_the_producer_gave_up_on_names_the_bounds_of_its_retries():
    given_up = story(
        outcome="lost_at_producer",
        producer_outcome="failed",
        acked_at=[],
        log_copies=[],
        effects=0,
        effect_sources=[],
        processings=[],
    )
    said = sentence(given_up, spec(producer={"message_timeout_ms": 60000}))
    assert said.startswith(
        "producer.message_timeout_ms = 60000 and producer.retries = 2147483647 bound"
    )
    assert "gave up on order-0000041" in said


def test_a_producer_duplicate_from_a_retry_names_idempotence():
    retried = story(
        outcome="duplicated",
        log_copies=[[0, 3, True], [0, 4, True]],
        effects=2,
        effect_sources=[[0, 3, 1], [0, 4, 1]],
    )
    said = sentence(retried, spec(producer={"enable_idempotence": False}))
    assert said.startswith("producer.enable_idempotence off let a retry write order-0000041")


def test_a_loss_at_the_consumer_names_commit_before_processing():
    skipped = story(outcome="lost_at_consumer", effects=0, effect_sources=[], processings=[])
    said = sentence(skipped, spec(consumer={"commit": "before-processing", "batch_size": 10}))
    assert said.startswith("consumer.commit = before-processing committed the group's offset")
    assert "past p0@41 before it was processed" in said


def test_a_loss_at_the_broker_names_acks_1():
    gone = story(outcome="lost_at_broker", log_copies=[], effects=0, effect_sources=[])
    said = sentence(gone | {"processings": []}, spec(producer={"acks": "1"}))
    assert said.startswith("producer.acks = 1 let the leader acknowledge p0@41 alone")


def test_a_loss_at_the_producer_names_acks_0():
    unanswered = story(
        outcome="lost_at_producer",
        producer_outcome="sent",
        acked_at=[],
        log_copies=[],
        effects=0,
        effect_sources=[],
        processings=[],
    )
    said = sentence(unanswered, spec(producer={"acks": "0"}))
    assert said.startswith("producer.acks = 0 let the producer count order-0000041 as sent")


def test_an_aborted_read_names_read_uncommitted():
    aborted = story(
        aborted_reads=1,
        log_copies=[[0, 41, False]],
        processings=[[0, 41, 2, "counted"]],
    )
    document = {"producer": {"transactional": True, "enable_idempotence": True}}
    said = sentence(aborted, spec(consumer={"isolation_level": "read_uncommitted"}, **document))
    assert said.startswith("consumer.isolation_level = read_uncommitted let consumer session 2")
    assert "p0@41, a copy from an aborted transaction" in said


def test_a_skipped_charge_is_credited_to_the_idempotent_consumer():
    deduplicated = story(
        handler_runs=2,
        deduplicated=1,
        processings=[[0, 41, 0, "counted"], [0, 41, 1, "deduplicated"]],
    )
    said = sentence(deduplicated, spec(consumer={"idempotent": True}))
    assert said.startswith("consumer.idempotent on recognised order-0000041")
    assert "consumer session 1" in said


def test_without_a_readable_spec_the_sentence_names_the_setting_alone():
    said = sentence(REDELIVERED, None)
    assert said.startswith("consumer.commit let the restarted consumer (session 1)")


def test_a_clean_delivery_and_an_unexplained_order_say_so():
    assert "no anomaly" in sentence(story(), spec())
    assert "No producer session attempted" in sentence(story(outcome="unexplained"), spec())


def snapshot_with_commits(*commits) -> dict:
    partition = {"partition": 0, "log_end": 150, "committed": 150, "position": 150}
    return {"delivered": 150, "partitions": [partition | {"commits": [list(c) for c in commits]}]}


def test_the_commit_that_covered_a_copy_is_the_first_one_past_its_offset():
    history = order_sequence.commit_history(
        snapshot_with_commits((1.0, 20), (3.4, 120), (5.0, 150))
    )
    assert order_sequence.covering_commit(history, 0, 41) == order_sequence.Commit(3.4, 120)
    assert order_sequence.covering_commit(history, 0, 19) == order_sequence.Commit(1.0, 20)
    assert order_sequence.covering_commit(history, 0, 150) is None
    assert order_sequence.covering_commit(history, 1, 0) is None


def test_the_picture_shows_the_covering_commit_or_says_the_history_was_not_recorded():
    history = order_sequence.commit_history(snapshot_with_commits((3.4, 120)))
    seen = order_sequence.sequence(REDELIVERED, pipeline="side-effect", history=history)
    assert any(s.words == "p0@41 was covered by the commit seen at 3.4 s (group offset 120)."
               for s in seen.steps)  # fmt: skip
    for old in (None, {}, {"partitions": "nonsense"}, {"delivered": 3}):
        unrecorded = order_sequence.sequence(
            REDELIVERED, pipeline="side-effect", history=order_sequence.commit_history(old)
        )
        assert unrecorded.steps[-1].words == "The commit history was not recorded for this run."


def test_an_odd_commit_history_is_read_as_far_as_it_makes_sense():
    odd = {"partitions": [{"partition": 0, "commits": [[1, "x"], "y", [True, 3], [2.5, 60]]}, 7]}
    assert order_sequence.commit_history(odd) == {0: [order_sequence.Commit(2.5, 60)]}


def test_the_picture_has_a_lane_per_session_and_escapes_every_text():
    seen = order_sequence.sequence(
        REDELIVERED | {"order_id": "<b>"}, pipeline="kafka-to-kafka", history=None
    )
    assert [lane.subtitle for lane in seen.lanes] == [
        "session 0", "partition 0", "session 0", "session 1", "running totals",
    ]  # fmt: skip
    svg = picture.render(seen)
    assert svg.startswith("<svg") and "<b>" not in svg and "&lt;b&gt;" in svg
    assert "style=" not in svg  # the CSP allows no inline style
    assert svg.count('class="story-step step-process"') == 2


def test_a_story_kept_before_sessions_were_recorded_still_draws():
    old = story(acked_at=[[0, 41]], effects=2, effect_sources=[[0, 41, 2]], outcome="duplicated")
    del old["processings"]
    seen = order_sequence.sequence(old, pipeline="side-effect", history=None)
    assert "session not recorded" in [lane.subtitle for lane in seen.lanes]
    assert seen.processed == 2
    assert "restarted consumer (a new session)" in sentence(old, spec())


@pytest.fixture
def finished(settings, tmp_path) -> Experiment:
    """A finished experiment whose stories file holds two orders."""
    settings.VAR_DIR = tmp_path
    experiment = Experiment.objects.create(
        spec=spec(consumer={"commit": "after-processing"}).to_json(),
        run_id="r1",
        status=Experiment.DONE,
        snapshot=snapshot_with_commits((3.4, 120)),
    )
    folder = tmp_path / "experiments" / "r1"
    folder.mkdir(parents=True)
    lines = [story(order_id="order-0000040"), REDELIVERED]
    (folder / "stories.jsonl").write_text("".join(json.dumps(s) + "\n" for s in lines))
    return experiment


@pytest.mark.django_db
def test_the_story_page_draws_the_picture_and_says_the_sentence(client, finished):
    page = client.get(f"{finished.get_absolute_url()}orders/order-0000041")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<svg class="order-story-picture"' in html
    assert "consumer.commit = after-processing" in html
    assert "covered by the commit seen at 3.4 s (group offset 120)" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("order_id", "status"),
    [
        ("order-9999999", 404),  # well formed, not in this experiment
        ("order-00000", 404),
        ("a%20b", 400),  # a space
        ("%22quoted%22", 400),
        ("x" * 121, 400),
        ("caf%C3%A9", 400),
    ],
)
def test_a_bad_or_unknown_order_id_is_a_clear_error_not_a_crash(client, finished, order_id, status):
    response = client.get(f"{finished.get_absolute_url()}orders/{order_id}")
    assert response.status_code == status
    if status == 400:
        assert response.content.decode().startswith("order: ")


@pytest.mark.django_db
def test_the_story_of_an_unknown_or_unfinished_experiment_is_not_found(client, finished):
    assert client.get("/e/nosuchexperiment/orders/order-0000041").status_code == 404
    Experiment.objects.filter(pk=finished.pk).update(status=Experiment.RUNNING)
    assert client.get(f"{finished.get_absolute_url()}orders/order-0000041").status_code == 404
