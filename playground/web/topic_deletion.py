"""An experiment's topics and group deleted in a process of their own.

Deleting a group right after a broker fault is where a native abort of librdkafka once took the
whole server down (an assertion in its request bookkeeping). `retention.delete_topics` now waits
for every answer, but a native abort cannot be caught in Python at all, so the deletion runs in a
short-lived child: an abort there costs no experiment, only the deletion, whose topics the orphan
sweep (retention) removes later.

    python -m playground.web.topic_deletion SERVERS RUN_ID   # prints the problems, as JSON
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof

# The child's own bound is retention's; this is how much longer its parent waits for it (the
# child's start, and its last request's time).
EXTRA_WAIT_SECONDS = 60.0


def deletion_command(bootstrap_servers: str, run_id: str, timeout: float) -> list[str]:
    """The child's command line."""
    return [sys.executable, "-m", __name__, bootstrap_servers, run_id, str(timeout)]


def delete_apart(bootstrap_servers: str, run_id: str, *, timeout: float) -> list[str]:
    """Delete experiment `run_id`'s topics and group in a child process; return the problems
    (empty when all is gone), including a child that died or did not answer."""
    try:
        done = subprocess.run(
            orphan_proof(deletion_command(bootstrap_servers, run_id, timeout)),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout + EXTRA_WAIT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [f"deleting experiment {run_id}'s topics did not end in time; the sweep will"]
    if done.returncode < 0:
        how = signal.Signals(-done.returncode).name
        return [
            f"deleting experiment {run_id}'s topics ended on {how} (a Kafka client abort costs "
            "only the deletion); the sweep will remove them"
        ]
    try:
        return list(json.loads(done.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [f"deleting experiment {run_id}'s topics failed: {detail}"]


def main(argv: list[str]) -> int:
    servers, run_id, timeout = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    import django

    django.setup()
    # After setup: retention's models need the app registry.
    from playground.web import retention

    problems = retention.delete_topics(servers, run_id, timeout=float(timeout))
    print(json.dumps(problems), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
