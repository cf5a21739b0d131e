"""The rebalance protocols' comparison: one click queues the same group workload under eager,
cooperative-sticky and KIP-848 in interleaved rounds; the table gives each protocol's median
duplicates, lost, longest pause of a partition that did not move and settle time, and names the
rounds that measured nothing instead of showing their numbers."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from playground.engine.spec.model import FaultKind
from playground.web.comparisons import measurements, rebalances
from playground.web.lessons import course
from playground.web.models import Comparison, Experiment
from playground.web.runs import scheduling
from tests.web.conftest import wait_until_finished


# -- the plan --------------------------------------------------------------------------------------
def test_three_protocols_share_one_group_workload_with_a_member_added_and_one_stalled():
    specs = rebalances.specs()
    protocols = [(s.consumer.group_protocol.value, s.consumer.assignor.value) for s in specs]
    assert protocols == [
        ("classic", "range"),
        ("classic", "cooperative-sticky"),
        ("consumer", "uniform"),
    ]
    for spec in specs:
        assert spec.consumer.members == 3
        assert spec.consumer.commit.value == "after-processing"
        assert spec.pipeline.value == "side-effect" and not spec.consumer.idempotent
        # Dynamic members: a stalled member leaves and rejoins, so its partitions really move.
        assert spec.consumer.static_membership is False
        add, stall = spec.faults
        assert add.kind == FaultKind.ADD_CONSUMER
        assert stall.kind == FaultKind.STALL_CONSUMER
        assert stall.seconds * 1000 > spec.consumer.max_poll_interval_ms
        # Client faults only: the runs share the cluster.
        assert not scheduling.needs_cluster_alone(spec)
        others = {k: v for k, v in spec.to_json().items() if k not in ("name", "consumer")}
        first = {k: v for k, v in specs[0].to_json().items() if k not in ("name", "consumer")}
        assert others == first


def test_rounds_queue_interleaved_round_1_of_every_protocol_first():
    runs = measurements.plan_rounds(rebalances.specs())
    assert [(r.role, r.round, r.column) for r in runs] == [
        (measurements.REBALANCE, number, column) for number in (1, 2, 3) for column in range(3)
    ]
    assert runs[4].spec.name.endswith("· round 2")


# -- the figures of one run ------------------------------------------------------------------------
def _rebalance(at: int, settled: int, unmoved: int | None, longest: int | None = None) -> dict:
    """A rebalance in which partition 1 moved from member 2 to member 3 (pausing `longest`) and,
    unless `unmoved` is None, partition 0 stayed with member 1 (pausing `unmoved`)."""
    longest = longest if longest is not None else unmoved
    moved = {"partition": 1, "member_before": 2, "member_after": 3, "pause_ms": longest}
    kept = {"partition": 0, "member_before": 1, "member_after": 1, "pause_ms": unmoved}
    return {
        "at_ms": at,
        "ended_at_ms": at + settled,
        "settled_ms": settled,
        "generations": [2],
        "moved": [1],
        "partitions": [moved] if unmoved is None else [kept, moved],
        "longest_pause_ms": longest,
        "longest_pause_unmoved_ms": unmoved,
    }


def _result(duplicated=10, lost=0, rebalances_=None, valid=True, problem="") -> dict:
    default = [_rebalance(0, 300, None), _rebalance(5000, 2400, 900), _rebalance(9000, 1500, 1200)]
    return {
        "valid": valid,
        "problems": [{"message": problem, "log": ""}] if problem else [],
        "promised_semantic": "at-least-once",
        "observed_semantic": "at-least-once" if valid else None,
        "audit": {
            "duplicated": duplicated,
            "lost": lost,
            "rebalances": default if rebalances_ is None else rebalances_,
        },
        "timeline": [],
    }


def _run(
    result: dict | None, round_number: int = 1, status=Experiment.DONE, error=""
) -> Experiment:
    return Experiment(
        spec=rebalances.specs()[0].to_json(),
        status=status,
        result=result,
        error=error,
        comparison_role=measurements.REBALANCE,
        comparison_round=round_number,
    )


def test_a_run_gives_the_longest_unmoved_pause_and_the_longest_settle_over_its_rebalances():
    figures = rebalances.round_figures(_run(_result()))
    assert figures.measured and figures.problem is None
    assert (figures.duplicated, figures.lost, figures.rebalances) == (10, 0, 3)
    assert figures.unmoved_pause_ms == 1200
    assert figures.settle_ms == 2400


def test_the_stalled_members_own_partitions_are_left_out_of_the_unmoved_pause():
    """Handed back to the stalled member after its stall, its partition kept its member, but it
    stood still because the member did: that pause says nothing of the protocol."""
    stall = _rebalance(9000, 400, 300)
    stall["partitions"].append(
        {"partition": 4, "member_before": 0, "member_after": 0, "pause_ms": 5600}
    )
    stall["longest_pause_unmoved_ms"] = 5600
    run = _run(_result(rebalances_=[stall]))
    assert rebalances.stalled_members(run.spec) == {rebalances.STALLED_MEMBER}
    assert rebalances.round_figures(run).unmoved_pause_ms == 300
    # A rebalance stored without its partitions gives its own longest unmoved pause.
    bare = {key: value for key, value in stall.items() if key != "partitions"}
    assert rebalances.round_figures(_run(_result(rebalances_=[bare]))).unmoved_pause_ms == 5600


def test_no_partition_that_stayed_put_is_none_not_zero():
    moved_only = [_rebalance(0, 300, None, longest=4000), _rebalance(5000, 900, None, 2000)]
    figures = rebalances.round_figures(_run(_result(rebalances_=moved_only)))
    assert figures.measured and figures.unmoved_pause_ms is None
    protocol = rebalances.ProtocolFigures([figures])
    assert protocol.cell("unmoved_pause_ms").median == "none"
    assert protocol.to_json()["unmoved_pause_ms"] == {"rounds": [None], "median": None}


def test_invalid_failed_and_unrebalanced_runs_give_no_figures_and_say_why():
    invalid = rebalances.round_figures(
        _run(_result(valid=False, problem="the consumer-2 could not join the group"))
    )
    assert not invalid.measured and invalid.duplicated is None
    assert invalid.problem == "not a valid run: the consumer-2 could not join the group"
    failed = rebalances.round_figures(_run(None, status=Experiment.FAILED, error="no broker"))
    assert failed.problem == "the run failed: no broker"
    still = rebalances.round_figures(_run(_result(rebalances_=[])))
    assert "never rebalanced" in still.problem and still.settle_ms is None
    waiting = rebalances.round_figures(_run(None, status=Experiment.RUNNING))
    assert not waiting.finished and waiting.problem is None


def test_a_protocols_figure_is_the_median_of_its_valid_rounds_the_others_named():
    rounds = [
        _run(_result(duplicated=10), 1),
        _run(_result(valid=False, problem="faults[1] (stall-consumer) never fired"), 2),
        _run(_result(duplicated=21, rebalances_=[_rebalance(0, 3100, 2000)]), 3),
    ]
    figures = rebalances.protocol_figures(rounds)
    assert figures.figure("duplicated").median == 15.5
    assert figures.figure("settle_ms").median == 2750
    assert figures.problems == ["round 2: not a valid run: faults[1] (stall-consumer) never fired"]
    cell = figures.cell("duplicated")
    assert (cell.state, cell.median, cell.rounds) == ("measured", "15.5", ["10", "invalid", "21"])
    two = rebalances.protocol_figures([rounds[0], rounds[2]])
    assert two.cell("settle_ms").median == "2,750"  # a time is never shown with a decimal
    assert (
        rebalances.protocol_figures(
            [_run(_result(rebalances_=[_rebalance(0, s, 1)]), n) for n, s in ((1, 1000), (2, 1001))]
        )
        .cell("settle_ms")
        .median
        == "1,000"
    )  # 1,000.5, to the millisecond
    three = rebalances.protocol_figures(
        [_run(_result(duplicated=d), n) for n, d in enumerate((4, 9, 6), 1)]
    )
    assert three.figure("duplicated").median == 6


def test_a_protocol_whose_every_round_is_invalid_shows_no_number():
    bad = _result(valid=False, problem="a rebalance never settled")
    figures = rebalances.protocol_figures([_run(bad, n) for n in (1, 2, 3)])
    for name in rebalances.FIGURES:
        cell = figures.cell(name)
        assert (cell.state, cell.median, cell.rounds) == ("invalid", None, ["invalid"] * 3)
    assert figures.to_json()["rounds_measured"] == 0


# -- the scheduling --------------------------------------------------------------------------------
class _Run:
    def __init__(self, pk: int, round_number: int, comparison_id: int = 7) -> None:
        self.pk, self.exclusive = pk, False
        self.comparison_id, self.comparison_role = comparison_id, measurements.REBALANCE
        self.comparison_round = round_number


def test_a_round_starts_once_the_earlier_rounds_of_its_comparison_have_finished():
    round_1 = [_Run(1, 1), _Run(2, 1)]
    assert scheduling.may_start(_Run(3, 1), round_1, max_parallel=12)
    assert not scheduling.may_start(_Run(4, 2), round_1, max_parallel=12)
    assert scheduling.may_start(_Run(4, 2), [], max_parallel=12)
    assert scheduling.may_start(_Run(4, 2), [_Run(9, 1, comparison_id=8)], max_parallel=12)
    places = scheduling.places(round_1, [_Run(4, 2), _Run(5, 2)], max_parallel=12)
    assert "waits for round 1 of its comparison" in places[4].waits_for


# -- the pages -------------------------------------------------------------------------------------
def _row(page: str, row_id: str) -> list[str]:
    row = re.search(rf'<tr id="{row_id}">(.*?)</tr>', page, re.S)
    assert row, f"no row {row_id}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip() for cell in cells]


def _stored(results: list[list[dict]]) -> Comparison:
    comparison = Comparison.objects.create(
        rounds=3, kind=Comparison.REBALANCE, faults_label=rebalances.FAULTS_LABEL
    )
    specs = rebalances.specs()
    for number in (1, 2, 3):
        for column, spec in enumerate(specs):
            Experiment.objects.create(
                spec=spec.to_json(),
                status=Experiment.DONE,
                result=results[column][number - 1],
                comparison=comparison,
                comparison_column=column,
                comparison_role=measurements.REBALANCE,
                comparison_round=number,
            )
    return comparison


@pytest.mark.django_db
def test_the_page_and_the_api_give_each_protocols_medians_and_name_invalid_rounds(client):
    eager = [_result(duplicated=d, rebalances_=[_rebalance(0, 2000, p)]) for d, p in
             ((20, 2500), (18, 3100), (25, 2900))]  # fmt: skip
    cooperative = [_result(duplicated=12, rebalances_=[_rebalance(0, 2500, 90)])] * 2 + [
        _result(valid=False, problem="a rebalance never settled: partition 2 had no member")
    ]
    kip848 = [_result(duplicated=9, rebalances_=[_rebalance(0, 800, None, 3000)])] * 3
    comparison = _stored([eager, cooperative, kip848])
    page = client.get(comparison.get_absolute_url()).content.decode()
    assert "Rebalance protocols, measured on this cluster" in page
    assert "gives up all its partitions" in page and 'id="rebalance-why"' in page
    assert _row(page, "row-rebalance-duplicated") == [
        "20 rounds 20 · 18 · 25",
        "12 rounds 12 · 12 · invalid",
        "9 rounds 9 · 9 · 9",
    ]
    assert _row(page, "row-rebalance-pause") == [
        "2,900 rounds 2,500 · 3,100 · 2,900",
        "90 rounds 90 · 90 · invalid",
        "none rounds none · none · none",
    ]
    assert _row(page, "row-rebalance-settle")[2] == "800 rounds 800 · 800 · 800"
    problems = _row(page, "row-rebalance-problems")
    assert problems[1] == (
        "invalid : round 3: not a valid run: a rebalance never settled: partition 2 had no member"
    )
    assert problems[0] == "none"
    assert "All 9 runs are done." in page
    assert 'id="row-throughput"' not in page and 'id="tradeoff-charts"' in page

    data = client.get(f"/api/comparisons/{comparison.share_id}").json()
    assert data["kind"] == "rebalance" and data["finished"] and data["rounds"] == 3
    assert [s["name"] for s in data["specs"]] == [name for name, _, _ in rebalances.PROTOCOLS]
    eager_json, cooperative_json, kip848_json = (s["rebalance"] for s in data["specs"])
    assert eager_json["unmoved_pause_ms"] == {"rounds": [2500, 3100, 2900], "median": 2900}
    assert cooperative_json["duplicated"] == {"rounds": [12, 12], "median": 12}
    assert cooperative_json["rounds_measured"] == 2
    assert cooperative_json["problems"][0].startswith("round 3: not a valid run")
    assert cooperative_json["rounds"][2]["duplicated"] is None
    assert kip848_json["unmoved_pause_ms"]["median"] is None
    assert len(data["specs"][0]["urls"]) == 3
    assert data["specs"][2]["group_protocol"] == "consumer"


@pytest.mark.django_db
def test_one_click_queues_nine_rounds_that_share_the_cluster(client, monkeypatch):
    monkeypatch.setattr("playground.web.runs.runner.wake", lambda: None)  # queued, never run
    assert client.get("/compare/rebalance").status_code == 405
    response = client.post("/compare/rebalance")
    assert response.status_code == 302
    comparison = Comparison.objects.get()
    assert comparison.kind == Comparison.REBALANCE and comparison.cost_records == 0
    runs = list(comparison.experiments.order_by("created_at", "id"))
    assert [(r.comparison_round, r.comparison_column) for r in runs] == [
        (n, c) for n in (1, 2, 3) for c in range(3)
    ]
    assert {r.comparison_role for r in runs} == {measurements.REBALANCE}
    assert not any(r.exclusive for r in runs)
    page = client.get(comparison.get_absolute_url()).content.decode()
    assert "0 of 9 runs done" in page and "Stop the comparison" in page
    assert "round by round" in page
    assert _row(page, "row-rebalance-lost") == ["… rounds … · … · …"] * 3


@pytest.mark.django_db
def test_the_button_is_beside_the_course_tables_on_compare_and_in_the_rebalance_lesson(client):
    rebalance_step = next(s.number for s in course.STEPS if s.rebalance_comparison)
    urls = ("/", "/compare/", "/guide?lose=yes", f"/lessons/{course.CHOOSING_STEP}/")
    for url in (*urls, f"/lessons/{rebalance_step}/"):
        page = client.get(url).content.decode()
        assert 'action="/compare/rebalance"' in page, url
    assert not Comparison.objects.exists()


# -- on the real cluster ---------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_one_round_of_the_click_on_the_real_cluster_measures_every_protocol(playground):
    """Round 1 of the click, as queued (the three protocols side by side): every run valid, the
    group rebalanced, nothing lost, and each figure read from the audit."""
    client = Client()
    assert client.post("/compare/rebalance").status_code == 302
    comparison = Comparison.objects.get()
    # Rounds 2 and 3 wait for round 1 (the scheduling rule): drop them, one round is enough here.
    comparison.experiments.exclude(comparison_round=1).filter(status=Experiment.QUEUED).delete()
    runs = list(comparison.experiments.order_by("comparison_column"))
    assert len(runs) == 3
    for run in runs:
        wait_until_finished(run, timeout=240)
        run.refresh_from_db()
    for run in runs:
        figures = rebalances.round_figures(run)
        assert figures.measured, (run.name, figures.problem)
        assert figures.lost == 0 and figures.rebalances >= 2, (run.name, figures)
        assert figures.settle_ms is not None and figures.settle_ms > 0
    data = client.get(f"/api/comparisons/{comparison.share_id}").json()
    assert data["finished"]
    for spec in data["specs"]:
        assert spec["rebalance"]["rounds_measured"] == 1 and not spec["rebalance"]["problems"]
