"""docker-compose.yml and the Dockerfile cannot be run here (no Docker engine), so they are kept
correct by construction: every command they run is a real management command with options it
accepts, every variable they set is one the app reads, and every file they copy exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = {name: s for name, s in COMPOSE["services"].items() if "build" in s}


def _read_by_the_app() -> set[str]:
    """Environment variables the app's Python code reads."""
    names = {"DATABASE_URL"}  # read by dj_database_url.config() in settings
    for path in (ROOT / "playground").rglob("*.py"):
        names |= set(re.findall(r"environ(?:\.get)?\(\s*\"([A-Z_]+)\"", path.read_text()))
        names |= set(re.findall(r"environ\[\"([A-Z_]+)\"\]", path.read_text()))
        names |= set(re.findall(r"ENVIRONMENT_VARIABLE = \"([A-Z_]+)\"", path.read_text()))
    return names


def _manage_args(service: dict) -> list[str]:
    command = service.get("command")
    if command is None:  # the image's CMD
        dockerfile = (ROOT / "Dockerfile").read_text()
        command = re.search(r"exec python manage.py ([^\"]+)\"", dockerfile)[1].split()
        return command
    assert command[:2] == ["python", "manage.py"], command
    return command[2:]


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_each_app_service_runs_a_real_command_with_options_it_accepts(name):
    args = _manage_args(APP_SERVICES[name])
    commands = get_commands()
    assert args[0] in commands, f"{name}: no management command {args[0]!r}"
    command = load_command_class(commands[args[0]], args[0])
    command.create_parser("manage.py", args[0]).parse_args(args[1:])  # exits on a bad option


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_each_app_service_sets_only_variables_the_app_reads(name):
    environment = APP_SERVICES[name].get("environment") or {}
    unknown = set(environment) - _read_by_the_app()
    assert not unknown, f"{name} sets {sorted(unknown)}, which nothing in playground/ reads"


def test_the_classroom_runs_pages_and_runners_apart_on_one_shared_database():
    services = COMPOSE["services"]
    web = [s for s in services.values() if "serve" in (s.get("command") or [])]
    runners = [s for s in services.values() if (s.get("command") or [])[2:3] == ["runner"]]
    assert len(web) >= 2 and all("--no-runner" in s["command"] for s in web)
    assert runners and runners[0]["deploy"]["replicas"] >= 2
    for service in [*web, *runners]:
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["environment"]["REDIS_URL"].startswith("redis://")
        assert "classroom-var:/app/var" in service["volumes"]


def test_every_long_running_service_restarts_on_failure():
    one_shot = {"migrate"}  # the others wait for it to complete successfully
    for name, service in COMPOSE["services"].items():
        if name not in one_shot:
            assert service.get("restart") in ("on-failure", "unless-stopped", "always"), name


def test_the_dockerfile_copies_files_that_exist():
    for source in re.findall(r"^COPY (?!--from)(\S+) ", (ROOT / "Dockerfile").read_text(), re.M):
        assert (ROOT / source).exists(), source


# Top-level modules the app imports -> the requirements.txt line that installs each.
DISTRIBUTIONS = {
    "django": "Django",
    "asgiref": "Django",  # Django's own dependency
    "channels": "channels",
    "daphne": "daphne",
    "django_htmx": "django-htmx",
    "template_partials": "django-template-partials",
    "confluent_kafka": "confluent-kafka",
    "channels_redis": "channels-redis",
    "redis": "redis",
    "dj_database_url": "dj-database-url",
    "psycopg": "psycopg[binary]",
    "whitenoise": "whitenoise",
    "duckdb": "duckdb",
    "numpy": "numpy",
}


def _pinned(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {line.split("==")[0] for line in lines if "==" in line}


def _third_party_imports() -> set[str]:
    import ast
    import sys

    found = set()
    for path in (ROOT / "playground").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"playground", "__future__"}


def test_the_runtime_requirements_cover_the_apps_imports_and_no_test_or_benchmark_tool():
    imported = _third_party_imports()
    assert imported <= DISTRIBUTIONS.keys(), (
        f"imported but not mapped: {imported - DISTRIBUTIONS.keys()}"
    )
    runtime = _pinned(ROOT / "requirements.txt")
    assert {DISTRIBUTIONS[name] for name in imported} <= runtime
    # Nothing only a test or a benchmark needs goes into the image.
    assert not runtime & {"psutil", "pytest", "playwright", "ruff", "PyYAML", "websockets"}
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text()
    assert "requirements.txt" in (ROOT / "Dockerfile").read_text()
