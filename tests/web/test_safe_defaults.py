"""Safe defaults: DEBUG only when asked for, a secret key that is never a constant, no serving
beyond this machine without both, a Content-Security-Policy every page lives within, and
`check --deploy` clean but for the HTTPS items a TLS proxy in front takes care of."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from playground.engine.spec.model import Spec
from playground.lab.launcher import PROJECT_ROOT
from playground.secret_key import KEY_FILE_NAME, is_strong
from playground.web import chart
from playground.web.management.commands import serve
from playground.web.models import Comparison, Experiment
from playground.web.security import HEADER, refusal_to_serve

HTTPS_CHECKS = {"security.W004", "security.W008", "security.W012", "security.W016"}
STRONG_KEY = "k" * 40 + "0123456789"


def settings_of_a_fresh_process(var_dir, *names: str, **environment: str) -> dict:
    """The settings `names` as a process started with a clean environment reads them."""
    clean = {"PATH": os.environ["PATH"], "PLAYGROUND_VAR_DIR": str(var_dir)} | environment
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {list(names)!r}}}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "playground.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout)


# -- DEBUG and the secret key ----------------------------------------------------------------------


def test_debug_is_off_unless_asked_for(tmp_path):
    assert settings_of_a_fresh_process(tmp_path, "DEBUG") == {"DEBUG": False}
    assert settings_of_a_fresh_process(tmp_path, "DEBUG", DJANGO_DEBUG="1") == {"DEBUG": True}


def test_a_generated_secret_key_is_kept_owner_only_and_reused(tmp_path):
    first = settings_of_a_fresh_process(tmp_path, "SECRET_KEY")["SECRET_KEY"]
    again = settings_of_a_fresh_process(tmp_path, "SECRET_KEY")["SECRET_KEY"]
    key_file = tmp_path / KEY_FILE_NAME
    assert first == again == key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert is_strong(first)


def test_the_secret_key_is_never_a_constant(tmp_path):
    one = settings_of_a_fresh_process(tmp_path / "one", "SECRET_KEY")["SECRET_KEY"]
    other = settings_of_a_fresh_process(tmp_path / "other", "SECRET_KEY")["SECRET_KEY"]
    assert one != other
    assert one not in (PROJECT_ROOT / "playground" / "settings.py").read_text()


def test_the_environment_s_key_wins_and_a_blank_one_counts_as_unset(tmp_path):
    given = settings_of_a_fresh_process(tmp_path, "SECRET_KEY", DJANGO_SECRET_KEY=STRONG_KEY)
    assert given == {"SECRET_KEY": STRONG_KEY}
    assert not (tmp_path / KEY_FILE_NAME).exists()
    blank = settings_of_a_fresh_process(tmp_path, "SECRET_KEY", DJANGO_SECRET_KEY=" ")
    assert blank["SECRET_KEY"] == (tmp_path / KEY_FILE_NAME).read_text().strip()


def test_processes_starting_at_once_agree_on_one_key(tmp_path):
    code = (
        "import sys; from pathlib import Path; from playground.secret_key import kept_key; "
        "print(kept_key(Path(sys.argv[1])))"
    )
    key_file = tmp_path / KEY_FILE_NAME
    starting = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(key_file)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in starting}
    assert keys == {key_file.read_text().strip()}
    assert [path.name for path in tmp_path.iterdir()] == [KEY_FILE_NAME]  # no draft left


# -- serving beyond this machine -------------------------------------------------------------------


@pytest.fixture
def never_served(monkeypatch):
    """`serve` fails the test instead of starting a cluster and a server."""

    def refuse(self):
        raise AssertionError("serve went on to start the cluster")

    monkeypatch.setattr(serve.Command, "_start_lab", refuse)


def test_serve_refuses_a_public_host_with_debug_on(settings, never_served):
    settings.DEBUG, settings.SECRET_KEY = True, STRONG_KEY
    with pytest.raises(CommandError, match=r"Refusing to serve on 0\.0\.0\.0 with DEBUG on"):
        call_command("serve", host="0.0.0.0")


def test_serve_refuses_a_public_host_with_a_weak_key(settings, never_served):
    settings.DEBUG, settings.SECRET_KEY = False, "change-me-in-production"
    with pytest.raises(CommandError, match="weak DJANGO_SECRET_KEY"):
        call_command("serve", host="192.0.2.7")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.1.1"])
def test_serving_on_this_machine_may_use_debug_and_any_key(settings, host):
    settings.DEBUG, settings.SECRET_KEY = True, "dev"
    assert refusal_to_serve(host) is None


def test_a_public_host_is_served_with_debug_off_and_a_strong_key(settings):
    settings.DEBUG, settings.SECRET_KEY = False, STRONG_KEY
    assert refusal_to_serve("0.0.0.0") is None


# -- the Content-Security-Policy -------------------------------------------------------------------


def small_spec() -> dict:
    return Spec.from_json({"name": "csp test", "workload": {"records": 20}}).to_json()


def finished_result() -> dict:
    """A stored result with enough in it for the verdict and its timeline chart."""
    return {
        "spec": small_spec(),
        "valid": True,
        "problems": [],
        "observed_semantic": "at-least-once",
        "audit": {"planned": 20, "attempted": 20, "delivered": 20, "lost": 0, "duplicated": 2},
        "timeline": [
            {"at": 0.0, "kind": "phase", "detail": "running", "fault": None},
            {"at": 1.0, "kind": "crash", "detail": "consumer killed", "fault": 0},
        ],
        "series": [
            {"t": 0.0, "delivered": 0, "duplicated": 0},
            {"t": 1.0, "delivered": 10, "duplicated": 1},
            {"t": 2.0, "delivered": 22, "duplicated": 2},
        ],
        "duration_seconds": 2.0,
        "errors": [],
    }


@pytest.fixture
def no_lab(settings, tmp_path):
    settings.LAB_DIR = tmp_path
    settings.KAFKA_BOOTSTRAP_SERVERS = ""


@pytest.fixture
def every_page(db, no_lab) -> list[str]:
    """A URL of every kind of page, its experiments stored but never run."""
    queued = Experiment.objects.create(spec=small_spec())
    running = Experiment.objects.create(spec=small_spec(), status=Experiment.RUNNING)
    done = Experiment.objects.create(
        spec=small_spec(), status=Experiment.DONE, result=finished_result()
    )
    comparison = Comparison.objects.create()
    for _ in range(2):
        Experiment.objects.create(
            spec=small_spec(),
            status=Experiment.DONE,
            result=finished_result(),
            comparison=comparison,
        )
    return [
        "/",
        "/guide",
        "/guide?lose=no&effect=side-effect&duplicate=harmful",
        "/builder/",
        "/builder/?preset=payment-service",
        "/compare/",
        queued.get_absolute_url(),
        running.get_absolute_url(),
        done.get_absolute_url(),
        f"{done.get_absolute_url()}orders?filter=duplicated",
        comparison.get_absolute_url(),
        "/experiments/queue",
        "/e/no-such-experiment/",
    ]


class InlineCode(HTMLParser):
    """Collects what a policy of script-src 'self' and style-src 'self' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "style":
            self.found.append("a <style> element")
        if tag == "script" and not names.get("src"):
            self.found.append("a <script> without src")
        self._in_script = tag == "script"
        for name, value in attrs:
            if name == "style" or name.startswith("on") or name.startswith("hx-on"):
                self.found.append(f"<{tag} {name}=...>")
            if (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append(f"script text {data.strip()[:40]!r}")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_every_response_carries_the_policy(client, every_page):
    for url in [*every_page, "/api/presets", "/api/experiments/nope", "/static/js/builder.js"]:
        policy = client.get(url)[HEADER]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["default-src"] == "'self'", url
        assert directives["script-src"] == "'self'", url
        assert directives["style-src"] == "'self'", url
        assert directives["img-src"] == "'self' data:", url
        assert directives["connect-src"] == "'self' ws://testserver wss://testserver", url
        assert directives["frame-ancestors"] == "'none'", url
        assert directives["base-uri"] == directives["form-action"] == "'self'", url


def test_no_page_holds_inline_scripts_handlers_or_styles(client, every_page):
    for url in every_page:
        response = client.get(url)
        assert response.status_code in (200, 404), url
        assert inline_code(response.content.decode()) == [], url


@pytest.mark.django_db
def test_pages_load_their_behaviour_from_static_files(client, no_lab):
    home, builder = client.get("/").content.decode(), client.get("/builder/").content.decode()
    assert '<script src="/static/js/playground.js" defer>' in home
    assert '<script src="/static/js/builder.js" defer>' in builder
    assert '"includeIndicatorStyles": false' in home  # its rule is in playground.css instead


def test_the_timeline_chart_draws_with_attributes_and_classes_only():
    picture = chart.render(
        finished_result()["series"],
        [{"at": 1.0, "kind": "crash", "detail": "consumer <killed>"}],
    )
    assert "<svg" in picture
    assert inline_code(picture) == []


def test_a_request_for_a_host_not_allowed_gets_a_400_with_the_policy(client):
    response = client.get("/", headers={"host": "evil.example"})
    assert response.status_code == 400
    assert "connect-src 'self';" in response[HEADER]


@pytest.mark.django_db
def test_django_s_own_debug_pages_keep_their_inline_code_when_debug_is_on(client, settings):
    settings.DEBUG = True
    assert HEADER not in client.get("/no/such/page")
    assert HEADER in client.get("/api/presets")


# -- check --deploy --------------------------------------------------------------------------------


def deploy_warnings(**environment: str) -> set[str]:
    """The check ids `manage.py check --deploy` reports in a process with `environment`."""
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=PROJECT_ROOT,
        env={"PATH": os.environ["PATH"]} | environment,
        capture_output=True,
        text=True,
    )
    return set(re.findall(r"\((\w+\.\w+)\)", completed.stdout + completed.stderr))


def test_check_deploy_lists_only_the_https_items(tmp_path):
    assert deploy_warnings(PLAYGROUND_VAR_DIR=str(tmp_path)) == HTTPS_CHECKS


def test_behind_a_tls_proxy_check_deploy_is_clean(tmp_path):
    assert deploy_warnings(PLAYGROUND_VAR_DIR=str(tmp_path), PLAYGROUND_BEHIND_TLS="1") == set()


def test_the_tls_switch_trusts_the_proxy_s_scheme_and_insists_on_https(tmp_path):
    names = ("SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE")
    found = settings_of_a_fresh_process(tmp_path, *names, PLAYGROUND_BEHIND_TLS="1")
    assert found == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
    }
