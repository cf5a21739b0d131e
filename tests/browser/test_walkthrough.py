"""A new user's walk through the app in a real browser: run a preset, watch it live over the
websocket, crash it, read the verdict and its audit table, share it, and try the builder."""

from __future__ import annotations

import json
import os
import re
import time

from playwright.sync_api import Page, expect

from playground.lab.launcher import PROJECT_ROOT
from tests.browser.conftest import BROWSER_VAR_DIR, screenshot

PRESET = "notification-service"  # at-least-once, paced at 30 orders/s for about 10 s
VERDICT_TIMEOUT_MS = 60_000
LIVE_TIMEOUT_MS = 30_000
# The README's picture: refreshed only when asked (PLAYGROUND_UPDATE_README_SCREENSHOT=1), so that
# a test run never changes a committed file.
DOCS_SCREENSHOT = PROJECT_ROOT / "docs" / "screenshot-live.png"
TIMINGS_FILE = BROWSER_VAR_DIR / "walkthrough.json"

COUNTER_ABOVE_ZERO = "name => Number(document.querySelector('#count-' + name)?.textContent) > 0"


class Stopwatch:
    """Seconds each step of the walkthrough took, in order."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.steps[step] = round(now - self._last, 2)
        self._last = now

    def save(self) -> None:
        TIMINGS_FILE.write_text(json.dumps(self.steps, indent=2) + "\n")
        print("\nwalkthrough timings (s):", json.dumps(self.steps, indent=2))


def counter(page: Page, name: str) -> int:
    return int(page.locator(f"#count-{name}").inner_text())


def test_a_new_user_runs_a_preset_crashes_it_sees_duplicates_and_shares_the_verdict(
    app_server, new_context
):
    stopwatch = Stopwatch()
    page = new_context().new_page()

    # 1. The home page, and the notification-service card's Run button.
    page.goto(app_server.url)
    card = page.locator(f'[data-preset="{PRESET}"]')
    expect(card).to_be_visible()
    stopwatch.lap("home loaded")
    screenshot(page, "home")
    card.locator(".run-preset").click()
    page.wait_for_url(re.compile(r"/e/[^/]+/$"))
    stopwatch.lap("run clicked -> live page")

    # 2. Counters move over the websocket; a crash makes duplicates appear, all without a reload.
    page.evaluate("window.__noReload = 1")
    page.wait_for_function(COUNTER_ABOVE_ZERO, arg="delivered", timeout=LIVE_TIMEOUT_MS)
    stopwatch.lap("first counter movement")
    # At once, while the consumer runs: the preset's own crash at record 120 comes seconds later.
    page.locator('button[data-action="kill-consumer-at-point"]').click()
    expect(page.locator("#action-result")).to_contain_text("sent")
    page.wait_for_function(COUNTER_ABOVE_ZERO, arg="duplicated", timeout=LIVE_TIMEOUT_MS)
    stopwatch.lap("crash pressed -> duplicates visible")
    assert page.locator("#experiment-body").get_attribute("data-status") == "running"
    assert page.evaluate("window.__noReload") == 1
    timeline = page.locator("#timeline .events")
    expect(timeline).to_contain_text("kill-consumer (point next-commit-point, member 0)")
    expect(timeline).to_contain_text("consumer armed to crash at its next")
    expect(timeline).not_to_contain_text("could not be applied")
    screenshot(page, "live")
    if os.environ.get("PLAYGROUND_UPDATE_README_SCREENSHOT") == "1":
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(DOCS_SCREENSHOT))

    viewer = new_context().new_page()  # a second session watching through the share link
    viewer.goto(page.locator("#share-url").input_value())
    expect(viewer.locator("#experiment-body")).to_have_attribute("data-status", "running")
    expect(viewer.locator("#experiment-body")).to_contain_text("You are watching")
    expect(viewer.locator("#count-delivered")).not_to_have_text("0")
    expect(viewer.locator("button[data-action]")).to_have_count(0)

    # 3. The page swaps itself to the verdict when the run ends.
    page.locator('#experiment-body[data-status="done"] #verdict').wait_for(
        timeout=VERDICT_TIMEOUT_MS
    )
    stopwatch.lap("verdict visible")
    assert page.evaluate("window.__noReload") == 1
    verdict = page.locator("#verdict")
    expect(page.locator("#verdict-observed")).to_have_text("at-least-once")
    duplicated = int(verdict.locator("#count-duplicated").inner_text())
    assert duplicated > 0
    assert int(verdict.locator("#count-lost").inner_text()) == 0
    rows = page.locator("#orders table.orders tbody tr")
    expect(rows.first).to_be_visible()
    screenshot(page, "verdict")

    page.locator('a[data-filter="duplicated"]').click()
    expect(page.locator('a[data-filter="duplicated"]')).to_have_class("active")
    expect(rows).to_have_count(min(50, duplicated))
    expect(page.locator("#orders tbody tr:not(.outcome-duplicated)")).to_have_count(0)

    # 4. The viewer's page swapped itself too; a fresh session on the share link sees the same.
    numbers = {name: counter(page, name) for name in ("delivered", "duplicated", "lost")}
    viewer.locator('#experiment-body[data-status="done"] #verdict').wait_for()
    assert {name: counter(viewer, name) for name in numbers} == numbers
    stranger = new_context().new_page()
    stranger.goto(page.locator("#share-url").input_value())
    expect(stranger.locator("#verdict")).to_be_visible()
    assert {name: counter(stranger, name) for name in numbers} == numbers
    expect(stranger.locator("button[data-action]")).to_have_count(0)
    expect(stranger.locator("#experiment-body")).to_contain_text("You are watching")
    screenshot(stranger, "shared")
    stopwatch.save()


def test_the_builder_promise_turns_at_most_once_when_acks_drop_to_zero(app_server, new_context):
    # The payment service promises exactly-once through its idempotent consumer; without
    # producer idempotence it still does, and acks=0 then adds a way to lose a record.
    page = new_context().new_page()
    page.goto(f"{app_server.url}/builder/?preset=payment-service")
    badge = page.locator("#promise .semantic-badge")
    expect(badge).to_have_text("exactly-once")

    page.locator('input[name="enable_idempotence"]').uncheck()
    expect(badge).to_have_text("exactly-once")
    page.locator('select[name="acks"]').select_option("0")
    expect(badge).to_have_text("at-most-once", timeout=10_000)
    expect(page.locator("#promise .summary")).to_contain_text("producer.acks can lose a record")
    expect(page.locator("#promise .risks-loss")).to_contain_text("acks=0")
    screenshot(page, "builder")
