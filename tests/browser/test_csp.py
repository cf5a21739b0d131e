"""The pages work under the Content-Security-Policy in a real browser. Chromium reports each thing
the policy blocks (an inline script or style, an event attribute, eval, a connection elsewhere) on
the console, and the page itself hears a `securitypolicyviolation` event: these tests fail on
either, and on any uncaught script error, while htmx and the websocket go on working."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import start_comparison

CSP_REPORT = "Content Security Policy"
# Every page that needs no experiment.
PAGES = {
    "home": "/",
    "guide": "/guide",
    "guide-outcome": "/guide?lose=no&effect=side-effect&duplicate=harmful",
    "builder": "/builder/",
    "builder-preset": "/builder/?preset=payment-service",
    "compare": "/compare/",
    "not-found": "/e/no-such-experiment/",
}
SHORT_PRESET = "metrics"  # 200 orders at 30/s: the shortest run
LIVE_TIMEOUT_MS = 60_000
VERDICT_TIMEOUT_MS = 120_000
# The page's own record of what the policy blocked (an init script is not subject to the policy).
LISTEN_FOR_VIOLATIONS = """window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI}`);
});"""


class Watched:
    """A page and everything the browser said the policy blocked on it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.reports: list[str] = []
        page.add_init_script(LISTEN_FOR_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.reports.append(f"script error: {error}"))

    def _console(self, message) -> None:
        if CSP_REPORT in message.text:
            self.reports.append(message.text)

    def assert_nothing_blocked(self) -> None:
        heard = self.page.evaluate("window.__cspViolations || []")
        assert self.reports + heard == [], f"{self.page.url}: {self.reports + heard}"


@pytest.fixture
def watched(new_context) -> Iterator[Watched]:
    yield Watched(new_context().new_page())


def assert_htmx_runs_with_its_styles_off(page: Page) -> None:
    assert page.evaluate("typeof htmx") == "object"
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("document.querySelectorAll('style, [style]').length") == 0


@pytest.mark.parametrize("url", PAGES.values(), ids=PAGES.keys())
def test_a_page_loads_with_nothing_blocked(app_server, watched, url):
    watched.page.goto(app_server.url + url)
    watched.page.wait_for_load_state("load")
    assert_htmx_runs_with_its_styles_off(watched.page)
    watched.page.wait_for_timeout(300)  # what htmx loads at once (hx-trigger="load")
    watched.assert_nothing_blocked()


def test_the_home_page_polls_its_panels_under_the_policy(app_server, watched):
    page = watched.page
    page.goto(app_server.url)
    expect(page.locator("#cluster")).to_contain_text("ready")
    with page.expect_response(re.compile(r"/lab/cluster$")):  # the next poll, every 2 s
        pass
    watched.assert_nothing_blocked()


def test_the_builder_s_scripts_run_from_their_file(app_server, watched):
    page = watched.page
    page.goto(f"{app_server.url}/builder/")
    badge = page.locator("#promise .semantic-badge")
    expect(badge).to_have_text("at-least-once")
    page.locator('select[name="acks"]').select_option("0")  # a new promise comes by htmx
    expect(badge).not_to_have_text("at-least-once", timeout=10_000)

    row = page.locator(".fault-row").first
    row.locator(".fault-kind select").select_option("kill-consumer")
    expect(row.locator(".fault-point")).to_be_visible()  # a field of kill-consumer
    expect(row.locator(".fault-target")).to_be_hidden()  # a field of drop-acks only
    row.locator(".fault-kind select").select_option("drop-acks")
    expect(row.locator(".fault-target")).to_be_visible()
    expect(row.locator(".fault-point")).to_be_hidden()

    watched.assert_nothing_blocked()


def test_the_live_page_updates_over_the_websocket_to_its_verdict(app_server, watched):
    page = watched.page
    page.goto(app_server.url)
    page.locator(f'[data-preset="{SHORT_PRESET}"] .run-preset').click()
    page.wait_for_url(re.compile(r"/e/[^/]+/$"))
    page.evaluate("window.__noReload = 1")
    page.wait_for_function(
        "() => Number(document.querySelector('#count-delivered')?.textContent) > 0",
        timeout=LIVE_TIMEOUT_MS,
    )
    page.locator('#experiment-body[data-status="done"] #verdict').wait_for(
        timeout=VERDICT_TIMEOUT_MS
    )
    assert page.evaluate("window.__noReload") == 1  # swapped over the websocket, no reload
    expect(page.locator("#orders table.orders tbody tr").first).to_be_visible()

    share = page.locator("#share-url")
    share.click()  # selected whole by playground.js, ready to copy
    selected = "(field => field.selectionEnd - field.selectionStart)(document.activeElement)"
    assert page.evaluate(selected) == len(share.input_value())
    watched.assert_nothing_blocked()


def test_a_comparison_page_polls_its_table_under_the_policy(app_server, watched):
    page = watched.page
    start_comparison(page, app_server.url)
    with page.expect_response(re.compile(r"/c/[^/]+/$")):  # the table's poll, every 2 s
        pass
    # Until the end, so that the cluster is free again for the tests after this one.
    expect(page.locator("#comparison-table")).not_to_have_attribute(
        "hx-trigger", re.compile("."), timeout=VERDICT_TIMEOUT_MS
    )
    watched.assert_nothing_blocked()
