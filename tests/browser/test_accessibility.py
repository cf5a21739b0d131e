"""Every page passes axe-core's WCAG 2 A/AA rules with no violation, on a desktop and on a phone:
the static pages, and an experiment queued, live and done (verdict and audit table), a comparison
and an error page."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser.pages import (
    STATIC_PAGES,
    WCAG_TAGS,
    new_phone,
    start_comparison,
    start_preset,
    wait_for_audit_table,
    wait_for_status,
)

AXE = Axe()  # the axe.min.js bundled with the package: no download
OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]}
SIZES = ("desktop", "phone")


@pytest.fixture
def open_page(browser, new_context):
    """Opens a page in a fresh session of the given size; closes phone sessions after (the
    new_context fixture closes desktop ones)."""
    phones = []

    def open_(size: str) -> Page:
        if size == "phone":
            phones.append(new_phone(browser))
            return phones[-1].new_page()
        return new_context().new_page()

    yield open_
    for context in phones:
        context.close()


def assert_accessible(page: Page) -> None:
    results = AXE.run(page, options=OPTIONS)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", STATIC_PAGES)
def test_every_page_without_an_experiment_passes_wcag_a_and_aa(app_server, open_page, name, size):
    page = open_page(size)
    page.goto(app_server.url + STATIC_PAGES[name])
    page.wait_for_load_state("networkidle")  # panels that load themselves (queue, guide)
    assert_accessible(page)


def test_an_experiment_passes_wcag_a_and_aa_queued_live_and_done(app_server, open_page):
    comparison_url = start_comparison(open_page("desktop"), app_server.url)
    owner = open_page("desktop")
    share_link = start_preset(owner, app_server.url)
    viewers = {size: open_page(size) for size in SIZES}
    comparisons = {size: open_page(size) for size in SIZES}

    for page in viewers.values():
        page.goto(share_link)
        wait_for_status(page, "queued", timeout=5_000)
    assert_accessible(owner)
    for size in SIZES:
        assert_accessible(viewers[size])
        comparisons[size].goto(comparison_url)
        expect(comparisons[size].locator("#comparison-table table")).to_be_visible()
        assert_accessible(comparisons[size])

    for page in (owner, *viewers.values()):
        wait_for_status(page, "running")
        expect(page.locator("#count-delivered")).not_to_have_text("0", timeout=30_000)
        assert_accessible(page)  # the owner's page has the crash buttons

    for page in (owner, *viewers.values()):
        wait_for_audit_table(page)
        assert_accessible(page)
    for size in SIZES:
        viewers[size].goto(share_link + "control?token=wrong")
        expect(viewers[size].locator("#error-message")).to_be_visible()
        assert_accessible(viewers[size])
    for size in SIZES:  # an order's story, drawn
        viewers[size].goto(share_link)
        wait_for_audit_table(viewers[size])
        viewers[size].locator("a.order-link").first.click()
        expect(viewers[size].locator("svg").first).to_be_visible()
        assert_accessible(viewers[size])


def test_a_held_experiment_and_the_class_predictions_pass_wcag_a_and_aa(app_server, open_page):
    teacher = open_page("desktop")
    teacher.goto(f"{app_server.url}/builder/?preset=metrics")
    teacher.check("#hold-for-predictions")
    teacher.click(".run-experiment")
    expect(teacher.locator("#start-held")).to_be_visible()
    share_link = teacher.locator("#share-url").input_value()
    for size in SIZES:
        student = open_page(size)
        student.goto(share_link)
        student.check("#predict-loss")
        student.click("#send-prediction")
        expect(student.locator("#own-prediction")).to_be_visible()
        assert_accessible(student)
    expect(teacher.locator("#prediction-count")).to_have_text(str(len(SIZES)), timeout=15_000)
    assert_accessible(teacher)
    teacher.click("#reveal-tally")
    expect(teacher.locator("#tally-revealed")).to_be_visible()
    assert_accessible(teacher)
    teacher.locator("#held [data-action=cancel]").click()  # leaves nothing queued behind it
