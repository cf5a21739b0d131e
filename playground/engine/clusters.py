"""Which cluster an experiment runs against: the managed lab (with faults) or an external one."""

from __future__ import annotations

from dataclasses import dataclass

from playground.lab.control import LabClient


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
