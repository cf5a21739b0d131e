"""A consumer group in a real browser: the three-member notification service, a member added and
one stalled from the buttons, the members and their partitions on the live page, and the verdict
naming where the duplicates came from; axe-clean, and readable on a phone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.pages import assert_no_sideways_scroll, new_phone
from tests.browser.test_accessibility import assert_accessible

PRESET = "notification-service-group"  # three members; one stalls past its poll interval
LIVE_TIMEOUT_MS = 60_000
VERDICT_TIMEOUT_MS = 180_000


def members_shown(page: Page, count: int) -> None:
    page.wait_for_function(
        "count => document.querySelectorAll('#group-members li').length === count",
        arg=count,
        timeout=LIVE_TIMEOUT_MS,
    )


def press(page: Page, action: str, **fields: str) -> None:
    form = page.locator(f"form.action-{action}")
    for name, value in fields.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator(f'button[data-action="{action}"]').click()
    expect(page.locator("#action-result")).to_contain_text("sent")


def test_a_group_grows_and_a_member_stalls_from_the_buttons(app_server, new_context, browser):
    page = new_context().new_page()
    page.goto(app_server.url)
    page.locator(f'[data-preset="{PRESET}"] .run-preset').click()
    page.wait_for_url(re.compile(r"/e/[^/]+/$"))
    share_url = page.url

    # The live page names the three members and the partitions each owns, asked of Kafka.
    members_shown(page, 3)
    expect(page.locator("#cluster-state")).to_contain_text("member 2")
    assert_accessible(page)

    press(page, "add-consumer")
    members_shown(page, 4)
    press(page, "stall-consumer", member="1", seconds="5")
    timeline = page.locator("#timeline .events")
    expect(timeline).to_contain_text("consumer-3 joins the group", timeout=LIVE_TIMEOUT_MS)
    expect(timeline).to_contain_text("consumer-1 stalls", timeout=LIVE_TIMEOUT_MS)
    # The rebalance the new member causes, as the group log tells it.
    expect(timeline).to_contain_text("the group gave consumer-3", timeout=LIVE_TIMEOUT_MS)
    screenshot(page, "group-live")

    # The verdict: duplicates, none lost, each with its cause.
    expect(page.locator("#verdict")).to_be_visible(timeout=VERDICT_TIMEOUT_MS)
    verdict = page.locator("#verdict")
    expect(verdict).to_contain_text("at-least-once")
    # Which it is depends on how the group met the stall (a partition moved, or the member was
    # fenced and restarted): the verdict names the cause the audit found.
    cause = r"duplicated (by a consumer restart|in a rebalance|by a zombie)"
    expect(verdict).to_contain_text(re.compile(cause))
    assert_accessible(page)
    screenshot(page, "group-verdict")

    phone = new_phone(browser)
    try:
        small = phone.new_page()
        small.goto(share_url)
        expect(small.locator("#verdict")).to_be_visible()
        assert_no_sideways_scroll(small)
        screenshot(small, "group-verdict-phone")
    finally:
        phone.close()
