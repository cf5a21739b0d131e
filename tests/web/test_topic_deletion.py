"""An experiment's topics are deleted in a child process, so a native abort costs only that."""

from __future__ import annotations

import sys
import uuid

from playground.engine.clusters import Target
from playground.lab.admin import admin_client, create_topic
from playground.web import topic_deletion


def test_the_child_deletes_an_experiments_topics(lab):
    run_id = uuid.uuid4().hex[:12]
    servers = Target.managed(lab).direct_bootstrap_servers
    create_topic(servers, f"exp-{run_id}-orders")

    problems = topic_deletion.delete_apart(servers, run_id, timeout=30)

    assert problems == []
    assert f"exp-{run_id}-orders" not in admin_client(servers).list_topics(timeout=10).topics


def test_a_child_that_aborts_costs_only_the_deletion(monkeypatch):
    aborting = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"]
    monkeypatch.setattr(topic_deletion, "deletion_command", lambda *args: aborting)

    problems = topic_deletion.delete_apart("127.0.0.1:1", "abc", timeout=5)

    assert len(problems) == 1
    assert "SIGABRT" in problems[0]
