"""Bad commands to the lab get a clear error that names the field, and change nothing."""

from __future__ import annotations

import json
import socket

import pytest

from playground.lab.control import LabError


@pytest.mark.parametrize(
    ("op", "arguments", "message"),
    [
        ("kill", {"node": 7}, "no node 7"),
        ("kill", {"node": "leader"}, "node: expected an integer"),
        ("pause", {}, "node: expected an integer"),
        ("drop_produce_responses", {"count": 0}, "count: expected 1 to 1000000"),
        ("drop_produce_responses", {"count": 2, "node": 100}, "node: expected one of the brokers"),
        ("delay_responses", {"ms": -5}, "ms: expected a number from 0 to 3600"),
        ("blackhole", {"seconds": "long"}, "seconds: expected a number"),
        ("explode", {}, "unknown op 'explode'"),
    ],
)
def test_bad_command_names_the_field(lab, op, arguments, message):
    with pytest.raises(LabError, match=message):
        lab.call(op, **arguments)
    assert [n["state"] for n in lab.status()["nodes"]] == ["up"] * 4


def test_a_line_that_is_not_json_gets_an_error_reply(lab):
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(str(lab.socket_path))
        connection.sendall(b"kill broker 1\n")
        reply = json.loads(connection.makefile("rb").readline())
    assert reply["ok"] is False
    assert reply["error"]
