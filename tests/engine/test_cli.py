"""`manage.py experiment`: presets, runs, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import TEST_LAB_DIR


def test_presets_lists_the_five_presets_with_their_promise(capsys):
    call_command("experiment", "presets")
    listed = capsys.readouterr().out.splitlines()

    assert [line.split()[0] for line in listed] == [
        "metrics",
        "notification-service",
        "payment-service",
        "payments-aggregation",
        "kafka-defaults",
    ]
    assert "at-most-once" in listed[0]


def test_an_invalid_spec_file_is_refused_with_the_fields_named(tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"producer": {"acks": "2"}, "workload": {"records": 0}}))

    with pytest.raises(CommandError) as refused:
        call_command("experiment", "run", str(spec))

    assert "producer.acks" in str(refused.value)
    assert "workload.records" in str(refused.value)


def test_a_file_that_is_not_json_is_refused(tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text("{not json")

    with pytest.raises(CommandError, match=r"bad\.json"):
        call_command("experiment", "run", str(spec))


def test_an_unknown_preset_is_refused_with_the_names_allowed():
    with pytest.raises(CommandError, match="notification-service"):
        call_command("experiment", "run", "--preset", "fastest")


def test_run_prints_the_audited_result_as_json(lab, settings, capsys):
    settings.LAB_DIR = TEST_LAB_DIR
    settings.KAFKA_BOOTSTRAP_SERVERS = ""

    call_command("experiment", "run", "--preset", "payment-service")
    result = json.loads(capsys.readouterr().out)

    assert result["promised_semantic"] == "exactly-once"
    assert result["observed_semantic"] == "exactly-once"
    assert result["audit"]["deduplicated"] > 0
    assert result["errors"] == []
