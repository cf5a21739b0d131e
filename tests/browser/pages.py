"""What the phone and accessibility tests share: the phone they emulate, how they start the
experiments whose pages they visit, and the pages that need no experiment."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, BrowserContext, Page, expect

from playground.web.comparisons.measurements import MIN_COST_RECORDS

# A small Android phone: 360 CSS px wide, touch, the page's viewport meta honoured.
PHONE_WIDTH = 360
PHONE = {
    "viewport": {"width": PHONE_WIDTH, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
# WCAG 2.0, 2.1 and 2.2 at levels A and AA: the axe-core rules the pages are held to.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Every page that needs no experiment: the guide part-way and at its outcome, the builder opened
# from a preset and from a broken link, and the 404 page.
STATIC_PAGES = {
    "home": "/",
    "guide": "/guide",
    "guide-question": "/guide?lose=no",
    "guide-outcome": "/guide?lose=no&effect=side-effect&duplicate=harmful",
    "builder": "/builder/",
    "builder-preset": "/builder/?preset=payment-service",
    "builder-bad-link": "/builder/?spec=not-a-spec",
    "compare": "/compare/",
    "lessons": "/lessons/",
    "lesson-2": "/lessons/2/",
    "lesson-6": "/lessons/6/",
    "lesson-8": "/lessons/8/",
    "lesson-10": "/lessons/10/",
    "not-found": "/e/no-such-experiment/",
}
SHORT_PRESET = "metrics"  # 200 orders at 30/s: the shortest run
WATCHED_PRESET = "notification-service"  # at-least-once, 300 orders at 30/s, a consumer crash
LIVE_TIMEOUT_MS = 60_000
VERDICT_TIMEOUT_MS = 120_000

# The elements that stick out past the right edge, to say why a page scrolls sideways.
WIDER_THAN_THE_SCREEN = """width => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > width + 0.5 && el.checkVisibility())
  .slice(0, 8).map(el => el.outerHTML.slice(0, 120))"""


def new_phone(browser: Browser) -> BrowserContext:
    """A fresh session on a phone; the caller closes it."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(15_000)
    return context


def assert_no_sideways_scroll(page: Page) -> None:
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, (
        f"{page.url} scrolls sideways: {scroll_width} px wide on a {width} px screen; "
        f"sticking out: {page.evaluate(WIDER_THAN_THE_SCREEN, width)}"
    )


def start_comparison(page: Page, base_url: str) -> str:
    """Two short specs compared, with the fewest records a cost run takes; a comparison's cost
    runs have the cluster to themselves and nobody overtakes, so experiments started while it
    runs wait in the queue. Returns the comparison's URL."""
    page.goto(f"{base_url}/compare/")
    page.locator('select[name="spec1"]').select_option(SHORT_PRESET)
    page.locator('select[name="spec2"]').select_option(SHORT_PRESET)
    page.locator('input[name="cost_records"]').fill(str(MIN_COST_RECORDS))
    page.locator(".run-comparison").click()
    page.wait_for_url(re.compile(r"/c/[^/]+/$"))
    return page.url


def start_preset(page: Page, base_url: str, preset: str = WATCHED_PRESET) -> str:
    """Runs a preset from its card on the home page; returns the share link."""
    page.goto(base_url)
    page.locator(f'[data-preset="{preset}"] .run-preset').click()
    page.wait_for_url(re.compile(r"/e/[^/]+/$"))
    return page.locator("#share-url").input_value()


def wait_for_status(page: Page, status: str, timeout: float = LIVE_TIMEOUT_MS) -> None:
    """The page swaps itself over the websocket; no reload."""
    expect(page.locator("#experiment-body")).to_have_attribute(
        "data-status", status, timeout=timeout
    )


def wait_for_audit_table(page: Page) -> None:
    page.locator('#experiment-body[data-status="done"] #verdict').wait_for(
        timeout=VERDICT_TIMEOUT_MS
    )
    expect(page.locator("#orders table.orders tbody tr").first).to_be_visible()
