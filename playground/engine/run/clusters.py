"""Which cluster an experiment runs against: the managed lab (with faults) or an external one;
and what an external cluster looks like now.

    python -m playground.engine.run.clusters SERVERS   # the external cluster's status, as JSON
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from playground.engine.run import apart
from playground.lab import status
from playground.lab.control import LabClient

EXTERNAL_STATUS_SECONDS = 3.0


@dataclass(frozen=True)
class Target:
    """Where clients connect, where the audit reads, and the lab that applies broker faults."""

    bootstrap_servers: str
    direct_bootstrap_servers: str
    lab: LabClient | None  # None for an external cluster: broker faults are unavailable

    @classmethod
    def managed(cls, lab: LabClient) -> Target:
        status = lab.status()
        return cls(status["bootstrap_servers"], status["direct_bootstrap_servers"], lab)

    @classmethod
    def external(cls, bootstrap_servers: str) -> Target:
        return cls(bootstrap_servers, bootstrap_servers, None)


def external_status(servers: str) -> dict:
    """An external cluster's status (status.external_cluster), asked by a child process: an abort
    of its Kafka client costs only this answer."""
    try:
        return apart.ask_apart(__name__, [servers], EXTERNAL_STATUS_SECONDS)
    except apart.ApartError as error:
        return status.external_cluster(servers, [], f"cannot ask {servers}: the question {error}")


def main(argv: list[str]) -> int:
    # Imported here, in the child only: the serving process imports Target and loads no client.
    from playground.lab.admin import external_status as ask_now

    apart.answer(ask_now(argv[0], timeout=EXTERNAL_STATUS_SECONDS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
