"""A broker fault tried again while the cluster is not ready: it must leave no pause behind.

Pure bookkeeping of `Faults` (which pauses it holds, which it releases), so a fake lab stands in
for the cluster; the real cluster's behaviour is tested in tests/lab and the soak.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from playground.engine.naming import ExperimentNames
from playground.engine.run.faults import Faults
from playground.engine.spec.model import Spec


class FakeLab:
    """Three brokers whose states the test sets; records what was done to them."""

    def __init__(self, states: dict[int, str]) -> None:
        self.states = states

    def status(self) -> dict:
        return {"nodes": [{"id": n, "state": s} for n, s in self.states.items()]}

    def leadership(self, topic: str, partition: int = 0):
        return SimpleNamespace(leader=3, followers=(1, 2))

    def pause(self, broker: int) -> None:
        self.states[broker] = "paused"

    def resume(self, broker: int) -> None:
        self.states[broker] = "up"

    def kill(self, broker: int) -> None:
        self.states[broker] = "down"

    def restart(self, broker: int) -> None:
        self.states[broker] = "up"


def test_a_lone_leader_fault_retried_while_a_follower_is_down_leaves_no_broker_paused():
    spec = Spec.from_json(
        {
            "workload": {"records": 10, "partitions": 2},
            "faults": [
                {"kind": "pause-followers-kill-leader", "partition": 1, "at": {"seconds": 0.9}}
            ],
        }
    )
    lab = FakeLab({1: "up", 2: "down", 3: "up"})  # broker 2 killed by an earlier fault
    due: list = []
    faults = Faults(spec, ExperimentNames("retry", Path("/tmp/retry")), lab=lab,
                    supervisor=None, record=lambda *args, **kwargs: None,
                    after=lambda seconds, action: due.append(action),
                    producer_count=lambda: 0, problems=[])  # fmt: skip

    faults.apply(spec.faults[0], 0)
    for tries in range(1, 7):  # tried again every half second; broker 2 is back on the fourth
        if tries == 4:
            lab.states[2] = "up"
        due.pop(0)()

    assert faults.pauses == {}
    assert lab.states == {1: "up", 2: "up", 3: "up"}
