"""Benchmark of the verdict page of a large experiment: how long its pages take to open.

`python -m bench.verdict RESULT.json` takes the result `manage.py experiment run` printed (the
experiment's folder, with its story book, under PLAYGROUND_VAR_DIR/experiments) and, in a
database of its own (PLAYGROUND_VAR_DIR/bench-verdict.sqlite3), files it as a finished
experiment. It then opens, through Django's test client, in 5 rounds: the verdict page, the first
and the last page of its audit table, the first page of its anomalies, and one order's story.
It prints the median of each next to the target (issue 12: under a second) as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROUNDS = 5
TARGET_SECONDS = 1.0


def measure(result: dict) -> dict:
    """Median seconds to open each page of the experiment of `result`."""
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from playground.web.models import Experiment
    from playground.web.stories.audit_table import PAGE_SIZE

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # the pages name hashed files
    experiment = Experiment.objects.create(
        spec=result["spec"],
        run_id=result["experiment_id"],
        status=Experiment.DONE,
        result=result,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    records = result["audit"]["planned"]
    last_page = max(1, -(-records // PAGE_SIZE))
    url = experiment.get_absolute_url()
    pages = {
        "verdict page": url,
        "audit table, first page": f"{url}orders?filter=&page=1",
        "audit table, last page": f"{url}orders?filter=&page={last_page}",
        "anomalies, first page": f"{url}orders?filter=anomalies&page=1",
        "one order's story": f"{url}orders/order-{records // 2:07d}",
    }
    client = Client(HTTP_HOST="127.0.0.1")
    times: dict[str, list[float]] = {name: [] for name in pages}
    for _ in range(ROUNDS):
        for name, page in pages.items():
            started = time.perf_counter()
            response = client.get(page)
            times[name].append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{page} answered {response.status_code}")
    return {
        "records": records,
        "seconds": {name: round(statistics.median(values), 3) for name, values in times.items()},
        "target_seconds": TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path)
    args = parser.parse_args()
    var_dir = Path(os.environ.get("PLAYGROUND_VAR_DIR", "var"))
    os.environ["DATABASE_URL"] = f"sqlite:///{(var_dir / 'bench-verdict.sqlite3').resolve()}"
    (var_dir / "bench-verdict.sqlite3").unlink(missing_ok=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    import django

    django.setup()
    figures = measure(json.loads(args.result.read_text()))
    json.dump(figures, sys.stdout)
    print()


if __name__ == "__main__":
    main()
