"""Browser fixtures: the whole app served by Daphne on the session cluster, and Debian's Chromium
driven by Playwright (no downloaded browser)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from playground.lab.control import LabClient
from playground.lab.launcher import PROJECT_ROOT
from tests.conftest import TEST_LAB_DIR, TEST_PORT_BASE
from tools.appserver import AppServer

# Its own folder per session when several sessions run at once (PLAYGROUND_TEST_BROWSER_VAR_DIR).
BROWSER_VAR_DIR = Path(
    os.environ.get("PLAYGROUND_TEST_BROWSER_VAR_DIR", PROJECT_ROOT / "var" / "test-browser")
)
SCREENSHOTS_DIR = BROWSER_VAR_DIR / "screenshots"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 900}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _forget_earlier_sessions(var_dir: Path) -> None:
    """A fresh database and no experiment files or screenshots of an earlier session. The lab
    lives elsewhere (TEST_LAB_DIR) and is never touched here."""
    for name in ("db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm", "serve.log"):
        (var_dir / name).unlink(missing_ok=True)
    for name in ("experiments", "screenshots"):
        shutil.rmtree(var_dir / name, ignore_errors=True)


@pytest.fixture(scope="package")
def app_server(lab: LabClient) -> Iterator[AppServer]:
    """`manage.py serve` (DEBUG off) on a free port, running its experiments on the session
    cluster, which it finds already running and leaves alone."""
    _forget_earlier_sessions(BROWSER_VAR_DIR)
    SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
    server = AppServer(
        port=_free_port(),
        var_dir=BROWSER_VAR_DIR,
        lab_dir=TEST_LAB_DIR,
        lab_port_base=TEST_PORT_BASE,
    )
    with server:
        yield server


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator:
    """Makes browser contexts (each a fresh session, cookies of its own); closes them after."""
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """A full-page screenshot in var/test-browser/screenshots/<name>.png."""
    path = SCREENSHOTS_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
