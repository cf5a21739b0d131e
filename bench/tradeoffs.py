"""Benchmark of the course's trade-off table, measured: one click to the full table.

`python -m bench.tradeoffs [--rounds N]` (or `make bench-tradeoffs`) serves the whole app
(AppServer: DEBUG off, var/bench-tradeoffs, its own cluster at port base 32800), runs one preset
to warm the cluster up, then, N times, presses "Measure the course's trade-off table" as a browser
session would and polls the comparison's API until every run is done. It prints, next to the
targets: the wall time from the click to the full table (3 minutes or less), and per spec its cost
figures (records/s and latency p50/p99, the median of the comparison's interleaved rounds with
their lowest and highest round; every cost round at least 1,000 records/s, so never the presets'
watching pace), its latency before the first fault (its guarantee run) and what the guarantee run
observed. Everything goes to var/bench-tradeoffs/result.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics

from bench.live import _free_port
from bench.sessions import BrowserSession, click_until_full, run_preset_to_end
from playground.lab.launcher import PROJECT_ROOT
from tools.appserver import AppServer

VAR_DIR = PROJECT_ROOT / "var" / "bench-tradeoffs"
LAB_DIR = VAR_DIR / "lab"
LAB_PORT_BASE = 32800
TARGET_WALL_SECONDS = 180.0
TARGET_COST_RECORDS_PER_SECOND = 1_000
WARM_UP_PRESET = "metrics"


def one_click(base_url: str) -> dict:
    return click_until_full(base_url, BrowserSession.start_course_comparison)


def warm_up(base_url: str) -> None:
    run_preset_to_end(base_url, WARM_UP_PRESET)


def _spread(figure: dict) -> str:
    median, low, high = figure["median"], figure["low"], figure["high"]
    if median is None:
        return "not measured"
    return f"{median:,.0f} ({low:,.0f}-{high:,.0f})"


def report(clicks: list[dict]) -> str:
    walls = [click["wall_seconds"] for click in clicks]
    wall = statistics.median(walls)
    rounds = ", ".join(f"{w:.0f}" for w in walls)
    verdict = "OK" if wall <= TARGET_WALL_SECONDS else "MISSED"
    lines = [
        "| measure | measured | target |",
        "|---|---|---|",
        f"| one click to the full table | {wall:.0f} s (rounds {rounds}) | "
        f"{TARGET_WALL_SECONDS:.0f} s or less: {verdict} |",
    ]
    for click in clicks:
        for spec in click["comparison"]["specs"]:
            rates = [r for r in spec["cost"]["records_per_second"]["rounds"] if r is not None]
            slowest = min(rates, default=0)
            ok = "OK" if slowest >= TARGET_COST_RECORDS_PER_SECOND else "MISSED"
            lines.append(
                f"| {spec['name']}: slowest cost round | {slowest:,} records/s | "
                f"{TARGET_COST_RECORDS_PER_SECOND:,} or more: {ok} |"
            )
    columns = ("spec", "records/s", "latency p50 ms", "latency p99 ms",
               "before the fault p50 / p99 ms", "lost", "duplicated", "observed")  # fmt: skip
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for click in clicks:
        for spec in click["comparison"]["specs"]:
            lines.append("| " + " | ".join(_cells(spec)) + " |")
    return "\n".join(lines)


def _cells(spec: dict) -> list[str]:
    cost, guarantee = spec["cost"], spec["guarantee"]
    paced = guarantee["undisturbed_latency"] or {}
    observed = guarantee["observed_semantic"] or "invalid: " + "; ".join(guarantee["problems"])
    return [
        spec["name"],
        _spread(cost["records_per_second"]),
        _spread(cost["latency_ms_p50"]),
        _spread(cost["latency_ms_p99"]),
        f"{paced.get('latency_ms_p50')} / {paced.get('latency_ms_p99')}",
        str(guarantee["audit"].get("lost")),
        str(guarantee["audit"].get("duplicated")),
        observed,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="one-click comparisons to run")
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
        for number in range(1, args.rounds + 1):
            clicks.append(one_click(server.url))
            print(f"  click {number}: full table after {clicks[-1]['wall_seconds']} s", flush=True)
            (VAR_DIR / "result.json").write_text(json.dumps({"clicks": clicks}, indent=1))
    print(report(clicks))
    print(f"written to {VAR_DIR / 'result.json'}")


if __name__ == "__main__":
    main()
