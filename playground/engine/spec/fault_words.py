"""A fault in a few words, for the timeline, the problems of a run and the comparison table.

Apart from `faults` (which applies faults, and loads the Kafka client to do it) so that the pages
can name a fault without loading a Kafka client.
"""

from __future__ import annotations

from playground.engine.spec.model import Fault


def describe_fault(fault: Fault) -> str:
    """A fault in a few words, e.g. "kill-consumer at 80 records"."""
    if fault.at.now:
        return f"{fault.kind} now"
    if fault.at.records is not None:
        return f"{fault.kind} at {fault.at.records} records"
    return f"{fault.kind} at {fault.at.seconds:g} s"
