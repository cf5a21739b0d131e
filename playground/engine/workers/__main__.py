"""`python -m playground.engine.workers ORDERS`: one worker session, started by the conductor.

Whatever ends the worker's loop becomes one of the named exit codes of exits.py, with the reason
on stderr (the worker's log), so the conductor can say why it ended.
"""

from __future__ import annotations

import sys
import traceback

from playground.engine.workers import consumer, producer
from playground.engine.workers.exits import EXIT_UNEXPECTED, describe, exit_code_of
from playground.engine.workers.runtime import Runtime, orders_from_argv

ROLES = {"producer": producer.main, "consumer": consumer.main}


def run() -> int:
    orders = orders_from_argv()
    try:
        return ROLES[orders.role](Runtime(orders))
    except Exception as failure:  # noqa: BLE001 - every failure becomes a named exit code
        code = exit_code_of(failure)
        if code == EXIT_UNEXPECTED:
            traceback.print_exc()
        print(f"worker ended: {describe(code)}: {failure}", file=sys.stderr, flush=True)
        return code


if __name__ == "__main__":
    sys.exit(run())
