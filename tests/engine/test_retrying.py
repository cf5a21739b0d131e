"""The workers' retry in place (workers/exits.retrying): a retriable error is tried again, and an
answer the caller acts on is raised at once even when the client calls it retriable, so that a
commit refused while a rebalance is in progress goes back to the member (which must poll to take
part in the rebalance) instead of holding the rebalance up. Pure logic: no cluster."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from playground.engine.workers import exits
from playground.engine.workers.consumer import REFUSED_BY_THE_GROUP


def failing(*codes: int):
    """A call that fails with each of `codes` in turn, then answers "done"."""
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(codes):
            raise KafkaException(KafkaError(codes[len(calls) - 1]))
        return "done"

    return call, calls


def test_a_retriable_error_is_tried_again(monkeypatch):
    monkeypatch.setattr(exits, "RETRY_BACKOFF_SECONDS", 0)
    call, calls = failing(KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.REBALANCE_IN_PROGRESS)

    assert exits.retrying(call) == "done"
    assert len(calls) == 3


def test_a_final_answer_is_raised_at_once_though_retriable(monkeypatch):
    monkeypatch.setattr(exits, "RETRY_BACKOFF_SECONDS", 0)
    call, calls = failing(KafkaError.REBALANCE_IN_PROGRESS)

    with pytest.raises(KafkaException) as raised:
        exits.retrying(call, final=REFUSED_BY_THE_GROUP)

    assert raised.value.args[0].code() == KafkaError.REBALANCE_IN_PROGRESS
    assert len(calls) == 1


def test_a_commit_refused_by_the_group_is_never_retried_in_place():
    assert KafkaError.REBALANCE_IN_PROGRESS in REFUSED_BY_THE_GROUP
    assert exits.is_retriable(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))  # hence `final`
