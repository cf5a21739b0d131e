"""Benchmark of the rebalance protocols' comparison, measured: one click to the full table.

`python -m bench.rebalance [--clicks N]` (or `make bench-rebalance`) serves the whole app
(AppServer: DEBUG off, var/bench-rebalance, its own cluster at port base 32900, or the one that
PLAYGROUND_BENCH_LAB_DIR and PLAYGROUND_BENCH_PORT_BASE name), runs one preset
to warm the cluster up, then, N times, presses "Compare the rebalance protocols" as a browser
session would and polls the comparison's API until every run is done. It prints, next to the
target, the wall time from the click to the full table (3 minutes or less), and per protocol the
figures of the table (duplicated, lost, the longest pause of a partition that did not move, the
time until the group settles: each the median of its 3 rounds, with every round), naming the
rounds that were not valid runs. Everything goes to var/bench-rebalance/result.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
from pathlib import Path

from bench.live import _free_port
from bench.sessions import BrowserSession, click_until_full, run_preset_to_end
from playground.lab.launcher import PROJECT_ROOT
from tools.appserver import AppServer

VAR_DIR = PROJECT_ROOT / "var" / "bench-rebalance"
# A cluster of its own by default; PLAYGROUND_BENCH_LAB_DIR and PLAYGROUND_BENCH_PORT_BASE point it
# at another (one already running there is used and left alone).
LAB_DIR = Path(os.environ.get("PLAYGROUND_BENCH_LAB_DIR", VAR_DIR / "lab"))
LAB_PORT_BASE = int(os.environ.get("PLAYGROUND_BENCH_PORT_BASE", "32900"))
TARGET_WALL_SECONDS = 180.0
WARM_UP_PRESET = "notification-service-group"
FIGURES = (
    ("duplicated", "duplicated"),
    ("lost", "lost"),
    ("unmoved_pause_ms", "longest unmoved pause, ms"),
    ("settle_ms", "settles in, ms"),
)


def one_click(base_url: str) -> dict:
    return click_until_full(base_url, BrowserSession.start_rebalance_comparison)


def warm_up(base_url: str) -> None:
    run_preset_to_end(base_url, WARM_UP_PRESET)


def figure(value: dict) -> str:
    """A median with its rounds: "120 (rounds 110, 120, none)"; "none" when no round had one."""
    rounds = ", ".join("none" if r is None else f"{r:,}" for r in value["rounds"])
    median = value["median"]
    shown = "none" if median is None else f"{median:,.0f}"
    return f"{shown} (rounds {rounds})" if rounds else "no valid round"


def report(clicks: list[dict]) -> str:
    walls = [click["wall_seconds"] for click in clicks]
    wall = statistics.median(walls)
    verdict = "OK" if wall <= TARGET_WALL_SECONDS else "MISSED"
    each = ", ".join(f"{w:.0f}" for w in walls)
    lines = [
        "| measure | measured | target |",
        "|---|---|---|",
        f"| one click to the full table | {wall:.0f} s (clicks {each}) | "
        f"{TARGET_WALL_SECONDS:.0f} s or less: {verdict} |",
        "",
        "| click | protocol | " + " | ".join(label for _, label in FIGURES) + " | invalid rounds |",
        "|" + "---|" * (len(FIGURES) + 3),
    ]
    for number, click in enumerate(clicks, start=1):
        for spec in click["comparison"]["specs"]:
            figures = spec["rebalance"]
            cells = [figure(figures[name]) for name, _ in FIGURES]
            problems = "; ".join(figures["problems"]) or "none"
            lines.append(f"| {number} | {spec['name']} | " + " | ".join(cells) + f" | {problems} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1, help="one-click comparisons to run")
    args = parser.parse_args()
    shutil.rmtree(VAR_DIR / "experiments", ignore_errors=True)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    server = AppServer(
        port=_free_port(), var_dir=VAR_DIR, lab_dir=LAB_DIR, lab_port_base=LAB_PORT_BASE
    )
    print(f"starting the app and its cluster (log: {server.log_path}) ...", flush=True)
    clicks = []
    with server:
        warm_up(server.url)
        for number in range(1, args.clicks + 1):
            clicks.append(one_click(server.url))
            print(f"  click {number}: full table after {clicks[-1]['wall_seconds']} s", flush=True)
            (VAR_DIR / "result.json").write_text(json.dumps({"clicks": clicks}, indent=1))
    print(report(clicks))
    print(f"written to {VAR_DIR / 'result.json'}")


if __name__ == "__main__":
    main()
