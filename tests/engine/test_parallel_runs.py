"""Experiments side by side on one cluster, as the web runner runs them: each conductor in a thread
of one process. Their faults touch only their own clients (kills, and acks dropped for their own
client ids), so no run may disturb another's counts: each agrees with a recount made apart from
the audit, keeps its promise, and leaves no proxy fault armed. The rule of who runs beside whom
(tools/soak.py's Turns, the runner's rule) is checked on its own, without a cluster.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.engine.experiments import build_spec, conductor_for
from tools.soak import (
    CRASHED,
    HUNG,
    INVALID,
    LEFT_BEHIND,
    MISMATCH,
    PROMISE,
    Run,
    Turns,
    restore_cluster,
    run_together,
)

RUN_TIMEOUT_SECONDS = 120.0
SIDE_BY_SIDE = {
    "at-least-once: a consumer killed before its commit, the producer's acks lost": build_spec(
        producer={"acks": "all", "enable_idempotence": True, "request_timeout_ms": 2000},
        consumer={"commit": "after-processing", "isolation_level": "read_committed"},
        faults=[
            {
                "kind": "kill-consumer",
                "point": "after-processing-before-commit",
                "at": {"records": 60},
            },
            {"kind": "drop-acks", "count": 3, "target": "source-producer", "at": {"records": 100}},
        ],
    ),
    "exactly-once: a consumer killed mid-transaction, its own producer's acks lost": build_spec(
        pipeline="kafka-to-kafka",
        producer={
            "acks": "all",
            "enable_idempotence": True,
            "transactional": True,
            "request_timeout_ms": 2000,
        },
        consumer={"commit": "transactional", "isolation_level": "read_committed"},
        faults=[
            {"kind": "kill-consumer", "point": "mid-transaction", "at": {"records": 80}},
            {"kind": "drop-acks", "count": 2, "target": "output-producer", "at": {"records": 50}},
        ],
    ),
    "at-most-once: the producer killed, every client's acks lost": build_spec(
        producer={"acks": "1", "enable_idempotence": False, "request_timeout_ms": 2000},
        consumer={"commit": "before-processing"},
        faults=[
            {"kind": "kill-producer", "at": {"records": 120}},
            {"kind": "drop-acks", "count": 2, "target": "all", "at": {"records": 40}},
        ],
    ),
    "auto commit: a consumer killed anywhere, the producer's acks lost": build_spec(
        workload={"records": 300, "partitions": 2},
        producer={"acks": "all", "enable_idempotence": True, "request_timeout_ms": 2000},
        consumer={"commit": "auto", "auto_commit_interval_ms": 200},
        faults=[
            {"kind": "kill-consumer", "point": "anywhere", "at": {"records": 70}},
            {"kind": "drop-acks", "count": 4, "target": "source-producer", "at": {"records": 150}},
        ],
    ),
}


@pytest.mark.timeout(240)
def test_runs_side_by_side_each_agree_with_their_recount(healthy_lab, tmp_path):
    restore_cluster(healthy_lab)  # whatever an earlier test left behind
    runs = [Run(0, index, spec) for index, spec in enumerate(SIDE_BY_SIDE.values())]
    together = run_together(
        healthy_lab, runs, parallel=len(runs), timeout=RUN_TIMEOUT_SECONDS, soak_dir=tmp_path
    )
    assert together.peak == len(runs)
    for name, run in zip(SIDE_BY_SIDE, runs, strict=True):
        context = f"{name}\n{run.line()}"
        assert run.beside == {r.index for r in runs} - {run.index}, context
        for failing in (HUNG, CRASHED, MISMATCH, PROMISE, LEFT_BEHIND, INVALID):
            assert failing not in run.outcomes, context


def test_a_blackhole_that_outlives_its_run_ends_with_it(healthy_lab):
    """A run that had the cluster alone hands it back whole, or the runs that start beside each
    other next would meet its broker cut off."""
    blackhole = {"kind": "blackhole-broker", "broker": 2, "seconds": 60, "at": {"records": 1}}
    conductor = conductor_for(healthy_lab, build_spec(faults=[blackhole]))
    conductor.names.root.mkdir(parents=True)  # for its timeline
    try:
        conductor.faults.apply(conductor.spec.faults[0], 0)
        assert healthy_lab.status()["proxy"]["brokers"]["2"]["blackholed"]
        conductor.faults.clear()  # what the conductor does as its run ends
        assert not healthy_lab.status()["proxy"]["brokers"]["2"]["blackholed"]
    finally:
        conductor.tally.close()
        conductor.ends.close()


# -- the rule, without a cluster ------------------------------------------------------------
KILL_CONSUMER = {"kind": "kill-consumer", "point": "anywhere", "at": {"records": 10}}
KILL_LEADER = {"kind": "kill-leader", "at": {"records": 10}}
CLIENT_CLUSTER_CLIENT = (KILL_CONSUMER, KILL_LEADER, KILL_CONSUMER)


def a_run(index: int, fault: dict) -> Run:
    return Run(0, index, build_spec(faults=[fault]))


def entered_in_background(turns: Turns, run: Run) -> threading.Event:
    """`turns.enter(run)` in a thread; the event it sets once in, returned when the rule has
    answered: the run is in, or it was refused and waits for its turn."""
    entered = threading.Event()
    threading.Thread(target=lambda: (turns.enter(run), entered.set()), daemon=True).start()
    deadline = time.monotonic() + 10
    while run.index not in turns.waiting and not entered.is_set():
        assert time.monotonic() < deadline, f"run {run.index} neither entered nor waited"
        time.sleep(0.01)
    return entered


def test_runs_that_touch_only_their_clients_start_side_by_side_up_to_the_limit():
    turns = Turns(parallel=2)
    first, second, third = (a_run(i, KILL_CONSUMER) for i in range(3))
    turns.enter(first)
    turns.enter(second)
    third_entered = entered_in_background(turns, third)
    assert not third_entered.is_set()
    turns.leave(first)
    assert third_entered.wait(10)
    assert (turns.peak, third.beside) == (2, {1})


def test_a_run_that_touches_the_cluster_waits_for_the_others_and_nothing_starts_beside_it():
    turns = Turns(parallel=3)
    client_only, cluster, later = (a_run(i, fault) for i, fault in enumerate(CLIENT_CLUSTER_CLIENT))
    assert cluster.alone and not client_only.alone
    turns.enter(client_only)
    cluster_entered = entered_in_background(turns, cluster)
    assert not cluster_entered.is_set()
    turns.leave(client_only)
    assert cluster_entered.wait(10)
    later_entered = entered_in_background(turns, later)
    assert not later_entered.is_set()
    turns.leave(cluster)
    assert later_entered.wait(10)
    assert cluster.beside == set()
