"""bench.rebalance reports each protocol's medians with their rounds, and the wall time against
its target."""

from __future__ import annotations

from bench import rebalance


def _spec(name: str, pause_rounds: list, pause_median, problems: list[str]) -> dict:
    figures = {
        "duplicated": {"rounds": [4, 6, 5], "median": 5},
        "lost": {"rounds": [0, 0, 0], "median": 0},
        "unmoved_pause_ms": {"rounds": pause_rounds, "median": pause_median},
        "settle_ms": {"rounds": [900, 1200, 1000], "median": 1000},
    }
    return {"name": name, "rebalance": figures | {"problems": problems}}


def test_a_figure_is_its_median_with_every_round_and_none_for_no_unmoved_partition():
    assert rebalance.figure({"rounds": [1200, None, 1400], "median": 1300}) == (
        "1,300 (rounds 1,200, none, 1,400)"
    )
    assert rebalance.figure({"rounds": [None], "median": None}) == "none (rounds none)"
    assert rebalance.figure({"rounds": [], "median": None}) == "no valid round"


def test_the_report_gives_the_wall_time_against_its_target_and_names_invalid_rounds():
    specs = [
        _spec("classic, range (eager)", [1500, 1400, 1600], 1500, []),
        _spec("consumer (KIP-848), uniform", [300], 300, ["round 2: not a valid run: x"]),
    ]
    text = rebalance.report([{"wall_seconds": 95.0, "comparison": {"specs": specs}}])
    assert "| one click to the full table | 95 s (clicks 95) | 180 s or less: OK |" in text
    assert "| 1 | classic, range (eager) | 5 (rounds 4, 6, 5) | 0 (rounds 0, 0, 0) | 1,500" in text
    assert "round 2: not a valid run: x |" in text
    slow = rebalance.report([{"wall_seconds": 200.0, "comparison": {"specs": specs}}])
    assert "MISSED" in slow
