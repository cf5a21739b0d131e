"""The log strip against the real cluster: the markers read from Kafka, the position going back to
the committed offset when the consumer is replaced, the ranges agreeing with the audit, and the
picture small enough to send ten times a second."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from playground.asgi import application
from playground.engine.naming import ExperimentNames
from playground.engine.observe import log_strip
from playground.engine.spec.model import Spec, default_spec
from playground.engine.spec.presets import PRESETS
from playground.web import strip
from playground.web.models import Experiment
from playground.web.runs import runner
from tests.web.conftest import wait_until_finished

ORIGIN = [(b"origin", b"http://127.0.0.1")]
ROW = re.compile(
    r'data-partition="(\d+)" data-end="(\d+)" data-committed="(\d*)" data-position="(\d+)"'
)
MAX_FRAGMENT_BYTES = 20_000


def rows(html: str) -> dict[int, tuple[int, int | None, int]]:
    """partition -> (log end, committed, position) as a strip fragment draws them."""
    return {
        int(p): (int(end), int(committed) if committed else None, int(position))
        for p, end, committed, position in ROW.findall(html)
    }


def covered(ranges: list[list[int]]) -> int:
    return sum(end - start for start, end in ranges)


def partitions_of(experiment: Experiment) -> list[dict]:
    return Client().get(f"/api/experiments/{experiment.share_id}").json()["partitions"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_killed_consumer_lights_what_it_handles_again_as_duplicates(playground):
    spec = Spec.from_json(
        {
            "name": "strip: kill before commit",
            "workload": {"records": 400, "rate": 100, "partitions": 2},
            "producer": {"acks": "all", "enable_idempotence": True},
            "consumer": {"commit": "after-processing", "batch_size": 50},
            "faults": [
                {"kind": "kill-consumer", "at": {"records": 120},
                 "point": "after-processing-before-commit"}
            ],
            "restarts": {"consumer": {"delay_ms": 1500}},
        }
    )  # fmt: skip
    experiment = await database_sync_to_async(Experiment.objects.create)(spec=spec.to_json())
    socket = WebsocketCommunicator(application, f"/ws/e/{experiment.share_id}/", headers=ORIGIN)
    connected, _ = await socket.connect()
    assert connected
    await database_sync_to_async(runner.wake)()
    strips, reloads = [], 0
    while reloads < 2:  # one when it starts running, one when it ends
        html = await socket.receive_from(timeout=90)
        if 'id="experiment-body"' in html:
            reloads += 1
        if 'id="log-strip"' in html:
            assert len(html.encode()) <= MAX_FRAGMENT_BYTES
            strips.append((rows(html), html))
    await socket.disconnect()

    # What it handled again lit up as duplicates while the run went on. (That the position goes
    # back to where the new session reads on from is the rule tested in
    # tests/engine/test_log_strip.py: a new consumer starts in a fraction of a second and may
    # catch up before a frame is drawn, so a frame need not show it here.)
    assert any('class="duplicated' in html for _, html in strips[:-1])

    experiment = await database_sync_to_async(wait_until_finished)(experiment)
    assert experiment.status == Experiment.DONE, experiment.error
    audit = experiment.result["audit"]
    partitions = await database_sync_to_async(partitions_of)(experiment)
    assert [p["partition"] for p in partitions] == [0, 1]
    for partition in partitions:  # a clean end: the group committed the whole log
        assert partition["committed"] == partition["log_end"] > 0 and partition["finished"]
        assert partition["position"] == partition["log_end"]
    duplicated = sum(covered(p["ranges"].get("duplicated", [])) for p in partitions)
    assert duplicated == audit["duplicated_by_consumer"] == audit["duplicated"] > 0
    assert not any(p["ranges"].get("never_processed") for p in partitions)
    assert all(p["acked_by_session"].get("0") for p in partitions)


@pytest.mark.django_db(transaction=True)
def test_records_committed_but_never_processed_stay_marked_lost(playground):
    document = PRESETS["metrics"].spec.to_json()
    document["workload"] |= {"records": 200, "rate": 100}
    for fault in document["faults"]:
        fault["at"] = {"records": 60}
    experiment = Experiment.objects.create(spec=Spec.from_json(document).to_json())
    experiment = wait_until_finished(experiment)
    assert experiment.status == Experiment.DONE, experiment.error
    audit = experiment.result["audit"]
    partitions = partitions_of(experiment)
    never_processed = sum(covered(p["ranges"].get("never_processed", [])) for p in partitions)
    assert never_processed == audit["lost_at_consumer"] > 0
    page = Client().get(experiment.get_absolute_url()).content.decode()
    assert 'id="log-strip"' in page and "The log at the end of the run" in page


@pytest.mark.django_db(transaction=True)
def test_kafka_to_kafka_draws_the_output_topic_by_transaction(playground):
    document = PRESETS["payments-aggregation"].spec.to_json()
    document["workload"] |= {"records": 200, "rate": 100}
    experiment = Experiment.objects.create(spec=Spec.from_json(document).to_json())
    experiment = wait_until_finished(experiment, timeout=180)
    assert experiment.status == Experiment.DONE, experiment.error
    state = Client().get(f"/api/experiments/{experiment.share_id}").json()
    outputs = state["output_partitions"]
    assert len(outputs) == len(state["partitions"])
    committed = sum(covered(o["ranges"].get("committed", [])) for o in outputs)
    assert committed == experiment.result["audit"]["delivered"] == 200
    assert any(o["ranges"].get("aborted") for o in outputs)  # the transformer died mid-transaction
    assert not any(o["ranges"].get("open") for o in outputs)  # nothing left open at the end
    assert not any(p["ranges"].get("duplicated") for p in state["partitions"])
    for partition in state["partitions"]:
        # The last offset holds the transaction's commit marker, which no consumer receives, so
        # the commit stops one short of it: finished all the same.
        assert partition["finished"] and partition["committed"] >= partition["log_end"] - 1


def test_twelve_partitions_of_a_million_records_fit_in_twenty_kilobytes():
    """Every state scattered at random over every offset, then a different state in every bucket:
    the worst cases for the ranges and for the segments drawn."""
    document = default_spec().to_json()
    document["workload"]["partitions"] = 12
    spec = Spec.from_json(document)
    watch = log_strip.LogStripWatch(ExperimentNames("size", Path("/nonexistent")), spec, "")
    per_partition = 1_000_000 // 12 + 1
    rng = random.Random(10)
    for strip_ in watch.partitions:
        strip_.codes = bytearray(rng.randrange(6) for _ in range(per_partition))
        strip_.acked = bytearray(rng.randrange(4) for _ in range(per_partition))
        strip_.log_end, strip_.committed, strip_.position = per_partition, 70_000, 75_000
    watch.sessions_acked = {0, 1, 2}
    svg = strip.render_input(watch.view())
    assert len(svg.encode()) <= MAX_FRAGMENT_BYTES
    assert svg.count('class="row"') == 12
    # The most segments there can be: every bucket in another state than its neighbours, in both
    # lanes of every partition.
    span = -(-per_partition // strip.BUCKETS)
    for strip_ in watch.partitions:
        strip_.codes = bytearray(b"".join(bytes([2 + i % 4]) * span for i in range(64)))
        strip_.acked = bytearray(b"".join(bytes([i % 3]) * span for i in range(64)))
    svg = strip.render_input(watch.view())
    # One segment per bucket and lane:
    assert len(re.findall(r"M\d+ \d+h1(?!\d)", svg)) == 12 * 2 * strip.BUCKETS
    assert len(svg.encode()) <= MAX_FRAGMENT_BYTES
