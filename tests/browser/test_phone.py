"""A class on phones: students follow the teacher's share link on a 360 px screen and see the run
queued, live, then its verdict and audit table, and no page of the site scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.pages import (
    PHONE_WIDTH,
    STATIC_PAGES,
    assert_no_sideways_scroll,
    new_phone,
    start_comparison,
    start_preset,
    wait_for_audit_table,
    wait_for_status,
)

TAP_TARGET_PX = 44  # the smallest comfortable target for a finger (WCAG 2.5.5, Apple, Android)
READABLE_COUNTER_PX = 24
READABLE_CHART_TEXT_PX = 9
COUNTER_MOVED = (
    "([name, before]) => Number(document.querySelector('#count-' + name)?.textContent) > before"
)


@pytest.fixture
def phone(browser):
    """Opens pages in fresh phone sessions; closes them after."""
    contexts = []

    def open_page() -> Page:
        contexts.append(new_phone(browser))
        return contexts[-1].new_page()

    yield open_page
    for context in contexts:
        context.close()


def assert_fits_a_phone(page: Page, name: str) -> None:
    """No sideways scroll, and the header's links on screen and big enough to tap."""
    assert_no_sideways_scroll(page)
    for label in ("Home", "Builder", "Compare"):
        link = page.locator(".site-nav").get_by_role("link", name=label, exact=True)
        expect(link).to_be_visible()
        box = link.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, f"{label} is off screen"
        assert box["height"] >= TAP_TARGET_PX, f"{label} is {box['height']} px tall"
    screenshot(page, f"phone-{name}")


def assert_tappable(page: Page, selector: str) -> None:
    targets = page.locator(selector)
    expect(targets.first).to_be_visible()
    for index in range(targets.count()):
        box = targets.nth(index).bounding_box()
        assert box["width"] >= TAP_TARGET_PX and box["height"] >= TAP_TARGET_PX, (
            f"{selector} #{index} is {box['width']:.0f}x{box['height']:.0f} px"
        )
        assert box["x"] + box["width"] <= PHONE_WIDTH


def font_size(page: Page, selector: str) -> float:
    """The element's font size in px. The live page swaps its fragments ten times a second: an
    element caught the moment it is swapped out has no computed style (NaN), so read again."""
    for _ in range(50):
        size = page.locator(selector).first.evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)"
        )
        if size == size:  # not NaN
            return size
        page.wait_for_timeout(50)
    raise AssertionError(f"{selector} never had a computed font size")


def legend_boxes(page: Page) -> list[list[float]]:
    """The chart legend's entries' boxes. Like a font size (above), an entry caught the moment
    its chart is swapped out has no box (all zeros): read again."""
    for _ in range(50):
        boxes = page.locator(".timeline-chart .legend text").evaluate_all(
            "texts => texts.map(t => { const r = t.getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom]; })"
        )
        if boxes and all(any(box) for box in boxes):
            return boxes
        page.wait_for_timeout(50)
    raise AssertionError("the chart legend never had a box")


def assert_chart_legend_readable(page: Page) -> None:
    """The legend's entries are drawn large enough to read, apart, and inside the screen."""
    boxes = legend_boxes(page)
    for left, top, right, bottom in boxes:
        assert bottom - top >= READABLE_CHART_TEXT_PX
        assert left >= 0 and right <= PHONE_WIDTH
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"legend entries overlap: {a} and {b}"


def test_a_student_follows_the_share_link_on_a_phone_from_the_queue_to_the_verdict(
    app_server, new_context, phone
):
    # A colleague's comparison holds the cluster, so the teacher's run waits in the queue.
    comparison_url = start_comparison(new_context().new_page(), app_server.url)
    teacher = new_context().new_page()
    share_link = start_preset(teacher, app_server.url)
    control_link = teacher.locator(".control-link input").input_value()

    student = phone()
    student.goto(share_link)
    wait_for_status(student, "queued", timeout=5_000)
    expect(student.locator("#queue-position")).to_be_visible()
    assert_fits_a_phone(student, "queued")

    comparison = phone()
    comparison.goto(comparison_url)
    expect(comparison.locator("#comparison-table table")).to_be_visible()
    assert_fits_a_phone(comparison, "comparison")

    # Live: the counters move on the student's screen, large enough to read.
    wait_for_status(student, "running")
    student.wait_for_function(COUNTER_MOVED, arg=["delivered", 0], timeout=60_000)
    before = int(student.locator("#count-delivered").inner_text())
    student.wait_for_function(COUNTER_MOVED, arg=["delivered", before], timeout=15_000)
    assert font_size(student, ".counter .value") >= READABLE_COUNTER_PX
    assert_fits_a_phone(student, "live")
    assert_chart_legend_readable(student)

    # A co-presenter on a phone (the control link) gets crash buttons a finger can hit.
    presenter = phone()
    presenter.goto(control_link)
    wait_for_status(presenter, "running")
    assert_tappable(presenter, ".controls button[data-action]")
    assert_fits_a_phone(presenter, "controls")

    # The verdict and the audit table, on the student's screen, without a reload.
    wait_for_audit_table(student)
    expect(student.locator("#verdict-observed")).to_have_text("at-least-once")
    table = student.locator("#orders table.orders").bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= PHONE_WIDTH
    assert_tappable(student, "#orders .filters a")
    assert_fits_a_phone(student, "verdict")
    assert_chart_legend_readable(student)

    # A wrong control link gets the error page, which fits too.
    student.goto(share_link + "control?token=wrong")
    expect(student.locator("#error-message")).to_contain_text("token")
    assert_fits_a_phone(student, "bad-control-link")


@pytest.mark.parametrize("name", STATIC_PAGES)
def test_every_page_fits_a_phone_screen(app_server, phone, name):
    page = phone()
    page.goto(app_server.url + STATIC_PAGES[name])
    expect(page.locator("main")).to_be_visible()
    assert_fits_a_phone(page, name)


def test_the_favicon_is_served(app_server, phone):
    page = phone()
    misses = []
    page.on("response", lambda r: misses.append(r.url) if r.status == 404 else None)
    page.goto(app_server.url)
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert page.request.get(app_server.url + icon).headers["content-type"].startswith("image/svg")
    assert page.request.get(f"{app_server.url}/favicon.ico").ok
    assert misses == []
