"""`manage.py experiment`: presets, runs, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from playground.engine.management.commands.experiment import EXIT_INVALID_RUN, outcome_line
from tests.conftest import TEST_LAB_DIR


def test_presets_lists_the_presets_with_their_promise(capsys):
    call_command("experiment", "presets")
    listed = capsys.readouterr().out.splitlines()

    assert [line.split()[0] for line in listed] == [
        "metrics",
        "notification-service",
        "payment-service",
        "payments-aggregation",
        "kafka-defaults",
        "notification-service-group",
        "payment-service-group",
        "payments-aggregation-group",
    ]
    assert "at-most-once" in listed[0]


def test_an_invalid_spec_file_is_refused_with_the_fields_named(tmp_path):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"producer": {"acks": "2"}, "workload": {"records": 0}}))

    with pytest.raises(CommandError) as refused:
        call_command("experiment", "run", str(spec))

    assert "producer.acks" in str(refused.value)
    assert "workload.records" in str(refused.value)


@pytest.mark.parametrize(
    "text", ["{not json", "9" * 5000, "[" * 3000 + "]" * 3000, "\udc80"], ids=repr
)
def test_a_file_that_is_not_json_is_refused(tmp_path, text):
    spec = tmp_path / "bad.json"
    spec.write_bytes(text.encode("utf-8", "surrogateescape"))

    with pytest.raises(CommandError, match=r"bad\.json"):
        call_command("experiment", "run", str(spec))


def test_an_unknown_preset_is_refused_with_the_names_allowed():
    with pytest.raises(CommandError, match="notification-service"):
        call_command("experiment", "run", "--preset", "fastest")


def test_run_prints_the_audited_result_as_json(lab, settings, capsys):
    settings.LAB_DIR = TEST_LAB_DIR
    settings.KAFKA_BOOTSTRAP_SERVERS = ""

    call_command("experiment", "run", "--preset", "payment-service")
    printed = capsys.readouterr()
    result = json.loads(printed.out)

    assert result["promised_semantic"] == "exactly-once"
    assert result["observed_semantic"] == "exactly-once"
    assert result["audit"]["deduplicated"] > 0
    assert result["valid"] is True and result["problems"] == []
    assert printed.err.splitlines()[-1] == "observed: exactly-once (promised: exactly-once)"


def test_a_valid_run_ends_with_the_semantic_it_showed_beside_the_promise():
    result = {"valid": True, "observed_semantic": "at-least-once", "promised_semantic": "none"}

    assert outcome_line(result) == "observed: at-least-once (promised: none)"


def test_an_invalid_run_ends_with_every_problem_and_no_semantic():
    result = {
        "valid": False,
        "observed_semantic": None,
        "promised_semantic": "exactly-once",
        "problems": [
            {"message": "the producer could not start: no broker", "log": "..."},
            {"message": "faults[0] could not be applied: gone", "log": ""},
        ],
    }

    assert outcome_line(result) == (
        "INVALID RUN: the producer could not start: no broker; faults[0] could not be applied: gone"
    )


def test_an_invalid_run_prints_its_result_and_exits_with_the_invalid_run_status(
    lab, settings, capsys, tmp_path
):
    settings.LAB_DIR = TEST_LAB_DIR
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    spec = tmp_path / "never-fires.json"
    never_fires = {"kind": "kill-consumer", "at": {"seconds": 600}}
    spec.write_text(json.dumps({"workload": {"records": 50}, "faults": [never_fires]}))

    with pytest.raises(SystemExit) as exited:
        call_command("experiment", "run", str(spec))
    printed = capsys.readouterr()
    result = json.loads(printed.out)

    assert exited.value.code == EXIT_INVALID_RUN
    assert result["valid"] is False and result["observed_semantic"] is None
    last = printed.err.splitlines()[-1]
    assert last.startswith("INVALID RUN: faults[0]") and "never fired" in last


def test_run_stops_at_the_runners_wall_clock_limit(lab, settings, capsys, tmp_path):
    settings.LAB_DIR = TEST_LAB_DIR
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    settings.PLAYGROUND_MAX_RUN_SECONDS = 3
    spec = tmp_path / "long.json"
    spec.write_text(json.dumps({"workload": {"records": 6000, "rate": 200}}))  # 30 s of orders

    call_command("experiment", "run", str(spec))
    result = json.loads(capsys.readouterr().out)

    assert result["stopped"] == "time limit"
    assert result["duration_seconds"] < 20
    assert result["audit"]["never_sent"] > 0
