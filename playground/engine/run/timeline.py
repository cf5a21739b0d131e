"""The kinds of an experiment's timeline events: what sort of thing happened.

The conductor, the faults and the supervisor write events of these kinds; the live page and the
verdict draw them (web/chart.py, and a css class per kind). Stored results keep the kinds as these
strings, so a kind is never respelled.
"""

from __future__ import annotations

PHASE = "phase"  # the run entered a phase (the conductor's STARTING to FAILED)
FAULT = "fault"  # a fault struck
CRASH = "crash"  # a worker killed itself at a crash point, or was killed from outside
RESTART = "restart"  # a worker started again
EXIT = "exit"  # a worker died, and why
STOP = "stop"  # a worker ended cleanly
BROKER = "broker"  # a broker came back (restarted or resumed)
ACTION = "action"  # a live button, a stop or the time limit
ERROR = "error"  # something meant could not be done (a fault not applied, a drain given up)
GROUP = "group"  # the consumer group gave a member partitions or took them back (a rebalance)
EVENT_KINDS = (PHASE, FAULT, CRASH, RESTART, EXIT, STOP, BROKER, ACTION, ERROR, GROUP)

# Kinds that disturb a run's flow whether or not a scheduled fault caused them (timing: the
# undisturbed latency leaves them out).
DISTURBING_KINDS = frozenset({FAULT, CRASH, EXIT, BROKER, ACTION, ERROR})

# Why a run was stopped early (the result's "stopped"), and how the verdict says it.
STOPPED_BY_HAND, STOPPED_AT_TIME_LIMIT = "hand", "time limit"
STOP_REASONS = {
    STOPPED_BY_HAND: "stopped by hand",
    STOPPED_AT_TIME_LIMIT: "stopped at the time limit",
}
