"""A long audit says what it is doing: the snapshots of the auditing phase name its step."""

from __future__ import annotations

from playground.engine.run.conductor import AUDIT_COUNTING, AUDIT_READING, AUDITING, DONE
from tests.engine.experiments import build_spec, conductor_for


def test_the_auditing_snapshots_name_the_step_reading_then_counting(lab):
    conductor = conductor_for(lab, build_spec(workload={"records": 200}))
    snapshots: list[dict] = []
    conductor.on_snapshot = snapshots.append
    result = conductor.run()
    assert result["valid"], result["problems"]
    steps = [s["audit_step"] for s in snapshots if s["phase"] == AUDITING]
    assert [step for n, step in enumerate(steps) if n == 0 or steps[n - 1] != step] == [
        None,  # the phase's own first snapshot
        AUDIT_READING,
        AUDIT_COUNTING,
    ]
    assert snapshots[-1]["phase"] == DONE and snapshots[-1]["audit_step"] is None
    assert all(s["audit_step"] is None for s in snapshots if s["phase"] != AUDITING)
