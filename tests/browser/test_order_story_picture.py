"""A learner clicks a duplicated order in the verdict's audit table and sees its story drawn: two
consumer sessions, each processing counted, and the sentence naming consumer.commit. On a laptop
and on a phone; the laptop's picture is kept as var/screenshots/order-story.png."""

from __future__ import annotations

from playwright.sync_api import expect

from playground.lab.launcher import PROJECT_ROOT
from tests.browser.conftest import screenshot
from tests.browser.pages import (
    assert_no_sideways_scroll,
    new_phone,
    start_preset,
    wait_for_audit_table,
)

STORY_SCREENSHOT = PROJECT_ROOT / "var" / "screenshots" / "order-story.png"


def test_a_duplicated_order_opens_as_a_picture_of_its_story(app_server, new_context, browser):
    page = new_context().new_page()
    share_url = start_preset(page, app_server.url)  # at-least-once, a consumer killed pre-commit
    wait_for_audit_table(page)
    page.locator('#orders .filters a[data-filter="duplicated"]').click()
    expect(page.locator("#orders tbody tr.outcome-duplicated").first).to_be_visible()
    page.locator("#orders tbody tr.outcome-duplicated a.order-link").first.click()
    page.wait_for_url("**/orders/order-*")

    expect(page.locator("#story-sentence")).to_contain_text("consumer.commit = after-processing")
    consumers = page.locator(".order-story-picture .lane-consumer .story-lane-subtitle")
    expect(consumers).to_have_text(["session 0", "session 1"])
    expect(page.locator(".order-story-picture .step-counted")).to_have_count(2)
    STORY_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#order-story").screenshot(path=str(STORY_SCREENSHOT))
    screenshot(page, "order-story")

    phone = new_phone(browser)
    try:
        small = phone.new_page()
        small.goto(page.url)
        expect(small.locator("#story-sentence")).to_be_visible()
        assert_no_sideways_scroll(small)  # the picture scrolls inside its frame, not the page
        screenshot(small, "phone-order-story")
    finally:
        phone.close()
    assert share_url
