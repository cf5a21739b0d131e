"""A Kafka client's job done in a short-lived child process, so that a native abort of
librdkafka (which Python cannot catch) costs only that job, never the process that asked.

The child is `python -m MODULE ARGUMENTS...`; it prints its answer as one JSON line, last.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from playground.lab.launcher import PROJECT_ROOT
from playground.lab.node import orphan_proof

# How much longer than the job's own bound its parent waits (the child's start, and its last
# request's time).
EXTRA_WAIT_SECONDS = 60.0


class ApartError(Exception):
    """The child gave no answer: it died (an abort), ran out of time, or printed none."""


def child_command(module: str, arguments: list[str]) -> list[str]:
    """The child's command line."""
    return [sys.executable, "-m", module, *arguments]


def ask_apart(module: str, arguments: list[str], timeout: float) -> dict:
    """Run `module`'s child with `arguments`, bounded by `timeout` (plus EXTRA_WAIT_SECONDS);
    return its answer, or raise ApartError saying why there is none."""
    try:
        done = subprocess.run(
            orphan_proof(child_command(module, arguments)),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout + EXTRA_WAIT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ApartError("did not end in time") from None
    if done.returncode < 0:
        how = signal.Signals(-done.returncode).name
        raise ApartError(f"ended on {how} (a Kafka client abort costs only this job)")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ApartError(f"failed: {detail}") from None


def answer(value: dict) -> None:
    """The child's side: print its answer."""
    print(json.dumps(value), flush=True)
