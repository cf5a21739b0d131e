"""The idempotent sink with several consumer group members: the check and the charge are atomic
across members (sink.py), so each order id is charged once, whoever handles it and however their
writes interleave, even when a member is SIGKILLed mid-run. Real processes on one ledger file.

Pure file logic: no Kafka here.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from playground.engine.formats import ledger
from playground.engine.sink import Sink

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IDS = 1500  # order ids every member handles, each in its own order

# A member: its idempotent sink charges every order id, in an order of its own, in batches of
# random sizes (every tenth id on the general path, which performs at once), with the group
# generation set before each batch; it starts when `go` exists, and goes round again and again
# when `forever` (until killed).
MEMBER = """
import random, sys, time
from pathlib import Path
from playground.engine.sink import Sink
path, member, go, ids, forever = sys.argv[1:]
member, ids = int(member), int(ids)
rng = random.Random(member)
sink = Sink(Path(path), session=10 + member, member=member, idempotent=True)
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.001)
order = list(range(ids))
while True:
    rng.shuffle(order)
    start = 0
    while start < ids:
        size = rng.randint(1, 60)
        sink.generation = member + start
        for n in order[start : start + size]:
            if n % 10 == 0:
                sink.charge("ord\\u00e9-%d" % n, 100, member, n, 0)
            else:
                sink.charge_ascii(b"order-%07d" % n, 100, member, n, 0)
        sink.perform()
        start += size
    if forever != "forever":
        break
sink.close()
"""


def order_ids() -> set[str]:
    return {f"ordé-{n}" if n % 10 == 0 else f"order-{n:07d}" for n in range(IDS)}


def start_member(path: Path, member: int, go: Path, forever: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", MEMBER, str(path), str(member), str(go), str(IDS),
         "forever" if forever else "once"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
    )  # fmt: skip


def test_a_sink_learns_what_another_member_charged_after_it_started(tmp_path):
    path = tmp_path / "ledger.jsonl"
    first = Sink(path, session=0, member=0, idempotent=True)
    second = Sink(path, session=1, member=1, idempotent=True)
    first.charge_ascii(b"order-0000001", 100, 0, 0, 1)
    first.perform()
    assert second.charge("order-0000001", 100, 1, 0, 1) is False  # charged by the first
    second.charge_ascii(b"order-0000002", 100, 1, 1, 1)
    first.charge_ascii(b"order-0000002", 100, 0, 1, 1)  # prepared before the second performs
    second.perform()
    first.perform()  # decided now: the second charged it meanwhile
    assert first.charge("order-0000003", 100, 0, 2, 1) is True
    first.close()
    second.close()
    runs = [(run.member, run.order_id, run.charged) for run in ledger.read(path)]
    assert runs == [
        (0, "order-0000001", True),
        (1, "order-0000001", False),
        (1, "order-0000002", True),
        (0, "order-0000002", False),
        (0, "order-0000003", True),
    ]


def test_members_in_several_processes_charge_each_order_once(tmp_path):
    """Three members charge the same ids at once, a fourth is SIGKILLed while it does: every id
    is charged exactly once in the ledger, each line names the member that wrote it."""
    path, go = tmp_path / "ledger.jsonl", tmp_path / "go"
    members = {member: start_member(path, member, go) for member in range(3)}
    members[3] = start_member(path, 3, go, forever=True)
    try:
        for process in members.values():
            assert process.stdout.readline() == b"ready\n"
        go.touch()
        time.sleep(0.05)
        members[3].send_signal(signal.SIGKILL)
        members[3].wait()
        for member in range(3):
            assert members[member].wait(60) == 0
    finally:
        for process in members.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    runs = list(ledger.read(path))
    charged = Counter(run.order_id for run in runs if run.charged)
    assert set(charged) == order_ids()
    assert max(charged.values()) == 1
    for member in range(3):  # the ones that ran to the end handled every id once
        handled = [run for run in runs if run.member == member]
        assert sorted(run.order_id for run in handled) == sorted(order_ids())
        assert {run.session for run in handled} == {10 + member}
        assert min(run.generation for run in handled) == member
