"""The experiment's consumer group for its live page: the members, and the partitions each owns,
as Kafka describes the group (the kafka_questions child's "group" answers, asked by the run
observer's group thread), each member tied to the experiment's consumer session and group member
it is: the describe names a client id and a static instance id, the snapshots which session each
member worker runs."""

from __future__ import annotations

import threading
import time

from playground.engine.naming import CONSUMER, MAX_MEMBERS, ExperimentNames, member_of


class GroupWatch:
    """The experiment's consumer group as the kafka_questions child last described it, its
    members tied to the experiment's consumer sessions and members. take() is called from the
    observer's group thread, sessions() from the snapshot callback, state() from anywhere."""

    def __init__(self, names: ExperimentNames) -> None:
        self.names = names
        self._lock = threading.Lock()
        self._described: dict = {}  # the last answer that described the group
        self._described_at: float | None = None  # its time.monotonic()
        self._error = "not asked yet"
        # A member worker's sessions, from the snapshots (a member without a static instance id
        # is known by its client id's session only).
        self._member_of_session: dict[int, int] = {}
        self._member_of_instance = {
            names.consumer_instance_id(member): member for member in range(MAX_MEMBERS)
        }

    def sessions(self, workers: dict) -> None:
        """Learn which member each running consumer session is, from a snapshot's workers."""
        for name, worker in workers.items():
            member = member_of(name)
            if member is not None and "session" in worker:
                with self._lock:
                    self._member_of_session[worker["session"]] = member

    def take(self, answer: dict | None, failure: str) -> None:
        """The child's answer to a group question (None: no answer; `failure` says why, if the
        child knows)."""
        with self._lock:
            if answer is None:
                self._error = failure or "the group was not described in time"
            elif answer.get("error"):
                self._error = answer["error"]
            else:
                self._described, self._described_at = answer, time.monotonic()
                self._error = ""

    def state(self) -> dict:
        """The group as last described: "state", "type" ("classic" or "consumer"), "assignor",
        "coordinator" (a broker id), and "members", each with "member_id", "client_id",
        "session" and "member" (the experiment's consumer session and group member it is, None
        for a client that is not one of the experiment's consumers, or a member the snapshots
        have not named yet), "instance_id", "host", "partitions" (input partitions it owns) and
        "target" (consumer protocol: those the coordinator means it to have; None for classic).
        "age_seconds" says how long ago that description came (None: never, and then every
        field is empty), "error" why the newest question got no description ("" when it did):
        while the coordinator is down the last description stands, with its age."""
        with self._lock:
            described, at, error = self._described, self._described_at, self._error
            sessions = dict(self._member_of_session)
        prefix = self.names.client_prefix(CONSUMER)
        members = []
        for found in described.get("members", []):
            client_id = found["client_id"]
            tail = client_id[len(prefix) :] if client_id.startswith(prefix) else ""
            session = int(tail) if tail.isdigit() else None
            member = self._member_of_instance.get(found["instance_id"] or "")
            if member is None and session is not None:
                member = sessions.get(session)
            members.append(found | {"session": session, "member": member})
        return {
            "state": described.get("state"),
            "type": described.get("type"),
            "assignor": described.get("assignor"),
            "coordinator": described.get("coordinator"),
            "members": members,
            "age_seconds": None if at is None else round(time.monotonic() - at, 1),
            "error": error,
        }
